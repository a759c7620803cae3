"""Telegram long polling under supervision: unreadable updates, failures, a refused token."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut

from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram._polling import AnotherPoller, classify
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.core.supervise import Failure, FailureKind, TaskState
from bot.runtime import build
from tests import _postgres
from tests.adapters.conftest import FAST_RESTARTS, points_of
from tests.conftest import make_config
from tests.telegram_api import TelegramServer

TOKEN = "123456:TEST-token"
GROUP = -1001234567890
BOB = 600


@pytest.fixture
async def tg() -> AsyncIterator[TelegramServer]:
    """Start the Bot API stand-in with the demo group and Bob in it."""
    async with TelegramServer(token=TOKEN) as server:
        server.add_chat(GROUP, "supergroup", title="Demo")
        server.add_user(BOB, "Bob", username="bob", language_code="en")
        server.add_member(GROUP, BOB)
        yield server


@pytest.fixture
async def bot(tmp_path: Path, tg: TelegramServer) -> AsyncIterator[Cohort]:
    """Return a bot polling the stand-in, restarting failed polls within milliseconds."""
    config = make_config(
        tmp_path, telegram={"token": TOKEN, "base_url": tg.base_url}, supervise=FAST_RESTARTS
    )
    cohort = await build(config)
    adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
    cohort.platforms[PlatformName.TELEGRAM] = adapter
    await adapter.start()
    try:
        yield cohort
    finally:
        await adapter.stop()
        await cohort.dispatcher.drain()
        await cohort.supervisor.close()
        await cohort.db.close()


async def test_an_unreadable_update_is_logged_skipped_and_the_next_message_earns_points(
    bot: Cohort, tg: TelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tg.send_unreadable(GROUP, BOB, "this one breaks the parser")
    tg.user_says(GROUP, BOB, "and this one should still earn points")
    await tg.wait_for(lambda: points_of(bot, PlatformName.TELEGRAM, BOB))
    assert await points_of(bot, PlatformName.TELEGRAM, BOB) > 0
    await tg.wait_for(lambda: not tg.pending_updates)  # confirmed past the bad one too
    logged = [r for r in caplog.records if r.levelname == "ERROR" and "could not be read" in r.msg]
    assert [r.getMessage() for r in logged] == [
        f"telegram: update {bad} could not be read (TypeError); skipped it"
    ]
    polling = bot.supervisor.report()["telegram.polling"]
    assert (polling["state"], polling["skipped"], polling["restarts"]) == ("running", 1, 0)
    assert polling["last_error"] == {
        "kind": "error",
        "reason": "unreadable_update",
        "at": polling["last_error"]["at"],  # type: ignore[index]
    }
    assert "telegram" in bot.supervisor.last_event


async def test_failed_polls_are_logged_and_restarted_and_updates_keep_coming(
    bot: Cohort, tg: TelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    tg.fail_next("getUpdates", error_code=502, description="Bad Gateway", times=2)
    tg.user_says(GROUP, BOB, "a message after the hiccup")
    await tg.wait_for(lambda: points_of(bot, PlatformName.TELEGRAM, BOB))
    watch = bot.supervisor.watches["telegram.polling"]
    assert (watch.restarts, watch.failures, watch.state) == (2, 0, TaskState.RUNNING)
    assert watch.last_error == Failure(FailureKind.TRANSIENT, "network")
    ended = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert ended == ["telegram.polling ended (transient:network)"] * 2


async def test_a_token_refused_while_polling_gives_up_with_the_config_exit_code(
    bot: Cohort, tg: TelegramServer
) -> None:
    stop = asyncio.Event()
    bot.supervisor.stop_with(stop)
    tg.fail_next("getUpdates", error_code=401)
    await asyncio.wait_for(stop.wait(), 10)
    watch = bot.supervisor.watches["telegram.polling"]
    assert watch.state is TaskState.FAILED and watch.restarts == 0
    assert bot.supervisor.exit_code == 2


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (InvalidToken(), Failure(FailureKind.FATAL, "invalid_token")),
        (RetryAfter(timedelta(seconds=7)), Failure(FailureKind.RETRY_AFTER, "retry_after", 7.5)),
        (TimedOut(), Failure(FailureKind.TRANSIENT, "timed_out", 0.0)),
        (
            Conflict("terminated by other getUpdates request"),
            Failure(FailureKind.TRANSIENT, "another_poller"),
        ),
        (AnotherPoller("held"), Failure(FailureKind.FATAL, "another_poller")),
        (
            Conflict("can't use getUpdates method while webhook is active"),
            Failure(FailureKind.TRANSIENT, "conflict"),
        ),
        (NetworkError("Bad Gateway"), Failure(FailureKind.TRANSIENT, "network")),
        (KeyError("update_id"), Failure(FailureKind.ERROR, "KeyError")),
    ],
)
def test_polling_failures_are_classified_like_ptbs_network_loop(
    error: BaseException, expected: Failure
) -> None:
    assert classify(error) == expected


def test_a_second_poller_is_told_long_polling_is_one_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.adapters.telegram._polling"):
        classify(Conflict("Conflict: terminated by other getUpdates request"))
    assert "long polling is one process only" in caplog.text
    assert "webhook mode" in caplog.text


@pytest.fixture
async def second(tmp_path: Path, tg: TelegramServer) -> AsyncIterator[tuple[Cohort, asyncio.Event]]:
    """Return a second bot on the same database and token, about to poll, and its stop signal."""
    config = make_config(
        tmp_path, telegram={"token": TOKEN, "base_url": tg.base_url}, supervise=FAST_RESTARTS
    )
    cohort = await build(config)
    stop = asyncio.Event()
    cohort.supervisor.stop_with(stop)
    adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
    cohort.platforms[PlatformName.TELEGRAM] = adapter
    try:
        yield cohort, stop
    finally:
        await adapter.stop()
        await cohort.supervisor.close()
        await cohort.db.close()


@pytest.mark.skipif(not _postgres.enabled(), reason="one process per SQLite file: no lock to take")
async def test_a_second_process_on_the_database_says_so_and_does_not_poll(
    bot: Cohort,
    tg: TelegramServer,
    second: tuple[Cohort, asyncio.Event],
    caplog: pytest.LogCaptureFixture,
) -> None:
    other, stop = second
    await other.platforms[PlatformName.TELEGRAM].start()  # type: ignore[attr-defined]
    await asyncio.wait_for(stop.wait(), 10)
    watch = other.supervisor.watches["telegram.polling"]
    assert (watch.state, watch.last_error) == (
        TaskState.FAILED,
        Failure(FailureKind.FATAL, "another_poller"),
    )
    assert other.supervisor.exit_code == 2  # a configuration error: exits for an operator
    said = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert (
        "telegram: another process is polling with this bot token; long polling is one process "
        "only: stop the other one, or run every Cohort process in webhook mode ([telegram] mode)"
        "; this one does not poll"
    ) in said
    tg.user_says(GROUP, BOB, "the first one still polls and hears this")
    await tg.wait_for(lambda: points_of(bot, PlatformName.TELEGRAM, BOB))
    first = bot.supervisor.watches["telegram.polling"]
    assert (first.state, first.restarts) == (TaskState.RUNNING, 0)  # never terminated


async def test_a_poller_elsewhere_is_reported_from_telegrams_conflict(
    bot: Cohort, tg: TelegramServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    elsewhere = tmp_path / "elsewhere"  # another database: no lock in common, Telegram tells
    elsewhere.mkdir()
    config = make_config(
        elsewhere, telegram={"token": TOKEN, "base_url": tg.base_url}, supervise=FAST_RESTARTS
    )
    cohort = await build(config)
    adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
    try:
        await adapter.start()
        await tg.wait_for(
            lambda: any("terminated by other getUpdates" in r.getMessage() for r in caplog.records)
        )
    finally:
        await adapter.stop()
        await cohort.supervisor.close()
        await cohort.db.close()
    reported = [r for r in caplog.records if "another process is polling" in r.getMessage()]
    assert reported and all(r.levelname == "ERROR" for r in reported)
