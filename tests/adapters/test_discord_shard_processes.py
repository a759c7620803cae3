"""Two ``cohort run`` processes on one database, each opening one of two Discord shards.

The Discord stand-in (in this process, on loopback) sends a guild's events only to the session
of the guild's shard, as Discord does. Each process answers the messages and commands of its
own guild, none of the other's; each guild's commands are synced once; each process's
``/healthz`` shows its own shard.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests import _postgres
from tests.discord_api import DEFAULT_TOKEN, DiscordServer

ROOT = Path(__file__).resolve().parents[2]
OLGA, BOB = 10, 11
# (guild_id >> 22) % 2: the first guild is on shard 0, the second on shard 1.
SHARDS = (0, 1)
GUILDS = {0: 1000 << 22, 1: 1001 << 22}
CHANNELS = {shard: guild + 1 for shard, guild in GUILDS.items()}
BOUND = 90.0  # seconds: the longest one wait may take on a loaded machine

CONFIG = """\
[database]
url = "{database_url}"

[web]
port = {port}

[discord]
api_base = "{api_base}"
shard_count = 2
shard_ids = [{shard}]

[[communities]]
id = "demo"
name = "Demo Community"
locale = "en"
timezone = "Europe/Berlin"
organizers = ["discord:{olga}"]
discord_guilds = [{guilds}]
"""


def free_port() -> int:
    """Return a TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(dc: DiscordServer) -> None:
    """Add Olga and Bob, and a guild with a channel on each shard, both people in both."""
    dc.add_user(OLGA, "Olga")
    dc.add_user(BOB, "Bob")
    for shard, guild in GUILDS.items():
        dc.add_guild(guild, f"Shard {shard}", owner_id=OLGA)
        dc.add_channel(guild, CHANNELS[shard], "general")
        for user in (OLGA, BOB):
            dc.add_member(guild, user)


async def start(path: Path, log: Path) -> asyncio.subprocess.Process:
    """Start ``cohort run`` on a config; its log goes to ``log``."""
    env = dict(os.environ, COHORT_DISCORD_TOKEN=DEFAULT_TOKEN, PYTHONPATH=str(ROOT))
    env.pop("COHORT_TELEGRAM_TOKEN", None)
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--log-level",
            "INFO",
            "run",
            "--config",
            str(path),
            cwd=path.parent,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )


@contextmanager
def stopped(processes: list[asyncio.subprocess.Process]) -> Iterator[None]:
    """Kill whatever is still running when the block ends (a failed test)."""
    try:
        yield
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()


async def healthz(port: int) -> dict[str, Any]:
    """Return a process's ``/healthz`` body."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        return dict(await response.json())


def events(dc: DiscordServer, shard: int, kind: str) -> list[dict[str, Any]]:
    """Return the events of ``kind`` the stand-in queued for the session of ``shard``."""
    (session,) = [s for s in dc.gateway.sessions.values() if s.shard == (shard, 2)]
    return [p["d"] for p in session.log if p["t"] == kind]


@pytest.mark.slow
async def test_two_processes_each_answer_only_the_guild_on_their_shard(tmp_path: Path) -> None:
    logs = {shard: tmp_path / f"shard{shard}.log" for shard in SHARDS}
    ports = {shard: free_port() for shard in SHARDS}
    processes: list[asyncio.subprocess.Process] = []
    database_url = _postgres.database_url(tmp_path)
    async with DiscordServer() as dc:
        dc.max_concurrency = 16  # a large bot's: both shards may IDENTIFY at once
        prepare(dc)
        with stopped(processes):
            for shard in SHARDS:  # one after the other: the first one creates the tables
                path = tmp_path / f"shard{shard}.toml"
                path.write_text(
                    CONFIG.format(
                        database_url=database_url,
                        port=ports[shard],
                        api_base=dc.api_base,
                        shard=shard,
                        olga=OLGA,
                        guilds=", ".join(map(str, GUILDS.values())),
                    )
                )
                processes.append(await start(path, logs[shard]))
                await dc.wait_for(
                    lambda shard=shard: dc.command_puts.get(GUILDS[shard]) == 1, BOUND
                )
            asked = {
                shard: dc.run_command(GUILDS[shard], CHANNELS[shard], BOB, "whoami")
                for shard in SHARDS
            }
            said = {
                shard: dc.user_says(CHANNELS[shard], BOB, f"hello from shard {shard}")
                for shard in SHARDS
            }
            answers = {shard: await dc.answered(asked[shard], BOUND) for shard in SHARDS}
            health = {shard: await healthz(ports[shard]) for shard in SHARDS}
            for shard in SHARDS:
                # Each session carried its own guild's events, none of the other's.
                (created,) = events(dc, shard, "GUILD_CREATE")
                assert created["id"] == str(GUILDS[shard])
                messages = events(dc, shard, "MESSAGE_CREATE")
                assert [m["id"] for m in messages] == [said[shard]["id"]]
                (interaction,) = events(dc, shard, "INTERACTION_CREATE")
                assert interaction["id"] == str(asked[shard])
            for process in processes:
                process.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(p.wait(), 60) for p in processes]
    detail = "\n".join(log.read_text()[-3000:] for log in logs.values())
    assert codes == [0, 0], detail
    assert dc.command_puts == {guild: 1 for guild in GUILDS.values()}, detail  # synced once
    for shard in SHARDS:
        assert len(answers[shard]) == 1, detail  # answered once, by the guild's process
        text = logs[shard].read_text()
        assert f"discord: opening shard {shard} of 2" in text
        assert "synced" in text and str(GUILDS[shard]) in text
        assert str(GUILDS[1 - shard]) not in text, detail  # never saw the other guild
        tasks = health[shard]["tasks"]
        shards = {name for name in tasks if name.startswith("discord.shard.")}
        assert shards == {f"discord.shard.{shard}"}
        entry = tasks[f"discord.shard.{shard}"]
        assert (entry["state"], entry["shard"], entry["connected"]) == ("running", [shard, 2], True)
        assert health[shard]["status"] == "ok", health[shard]
