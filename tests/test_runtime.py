"""The runtime under supervision: recovery and /healthz, exit codes, a clean start and stop."""

from __future__ import annotations

import asyncio
import gc
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.adapters.discord import _shards
from bot.core.config import Config
from bot.core.supervise import ExitCode, TaskState
from bot.runtime import build, serve, start_scheduler
from tests.adapters.conftest import FAST_RESTARTS, SHORT_IDENTIFY_WINDOW
from tests.adapters.test_discord import BOB, GENERAL, GUILD, content, demo_guild
from tests.conftest import make_config
from tests.discord_api import DEFAULT_TOKEN, DiscordServer
from tests.telegram_api import TelegramServer
from tests.web.test_app import free_port

TELEGRAM_TOKEN = "123456:TEST-token"
GROUP = -1001234567890
TG_BOB = 600


@pytest.fixture
async def dc() -> AsyncIterator[DiscordServer]:
    """Return the Discord stand-in with the demo guild."""
    async with demo_guild() as server:
        yield server


@pytest.fixture
async def tg() -> AsyncIterator[TelegramServer]:
    """Return the Telegram stand-in with the demo group and Bob in it."""
    async with TelegramServer(token=TELEGRAM_TOKEN) as server:
        server.add_chat(GROUP, "supergroup", title="Demo")
        server.add_user(TG_BOB, "Bob", username="bob", language_code="en")
        server.add_member(GROUP, TG_BOB)
        yield server


def both(tmp_path: Path, dc: DiscordServer, tg: TelegramServer, port: int = 8080) -> Config:
    """Return a config running Discord, Telegram and (on ``port``) the web app."""
    return make_config(
        tmp_path,
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base},
        telegram={"token": TELEGRAM_TOKEN, "base_url": tg.base_url},
        web={"enabled": True, "host": "127.0.0.1", "port": port},
        supervise=FAST_RESTARTS,
    )


async def started(dc: DiscordServer, tg: TelegramServer) -> None:
    """Wait until the bot synced its Discord commands and polls Telegram."""
    await dc.wait_for(lambda: dc.commands.get(GUILD), timeout=30)
    await tg.wait_for(lambda: tg.called("getUpdates"), timeout=30)


async def shown_points(dc: DiscordServer) -> bool:
    """Ask for Bob's points on Discord; say whether he has any."""
    answer = await dc.answered(dc.run_command(GUILD, GENERAL, BOB, "points show"))
    return "Points: 0\n" not in content(answer)


async def health(port: int) -> tuple[int, dict[str, Any]]:
    """Return /healthz's status and body."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        return response.status, await response.json()


async def test_both_platforms_survive_unreadable_input_and_healthz_reports_it(
    unhandled: list[dict[str, Any]], tmp_path: Path, dc: DiscordServer, tg: TelegramServer
) -> None:
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(both(tmp_path, dc, tg, port), stop=stop))
    try:
        await started(dc, tg)
        dc.absent_as_null = {"interaction_metadata"}
        dc.user_says(GENERAL, BOB, "a message the Discord parser chokes on")
        dc.absent_as_null = set()
        tg.send_unreadable(GROUP, TG_BOB, "an update the Telegram parser chokes on")
        dc.user_says(GENERAL, BOB, "then an ordinary message on Discord")
        tg.user_says(GROUP, TG_BOB, "and an ordinary message on Telegram")
        # Both still count: each platform shows Bob the points his ordinary message earned.
        await dc.wait_for(lambda: shown_points(dc), timeout=10)
        tg.user_says(GROUP, TG_BOB, "/points")
        await tg.wait_for(lambda: any("Points: " in m["plain"] for m in tg.sent(GROUP)))
        assert "Points: 0\n" not in next(
            m["plain"] for m in tg.sent(GROUP) if "Points" in m["plain"]
        )
        status, body = await health(port)
        assert status == 200 and body["status"] == "ok"
        tasks = body["tasks"]
        assert tasks["discord.gateway"]["skipped"] == 1
        assert tasks["telegram.polling"]["skipped"] == 1
        assert tasks["telegram.polling"]["last_error"]["reason"] == "unreadable_update"
        assert {"gating.worker", "job.points.levels"} <= set(tasks)
        assert all(task["state"] == "running" for task in tasks.values())
        assert body["platforms"]["discord"]["last_event"] is not None
        assert body["platforms"]["telegram"]["last_event"] is not None
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 60) == ExitCode.OK
    assert not dc.gateway.connections


async def test_a_discord_token_revoked_while_running_exits_2(
    unhandled: list[dict[str, Any]],
    tmp_path: Path,
    dc: DiscordServer,
    tg: TelegramServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The IDENTIFY after the failed RESUME waits out a short window, not Discord's 5 seconds.
    monkeypatch.setattr(_shards, "IDENTIFY_WINDOW", SHORT_IDENTIFY_WINDOW)
    task = asyncio.create_task(serve(both(tmp_path, dc, tg, free_port())))
    await started(dc, tg)
    dc.token = "revoked-" + DEFAULT_TOKEN
    await dc.disconnect()
    assert await asyncio.wait_for(task, 60) == ExitCode.CONFIG


async def test_a_telegram_token_refused_while_polling_exits_2(
    unhandled: list[dict[str, Any]], tmp_path: Path, dc: DiscordServer, tg: TelegramServer
) -> None:
    task = asyncio.create_task(serve(both(tmp_path, dc, tg, free_port())))
    await started(dc, tg)
    tg.fail_next("getUpdates", error_code=401)
    assert await asyncio.wait_for(task, 60) == ExitCode.CONFIG
    assert not dc.gateway.connections  # Discord was closed cleanly on the way out


async def test_a_platform_that_keeps_failing_exits_3(
    unhandled: list[dict[str, Any]], tmp_path: Path, dc: DiscordServer, tg: TelegramServer
) -> None:
    task = asyncio.create_task(serve(both(tmp_path, dc, tg, free_port())))
    await started(dc, tg)
    tg.fail_next("getUpdates", error_code=502, description="Bad Gateway", times=10)
    assert await asyncio.wait_for(task, 60) == ExitCode.GAVE_UP


async def test_a_job_that_keeps_failing_gives_up(tmp_path: Path) -> None:
    config = make_config(tmp_path, supervise={**FAST_RESTARTS, "max_failures": 2})
    cohort = await build(config)
    runs: list[int] = []

    async def broken() -> None:
        runs.append(len(runs))
        raise RuntimeError("the job's bug")

    cohort.jobs.clear()
    cohort.every("broken", timedelta(seconds=1), broken)
    scheduler = start_scheduler(cohort)
    try:
        await asyncio.wait_for(cohort.supervisor.gave_up.wait(), 10)
    finally:
        scheduler.shutdown(wait=False)
        await cohort.supervisor.close()
        await cohort.db.close()
    watch = cohort.supervisor.watches["job.broken"]
    assert (watch.state, watch.failures, len(runs)) == (TaskState.FAILED, 2, 2)
    assert cohort.supervisor.exit_code is ExitCode.GAVE_UP


async def test_what_starting_loaded_is_frozen_out_of_full_collections(tmp_path: Path) -> None:
    # A full collection walked every module and table loaded at start: about 100 ms at the
    # dashboard's full size, paid by whichever request set it off (README, Performance).
    gc.unfreeze()

    async def typed() -> AsyncIterator[str]:
        yield "/quit\n"

    assert await serve(make_config(tmp_path), lines=typed(), out=io.StringIO()) == 0
    assert gc.get_freeze_count() > 10_000
