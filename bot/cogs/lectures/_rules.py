"""Lecture rules with no I/O: recurrence, what is due when, RSVP capacity, check-in windows."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from bot.core.errors import UserError
from bot.core.parsing import parse_datetime

MAX_OCCURRENCES = 100
MAX_AHEAD = timedelta(days=3 * 366)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


class Status(StrEnum):
    """Whether an occurrence will take place."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class Kind(StrEnum):
    """What a delivery is."""

    ANNOUNCE = "announce"
    REMINDER = "reminder"
    START = "start"


class DeliveryState(StrEnum):
    """What became of a claimed delivery."""

    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Skip(StrEnum):
    """Why a delivery that came due was not sent."""

    LATE = "late"  # a reminder whose time passed longer ago than the grace
    STARTED = "started"  # a reminder for a lecture that already began
    OVER = "over"  # an announcement or "starting now" for a lecture that ended


class Rsvp(StrEnum):
    """A member's answer to an occurrence."""

    GOING = "going"
    MAYBE = "maybe"
    NOT_GOING = "no"
    WAITLIST = "waitlist"


class Scope(StrEnum):
    """What a cancel, move or edit applies to."""

    THIS = "this"
    SERIES = "series"


class Method(StrEnum):
    """How attendance was recorded."""

    CODE = "code"
    MANUAL = "manual"


# --- recurrence --------------------------------------------------------------------------------


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
_COUNT_FORMS = (re.compile(r"^(?:x|×|for\s+)?(\d{1,4})(?:\s*(?:times|x|×|次))?$", re.IGNORECASE),)
_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)


def local_naive(at: datetime, tz: ZoneInfo) -> datetime:
    """Return the wall-clock time of ``at`` in ``tz``, without a zone."""
    return at.astimezone(tz).replace(tzinfo=None)


def localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach ``tz`` to a wall-clock time and return UTC.

    A time a DST change skips is read with the offset before the gap (RFC 5545, 3.3.5), as
    calendar programs read the same recurrence.
    """
    return naive.replace(tzinfo=tz).astimezone(UTC)


def parse_repeat(text: str, *, first: datetime, tz: ZoneInfo, now: datetime) -> Recurrence:
    """Read ``weekly for 10``, ``biweekly until 2027-03-01``, ``monthly x6`` or an RRULE."""
    raw = text.strip()
    if not raw:
        return Recurrence(None, (first,))
    words = raw.split(None, 1)
    named = _NAMED.get(words[0].lower())
    if named is not None:
        rest = words[1].strip() if len(words) > 1 else ""
        rule, until = named, None
        count = _count(rest)
        if count is None:
            until = _until(rest, tz=tz, now=now, raw=raw)
            if until is None:
                raise UserError("lectures.repeat.unbounded", value=raw)
        text_rule = rule + (f";COUNT={count}" if count is not None else "")
    else:
        text_rule = raw.removeprefix("RRULE:").removeprefix("rrule:").strip()
        upper = text_rule.upper()
        if "FREQ=" not in upper:
            raise UserError("lectures.repeat.invalid", value=raw)
        if "COUNT=" not in upper and "UNTIL=" not in upper:
            raise UserError("lectures.repeat.unbounded", value=raw)
        freq = re.search(r"FREQ=([A-Z]+)", upper)
        if freq is None or freq.group(1) not in _FREQS:
            raise UserError("lectures.repeat.too_often", value=raw)
        # With a zoned DTSTART, RRULE's UNTIL is UTC; dateutil wants it in the same (local) terms.
        text_rule = _UNTIL_UTC.sub(
            lambda m: (
                "UNTIL="
                + local_naive(
                    datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC), tz
                ).strftime("%Y%m%dT%H%M%S")
            ),
            text_rule,
        )
        until = None
    start_local = local_naive(first, tz)
    try:
        rule_obj = rrulestr(text_rule, dtstart=start_local, forceset=False)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise UserError("lectures.repeat.invalid", value=raw) from None
    try:
        naive_starts = list(islice(iter(rule_obj), MAX_OCCURRENCES + 1))
    except (ValueError, OverflowError):
        raise UserError("lectures.repeat.invalid", value=raw) from None
    if until is not None:
        naive_starts = [s for s in naive_starts if s.date() <= until]
    if len(naive_starts) > MAX_OCCURRENCES:
        raise UserError("lectures.repeat.too_many", limit=MAX_OCCURRENCES)
    if not naive_starts:
        raise UserError("lectures.repeat.empty", value=raw)
    starts = tuple(localize(s, tz) for s in naive_starts)
    if starts[-1] - now > MAX_AHEAD:
        raise UserError("lectures.too_far", years=MAX_AHEAD.days // 366)
    if len(starts) == 1:
        return Recurrence(None, starts)
    return Recurrence(_with_count(text_rule, len(starts)), starts)


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


def _with_count(rule: str, count: int) -> str:
    """Return the rule's parts without COUNT, UNTIL and DTSTART, ending with ``COUNT=count``."""
    parts = [
        p.strip().upper()
        for p in rule.split(";")
        if p.strip() and p.split("=", 1)[0].strip().upper() not in ("COUNT", "UNTIL", "DTSTART")
    ]
    return ";".join([*parts, f"COUNT={count}"])


def shift_wall_clock(at: datetime, delta: timedelta, tz: ZoneInfo) -> datetime:
    """Move ``at`` by ``delta`` of wall-clock time in ``tz`` (a series keeps its local hour)."""
    return localize(local_naive(at, tz) + delta, tz)


# --- what is due when --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """One delivery an occurrence needs: ``kind`` at ``at``; ``offset`` for reminders."""

    kind: Kind
    offset: timedelta
    at: datetime


@dataclass(frozen=True, slots=True)
class Slot:
    """The times that decide an occurrence's deliveries."""

    start: datetime
    end: datetime
    announce_at: datetime
    scheduled_at: datetime


def plan(slot: Slot, reminders: tuple[timedelta, ...]) -> list[Due]:
    """Return the deliveries of an occurrence, by time.

    A reminder that would come before the announcement (or before the lecture was last moved)
    is not planned: the announcement (or the move notice) says it all.
    """
    announce_at = max(slot.announce_at, slot.scheduled_at)
    dues = [Due(Kind.ANNOUNCE, timedelta(0), min(slot.announce_at, slot.start))]
    for offset in sorted(set(reminders), reverse=True):
        at = slot.start - offset
        if at > announce_at:
            dues.append(Due(Kind.REMINDER, offset, at))
    dues.append(Due(Kind.START, timedelta(0), slot.start))
    return sorted(dues, key=lambda d: d.at)


def decide(due: Due, slot: Slot, now: datetime, grace: timedelta) -> Skip | None:
    """Return why a due delivery must be skipped at ``now``, or None to send it."""
    if due.kind is Kind.REMINDER:
        if now >= slot.start:
            return Skip.STARTED
        if now - due.at > grace:
            return Skip.LATE
        return None
    if now >= slot.end:
        return Skip.OVER
    return None


def next_due(dues: list[Due], now: datetime) -> datetime | None:
    """Return when the first delivery after ``now`` is due, or None when none is left."""
    return min((d.at for d in dues if d.at > now), default=None)


# --- RSVP and check-in -------------------------------------------------------------------------


def rsvp_status(wanted: Rsvp, current: Rsvp | None, going: int, capacity: int | None) -> Rsvp:
    """Return the status a member gets for ``wanted``; ``going`` counts the others going."""
    if wanted is not Rsvp.GOING:
        return wanted
    if current in (Rsvp.GOING, Rsvp.WAITLIST):
        return current
    if capacity and going >= capacity:
        return Rsvp.WAITLIST
    return Rsvp.GOING


def promotions(going: int, capacity: int | None, waiting: int) -> int:
    """Return how many waitlisted members move up when ``going`` are going."""
    if not capacity:
        return waiting
    return max(0, min(waiting, capacity - going))


def checkin_open(now: datetime, start: datetime, end: datetime, grace: timedelta) -> bool:
    """Say whether check-in is open: from the start to ``grace`` after the end."""
    return start <= now <= end + grace


def new_code() -> str:
    """Return a random check-in code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """Upper-case a typed code and drop spaces and dashes."""
    return "".join(ch for ch in text.upper() if ch not in " -")


def key_start(due: Due, original_start: datetime, start: datetime) -> datetime:
    """Return the start a delivery is keyed by."""
    # One announcement per occurrence; reminders and "starting now" belong to the time they
    # announce, so moving an occurrence arms them again for the new time.
    return original_start if due.kind is Kind.ANNOUNCE else start
