"""The Discord gateway under supervision: unreadable events, a dying connection, a revoked token."""

from __future__ import annotations

import asyncio
import zlib

import discord
import pytest

from bot.adapters.discord._client import classify
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.core.supervise import Failure, FailureKind, TaskState
from tests.adapters.conftest import points_of
from tests.adapters.test_discord import BOB, GENERAL, GUILD, adapter_of
from tests.discord_api import DEFAULT_TOKEN, DiscordServer


async def test_an_unreadable_event_is_logged_skipped_and_the_next_message_earns_points(
    fast_bot: Cohort, dc: DiscordServer, caplog: pytest.LogCaptureFixture
) -> None:
    dc.absent_as_null = {"interaction_metadata"}  # discord.py reads a null there as a dict
    dc.user_says(GENERAL, BOB, "this message arrives with a null discord.py cannot read")
    dc.absent_as_null = set()
    dc.user_says(GENERAL, BOB, "and this one should still earn points")
    await dc.wait_for(lambda: points_of(fast_bot, PlatformName.DISCORD, BOB))
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert logged == ["discord: a MESSAGE_CREATE event could not be read (TypeError); skipped it"]
    gateway = fast_bot.supervisor.report()["discord.gateway"]
    assert (gateway["state"], gateway["skipped"], gateway["restarts"]) == ("running", 1, 0)
    assert gateway["last_error"]["reason"] == "unreadable_message_create"  # type: ignore[index]
    assert dc.gateway.identifies == 1  # skipped in place: no new session, nothing lost
    assert "discord" in fast_bot.supervisor.last_event


async def test_a_dropped_connection_shows_as_retrying_until_the_session_resumes(
    fast_bot: Cohort, dc: DiscordServer, caplog: pytest.LogCaptureFixture
) -> None:
    watch = fast_bot.supervisor.watches["discord.gateway"]
    await dc.disconnect()
    await dc.wait_for(lambda: watch.last_error is not None)
    assert watch.last_error == Failure(FailureKind.TRANSIENT, "disconnected")
    await dc.wait_for(lambda: dc.gateway.resumes == 1 and watch.up)
    assert "discord: gateway connection lost; reconnecting" in caplog.messages
    assert (watch.restarts, dc.gateway.identifies) == (0, 1)  # discord.py resumed it


async def test_a_gateway_connection_that_dies_is_logged_and_reopened(
    short_identify_window: float,
    fast_bot: Cohort,
    dc: DiscordServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The new session's IDENTIFY waits out the first one's window (a short one here).
    assert adapter_of(fast_bot).pacer.window == short_identify_window
    await dc.gateway.corrupt()  # discord.py's connect() raises zlib.error and returns
    await dc.wait_for(lambda: dc.gateway.identifies == 2)
    await dc.wait_for(lambda: fast_bot.supervisor.watches["discord.gateway"].up)
    dc.user_says(GENERAL, BOB, "a message after the new session began")
    await dc.wait_for(lambda: points_of(fast_bot, PlatformName.DISCORD, BOB))
    watch = fast_bot.supervisor.watches["discord.gateway"]
    assert (watch.restarts, watch.failures) == (1, 0)
    assert watch.last_error == Failure(FailureKind.ERROR, "error")  # zlib.error
    assert "discord.gateway ended (error:error)" in [
        r.getMessage() for r in caplog.records if r.levelname == "ERROR"
    ]
    assert len(dc.gateway.connections) == 1  # the broken one was closed, not left beating
    # The new session still takes commands.
    assert await dc.answered(dc.run_command(GUILD, GENERAL, BOB, "whoami"))


async def test_a_token_revoked_while_connected_gives_up_with_the_config_exit_code(
    short_identify_window: float, fast_bot: Cohort, dc: DiscordServer
) -> None:
    assert adapter_of(fast_bot).pacer.window == short_identify_window  # for the new IDENTIFY
    stop = asyncio.Event()
    fast_bot.supervisor.stop_with(stop)
    dc.token = "revoked-" + DEFAULT_TOKEN  # reset in the Developer Portal
    await dc.disconnect()  # the RESUME fails, the new IDENTIFY is closed with 4004
    await asyncio.wait_for(stop.wait(), 10)
    watch = fast_bot.supervisor.watches["discord.gateway"]
    assert watch.state is TaskState.FAILED
    assert watch.last_error == Failure(FailureKind.FATAL, "invalid_token")
    assert fast_bot.supervisor.exit_code == 2


class _Socket:
    """Just enough of an aiohttp websocket for ``ConnectionClosed``."""

    close_code = None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (discord.ConnectionClosed(_Socket(), shard_id=None, code=4004), ("fatal", "invalid_token")),  # type: ignore[arg-type]
        (
            discord.ConnectionClosed(_Socket(), shard_id=None, code=4000),
            ("transient", "closed_4000"),
        ),  # type: ignore[arg-type]
        (discord.PrivilegedIntentsRequired(None), ("fatal", "disallowed_intents")),
        (discord.GatewayNotFound(), ("transient", "gateway_not_found")),
        (OSError(104, "reset"), ("transient", "network")),
        (TimeoutError(), ("transient", "timeout")),
        (zlib.error("bad"), ("error", "error")),
    ],
)
def test_gateway_failures_are_classified(error: BaseException, expected: tuple[str, str]) -> None:
    failure = classify(error)
    assert (failure.kind.value, failure.reason) == expected
