"""Scale-out figures: message ingest with 1, 2 and 3 Cohort processes on one database.

Each process is a real ``python`` process that builds the bot on the shared database and
posts ``--messages`` chat messages (the message log, points, the Q&A watch: the path every
chat message takes) through the dispatcher, from ``--senders`` concurrent senders. Printed per
backend and process count: messages per second overall (first message to last, start-ups
left out), the ratio to one process, and CPU seconds per 1,000 messages (the processes' user
and system time while posting; with fewer cores than processes the ratio is capped by the
cores, CPU per message is not). The anchor, measured in the same run, is the same on SQLite:
one writer at a time.

Run: ``.ci/with-postgres .venv/bin/python -m benchmarks.scale [--messages 2000]``
(without ``COHORT_TEST_POSTGRES`` only the SQLite figures are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bot.core.clock import SystemClock
from bot.core.config import parse_config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.runtime import build
from bot.store.db import Database

PROCESSES = (1, 2, 3)


def _config(url: str, folder: Path) -> object:
    return parse_config(
        {
            "database": {"url": url},
            "web": {"enabled": False},
            "communities": [{"id": "bench", "name": "Bench", "admins": ["console:alice"]}],
        },
        source="bench",
        base_dir=folder,
        env={},
    )


async def worker(url: str, folder: Path, index: int, messages: int, senders: int) -> None:
    """Post ``messages`` messages as one process; print its CPU seconds as JSON."""
    cohort = await build(_config(url, folder), clock=SystemClock())  # type: ignore[arg-type]
    community = cohort.communities["bench"]
    channel = ChannelRef(PlatformName.CONSOLE, "general")
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.time()  # after the start-up: only the posting is measured
    try:

        async def sender(number: int) -> None:
            caller = Caller(PlatformName.CONSOLE, f"p{index}s{number}", f"Member {number}")
            for n in range(number, messages, senders):
                await cohort.dispatcher.message_posted(
                    community,
                    caller,
                    channel,
                    f"p{index}m{n}",
                    f"message {n} from process {index} about pandas and calculus",
                    datetime.now(UTC),
                )

        await asyncio.gather(*(sender(i) for i in range(senders)))
        ended = time.time()
    finally:
        await cohort.db.close()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(json.dumps({"cpu": cpu, "start": started, "end": ended}))


async def _fresh_postgres(server: str, name: str) -> str:
    url = make_url(server)
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(drivername="postgresql+asyncpg", database=name).render_as_string(False)


async def run_round(url: str, folder: Path, processes: int, messages: int, senders: int) -> dict:
    """Start ``processes`` workers on ``url`` at once; return the wall time and their CPU."""
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.close()
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.scale",
            "--worker",
            url,
            str(folder),
            str(index),
            str(messages),
            str(senders),
            stdout=asyncio.subprocess.PIPE,
        )
        for index in range(processes)
    ]
    outputs = [await child.communicate() for child in children]
    if any(child.returncode for child in children):
        raise RuntimeError("a worker failed")
    figures = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    # From the first process's first message to the last one's last (start-ups left out).
    wall = max(f["end"] for f in figures) - min(f["start"] for f in figures)
    cpu = sum(f["cpu"] for f in figures)
    return {"wall": wall, "cpu": cpu, "messages": processes * messages}


async def main(messages: int, senders: int) -> None:
    """Print the ingest figures for SQLite and, when a server is given, PostgreSQL."""
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    server = os.environ.get("COHORT_TEST_POSTGRES")
    if server:
        backends.append(("postgresql", server))
    load = os.getloadavg()
    print(f"message ingest, {messages} messages per process, {senders} senders each")
    print(f"cores: {os.cpu_count()}, load average at start: {load[0]:.1f} {load[1]:.1f}")
    print("goal: PostgreSQL grows with processes (up to the cores); SQLite (anchor) does not")
    for backend, server_url in backends:
        base = None
        for processes in PROCESSES:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                if server_url is None:
                    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
                else:
                    url = await _fresh_postgres(server_url, f"bench_scale_{processes}")
                got = await run_round(url, folder, processes, messages, senders)
            rate = got["messages"] / got["wall"]
            base = base or rate
            print(
                f"{backend:10} {processes} process(es): {rate:8.0f} messages/s   "
                f"x{rate / base:4.2f} of one   "
                f"{1000 * got['cpu'] / got['messages']:6.2f} CPU s per 1,000 messages"
            )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, folder, index, count, senders = sys.argv[2:7]
        asyncio.run(worker(url, Path(folder), int(index), int(count), int(senders)))
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--messages", type=int, default=2000)
        parser.add_argument("--senders", type=int, default=8)
        args = parser.parse_args()
        asyncio.run(main(args.messages, args.senders))
