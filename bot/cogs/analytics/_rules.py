"""Pure helpers of the analytics: day windows in a zone, buckets, percentiles, scores."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

HEATMAP_DAYS = 7
HEATMAP_HOURS = 24
MAU_DAYS = 30
WAU_DAYS = 7


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Return the UTC instant a local day begins (its first existing wall-clock moment)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def window(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC instants ``[since, until)`` covering local days ``start`` to ``end``."""
    if end < start:
        raise ValueError("the range ends before it starts")
    return day_start(start, zone), day_start(end + timedelta(days=1), zone)


def local_day(at: datetime, zone: ZoneInfo) -> date:
    """Return the local day of an aware instant."""
    return at.astimezone(zone).date()


def hour_of(at: datetime) -> datetime:
    """Return the UTC hour an instant falls in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def days(start: date, end: date) -> list[date]:
    """Return every day from ``start`` to ``end`` inclusive."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def week_of(day: date) -> date:
    """Return the Monday of a day's week."""
    return day - timedelta(days=day.weekday())


def ratio(part: float, whole: float) -> float:
    """Return ``part / whole``, or 0.0 when ``whole`` is zero."""
    return part / whole if whole else 0.0


def percentile(values: Sequence[timedelta], share: float) -> timedelta | None:
    """Return the nearest-rank percentile (``share`` 0.5 for the median-rank), None if empty.

    The nearest-rank method picks a value that exists: the ``ceil(share * n)``-th smallest.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[timedelta]) -> timedelta | None:
    """Return the median (the mean of the middle two for an even count), None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def score(interactions: int, discussions: int, contributions: int, days_present: int) -> float:
    """Return the participation score U = (I + D + C) / T (0.0 for a member never present)."""
    if days_present <= 0:
        return 0.0
    return (interactions + discussions + contributions) / days_present


def days_present(joined: date | None, left: date | None, start: date, end: date) -> int:
    """Return T: the days of ``start``..``end`` the member was present (joined, not yet left)."""
    first = start if joined is None else max(start, joined)
    last = end if left is None else min(end, left)
    return max(0, (last - first).days + 1)


def mean_score(sums: Mapping[int, int], members: int) -> float:
    """Return the mean of ``members`` scores from their numerators summed per days present.

    ``sums`` maps days present T to the sum of I + D + C of the members present T days; the
    sum of the scores is added exactly and rounded once, so it does not hang on their order.
    """
    exact = sum((Fraction(total, days) for days, total in sums.items() if days > 0), Fraction())
    return float(exact / members) if members else 0.0


SCORE_EDGES = (0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0)


def bucket_index(value: float) -> int:
    """Return the index of the ``SCORE_EDGES`` bucket holding ``value``."""
    return max(0, bisect_right(SCORE_EDGES, value) - 1)


def monthly(amount: int, period: timedelta | None) -> int:
    """Normalise a recurring price to a month: yearly (a period over 40 days) over 12, rounded.

    A monthly price stays as it is; the rounding is half to even on the minor unit.
    """
    if period is not None and period > timedelta(days=40):
        return round(amount / 12)
    return amount


# Currencies whose minor unit is the unit itself (Stripe's zero-decimal currencies).
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)


def format_money(amount: int, currency: str) -> str:
    """Write an amount in minor units as people read it: ``1,234.50 USD``."""
    code = currency.upper()
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount:,} {code}"
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole:,}.{cents:02d} {code}"
