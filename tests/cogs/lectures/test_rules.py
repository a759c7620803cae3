"""Lecture rules with no I/O (``_rules``): what is due when, late deliveries, RSVPs, check-in."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.cogs.lectures import _rules as rules
from bot.cogs.lectures._rules import Due, Kind, Rsvp, Skip, Slot
from tests.cogs.lectures._helpers import NOW, at

pytestmark = pytest.mark.backend_free

START_AT = at("2026-11-22 19:30")
SLOT = Slot(START_AT, START_AT + timedelta(hours=1), NOW, NOW)
REMINDERS = (timedelta(hours=24), timedelta(hours=1), timedelta(minutes=10))


def test_the_plan_of_an_occurrence() -> None:
    got = rules.plan(SLOT, REMINDERS)
    assert [(d.kind, d.offset, d.at) for d in got] == [
        (Kind.ANNOUNCE, timedelta(0), NOW),
        (Kind.REMINDER, timedelta(hours=24), START_AT - timedelta(hours=24)),
        (Kind.REMINDER, timedelta(hours=1), START_AT - timedelta(hours=1)),
        (Kind.REMINDER, timedelta(minutes=10), START_AT - timedelta(minutes=10)),
        (Kind.START, timedelta(0), START_AT),
    ]


def test_reminders_before_the_announcement_are_not_planned() -> None:
    soon = Slot(NOW + timedelta(minutes=30), NOW + timedelta(minutes=90), NOW, NOW)
    kinds = [(d.kind, d.offset) for d in rules.plan(soon, REMINDERS)]
    assert kinds == [
        (Kind.ANNOUNCE, timedelta(0)),
        (Kind.REMINDER, timedelta(minutes=10)),
        (Kind.START, timedelta(0)),
    ]


HOUR_BEFORE = Due(Kind.REMINDER, timedelta(hours=1), START_AT - timedelta(hours=1))
STARTING = Due(Kind.START, timedelta(0), START_AT)


@pytest.mark.parametrize(
    ("due", "late_by", "expected"),
    [
        (HOUR_BEFORE, timedelta(0), None),
        (HOUR_BEFORE, timedelta(minutes=15), None),  # the grace, inclusive
        (HOUR_BEFORE, timedelta(minutes=15, seconds=1), Skip.LATE),
        (HOUR_BEFORE, timedelta(hours=1), Skip.STARTED),
        (STARTING, timedelta(minutes=59), None),  # "starting now" while the lecture lasts
        (STARTING, timedelta(hours=1), Skip.OVER),
    ],
)
def test_late_deliveries(due: Due, late_by: timedelta, expected: Skip | None) -> None:
    assert rules.decide(due, SLOT, due.at + late_by, timedelta(minutes=15)) == expected


ANNOUNCING = Due(Kind.ANNOUNCE, timedelta(0), NOW)


@pytest.mark.parametrize(
    ("due", "keyed_start", "status", "expected"),
    [
        (HOUR_BEFORE, START_AT, rules.Status.SCHEDULED, None),
        (HOUR_BEFORE, START_AT, rules.Status.CANCELLED, Skip.CANCELLED),
        # Keyed by the time the lecture had when it came due; it has moved since.
        (HOUR_BEFORE, START_AT - timedelta(days=1), rules.Status.SCHEDULED, Skip.MOVED),
        # An announcement is keyed by the original start, and still announces a moved lecture.
        (ANNOUNCING, START_AT - timedelta(days=1), rules.Status.SCHEDULED, None),
        (ANNOUNCING, START_AT, rules.Status.CANCELLED, Skip.CANCELLED),
    ],
)
def test_a_delivery_taken_over_is_checked_again(
    due: Due, keyed_start: datetime, status: rules.Status, expected: Skip | None
) -> None:
    grace = timedelta(minutes=15)
    assert rules.recheck(due, keyed_start, status, SLOT, due.at, grace) == expected


@pytest.mark.parametrize(
    ("wanted", "current", "going", "capacity", "expected"),
    [
        (Rsvp.GOING, None, 1, 2, Rsvp.GOING),
        (Rsvp.GOING, None, 2, 2, Rsvp.WAITLIST),
        (Rsvp.GOING, None, 500, None, Rsvp.GOING),
        (Rsvp.GOING, Rsvp.WAITLIST, 1, 2, Rsvp.WAITLIST),  # promotion does that, in order
        (Rsvp.GOING, Rsvp.GOING, 2, 2, Rsvp.GOING),
        (Rsvp.MAYBE, Rsvp.GOING, 2, 2, Rsvp.MAYBE),
    ],
)
def test_rsvp_status(
    wanted: Rsvp, current: Rsvp | None, going: int, capacity: int | None, expected: Rsvp
) -> None:
    assert rules.rsvp_status(wanted, current, going, capacity) == expected


@pytest.mark.parametrize(
    ("now", "open_"),
    [
        (START_AT - timedelta(seconds=1), False),
        (START_AT, True),
        (START_AT + timedelta(hours=1, minutes=15), True),
        (START_AT + timedelta(hours=1, minutes=15, seconds=1), False),
    ],
)
def test_the_checkin_window(now: datetime, open_: bool) -> None:
    end = START_AT + timedelta(hours=1)
    assert rules.checkin_open(now, START_AT, end, timedelta(minutes=15)) is open_
