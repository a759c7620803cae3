"""Automod on the console: each rule acts, staff and chosen tiers are exempt, hits are cases."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.store.tables import moderation_cases
from tests.cogs.moderation.test_commands import run
from tests.conftest import make_config

AUTOMOD = {
    "enabled": True,
    "exempt_tiers": ["pro"],
    "flood": {"messages": 3, "within": "10s"},
    "repeats": {"count": 3, "within": "1m", "action": "warn"},
    "links": {"on": True, "allow": ["example.com"]},
    "mentions": {"most": 2, "action": "mute"},
    "channels": [{"channel": "console:links", "off": ["links"]}],
}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return a config with automod on and tuned low."""
    return make_config(tmp_path, community={"moderation": {"automod": AUTOMOD}})


@pytest.fixture
async def seen(cohort: Cohort, console: ConsoleAdapter, clock: ManualClock) -> ConsoleAdapter:
    """Return the console once Bob and Olga are known, Bob's account two days old."""
    for user in ("bob", "olga"):
        await run(console, user, "/whoami")
    clock.advance(timedelta(days=2))
    return console


async def hits(cohort: Cohort) -> list[tuple[str, str, str]]:
    """Return (action, source, reason) of every case."""
    c = moderation_cases.c
    async with cohort.db.read() as conn:
        rows = (await conn.execute(select(c.action, c.source, c.reason).order_by(c.number))).all()
    return [(r.action, r.source, r.reason) for r in rows]


async def test_flood_deletes_the_messages_beyond_the_limit(
    cohort: Cohort, seen: ConsoleAdapter, clock: ManualClock
) -> None:
    said = await run(seen, "bob", "one", "two", "three")
    assert "deleted" not in said
    said = await run(seen, "bob", "four")
    assert "(message" in said and "deleted)" in said
    assert await hits(cohort) == [("delete", "automod", "automod: flood")]
    clock.advance(timedelta(seconds=11))
    said = await run(seen, "bob", "five")
    assert "deleted" not in said


async def test_repeated_text_warns_and_links_outside_the_allowlist_are_deleted(
    cohort: Cohort, seen: ConsoleAdapter, clock: ManualClock
) -> None:
    for _ in range(2):
        await run(seen, "bob", "BUY my course")
        clock.advance(timedelta(seconds=5))
    said = await run(seen, "bob", "buy my   course")
    assert "You were warned in Demo Community: automod: repeats" in said
    clock.advance(timedelta(seconds=30))
    said = await run(seen, "bob", "read https://docs.example.com/x")
    assert "deleted" not in said
    said = await run(seen, "bob", "read https://evil.net/x")
    assert "deleted)" in said
    assert [h[0] for h in await hits(cohort)] == ["warn", "delete"]


async def test_a_channel_can_switch_a_rule_off(cohort: Cohort, seen: ConsoleAdapter) -> None:
    seen.channel = "links"
    said = await run(seen, "bob", "https://evil.net/x")
    assert "deleted" not in said
    assert await hits(cohort) == []


async def test_mass_mentions_mute(cohort: Cohort, seen: ConsoleAdapter) -> None:
    said = await run(seen, "bob", "@everyone look at this")
    assert "You are muted in Demo Community for 10 minutes: automod: mentions" in said
    assert "bob" in seen.muted
    assert [h[:2] for h in await hits(cohort)] == [("mute", "automod")]


async def test_new_accounts_may_not_post_links(cohort: Cohort, console: ConsoleAdapter) -> None:
    await run(console, "carol", "/whoami")
    said = await run(console, "carol", "see https://example.com")
    assert "deleted)" in said
    assert await hits(cohort) == [("delete", "automod", "automod: new_accounts")]


async def test_staff_and_exempt_tiers_are_left_alone(cohort: Cohort, seen: ConsoleAdapter) -> None:
    said = await run(seen, "olga", "https://evil.net", "discord.gg/x", "@everyone")
    assert "deleted" not in said

    class Pro:
        async def tiers_of(self, member_id: int, now: datetime) -> frozenset[str]:
            return frozenset({"pro"})

    cohort.entitlements = Pro()
    said = await run(seen, "bob", "https://evil.net")
    assert "deleted" not in said
    assert await hits(cohort) == []
