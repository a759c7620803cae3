"""Reading the ``repeat`` option: named forms and RRULEs, into a bounded series of starts."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from bot.cogs.lectures._expand import expand
from bot.cogs.lectures._rules import MAX_AHEAD, local_naive, localize
from bot.core.errors import UserError
from bot.core.parsing import parse_datetime

MAX_OCCURRENCES = 100
MAX_INTERVAL = 1000
# How far past the first session a rule is expanded: beyond MAX_AHEAD, so that a rule whose
# next date lies past it is told apart from one that ends.
SCAN = timedelta(days=4 * 366)
# The work one expansion may do (``_expand.Cost`` units, about one comparison each): the scan
# window keeps most rules to a fraction of it; long BYSETPOS or BYYEARDAY lists reach it. The
# worst rule within it expands in a few ms (docs/design-notes.md, "Lectures").
WORK_BUDGET = 600_000


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A series: its RRULE as stored for the calendar (always with COUNT) and its starts (UTC)."""

    rrule: str | None
    starts: tuple[datetime, ...]


_NAMED = {
    "daily": "FREQ=DAILY",
    "weekly": "FREQ=WEEKLY",
    "biweekly": "FREQ=WEEKLY;INTERVAL=2",
    "monthly": "FREQ=MONTHLY",
    "每天": "FREQ=DAILY",
    "每周": "FREQ=WEEKLY",
    "双周": "FREQ=WEEKLY;INTERVAL=2",
    "每两周": "FREQ=WEEKLY;INTERVAL=2",
    "每月": "FREQ=MONTHLY",
}
_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_SUB_DAILY = ("HOURLY", "MINUTELY", "SECONDLY")
_PARTS = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "WKST",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
    "BYHOUR",
    "BYMINUTE",
    "BYSECOND",
)
_TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
_COUNT_FORMS = (re.compile(r"^(?:x|×|for\s+)?(\d{1,4})(?:\s*(?:times|x|×|次))?$", re.IGNORECASE),)
_VALUE = re.compile(r"^[A-Z0-9,+\-]+$")
_WHOLE = re.compile(r"^[+-]?\d{1,6}$")
_UNTIL_FORMS = ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S", "%Y%m%d")
_DATEUTIL_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)

log = logging.getLogger(__name__)


def parse_repeat(text: str, *, first: datetime, tz: ZoneInfo, now: datetime) -> Recurrence:
    """Read ``weekly for 10``, ``biweekly until 2027-03-01``, ``monthly x6`` or an RRULE."""
    raw = text.strip()
    if not raw:
        return Recurrence(None, (first,))
    words = raw.split(None, 1)
    named = _NAMED.get(words[0].lower())
    if named is not None:
        parts = _named(named, words[1].strip() if len(words) > 1 else "", tz=tz, now=now, raw=raw)
    else:
        parts = _rrule_parts(raw.removeprefix("RRULE:").removeprefix("rrule:").strip(), raw)
    _check(parts, raw)
    until = parts.get("UNTIL")
    if until is not None:
        parts["UNTIL"] = _local_until(until, tz, raw)
    start_local = local_naive(first, tz)
    text_rule = ";".join(f"{name}={value}" for name, value in parts.items())
    try:
        rule = rrulestr(text_rule, dtstart=start_local, forceset=False)
        assert isinstance(rule, rrule)  # one RRULE, no DTSTART or RDATE lines: _rrule_parts
        got = expand(
            rule, end=start_local.date() + SCAN, limit=MAX_OCCURRENCES + 1, budget=WORK_BUDGET
        )
    except _DATEUTIL_ERRORS as exc:
        # dateutil checks little up front: some rules fail only as it walks (BYDAY=53MO monthly).
        log.info("lectures: dateutil refused the rule %r: %r", text_rule, exc)
        raise UserError("lectures.repeat.invalid", value=raw) from None
    if len(got.starts) > MAX_OCCURRENCES:
        raise UserError("lectures.repeat.too_many", limit=MAX_OCCURRENCES)
    if got.too_complex:
        raise UserError("lectures.repeat.too_complex", value=raw)
    if not got.starts:
        if got.complete:
            raise UserError("lectures.repeat.empty", value=raw)
        raise UserError("lectures.repeat.no_dates", value=raw, years=SCAN.days // 366)
    starts = tuple(localize(s, tz) for s in got.starts)
    # A rule the window cut short goes on past MAX_AHEAD (the window reaches further).
    if not got.complete or starts[-1] - now > MAX_AHEAD:
        raise UserError("lectures.too_far", years=MAX_AHEAD.days // 366)
    if len(starts) == 1:
        return Recurrence(None, starts)
    return Recurrence(_with_count(parts, len(starts)), starts)


def _named(rule: str, rest: str, *, tz: ZoneInfo, now: datetime, raw: str) -> dict[str, str]:
    """Return the parts of a named form: its rule with COUNT, or UNTIL the end of a day."""
    parts = dict(part.split("=", 1) for part in rule.split(";"))
    count = _count(rest)
    if count is not None:
        parts["COUNT"] = str(count)
        return parts
    until = _until(rest, tz=tz, now=now, raw=raw)
    if until is None:
        raise UserError("lectures.repeat.unbounded", value=raw)
    parts["UNTIL"] = until.strftime("%Y%m%dT235959")  # the wall clock, like DTSTART
    return parts


def _rrule_parts(text: str, raw: str) -> dict[str, str]:
    """Split an RRULE into its parts, each once, upper-cased, in the order given."""
    parts: dict[str, str] = {}
    for piece in text.split(";"):
        if not piece.strip():
            continue
        name, sep, value = (s.strip().upper() for s in piece.partition("="))
        if not sep or name not in _PARTS or not _VALUE.match(value):
            raise UserError("lectures.repeat.invalid", value=raw)
        if name in parts:
            raise UserError("lectures.repeat.twice", value=raw, part=name)
        parts[name] = value
    if "FREQ" not in parts:
        raise UserError("lectures.repeat.invalid", value=raw)
    return parts


def _check(parts: dict[str, str], raw: str) -> None:
    """Refuse what dateutil would read too freely: sub-daily series, odd counts and intervals."""
    freq = parts["FREQ"]
    if freq in _SUB_DAILY:
        raise UserError("lectures.repeat.too_often", value=raw)
    if freq not in _FREQS:
        raise UserError("lectures.repeat.invalid", value=raw)
    times = 1
    for name in _TIME_PARTS:
        if name in parts:
            times *= len({_whole(v, raw) for v in parts[name].split(",")})
    if times > 1:  # several sessions a day
        raise UserError("lectures.repeat.too_often", value=raw)
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise UserError("lectures.repeat.unbounded", value=raw)
    if "COUNT" in parts and "UNTIL" in parts:
        raise UserError("lectures.repeat.count_and_until", value=raw)
    if "COUNT" in parts:
        count = _whole(parts["COUNT"], raw)
        if count < 1:
            raise UserError("lectures.repeat.invalid", value=raw)
        if count > MAX_OCCURRENCES:
            raise UserError("lectures.repeat.too_many", limit=MAX_OCCURRENCES)
    if "INTERVAL" in parts:
        interval = parts["INTERVAL"]
        if not _WHOLE.match(interval) or not 1 <= int(interval) <= MAX_INTERVAL:
            raise UserError("lectures.repeat.interval", value=interval, limit=MAX_INTERVAL)


def _whole(text: str, raw: str) -> int:
    if not _WHOLE.match(text):
        raise UserError("lectures.repeat.invalid", value=raw)
    return int(text)


def _local_until(value: str, tz: ZoneInfo, raw: str) -> str:
    """Return UNTIL in the series' wall-clock terms, as dateutil compares it with DTSTART.

    With a zoned DTSTART, an RRULE's UNTIL is UTC (``...Z``); a floating one is a wall time.
    """
    for form in _UNTIL_FORMS:
        try:
            until = datetime.strptime(value, form)  # noqa: DTZ007 - a wall time or UTC, below
        except ValueError:
            continue
        if not form.endswith("Z"):
            return value
        try:
            return local_naive(until.replace(tzinfo=UTC), tz).strftime("%Y%m%dT%H%M%S")
        except OverflowError:  # the last hours of the year 9999: no later than that anyway
            return until.strftime("%Y%m%dT%H%M%S")
    raise UserError("lectures.repeat.bad_until", value=value)


def _count(text: str) -> int | None:
    for form in _COUNT_FORMS:
        match = form.match(text.strip())
        if match:
            count = int(match.group(1))
            if count < 1:
                return None
            if count > MAX_OCCURRENCES:
                raise UserError("lectures.repeat.too_many", limit=MAX_OCCURRENCES)
            return count
    return None


def _until(text: str, *, tz: ZoneInfo, now: datetime, raw: str) -> date | None:
    words = text.split(None, 1)
    if len(words) != 2 or words[0].lower() not in ("until", "till", "to", "到"):
        return None
    try:
        return parse_datetime(words[1], tz=tz, now=now, option="repeat").astimezone(tz).date()
    except UserError:
        raise UserError("lectures.repeat.invalid", value=raw) from None


def _with_count(parts: dict[str, str], count: int) -> str:
    """Return the rule's parts without COUNT and UNTIL, ending with ``COUNT=count``."""
    kept = [f"{name}={value}" for name, value in parts.items() if name not in ("COUNT", "UNTIL")]
    return ";".join([*kept, f"COUNT={count}"])
