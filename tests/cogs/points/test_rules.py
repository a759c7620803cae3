"""Who earns points for a message and what says thanks (``_rules``): plain rules, as tables."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cogs.points._rules import (
    NoPoints,
    digest,
    ineligible,
    mentions_in,
    message_points,
    says_thanks,
)
from bot.core.config import AccountRef, PointsConfig
from bot.core.parsing import parse_mention
from tests.cogs.points._helpers import NOW

pytestmark = pytest.mark.backend_free

CONFIG = PointsConfig()


@pytest.mark.parametrize(
    ("text", "last_at", "last_text", "expected"),
    [
        ("hi", None, None, NoPoints.TOO_SHORT),
        ("  a b  ", None, None, NoPoints.TOO_SHORT),
        ("hello world", None, "Hello   WORLD", NoPoints.REPEATED),
        ("hello world", NOW - timedelta(seconds=59), None, NoPoints.COOLDOWN),
        ("hello world", NOW - timedelta(seconds=60), None, "points"),
        ("hello world", None, "another text", "points"),
    ],
)
def test_message_rules(
    text: str, last_at: datetime | None, last_text: str | None, expected: object
) -> None:
    got = message_points(
        CONFIG,
        text=text,
        now=NOW,
        last_award_at=last_at,
        last_digest=digest(last_text) if last_text else None,
        rng=random.Random(1),
    )
    if expected == "points":
        assert isinstance(got, int) and 15 <= got <= 25
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("channel", "author", "expected"),
    [
        ("bots", "console:bob", NoPoints.EXCLUDED_CHANNEL),
        ("general", "telegram:600", NoPoints.MUTED),
        ("general", "console:bob", None),
    ],
)
def test_where_and_who_never_earn(channel: str, author: str, expected: NoPoints | None) -> None:
    config = PointsConfig(excluded_channels=("bots",), muted=(AccountRef.parse("telegram:600"),))
    assert ineligible(config, channel_id=channel, author=AccountRef.parse(author)) == expected


def test_message_points_cover_the_whole_range() -> None:
    rng = random.Random(7)
    seen = {
        message_points(
            CONFIG, text="long enough", now=NOW, last_award_at=None, last_digest=None, rng=rng
        )
        for _ in range(500)
    }
    assert seen == set(range(15, 26))


@pytest.mark.parametrize(
    ("text", "thanks"),
    [
        ("Thanks!", True),
        ("THANK YOU @bob", True),
        ("no thx.", True),
        ("谢谢你的解释", True),
        ("thanksgiving dinner", False),
        ("that is pretty neat", False),  # "ty" inside a word
        ("I think so", False),
    ],
)
def test_what_says_thanks(text: str, thanks: bool) -> None:
    assert says_thanks(text, PointsConfig().thanks_words) is thanks


def test_mentions_in_a_message() -> None:
    text = "thanks <@123456789> and @bob, @bob. and mail a@b.com"
    assert mentions_in(text) == ["<@123456789>", "@bob"]


@given(st.text())
def test_every_found_mention_parses(text: str) -> None:
    for mention in mentions_in(text):
        assert parse_mention(mention).value
