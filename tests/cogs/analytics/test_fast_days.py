"""The direct hook path's day and hour texts, memoised with their bounds, are SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from bot.cogs.analytics._fast import FastRollups
from bot.cogs.analytics._rules import hour_of, local_day

pytestmark = pytest.mark.backend_free


@pytest.mark.parametrize(
    "zone", ["America/New_York", "America/Santiago", "Asia/Kolkata", "Australia/Lord_Howe"]
)
def test_memoised_days_and_hours_match_the_rules_across_clock_changes(zone: str) -> None:
    tz = ZoneInfo(zone)
    fast = FastRollups(lambda _: tz)
    dialect = sqlite.dialect()
    stored = DateTime().dialect_impl(dialect).bind_processor(dialect)  # what SQLAlchemy writes
    assert stored is not None
    at = datetime(2026, 1, 1, tzinfo=UTC)
    while at < datetime(2027, 1, 1, tzinfo=UTC):  # every 20 minutes of a year, in order
        day, text = fast.day(1, at)
        assert day == local_day(at, tz) and text == day.isoformat()
        assert fast.hour(at) == stored(hour_of(at).replace(tzinfo=None))
        at += timedelta(minutes=20)
