"""Lectures: recurrence, deliveries exactly once, RSVPs, check-in, changes, calendar."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from aiohttp.test_utils import TestClient, TestServer
from dateutil.rrule import rrulestr
from sqlalchemy import func, select, update

from bot.adapters.console import ConsoleAdapter
from bot.adapters.telegram import TelegramAdapter
from bot.cogs.lectures import _members as lecture_members
from bot.cogs.lectures import _rules as rules
from bot.cogs.lectures._rules import Due, Kind, Rsvp, Skip, Slot
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.commands import Role
from bot.core.config import Config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import (
    lecture_deliveries,
    lecture_occurrences,
    lecture_rsvps,
    members,
    points_ledger,
)
from bot.web.app import build_app
from tests.conftest import START, make_config, output
from tests.telegram_api import TelegramServer

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GOLD = {"id": "gold", "kind": "tier", "name": "Gold", "price_monthly": "price_gold"}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return the test config, selling a gold tier that lectures may be kept for."""
    return make_config(tmp_path, community={"offers": [GOLD]})


def at(text: str, tz: ZoneInfo = BERLIN) -> datetime:
    """Return a Berlin wall-clock time as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


# --- what is due when --------------------------------------------------------------------------

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


# --- through the console -----------------------------------------------------------------------


def sweeper(cohort: Cohort):  # type: ignore[no-untyped-def]
    """Return the lectures sweep the runtime would run every few seconds."""
    return next(job.run for job in cohort.jobs if job.id == "lectures.due")


async def say(console: ConsoleAdapter, *lines: str, user: str = "olga") -> str:
    """Type lines as ``user`` and return what the console printed."""
    console.user = user
    for line in lines:
        await console.handle_line(line)
    return output(console)


SCHEDULE = '/lecture schedule "Intro to Rust" "2026-11-22 19:30" speaker:Ferris'


async def test_scheduling_announces_at_once_in_the_organizers_zone(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    text = await say(console, SCHEDULE + " link:https://meet.example/rust")
    assert "== 📅 Intro to Rust ==" in text
    assert "Sun 2026-11-22 19:30 (Europe/Berlin) · 18:30 UTC" in text
    assert "Join here <https://meet.example/rust>" in text
    assert "Scheduled Intro to Rust (#1) and announced it." in text
    async with cohort.db.read() as conn:
        start = await conn.scalar(select(lecture_occurrences.c.start_at))
    assert start == datetime(2026, 11, 22, 18, 30, tzinfo=UTC)
    # A member with a zone of their own schedules in it.
    async with cohort.db.write() as conn:
        await conn.execute(update(members).values(timezone="America/New_York"))
    text = await say(console, '/lecture schedule "NY talk" "2026-11-23 09:00"')
    async with cohort.db.read() as conn:
        starts = (await conn.execute(select(lecture_occurrences.c.start_at))).scalars().all()
    assert datetime(2026, 11, 23, 14, 0, tzinfo=UTC) in starts


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('/lecture schedule Past "2026-11-21 10:00"', "That time has already passed"),
        ('/lecture schedule Gap "2027-03-28 02:30"', "does not exist"),
        ('/lecture schedule Bad "2027-02-30 19:00"', "is not a real date or time"),
        ('/lecture schedule Long "2026-12-01 19:00" 13h', "at most 12 hours"),
        ('/lecture schedule Link "2026-12-01 19:00" link:ftp://x', "is not a link"),
        ('/lecture schedule S "2026-12-01 19:00" repeat:weekly', "never ends"),
        ("/lecture cancel 99", "There is no lecture #99 here."),
        ("/checkin NOPE42", "does not belong to any lecture"),
    ],
)
async def test_clear_errors(console: ConsoleAdapter, line: str, expected: str) -> None:
    assert expected in await say(console, line)


async def test_members_may_not_schedule(console: ConsoleAdapter) -> None:
    assert "Only organizers may run /lecture schedule" in await say(console, SCHEDULE, user="bob")


async def test_relative_times(cohort: Cohort, console: ConsoleAdapter) -> None:
    await say(console, "/lecture schedule Soon in 2h", '/lecture schedule Later "tomorrow 19:30"')
    async with cohort.db.read() as conn:
        starts = (
            (await conn.execute(select(lecture_occurrences.c.start_at).order_by("id")))
            .scalars()
            .all()
        )
    assert starts == [START + timedelta(hours=2), at("2026-11-22 19:30")]


async def test_reminders_go_out_once_each_with_dms_to_those_going(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    sweep = sweeper(cohort)
    await say(console, SCHEDULE)
    await say(console, "/press 1", user="bob")  # going
    await say(console, "/lecture reminders off", "/press 1", user="carol")  # going, no DMs
    for moment, expected in (
        (at("2026-11-21 19:30"), "starts in 1 day"),
        (at("2026-11-22 18:30"), "starts in 1 hour"),
        (at("2026-11-22 19:20"), "starts in 10 minutes"),
        (at("2026-11-22 19:30"), "is starting now"),
    ):
        clock.advance(moment - clock.now())
        result = await sweep()
        assert len(result.sent) == 1 and result.sent[0][1] == timedelta(0)
        text = output(console)
        assert text.count(expected) == 2, text  # the channel, and Bob's DM
        assert "[#dm-bob]" in text and "#dm-carol" not in text
        assert (await sweep()).sent == []  # nothing twice
    assert "Your check-in code" in text
    async with cohort.db.read() as conn:
        states = (await conn.execute(select(lecture_deliveries.c.status))).scalars().all()
    assert states == ["sent"] * 5


async def test_a_restart_sends_a_missed_reminder_within_grace_and_skips_the_rest(
    config: Config, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    first = await build(config, clock=clock)
    console = _console(first)
    await say(console, SCHEDULE)
    await first.db.close()  # the bot goes down before the 24h reminder...
    clock.advance(at("2026-11-22 18:40") - clock.now())  # ...and comes back 10m after the 1h one
    second = await build(config, clock=clock)
    try:
        console = _console(second)
        caplog.set_level("INFO", logger="bot.cogs.lectures")
        result = await sweeper(second)()
        assert [(kind, late) for kind, late in result.sent] == [
            (Kind.REMINDER, timedelta(minutes=10))
        ]
        assert result.skipped == 1
        assert "starts in 1 hour" in output(console)
        assert any("skipped the reminder (1d before)" in r.getMessage() for r in caplog.records)
        clock.advance(timedelta(minutes=40))
        assert [kind for kind, _ in (await sweeper(second)()).sent] == [Kind.REMINDER]
        clock.advance(timedelta(minutes=10))
        assert [kind for kind, _ in (await sweeper(second)()).sent] == [Kind.START]
    finally:
        await second.db.close()
    # A third start finds nothing left to send.
    third = await build(config, clock=clock)
    try:
        _console(third)
        assert (await sweeper(third)()).sent == []
    finally:
        await third.db.close()


async def test_two_schedulers_on_one_database_never_both_send(
    config: Config, clock: ManualClock
) -> None:
    one = await build(config, clock=clock)
    two = await build(config, clock=clock)
    try:
        console_one, console_two = _console(one), _console(two)
        for hour in (18, 19):
            await say(console_one, f'/lecture schedule "Talk {hour}" "2026-11-22 {hour}:30"')
        output(console_one)
        totals = []
        for moment in (
            "2026-11-21 18:30",
            "2026-11-21 19:30",
            "2026-11-22 17:30",
            "2026-11-22 18:20",
            "2026-11-22 18:30",
            "2026-11-22 19:20",
            "2026-11-22 19:30",
        ):
            clock.advance(at(moment) - clock.now())
            # Both bots sweep at the same moment, twice each, concurrently.
            results = await asyncio.gather(*(sweeper(b)() for b in (one, two, one, two)))
            totals.append(sum(len(r.sent) for r in results))
        assert totals == [1, 1, 1, 1, 2, 1, 1]
        posted = output(console_one) + output(console_two)
        assert posted.count("starts in") == 6
        assert posted.count("is starting now") == 2
        async with one.db.read() as conn:
            count = await conn.scalar(select(func.count()).select_from(lecture_deliveries))
        assert count == 10
    finally:
        await one.db.close()
        await two.db.close()


def _console(cohort: Cohort) -> ConsoleAdapter:
    adapter = ConsoleAdapter(
        cohort, cohort.communities["demo"], user="olga", out=io.StringIO(), echo=True
    )
    cohort.platforms[PlatformName.CONSOLE] = adapter
    return adapter


# --- RSVPs ---------------------------------------------------------------------------------------


async def test_capacity_waitlist_and_promotion(cohort: Cohort, console: ConsoleAdapter) -> None:
    await say(console, SCHEDULE + " capacity:2")
    assert "You are going" in await say(console, "/press 1", user="bob")
    assert "You are going" in await say(console, "/press 1", user="carol")
    text = await say(console, "/press 1", user="dave")
    assert "you are on the waitlist" in text
    await say(console, "/lang zh", user="dave")
    assert "2/2 places taken · 1 on the waitlist" in text  # the announcement, edited in place
    assert "(message 1 edited)" in text
    erin = await say(console, "/press 1", user="erin")
    assert "1 on the waitlist" not in erin and "2 on the waitlist" in erin
    # Bob drops out: Dave, first on the waitlist, moves up and is told privately.
    text = await say(console, "/press 3", user="bob")
    assert "Noted: not going" in text
    assert "[#dm-dave] cohort:" in text and "有名额空出" in text  # in Dave's language
    assert "2/2 places taken · 1 on the waitlist" in text
    assert "你：参加" in await say(console, "/lectures", user="dave")
    # Raising the capacity lets Erin in too.
    text = await say(console, "/lecture edit 1 capacity:3")
    assert "[#dm-erin] cohort:" in text and "A place opened up" in text
    async with cohort.db.read() as conn:
        rows = dict(
            (await conn.execute(select(lecture_rsvps.c.member_id, lecture_rsvps.c.status))).all()
        )
    assert sorted(rows.values()) == ["going", "going", "going", "no"]


async def test_no_answers_after_a_lecture_ends(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await say(console, SCHEDULE)
    clock.advance(at("2026-11-22 20:30") - clock.now())
    assert "That lecture is over." in await say(console, "/press 1", user="bob")


# --- check-in ------------------------------------------------------------------------------------


async def _code(cohort: Cohort, occurrence_id: int = 1) -> str:
    async with cohort.db.read() as conn:
        code = await conn.scalar(
            select(lecture_occurrences.c.checkin_code).where(
                lecture_occurrences.c.id == occurrence_id
            )
        )
    assert code is not None
    return str(code)


async def test_checkin_window_points_once_and_by_hand(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await say(console, SCHEDULE)
    code = await _code(cohort)
    assert "opens when it starts" in await say(console, f"/checkin {code}", user="bob")
    clock.advance(at("2026-11-22 19:45") - clock.now())
    shown = await say(console, "/lecture code 1")
    assert f"`{code}`" in shown and "until Sun 2026-11-22 20:45" in shown
    text = await say(console, f"/checkin {code.lower()[:3]} {code.lower()[3:]}", user="bob")
    assert "Checked in to Intro to Rust: +30 points" in text
    assert "already checked in" in await say(console, f"/checkin {code}", user="bob")
    clock.advance(at("2026-11-22 20:45") - clock.now())  # end + 15 min: still open
    assert "+30 points" in await say(console, f"/checkin {code}", user="carol")
    clock.advance(timedelta(seconds=1))
    assert "has closed" in await say(console, f"/checkin {code}", user="dave")
    await say(console, "/as dave", user="dave")  # dave exists now
    assert "Marked Dave as present" in await say(console, "/lecture attend 1 @dave")
    assert "already marked present" in await say(console, "/lecture attend 1 @dave")
    async with cohort.db.read() as conn:
        entries = (
            await conn.execute(
                select(points_ledger.c.reason, points_ledger.c.delta, points_ledger.c.source_ref)
            )
        ).all()
    assert [(r, d) for r, d, _ in entries] == [("attendance", 30)] * 3
    assert len({ref for _, _, ref in entries}) == 3


# --- changes and exceptions --------------------------------------------------------------------


SERIES = '/lecture schedule Weekly "2026-11-24 19:30" repeat:"weekly for 4"'


async def test_a_series_with_one_cancelled_and_one_moved_session(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    sweep = sweeper(cohort)
    text = await say(console, SERIES)
    assert "4 sessions, #1 to #4" in text
    await say(console, "/lectures", "/press 1", user="bob")  # bob goes to #1
    # Only the first session is announced; each next one when the one before ends.
    assert text.count("== 📅 Weekly ==") == 1
    await say(console, "/lectures", user="bob")
    text = await say(console, "/lecture cancel 2")
    assert "Cancelled Weekly (1 session)" in text
    text = await say(console, '/lecture move 3 "2026-12-09 18:00"')
    assert "Moved Weekly to Wed 2026-12-09 18:00" in text
    sent: list[tuple[datetime, Kind]] = []
    while True:  # jump from one due time to the next, as the sweep would find them
        async with cohort.db.read() as conn:
            due = await conn.scalar(select(func.min(lecture_occurrences.c.next_due_at)))
        if due is None:
            break
        clock.advance(due - clock.now())
        for kind, late in (await sweep()).sent:
            assert late == timedelta(0)
            sent.append((clock.now(), kind))
    starts = [moment for moment, kind in sent if kind is Kind.START]
    assert starts == [at("2026-11-24 19:30"), at("2026-12-09 18:00"), at("2026-12-15 19:30")]
    announcements = [moment for moment, kind in sent if kind is Kind.ANNOUNCE]
    # Each next session is announced when the one before it was planned to end (#2's slot
    # even though it is cancelled, #3's original slot though it moved).
    assert announcements == [at("2026-12-01 20:30"), at("2026-12-08 20:30")]
    reminders = [moment for moment, kind in sent if kind is Kind.REMINDER]
    assert at("2026-12-01 18:30") not in reminders  # the cancelled session is silent
    # The moved session is reminded for its new time (24h, 1h, 10m before), not its old one.
    assert {at("2026-12-08 18:00"), at("2026-12-09 17:00"), at("2026-12-09 17:50")} <= set(
        reminders
    )
    assert at("2026-12-07 19:30") not in reminders and at("2026-12-08 18:30") not in reminders


async def test_moving_the_rest_of_a_series_keeps_the_wall_clock_and_tells_rsvps(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(console, SERIES)
    await say(console, "/press 1", user="bob")
    text = await say(console, '/lecture move 1 "2026-11-24 18:00" scope:series')
    assert "(4 sessions)" in text
    assert "[#dm-bob] cohort:" in text and "moved from Tue 2026-11-24 19:30" in text
    async with cohort.db.read() as conn:
        starts = (
            (await conn.execute(select(lecture_occurrences.c.start_at).order_by("id")))
            .scalars()
            .all()
        )
    assert [s.astimezone(BERLIN).strftime("%m-%d %H:%M") for s in starts] == [
        "11-24 18:00",
        "12-01 18:00",
        "12-08 18:00",
        "12-15 18:00",
    ]
    text = await say(console, "/lecture edit 2 title:Renamed speaker:Ada scope:series")
    assert "Updated Renamed (3 sessions)" in text
    text = await say(console, "/lecture cancel 3 scope:series")
    assert "(2 sessions)" in text
    listed = await say(console, "/lectures", user="bob")
    assert "#1 Weekly" in listed and "#2 Renamed" in listed and "#3" not in listed


async def test_a_cancelled_lecture_tells_those_who_answered_and_edits_its_post(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await say(console, SCHEDULE)
    await say(console, "/press 2", user="bob")
    text = await say(console, "/lecture cancel 1")
    assert "(message 1 edited)" in text and "Cancelled" in text
    assert "[#dm-bob] cohort:" in text and "is cancelled" in text
    clock.advance(at("2026-11-22 19:30") - clock.now())
    assert (await sweeper(cohort)()).sent == []
    assert "already cancelled" in await say(console, "/lecture cancel 1")


# --- the calendar feed -------------------------------------------------------------------------


class Gold:
    """Entitlements where every member holds the gold tier."""

    async def tiers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        """Return gold."""
        return frozenset({"gold"})


def expand(calendar: icalendar.Calendar, tz: object) -> dict[str, set[datetime]]:
    """Return each event's instants (UTC) as a calendar program computes them from the feed."""
    found: dict[str, set[datetime]] = {}
    masters = [e for e in calendar.walk("VEVENT") if "RECURRENCE-ID" not in e]
    overrides = [e for e in calendar.walk("VEVENT") if "RECURRENCE-ID" in e]

    def local(prop: object) -> datetime:
        # Read the wall-clock value and place it with the feed's own VTIMEZONE.
        raw = prop.to_ical().decode()  # type: ignore[attr-defined]
        return datetime.strptime(raw, "%Y%m%dT%H%M%S").replace(tzinfo=tz)  # type: ignore[arg-type]

    for event in masters:
        start = local(event["DTSTART"])
        uid = str(event["UID"])
        if "RRULE" not in event:
            found[uid] = {start.astimezone(UTC)}
            continue
        rule = event["RRULE"].to_ical().decode()
        instants = set(rrulestr(rule, dtstart=start.replace(tzinfo=None)))
        exdates = event.get("EXDATE", [])
        for exdate in exdates if isinstance(exdates, list) else [exdates]:
            for item in exdate.to_ical().decode().split(","):
                wall = datetime.strptime(item, "%Y%m%dT%H%M%S")  # noqa: DTZ007 - a wall time
                instants.discard(wall)
        for override in (o for o in overrides if str(o["UID"]) == uid):
            original = local(override["RECURRENCE-ID"]).replace(tzinfo=None)
            instants.discard(original)
            instants.add(local(override["DTSTART"]).replace(tzinfo=None))
        found[uid] = {i.replace(tzinfo=tz).astimezone(UTC) for i in instants}  # type: ignore[arg-type]
    return found


async def test_the_calendar_feed_is_valid_icalendar_with_recurrence_and_exceptions(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(
        console,
        SERIES + " speaker:Ada",
        "/lecture cancel 2",
        '/lecture move 3 "2026-12-09 18:00"',
        '/lecture schedule "Summer; kickoff, part 1" "2027-07-01 10:00" link:https://x.example/k',
        '/lecture schedule Paid "2026-12-02 19:00" tier:gold',
    )
    async with TestClient(TestServer(build_app(cohort))) as client:
        response = await client.get("/calendar/demo.ics")
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
        body = await response.text()
        assert (await client.get("/calendar/nope.ics")).status == 404
        assert (await client.get("/calendar/demo/" + "x" * 32 + ".ics")).status == 404
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    calendar = icalendar.Calendar.from_ical(body)
    (vtimezone,) = calendar.walk("VTIMEZONE")
    tz = vtimezone.to_tz(lookup_tzid=False)  # the feed's own rules, not the system's
    for probe in ("2026-01-15 12:00", "2026-07-15 12:00", "2027-03-28 01:59", "2027-03-28 03:00"):
        moment = at(probe)
        assert moment.astimezone(tz).utcoffset() == moment.astimezone(BERLIN).utcoffset()
    instants = expand(calendar, tz)
    async with cohort.db.read() as conn:
        rows = (
            await conn.execute(
                select(lecture_occurrences.c.lecture_id, lecture_occurrences.c.start_at).where(
                    lecture_occurrences.c.status == "scheduled"
                )
            )
        ).all()
    expected: dict[str, set[datetime]] = {}
    for lecture_id, start in rows:
        expected.setdefault(f"lecture-{lecture_id}@demo.cohort", set()).add(start)
    del expected["lecture-3@demo.cohort"]  # the paid lecture is not in the public feed
    assert instants == expected
    summaries = {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")}
    assert summaries == {"Weekly", "Summer; kickoff, part 1"}
    assert "SUMMARY:Summer\\; kickoff\\, part 1" in body


async def test_a_private_feed_holds_the_paid_lectures_its_member_may_attend(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(console, '/lecture schedule Paid "2026-12-02 19:00" tier:gold link:https://p.example')
    text = await say(console, "/lecture calendar", user="bob")
    private = next(w for w in text.split() if "/calendar/demo/" in w)
    path = private[private.index("/calendar/") :]
    assert "Paid" not in await say(console, "/lectures", user="bob")
    assert "Lecture #1 is for members of Gold." in await say(console, "/press 1", user="bob")
    async with TestClient(TestServer(build_app(cohort))) as client:
        without = await (await client.get(path)).text()
        cohort.entitlements = Gold()
        with_tier = await (await client.get(path)).text()
    assert "SUMMARY:Paid" not in without
    assert "SUMMARY:Paid" in with_tier and "https://p.example" in with_tier
    assert "#1 Paid" in await say(console, "/lectures", user="bob")


# --- merges --------------------------------------------------------------------------------------


async def test_linking_two_accounts_that_both_answered_keeps_one_answer(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(console, SCHEDULE)
    await say(console, "/press 1", "/lecture reminders off", user="bob")
    tg = Caller(PlatformName.TELEGRAM, "600", "Bob", username="bob_tg")
    community = cohort.communities["demo"]
    tg_account = await cohort.identity.resolve(community.id, tg)
    service = sweeper(cohort).__self__
    await service.rsvp(
        community, 1, tg_account.member_id, Role.MEMBER, PlatformName.TELEGRAM, Rsvp.MAYBE
    )
    await lecture_members.set_dm_reminders(cohort.db, community.id, tg_account.member_id, True)
    bob = await cohort.identity.resolve(community.id, console.caller("bob"))
    issued = await cohort.identity.create_link_code(bob)
    survivor = await cohort.identity.redeem_link_code(tg_account, issued.code)
    async with cohort.db.read() as conn:
        rows = (await conn.execute(select(lecture_rsvps.c.member_id, lecture_rsvps.c.status))).all()
    assert [tuple(r) for r in rows] == [(survivor, "going")]
    assert await lecture_members.dm_settings(cohort.db, community.id, [survivor]) == {
        survivor: False
    }


# --- through Telegram ----------------------------------------------------------------------------

TOKEN = "123456:TEST-token"
GROUP = -1001234567890
OLGA, BOB = 500, 600  # an organizer, and a member who started the bot


@pytest.fixture
async def tg() -> AsyncIterator[TelegramServer]:
    """Start the Bot API stand-in with the community's group, Olga and Bob."""
    async with TelegramServer(token=TOKEN) as server:
        server.add_chat(GROUP, "supergroup", title="Demo")
        for user_id, name in ((OLGA, "Olga"), (BOB, "Bob")):
            server.add_user(user_id, name, username=name.lower(), language_code="en")
            server.add_member(GROUP, user_id)
            server.add_chat(user_id, "private")
        yield server


@pytest.fixture
async def tg_bot(tmp_path: Path, tg: TelegramServer, clock: ManualClock) -> AsyncIterator[Cohort]:
    """Return a bot on the manual clock whose Telegram adapter polls the stand-in."""
    config = make_config(
        tmp_path,
        telegram={"token": TOKEN, "base_url": tg.base_url, "messages_per_minute_per_group": 1000},
        community={"lectures": {"announce_channels": [f"telegram:{GROUP}"]}},
    )
    cohort = await build(config, clock=clock)
    adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
    cohort.platforms[PlatformName.TELEGRAM] = adapter
    await adapter.start()
    try:
        yield cohort
    finally:
        await adapter.stop()
        await cohort.dispatcher.drain()
        await cohort.db.close()


async def test_on_telegram_counts_are_edited_in_place_and_reminders_reach_dms(
    tg_bot: Cohort, tg: TelegramServer, clock: ManualClock
) -> None:
    tg.user_says(GROUP, OLGA, '/lecture schedule "Intro to Rust" "2026-11-22 19:30"')
    announced = await tg.wait_for(
        lambda: next((m for m in tg.sent(GROUP) if "Intro to Rust" in m["text"]), None)
    )
    assert "Sun 2026-11-22 19:30 (Europe/Berlin) · 18:30 UTC" in announced["text"]
    going = tg.buttons(GROUP, announced["message_id"])[0]
    assert going["text"] == "✅ Going"
    query = tg.press(GROUP, BOB, announced["message_id"], going["callback_data"])
    await tg.wait_for(lambda: query in tg.answered_callbacks)
    assert tg.answered_callbacks[query]["text"] == "You are going to Intro to Rust."
    edited = tg.message(GROUP, announced["message_id"])
    assert edited is not None and "✅ 1 going" in edited["text"]
    assert len([m for m in tg.sent(GROUP) if "Intro to Rust" in m["text"]]) == 1  # no new post
    clock.advance(at("2026-11-22 18:30") - clock.now())
    result = await sweeper(tg_bot)()
    assert [kind for kind, _ in result.sent] == [Kind.REMINDER]
    dm = [m["text"] for m in tg.sent(BOB)]
    assert any("starts in 1 hour" in text for text in dm), dm
    assert any("starts in 1 hour" in m["text"] for m in tg.sent(GROUP))
    assert all("starts in" not in m["text"] for m in tg.sent(OLGA))  # Olga did not answer
