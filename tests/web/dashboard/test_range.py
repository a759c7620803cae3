"""The date range a dashboard page reads from its GET parameters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.web.dashboard._range import MAX_DAYS, DateRange, default_range, parse_range

pytestmark = pytest.mark.backend_free

NOW = datetime(2026, 11, 21, 3, 30, tzinfo=UTC)  # still the 20th west of UTC
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("zone", "today"),
    [
        (BERLIN, date(2026, 11, 21)),
        (NEW_YORK, date(2026, 11, 20)),
        (ZoneInfo("UTC"), date(2026, 11, 21)),
    ],
)
def test_the_default_is_the_last_thirty_days_in_the_zone(zone: ZoneInfo, today: date) -> None:
    assert default_range(NOW, zone) == DateRange(today - timedelta(days=29), today)
    assert default_range(NOW, zone).days == 30


@pytest.mark.parametrize(
    ("params", "expected", "error"),
    [
        ({}, DateRange(date(2026, 10, 22), date(2026, 11, 20)), None),
        (
            {"from": "2026-11-01", "to": "2026-11-07"},
            DateRange(date(2026, 11, 1), date(2026, 11, 7)),
            None,
        ),
        (
            {"from": "2026-11-07", "to": "2026-11-07"},
            DateRange(date(2026, 11, 7), date(2026, 11, 7)),
            None,
        ),
        ({"from": "2026-11-01"}, DateRange(date(2026, 11, 1), date(2026, 11, 20)), None),
        ({"from": "", "to": ""}, DateRange(date(2026, 10, 22), date(2026, 11, 20)), None),
        ({"from": "2026-11-08", "to": "2026-11-07"}, None, "dashboard.web.range_reversed"),
        ({"from": "2026-13-01"}, None, "dashboard.web.range_bad_date"),
        ({"from": "20261101"}, None, "dashboard.web.range_bad_date"),
        ({"to": "yesterday"}, None, "dashboard.web.range_bad_date"),
        # exactly the limit, and one day over
        (
            {"from": "2024-11-21", "to": "2026-11-21"},
            DateRange(date(2024, 11, 21), date(2026, 11, 21)),
            None,
        ),
        ({"from": "2024-11-20", "to": "2026-11-21"}, None, "dashboard.web.range_too_long"),
    ],
)
def test_parameters_give_a_range_or_say_why_not(
    params: dict[str, str], expected: DateRange | None, error: str | None
) -> None:
    chosen, problem = parse_range(params, NOW, NEW_YORK)
    assert problem == error
    assert chosen == (expected or default_range(NOW, NEW_YORK))


@given(st.dictionaries(st.sampled_from(["from", "to", "other"]), st.text(max_size=40)))
def test_any_typed_parameters_give_a_bounded_range(params: dict[str, str]) -> None:
    chosen, _problem = parse_range(params, NOW, BERLIN)
    assert chosen.start <= chosen.end
    assert 1 <= chosen.days <= MAX_DAYS
