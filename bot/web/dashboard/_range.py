"""The date range a page shows, read from its ``from`` and ``to`` GET parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_DAYS = 30
MAX_DAYS = 731  # two years: a page never asks the store for more


@dataclass(frozen=True, slots=True)
class DateRange:
    """Local days ``start`` to ``end`` inclusive, in the community's zone."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """Return how many days the range spans."""
        return (self.end - self.start).days + 1

    def query(self) -> str:
        """Return the range as GET parameters."""
        return f"from={self.start.isoformat()}&to={self.end.isoformat()}"


def default_range(now: datetime, zone: ZoneInfo) -> DateRange:
    """Return the last ``DEFAULT_DAYS`` days ending today in ``zone``."""
    today = now.astimezone(zone).date()
    return DateRange(today - timedelta(days=DEFAULT_DAYS - 1), today)


def _day(text: str | None) -> date | None:
    if text is None or len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_range(
    params: Mapping[str, str], now: datetime, zone: ZoneInfo
) -> tuple[DateRange, str | None]:
    """Return the range the parameters ask for, and the key of the error if they are wrong.

    Missing parameters take the default range's ends; a wrong range falls back to the default
    range and says why (``dashboard.web.range_*``).
    """
    fallback = default_range(now, zone)
    raw_start, raw_end = params.get("from") or None, params.get("to") or None
    start = _day(raw_start) if raw_start else fallback.start
    end = _day(raw_end) if raw_end else fallback.end
    if start is None or end is None:
        return fallback, "dashboard.web.range_bad_date"
    if end < start:
        return fallback, "dashboard.web.range_reversed"
    if (end - start).days + 1 > MAX_DAYS:
        return fallback, "dashboard.web.range_too_long"
    return DateRange(start, end), None
