"""Read the period an organizer types after /stats: ``7d``, ``12w``, ``3m``, ``2026-11`` …"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, timedelta

from bot.core.errors import UserError

DEFAULT = "30d"
MAX_DAYS = 731  # two years: longer ranges are the dashboard's job
MAX_LENGTH = 40

_RELATIVE = re.compile(r"(\d{1,4})\s*([dwm])")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_YEAR = re.compile(r"\d{4}")
_DAY = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_RANGE = re.compile(r"(\d{4}-\d{1,2}-\d{1,2})\s*(?:\.\.|–|—|to|~)?\s*(\d{4}-\d{1,2}-\d{1,2})")


@dataclass(frozen=True, slots=True)
class Period:
    """Local days ``start`` to ``end``, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """Return how many days the period spans."""
        return (self.end - self.start).days + 1


def _months_back(today: date, months: int) -> date:
    """Return the day after the same day ``months`` months before ``today`` (clamped)."""
    index = today.year * 12 + today.month - 1 - months
    year, month = divmod(index, 12)
    day = min(today.day, monthrange(year, month + 1)[1])
    return date(year, month + 1, day) + timedelta(days=1)


def _day(text: str, raw: str) -> date:
    if not _DAY.fullmatch(text):
        raise UserError("analytics.period.invalid", value=raw)
    year, month, day = (int(part) for part in text.split("-"))
    try:
        return date(year, month, day)
    except ValueError:
        raise UserError("analytics.period.invalid", value=raw) from None


def parse_period(text: str | None, today: date) -> Period:
    """Turn what an organizer typed into a period ending no later than it says.

    ``Nd``, ``Nw``, ``Nm``: the last N days, weeks or months, today included. ``YYYY-MM``: that
    month; ``YYYY``: that year; ``YYYY-MM-DD``: that day; two days joined by ``..``, ``to`` or a
    space: that range. Nothing typed: the last 30 days.
    """
    raw = (text or "").strip()
    if len(raw) > MAX_LENGTH:
        raise UserError("analytics.period.invalid", value=raw[:MAX_LENGTH] + "…")
    value = (raw or DEFAULT).lower()
    if match := _RELATIVE.fullmatch(value):
        count, unit = int(match[1]), match[2]
        if count < 1:
            raise UserError("analytics.period.invalid", value=raw)
        if unit == "m":
            if count > MAX_DAYS // 28:
                raise UserError("analytics.period.too_long", days=MAX_DAYS)
            period = Period(_months_back(today, count), today)
        else:
            days = count * (7 if unit == "w" else 1)
            if days > MAX_DAYS:
                raise UserError("analytics.period.too_long", days=MAX_DAYS)
            period = Period(today - timedelta(days=days - 1), today)
    elif match := _MONTH.fullmatch(value):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12 or year < 1:
            raise UserError("analytics.period.invalid", value=raw)
        period = Period(date(year, month, 1), date(year, month, monthrange(year, month)[1]))
    elif _YEAR.fullmatch(value):
        year = int(value)
        if year < 1:
            raise UserError("analytics.period.invalid", value=raw)
        period = Period(date(year, 1, 1), date(year, 12, 31))
    elif _DAY.fullmatch(value):
        day = _day(value, raw)
        period = Period(day, day)
    elif match := _RANGE.fullmatch(value):
        start, end = _day(match[1], raw), _day(match[2], raw)
        if end < start:
            raise UserError(
                "analytics.period.reversed", start=start.isoformat(), end=end.isoformat()
            )
        period = Period(start, end)
    else:
        raise UserError("analytics.period.invalid", value=raw)
    if period.days > MAX_DAYS:
        raise UserError("analytics.period.too_long", days=MAX_DAYS)
    return period
