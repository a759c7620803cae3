"""Interaction answers against a Discord that fails the first response: the 3-second window."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.core.cohort import Cohort
from bot.core.commands import CommandSpec
from bot.core.context import Context
from bot.core.replies import Reply
from tests.adapters.test_discord import BOB, GENERAL, GUILD, adapter_of, content
from tests.conftest import settle_unhandled
from tests.discord_api import DiscordServer

WINDOW = 3.0  # Discord's, which the stand-in enforces


async def _public(ctx: Context) -> Reply:
    return Reply(text="the public answer")


async def _private(ctx: Context) -> Reply:
    return Reply(text="the private answer", ephemeral=True)


async def _slow(ctx: Context) -> Reply:
    await asyncio.sleep(0.6)  # past defer_after (0.3)
    return Reply(text="the slow answer")


@pytest.fixture
async def bot(fast_bot: Cohort) -> Cohort:
    """Return a bot on the stand-in with three test commands synced."""
    for name, handler in (("pub", _public), ("priv", _private), ("slow", _slow)):
        fast_bot.registry.add(CommandSpec(name, "general.help.description", handler))
    await adapter_of(fast_bot).sync_commands()
    return fast_bot


def attempts(dc: DiscordServer, interaction: int) -> list[float]:
    """Return when each first response to ``interaction`` reached the stand-in."""
    return [elapsed for which, elapsed in dc.callback_times if which == interaction]


async def test_a_failing_first_response_stops_at_the_window_and_the_answer_goes_to_the_channel(
    bot: Cohort, dc: DiscordServer
) -> None:
    dc.fail_next("interaction_callback", status=500, times=20)
    interaction = dc.run_command(GUILD, GENERAL, BOB, "pub")
    await dc.wait_for(lambda: "the public answer" in content(dc.sent(GENERAL)), timeout=10)
    (message,) = [m for m in dc.sent(GENERAL) if "the public answer" in m["content"]]
    assert "interaction_metadata" not in message  # a plain channel message, not a response
    tried = attempts(dc, interaction)
    assert tried and max(tried) < WINDOW  # discord.py's own retries were cut off in time
    assert not dc.late_answers
    assert not dc.interactions[interaction].answered


async def test_a_private_answer_whose_first_response_failed_goes_by_direct_message(
    bot: Cohort, dc: DiscordServer
) -> None:
    dc.fail_next("interaction_callback", status=503, times=20)
    interaction = dc.run_command(GUILD, GENERAL, BOB, "priv")
    dm = await dc.wait_for(lambda: dc.dm_channels.get(BOB), timeout=10)
    await dc.wait_for(lambda: dc.sent(int(dm["id"])))
    assert [m["content"] for m in dc.sent(int(dm["id"]))] == ["the private answer"]
    assert "the private answer" not in content(dc.sent(GENERAL))  # never shown to the room
    assert max(attempts(dc, interaction)) < WINDOW


async def test_a_response_discord_took_despite_a_502_is_not_sent_twice(
    bot: Cohort, dc: DiscordServer
) -> None:
    dc.fail_next("interaction_callback", status=502, after=True)
    interaction = dc.run_command(GUILD, GENERAL, BOB, "pub")
    answer = await dc.answered(interaction)
    assert content(answer) == "the public answer"
    await adapter_of(bot).stop()  # waits for the interaction's handling to end
    assert content(dc.sent(GENERAL)).count("the public answer") == 1
    assert len(dc.called("get_webhook_message")) == 1  # it asked what Discord took


async def test_the_deferral_is_not_blocked_and_an_answer_waits_for_it(
    bot: Cohort, dc: DiscordServer
) -> None:
    # The deferral's first try fails; discord.py retries it a second later, inside the window,
    # while the handler's answer (ready at 0.6 s) waits for the deferral's outcome.
    dc.fail_next("interaction_callback", status=500)
    interaction = dc.run_command(GUILD, GENERAL, BOB, "slow")
    answer = await dc.answered(interaction)
    state = dc.interactions[interaction]
    assert state.response_type == 5  # deferred ("thinking")
    assert state.answered_after is not None and state.answered_after < WINDOW
    assert content(answer) == "the slow answer"
    assert len(attempts(dc, interaction)) == 2 and not dc.late_answers


async def test_a_stop_while_first_responses_fail_answers_and_leaves_nothing_unhandled(
    unhandled: list[dict[str, Any]], bot: Cohort, dc: DiscordServer
) -> None:
    dc.fail_next("interaction_callback", status=500, times=40)
    first = dc.run_command(GUILD, GENERAL, BOB, "pub")
    second = dc.run_command(GUILD, GENERAL, BOB, "slow")
    await dc.wait_for(lambda: attempts(dc, first) and attempts(dc, second))
    await adapter_of(bot).stop()  # while both first responses are failing
    await settle_unhandled()
    assert not unhandled  # (the fixture checks again once everything is torn down)
    texts = content(dc.sent(GENERAL))
    assert "the public answer" in texts and "the slow answer" in texts
    assert not dc.late_answers
