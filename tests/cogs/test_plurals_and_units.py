"""Counts, units, durations and option names read naturally in English and in Chinese."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from tests.cogs.lectures._helpers import checkin_code, say
from tests.conftest import make_config


@pytest.fixture
def config(tmp_path: Path, request: pytest.FixtureRequest) -> Config:
    """Return the test config, with the attendance points asked for (if any)."""
    attendance = getattr(request, "param", None)
    points = {} if attendance is None else {"points": {"attendance": attendance}}
    return make_config(tmp_path, community=points)


SERIES = '/lecture schedule Weekly "2026-11-25 19:30" repeat:"weekly for 3"'


@pytest.mark.parametrize(
    ("lang", "one", "many"),
    [
        ("en", "Cancelled Solo (1 session);", "Cancelled Weekly (3 sessions);"),
        ("zh", "已取消 Solo（1 场）", "已取消 Weekly（3 场）"),
    ],
)
async def test_a_count_of_sessions_takes_the_plural_of_its_language(
    console: ConsoleAdapter, lang: str, one: str, many: str
) -> None:
    await say(console, f"/lang {lang}", '/lecture schedule Solo "2026-11-24 19:30"', SERIES)
    assert one in await say(console, "/lecture cancel 1")
    assert many in await say(console, "/lecture cancel 2 scope:series")


@pytest.mark.parametrize(
    ("lang", "expected", "latin"),
    [("en", "stays 1 week,", "1w"), ("zh", "留满 1 周，", "1w")],
)
async def test_the_invite_stay_is_a_duration_in_words(
    console: ConsoleAdapter, lang: str, expected: str, latin: str
) -> None:
    text = await say(console, f"/lang {lang}", "/invite", user="alice")
    assert expected in text and latin not in text


async def test_a_lecture_announcement_gives_its_length_in_words(console: ConsoleAdapter) -> None:
    text = await say(console, '/lecture schedule Talk "2026-11-24 19:30" 1h30m')
    assert "⏱ 1 hour 30 minutes" in text


@pytest.mark.parametrize(
    ("lang", "expected", "english"),
    [("en", "Please give amount.", None), ("zh", "请提供 数量。", "amount")],
)
async def test_a_missing_option_is_named_as_the_readers_language_shows_it(
    console: ConsoleAdapter, lang: str, expected: str, english: str | None
) -> None:
    await say(console, "hello", user="bob")
    text = await say(console, f"/lang {lang}", "/points give @bob", user="olga")
    assert expected in text
    assert english is None or english not in text


async def test_a_time_shown_in_an_answer_names_its_zone(console: ConsoleAdapter) -> None:
    await say(console, "hello", user="bob")
    await say(console, "/thanks @bob for the notes", user="alice")
    again = await say(console, "/thanks @bob", user="alice")
    assert re.search(r"you can again after \d{4}-\d\d-\d\d \d\d:\d\d \(Europe/Berlin\)\.", again)


@pytest.mark.parametrize(
    ("config", "expected"), [(1, "+1 point."), (10, "+10 points.")], indirect=["config"]
)
async def test_check_in_points_take_the_plural(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock, expected: str
) -> None:
    await say(console, '/lecture schedule Talk "2026-11-21 14:00"')
    code = await checkin_code(cohort)
    clock.advance(timedelta(hours=2, minutes=5))
    assert expected in await say(console, f"/checkin {code}", user="bob")


@pytest.mark.parametrize(
    ("days", "title"), [(1, "Q&A over the last day"), (7, "Q&A over the last 7 days")]
)
async def test_question_stats_count_their_days(
    console: ConsoleAdapter, days: int, title: str
) -> None:
    assert title in await say(console, f"/questions stats {days}", user="alice")
