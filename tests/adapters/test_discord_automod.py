"""Automod through real discord.py against the stand-in: exemptions by Discord role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.core.cohort import Cohort
from bot.core.events import MessagePosted
from tests.adapters.conftest import connected
from tests.adapters.test_discord import BOB, GENERAL, GUILD, OLGA, STAFF, TIER_ROLE
from tests.adapters.test_discord_moderation import logged, messages_of, states
from tests.conftest import make_config
from tests.discord_api import DEFAULT_TOKEN, DiscordServer

HELPER = 400000000000000021  # exempt everywhere
FLOOD = 4  # the fourth message within 10 s floods


@pytest.fixture
async def bot(tmp_path: Path, dc: DiscordServer) -> AsyncIterator[Cohort]:
    """Return a bot whose automod exempts Helpers everywhere and Pro (the tier role) in #staff."""
    dc.add_role(GUILD, HELPER, "Helper", 0)
    config = make_config(
        tmp_path,
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base, "defer_after": 0.3},
        community={
            "organizers": [f"discord:{OLGA}"],
            "moderation": {
                "automod": {
                    "enabled": True,
                    "exempt_roles": [f"{GUILD}:{HELPER}"],
                    "flood": {"messages": FLOOD - 1, "within": "10s"},
                    "channels": [
                        {"channel": f"discord:{STAFF}", "exempt_roles": [f"{GUILD}:{TIER_ROLE}"]}
                    ],
                }
            },
        },
    )
    async with connected(config) as cohort:
        yield cohort


async def eventually(check: Callable[[], bool]) -> None:
    """Wait until ``check()`` holds (the bot works in its own time)."""
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def settles_to(bot: Cohort, want: list[tuple[str, str]]) -> None:
    """Wait until the recorded actions are ``want`` (one is marked done after its REST call)."""
    for _ in range(200):
        if await states(bot) == want:
            return
        await asyncio.sleep(0.05)
    assert await states(bot) == want


async def flood(bot: Cohort, dc: DiscordServer, channel: int, *, logged_before: int) -> list[bool]:
    """Have Bob post FLOOD messages quickly; return which of them the bot deleted."""
    for n in range(FLOOD):
        dc.user_says(channel, BOB, f"message {logged_before + n}")
    await logged(bot, logged_before + FLOOD)
    await dc.answered(dc.run_command(GUILD, GENERAL, OLGA, "whoami"))  # the bot caught up
    return [m["deleted"] for m in messages_of(dc, channel, BOB)][-FLOOD:]


async def test_a_member_with_an_exempt_role_may_flood_and_without_it_may_not(
    bot: Cohort, dc: DiscordServer
) -> None:
    guild = dc.guild(GUILD)
    dc.change_roles(guild, BOB, add=(HELPER,))
    assert await flood(bot, dc, GENERAL, logged_before=0) == [False] * FLOOD
    assert await states(bot) == []
    dc.change_roles(guild, BOB, remove=(HELPER,))
    assert await flood(bot, dc, GENERAL, logged_before=FLOOD) == [False] * (FLOOD - 1) + [True]
    await eventually(lambda: len(dc.deleted) == 1)
    await settles_to(bot, [("delete", "done")])


async def test_a_role_exempt_in_one_channel_only(bot: Cohort, dc: DiscordServer) -> None:
    dc.change_roles(dc.guild(GUILD), BOB, add=(TIER_ROLE,))
    assert await flood(bot, dc, STAFF, logged_before=0) == [False] * FLOOD
    assert await flood(bot, dc, GENERAL, logged_before=FLOOD) == [False] * (FLOOD - 1) + [True]
    await settles_to(bot, [("delete", "done")])


async def test_the_message_event_carries_the_authors_roles_in_a_guild_and_none_in_a_dm(
    bot: Cohort, dc: DiscordServer
) -> None:
    seen: list[MessagePosted] = []

    async def keep(event: MessagePosted) -> None:
        seen.append(event)

    bot.events.subscribe(MessagePosted, keep)
    dc.change_roles(dc.guild(GUILD), BOB, add=(HELPER, TIER_ROLE))
    dc.user_says(GENERAL, BOB, "in the guild")
    dc.user_says(int(dc.dm_channel(BOB)["id"]), BOB, "in private")
    await eventually(lambda: len(seen) == 2)
    by_text = {event.text: event.role_ids for event in seen}
    assert by_text == {
        "in the guild": frozenset({str(HELPER), str(TIER_ROLE)}),  # not @everyone
        "in private": frozenset(),
    }
