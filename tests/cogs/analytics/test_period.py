"""The /stats period parser: the forms it reads, what it refuses, and hostile text."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cogs.analytics import Period, parse_period
from bot.cogs.analytics._period import MAX_DAYS
from bot.core.errors import UserError

pytestmark = pytest.mark.backend_free

TODAY = date(2026, 11, 3)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        (None, date(2026, 10, 5), TODAY),  # the last 30 days, today included
        ("", date(2026, 10, 5), TODAY),
        ("7d", date(2026, 10, 28), TODAY),
        ("1d", TODAY, TODAY),
        (" 7D ", date(2026, 10, 28), TODAY),
        ("12w", date(2026, 8, 12), TODAY),
        ("1m", date(2026, 10, 4), TODAY),
        ("3m", date(2026, 8, 4), TODAY),
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("2026-2", date(2026, 2, 1), date(2026, 2, 28)),
        ("2028-02", date(2028, 2, 1), date(2028, 2, 29)),
        ("2025", date(2025, 1, 1), date(2025, 12, 31)),
        ("2026-11-01", date(2026, 11, 1), date(2026, 11, 1)),
        ("2026-11-01..2026-11-15", date(2026, 11, 1), date(2026, 11, 15)),
        ("2026-11-01 to 2026-11-15", date(2026, 11, 1), date(2026, 11, 15)),
        ("2026-11-01 2026-11-15", date(2026, 11, 1), date(2026, 11, 15)),
        ("2026-11-01–2026-11-15", date(2026, 11, 1), date(2026, 11, 15)),
        ("731d", TODAY - timedelta(days=730), TODAY),  # exactly the limit
    ],
)
def test_periods_people_type(text: str | None, start: date, end: date) -> None:
    assert parse_period(text, TODAY) == Period(start, end)


def test_months_back_from_the_31st_clamp_to_the_shorter_month() -> None:
    assert parse_period("1m", date(2026, 3, 31)) == Period(date(2026, 3, 1), date(2026, 3, 31))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("yesterday", "analytics.period.invalid"),
        ("0d", "analytics.period.invalid"),
        ("7x", "analytics.period.invalid"),
        ("2026-13", "analytics.period.invalid"),
        ("2026-02-30", "analytics.period.invalid"),
        ("0000", "analytics.period.invalid"),
        ("732d", "analytics.period.too_long"),
        ("105w", "analytics.period.too_long"),
        ("27m", "analytics.period.too_long"),
        ("2024-01-01..2026-01-02", "analytics.period.too_long"),
        ("2026-11-15..2026-11-01", "analytics.period.reversed"),
        ("x" * 41, "analytics.period.invalid"),
    ],
)
def test_what_is_refused_says_why(text: str, key: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_period(text, TODAY)
    assert caught.value.key == key


@given(st.text(max_size=60))
def test_any_text_is_a_period_or_a_clear_refusal(text: str) -> None:
    try:
        period = parse_period(text, TODAY)
    except UserError as exc:
        assert exc.key.startswith("analytics.period.")
        return
    assert period.start <= period.end
    assert 1 <= period.days <= MAX_DAYS


@given(st.integers(1, MAX_DAYS), st.dates(date(2000, 1, 1), date(2100, 12, 31)))
def test_the_last_n_days_end_today_and_span_n(days: int, today: date) -> None:
    period = parse_period(f"{days}d", today)
    assert (period.end, period.days) == (today, days)


@given(st.dates(date(1900, 1, 1), date(2100, 12, 31)), st.integers(0, MAX_DAYS - 1))
def test_a_typed_range_is_read_back_exactly(start: date, length: int) -> None:
    end = start + timedelta(days=length)
    assert parse_period(f"{start}..{end}", TODAY) == Period(start, end)
