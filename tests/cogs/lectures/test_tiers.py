"""Tier-locked lectures: only tiers the community sells, and a member told which one to join."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.core.config import Config
from tests.cogs.lectures._helpers import GOLD, say
from tests.conftest import make_config

COURSE = {"id": "rust", "kind": "course", "name": "Rust 101", "price_once": "price_rust"}


@pytest.fixture
def config(tmp_path: Path, request: pytest.FixtureRequest) -> Config:
    """Return the test config selling the gold tier and one course (or the offers asked for)."""
    offers = getattr(request, "param", [GOLD, COURSE])
    return make_config(tmp_path, community={"offers": offers})


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("nosuchtier", "There is no tier “nosuchtier” here. The tiers are: gold."),
        # A course is not a tier: a lecture cannot be locked to it.
        ("rust", "There is no tier “rust” here. The tiers are: gold."),
    ],
)
async def test_an_unknown_tier_is_refused_naming_the_tiers(
    console: ConsoleAdapter, tier: str, expected: str
) -> None:
    line = f'/lecture schedule Paid "2026-12-02 19:00" tier:{tier}'
    assert expected in await say(console, line)
    assert "No lectures are coming up." in await say(console, "/lectures")
    assert "Scheduled" in await say(console, '/lecture schedule Paid "2026-12-02 19:00" tier:Gold')


@pytest.mark.parametrize("config", [[COURSE]], indirect=True)
async def test_a_community_without_tiers_says_so(console: ConsoleAdapter) -> None:
    await say(console, '/lecture schedule Open "2026-12-02 19:00"')
    for line in (
        '/lecture schedule Paid "2026-12-02 19:00" tier:gold',
        "/lecture edit 1 tier:gold scope:series",
    ):
        assert "This community sells no tiers" in await say(console, line)
    assert "This community sells no tiers" not in await say(console, "/lecture edit 1 tier:-")


async def test_rsvp_to_a_tier_lecture_names_the_tier_and_offers_join(
    console: ConsoleAdapter,
) -> None:
    await say(console, '/lecture schedule Paid "2026-12-02 19:00" tier:gold')
    text = await say(console, "/press 1", user="bob")
    assert "There is no lecture" not in text
    assert "Lecture #1 is for members of Gold. /join gold to take part." in text
