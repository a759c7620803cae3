"""Discord referrals: which invite a joining member used, told by invite uses (real discord.py)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.adapters.discord._invites import Uses, used_invites
from bot.cogs import points
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.events import MemberJoined
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget
from bot.store.tables import points_referrals
from tests.adapters.conftest import connected, points_of
from tests.adapters.test_discord import (
    BOB,
    GENERAL,
    GUILD,
    OLGA,
    SAM,
    adapter_of,
    content,
    discord_config,
    record,
)
from tests.conftest import START
from tests.discord_api import BOT_PERMISSIONS, MANAGE_GUILD, DiscordServer

NINA, OMAR = 300000000000000011, 300000000000000012


def may_read_invites(dc: DiscordServer, allowed: bool = True) -> None:
    """Give the bot's role the Manage Server permission (or take it)."""
    role = dc.guilds[GUILD].roles[dc.bot_role(GUILD)]
    role["permissions"] = str(BOT_PERMISSIONS | MANAGE_GUILD if allowed else BOT_PERMISSIONS)


@pytest.fixture
def clock() -> ManualClock:
    """Return the clock of the bot (referrals pay after a week)."""
    return ManualClock(START)


@pytest.fixture
def manage_guild() -> bool:
    """Say whether the bot has the Manage Server permission (a test may parametrize it)."""
    return True


@pytest.fixture
async def referring_bot(
    tmp_path: Path, dc: DiscordServer, clock: ManualClock, manage_guild: bool
) -> AsyncIterator[Cohort]:
    """Return a connected bot, that may read invites when ``manage_guild``."""
    may_read_invites(dc, allowed=manage_guild)
    for user_id, name in ((NINA, "Nina"), (OMAR, "Omar")):
        dc.add_user(user_id, name)
    async with connected(discord_config(tmp_path, dc), clock) as cohort:
        yield cohort


async def invite_link(dc: DiscordServer, user_id: int) -> str:
    """Run /invite on Discord as ``user_id`` and return the link it gave."""
    answer = content(await dc.answered(dc.run_command(GUILD, GENERAL, user_id, "invite")))
    shown = answer.replace("\\_", "_")  # Markdown escapes the code's underscores
    found = re.search(r"https://discord\.gg/[A-Za-z0-9_-]+", shown)
    assert found is not None, shown
    return found.group(0)


def code_of(link: str) -> str:
    """Return the code at the end of an invite link."""
    return link.rsplit("/", 1)[-1]


async def referrers(cohort: Cohort) -> list[int]:
    """Return the inviters of the recorded referrals."""
    async with cohort.db.read() as conn:
        return list((await conn.scalars(select(points_referrals.c.inviter_id))).all())


async def test_the_invite_whose_uses_went_up_credits_its_owner(
    referring_bot: Cohort, dc: DiscordServer, clock: ManualClock
) -> None:
    seen = record(referring_bot, MemberJoined)
    bobs, sams = await invite_link(dc, BOB), await invite_link(dc, SAM)
    assert bobs != sams
    dc.member_joins(GUILD, NINA, invite=code_of(sams))
    await dc.wait_for(lambda: len(seen) == 1)
    assert seen[0].invite_link == sams
    clock.advance(timedelta(days=8))  # Nina stayed past referral_stay
    assert await points.PointsCog(referring_bot).settle_referrals() == 1
    assert await points_of(referring_bot, PlatformName.DISCORD, SAM) == 100
    assert await points_of(referring_bot, PlatformName.DISCORD, BOB) == 0


async def test_a_used_up_invite_deleted_before_the_join_still_credits_its_owner(
    referring_bot: Cohort, dc: DiscordServer
) -> None:
    seen = record(referring_bot, MemberJoined)
    # A one-use invite: Discord deletes it as it is used, before GUILD_MEMBER_ADD.
    guild = AccessTarget(PlatformName.DISCORD, str(GUILD))
    link = await adapter_of(referring_bot).create_invite(guild, member_limit=1)
    dc.member_joins(GUILD, NINA, invite=code_of(link))
    await dc.wait_for(lambda: len(seen) == 1)
    assert code_of(link) not in dc.guilds[GUILD].invites
    assert seen[0].invite_link == link


async def test_an_invite_made_in_discord_itself_is_told_but_is_no_referral(
    referring_bot: Cohort, dc: DiscordServer
) -> None:
    seen = record(referring_bot, MemberJoined)
    code = dc.user_invites(GENERAL, OLGA)  # INVITE_CREATE: known before anyone uses it
    dc.member_joins(GUILD, NINA, invite=code)
    await dc.wait_for(lambda: len(seen) == 1)
    assert seen[0].invite_link == f"https://discord.gg/{code}"
    assert await referrers(referring_bot) == []  # not a Cohort /invite link


async def test_two_invites_used_at_once_credit_nobody_and_are_logged(
    referring_bot: Cohort, dc: DiscordServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.adapters.discord._invites")
    seen = record(referring_bot, MemberJoined)
    bobs, sams = await invite_link(dc, BOB), await invite_link(dc, SAM)
    # Both joins land before the bot reads the invites for the first: it sees two uses.
    dc.member_joins(GUILD, NINA, invite=code_of(bobs))
    dc.member_joins(GUILD, OMAR, invite=code_of(sams))
    await dc.wait_for(lambda: len(seen) == 2)
    assert [event.invite_link for event in seen] == [None, None]
    assert await referrers(referring_bot) == []
    assert "through one of 2 invites: credited to nobody" in caplog.text
    # The next join is told apart again.
    dc.add_user(301, "Pia")
    dc.member_joins(GUILD, 301, invite=code_of(bobs))
    await dc.wait_for(lambda: len(seen) == 3)
    assert seen[2].invite_link == bobs


@pytest.mark.parametrize("manage_guild", [False])
async def test_without_manage_server_nothing_is_credited_and_it_is_logged_once(
    referring_bot: Cohort, dc: DiscordServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.adapters.discord._invites")
    seen = record(referring_bot, MemberJoined)
    bobs = await invite_link(dc, BOB)
    dc.member_joins(GUILD, NINA, invite=code_of(bobs))
    dc.member_joins(GUILD, OMAR, invite=code_of(bobs))
    await dc.wait_for(lambda: len(seen) == 2)
    assert [event.invite_link for event in seen] == [None, None]
    assert await referrers(referring_bot) == []
    logged = caplog.get_records("setup") + caplog.get_records("call")  # start, then the joins
    refused = [r for r in logged if "Manage Server" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    assert dc.called("guild_invites")  # asked at start and at each join, never crashing


# --- comparing two readings ---------------------------------------------------------------------


def reading(uses: dict[str, int], limits: dict[str, int] | None = None) -> dict[str, Uses]:
    """Return a reading of invites from use counts (and limits)."""
    limits = limits or {}
    return {c: Uses(n, limits.get(c, 0), f"https://discord.gg/{c}") for c, n in uses.items()}


@pytest.mark.parametrize(
    ("before", "after", "limits", "used"),
    [
        ({"a": 1, "b": 4}, {"a": 2, "b": 4}, {}, ["a"]),
        ({"a": 1, "b": 4}, {"a": 2, "b": 5}, {}, ["a", "b"]),
        ({"a": 1}, {"a": 1}, {}, []),
        ({"a": 0}, {}, {"a": 1}, ["a"]),  # used up, so deleted
        ({"a": 0}, {}, {"a": 5}, []),  # revoked with uses left
        ({"a": 3}, {}, {}, []),  # revoked, no limit
        ({}, {"n": 1}, {}, ["n"]),  # made and used between two readings
        ({}, {"n": 0}, {}, []),
    ],
)
def test_which_invites_were_used(
    before: dict[str, int], after: dict[str, int], limits: dict[str, int], used: list[str]
) -> None:
    assert used_invites(reading(before, limits), reading(after, limits)) == used


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(0, 1000), max_size=20))
def test_an_unchanged_reading_shows_no_use(uses: dict[str, int]) -> None:
    assert used_invites(reading(uses), reading(uses)) == []
