"""Lecture rules with no I/O: wall-clock times, what is due when, RSVP capacity, check-in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

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
    CANCELLED = "cancelled"  # taken over after its claimant died, for a cancelled lecture
    MOVED = "moved"  # taken over after its claimant died, for a time the lecture left


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


# --- wall-clock times -------------------------------------------------------------------------


def local_naive(at: datetime, tz: ZoneInfo) -> datetime:
    """Return the wall-clock time of ``at`` in ``tz``, without a zone."""
    return at.astimezone(tz).replace(tzinfo=None)


def localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach ``tz`` to a wall-clock time and return UTC.

    A time a DST change skips is read with the offset before the gap (RFC 5545, 3.3.5), as
    calendar programs read the same recurrence.
    """
    return naive.replace(tzinfo=tz).astimezone(UTC)


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


def recheck(
    due: Due, keyed_start: datetime, status: Status, slot: Slot, now: datetime, grace: timedelta
) -> Skip | None:
    """Return why a claimed delivery must be skipped at ``now``, or None to send it.

    A delivery is claimed when it comes due, and claimed again when the process that claimed
    it died before confirming it: by then its lecture may be cancelled, moved or over.
    """
    if status is Status.CANCELLED:
        return Skip.CANCELLED
    if due.kind is not Kind.ANNOUNCE and keyed_start != slot.start:
        return Skip.MOVED  # a moved lecture has reminders of its own, keyed by its new time
    return decide(due, slot, now, grace)


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
