"""Organizer actions on Discord (real discord.py): answered privately, the member told by DM."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cogs import points
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from tests.adapters.conftest import connected
from tests.adapters.test_discord import (
    BOB,
    GENERAL,
    GUILD,
    OLGA,
    SAM,
    STAFF,
    TIER_ROLE,
    content,
)
from tests.conftest import make_config
from tests.discord_api import DEFAULT_TOKEN, EPHEMERAL, DiscordServer


@pytest.fixture
async def bot(tmp_path: Path, dc: DiscordServer) -> AsyncIterator[Cohort]:
    """Return a bot on the Discord stand-in, selling Pro as a role, Olga an organizer."""
    config = make_config(
        tmp_path,
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base, "defer_after": 0.3},
        community={
            "organizers": [f"discord:{OLGA}"],
            "discord_admin_channel": STAFF,
            "discord_managed_roles": [TIER_ROLE],
            "offers": [
                {
                    "id": "pro",
                    "kind": "tier",
                    "name": "Pro",
                    "price_monthly": "price_pro_m",
                    "discord_roles": [f"{GUILD}:{TIER_ROLE}"],
                }
            ],
        },
    )
    async with connected(config) as cohort:
        for seen in (OLGA, BOB, SAM):  # seen once, as on a real server
            await dc.answered(dc.run_command(GUILD, GENERAL, seen, "points show"))
        yield cohort


def dms_to(dc: DiscordServer, user_id: int) -> str:
    """Return what the bot sent a user privately."""
    channel = dc.dm_channels.get(user_id)
    return content(dc.sent(int(channel["id"]))) if channel else ""


async def test_a_grant_is_answered_privately_and_the_member_gets_a_dm(
    bot: Cohort, dc: DiscordServer
) -> None:
    posted = len(dc.sent(GENERAL))
    answer = await dc.answered(
        dc.run_command(GUILD, GENERAL, OLGA, "grant", {"member": BOB, "offer": "pro"})
    )
    assert answer[0]["ephemeral"] is True
    assert "Bob** now has **Pro** for good" in content(answer)
    assert "Olga** gave you **Pro** in Demo Community, for good." in dms_to(dc, BOB)
    public = [m for m in dc.sent(GENERAL)[posted:] if not int(m["flags"]) & EPHEMERAL]
    assert public == []  # nothing in the public channel


async def test_closed_dms_are_told_to_the_organizer_privately(
    bot: Cohort, dc: DiscordServer
) -> None:
    dc.close_dms(SAM)
    demo = bot.communities["demo"]
    sam = await bot.identity.resolve(demo.id, Caller(PlatformName.DISCORD, str(SAM), "Sam"))
    await points.award(
        bot.db, demo, sam.member_id, 50, points.Reason.MESSAGE, "m1", at=bot.clock.now()
    )
    for name, options in (
        ("grant", {"member": SAM, "offer": "pro", "days": 30}),
        ("points take", {"member": SAM, "amount": 20, "reason": "spam"}),
    ):
        answer = await dc.answered(dc.run_command(GUILD, GENERAL, OLGA, name, options))
        assert answer[0]["ephemeral"] is True
        assert "I could not tell **Sam** privately" in content(answer)
    assert dms_to(dc, SAM) == ""
    assert await points.balance_of(bot.db, demo.id, sam.member_id) == 30
