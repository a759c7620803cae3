"""The repeat option: named forms and RRULEs, every one a series or a clear user error, bounded.

The bound is the work the expansion counts (``_expand.Cost``), never a clock: these tests assert
the work, which is the same on every machine, and no test here is timed.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.cogs.lectures import _repeat as repeat
from bot.cogs.lectures._expand import Expansion
from bot.core.clock import ManualClock
from bot.core.errors import UserError
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import lecture_occurrences
from tests.conftest import START, make_config, output

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
# The days one expansion may look at: its window, and the whole of the periods at either end
# (a yearly rule looks at all of its first year and of the year the window ends in).
MAX_DAYS = repeat.SCAN.days + 2 * 366


def at(text: str, tz: ZoneInfo = BERLIN) -> datetime:
    """Return a Berlin wall-clock time as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


@pytest.mark.backend_free
@pytest.mark.parametrize(
    ("text", "count", "last", "rrule"),
    [
        ("", 1, "2026-12-01 19:30", None),
        ("weekly for 4", 4, "2026-12-22 19:30", "FREQ=WEEKLY;COUNT=4"),
        ("weekly x3", 3, "2026-12-15 19:30", "FREQ=WEEKLY;COUNT=3"),
        ("biweekly until 2027-01-12", 4, "2027-01-12 19:30", "FREQ=WEEKLY;INTERVAL=2;COUNT=4"),
        ("monthly 3 times", 3, "2027-02-01 19:30", "FREQ=MONTHLY;COUNT=3"),
        ("每周 x2", 2, "2026-12-08 19:30", "FREQ=WEEKLY;COUNT=2"),
        ("RRULE:FREQ=WEEKLY;BYDAY=TU,TH;COUNT=5", 5, "2026-12-15 19:30", None),
        # UNTIL in UTC, as calendar programs write it for a zoned start: 18:30Z is 19:30 CET.
        ("FREQ=WEEKLY;UNTIL=20261215T183000Z", 3, "2026-12-15 19:30", "FREQ=WEEKLY;COUNT=3"),
    ],
)
def test_repeat_forms(text: str, count: int, last: str, rrule: str | None) -> None:
    got = repeat.parse_repeat(text, first=at("2026-12-01 19:30"), tz=BERLIN, now=NOW)
    assert len(got.starts) == count
    assert got.starts[-1] == at(last)
    if rrule is not None:
        assert got.rrule == rrule
    if count > 1:
        assert got.rrule is not None and got.rrule.endswith(f"COUNT={count}")


@pytest.mark.backend_free
@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ("weekly", "lectures.repeat.unbounded"),
        ("FREQ=WEEKLY", "lectures.repeat.unbounded"),
        ("fortnightly for 3", "lectures.repeat.invalid"),
        ("FREQ=HOURLY;COUNT=3", "lectures.repeat.too_often"),
        ("FREQ=WEEKLY;BYDAY=XX;COUNT=3", "lectures.repeat.invalid"),
        ("weekly for 101", "lectures.repeat.too_many"),
        ("FREQ=DAILY;COUNT=500", "lectures.repeat.too_many"),
        ("weekly until 2026-11-01", "lectures.repeat.empty"),
        ("weekly until 2027-02-30", "lectures.repeat.invalid"),
        # Rules with no dates at all: dateutil alone walks to the year 9999 for them.
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=3", "lectures.repeat.no_dates"),
        ("FREQ=DAILY;BYMONTHDAY=31;BYMONTH=4;COUNT=3", "lectures.repeat.no_dates"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;UNTIL=99991231T000000Z", "lectures.repeat.no_dates"),
        ("FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31;UNTIL=99991231T235959Z", "lectures.repeat.no_dates"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6;COUNT=2", "lectures.repeat.no_dates"),
        # Every fourth year from 2026 never meets a 29 February.
        ("FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29;COUNT=1", "lectures.repeat.no_dates"),
        # Rules whose dates go on past three years ahead.
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=2", "lectures.too_far"),
        ("FREQ=YEARLY;UNTIL=99991231T000000Z", "lectures.too_far"),
        ("FREQ=YEARLY;COUNT=5", "lectures.too_far"),
        # The "too often" check is not bypassed by a second FREQ or by several times a day.
        ("FREQ=DAILY;FREQ=SECONDLY;COUNT=3", "lectures.repeat.twice"),
        ("FREQ=WEEKLY;COUNT=3;count=4", "lectures.repeat.twice"),
        ("FREQ=DAILY;BYSECOND=0,1,2;COUNT=50", "lectures.repeat.too_often"),
        ("FREQ=DAILY;BYMINUTE=0,30;COUNT=5", "lectures.repeat.too_often"),
        ("FREQ=WEEKLY;BYHOUR=9,18;COUNT=4", "lectures.repeat.too_often"),
        (
            "FREQ=YEARLY;BYHOUR=1,2;BYMINUTE=5;BYSECOND=0;UNTIL=20271231",
            "lectures.repeat.too_often",
        ),
        ("freq=minutely;count=3", "lectures.repeat.too_often"),
        ("FREQ=DAILY;INTERVAL=0;COUNT=3", "lectures.repeat.interval"),
        ("FREQ=DAILY;INTERVAL=-1;COUNT=3", "lectures.repeat.interval"),
        ("FREQ=DAILY;INTERVAL=999999999;COUNT=2", "lectures.repeat.interval"),
        ("FREQ=DAILY;UNTIL=20270230T000000Z", "lectures.repeat.bad_until"),
        ("FREQ=DAILY;UNTIL=2027-03-01", "lectures.repeat.bad_until"),
        ("FREQ=DAILY;UNTIL=20271301", "lectures.repeat.bad_until"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20270301", "lectures.repeat.count_and_until"),
        ("FREQ=DAILY;COUNT=0", "lectures.repeat.invalid"),
        ("FREQ=DAILY;BYEASTER=0;COUNT=2", "lectures.repeat.invalid"),
        ("FREQ=DAILY;COUNT=2\nRDATE:20270101T000000", "lectures.repeat.invalid"),
        ("DTSTART:20270101T000000;FREQ=DAILY;COUNT=2", "lectures.repeat.invalid"),
    ],
)
def test_repeat_refusals(rule: str, key: str) -> None:
    with pytest.raises(UserError) as caught:
        repeat.parse_repeat(rule, first=at("2026-12-01 19:30"), tz=BERLIN, now=NOW)
    assert caught.value.key == key


@pytest.mark.backend_free
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_repeat_text_is_read_or_refused_with_a_user_error(text: str) -> None:
    try:
        got = repeat.parse_repeat(text, first=at("2026-12-01 19:30"), tz=BERLIN, now=NOW)
    except UserError:
        return
    assert 1 <= len(got.starts) <= repeat.MAX_OCCURRENCES


@pytest.mark.backend_free
def test_a_weekly_series_keeps_its_wall_clock_across_dst() -> None:
    got = repeat.parse_repeat("weekly for 3", first=at("2027-03-21 19:30"), tz=BERLIN, now=NOW)
    # 19:30 CET is 18:30 UTC; after the change on 2027-03-28, 19:30 CEST is 17:30 UTC.
    assert [s.strftime("%m-%d %H:%M") for s in got.starts] == [
        "03-21 18:30",
        "03-28 17:30",
        "04-04 17:30",
    ]


@pytest.mark.backend_free
def test_an_occurrence_in_a_dst_gap_takes_the_offset_before_it() -> None:
    got = repeat.parse_repeat("daily for 3", first=at("2027-03-27 02:30"), tz=BERLIN, now=NOW)
    # 02:30 does not exist on 2027-03-28; like calendar programs (RFC 5545) it is 03:30 CEST.
    assert [s.astimezone(BERLIN).strftime("%d %H:%M") for s in got.starts] == [
        "27 02:30",
        "28 03:30",
        "29 02:30",
    ]


# --- no rule holds the event loop: the work each expansion may do is counted ----------------------


class Worked:
    """Wrap ``expand`` to record each expansion: its days, its work and how it ended."""

    def __init__(self, real: Callable[..., Expansion]) -> None:
        self.real = real
        self.runs: list[Expansion] = []

    def __call__(self, *args: object, **kwargs: object) -> Expansion:
        """Expand, and record what the walk counted."""
        got = self.real(*args, **kwargs)
        self.runs.append(got)
        return got

    def check(self) -> None:
        """Assert that every expansion stayed inside its window and within the work budget."""
        for got in self.runs:
            assert got.days <= MAX_DAYS
            assert got.work <= repeat.WORK_BUDGET
            assert not got.too_complex  # the window, not the budget, is what bounds these


@pytest.fixture
def worked(monkeypatch: pytest.MonkeyPatch) -> Worked:
    """Record every expansion ``parse_repeat`` makes."""
    recorder = Worked(repeat.expand)
    monkeypatch.setattr(repeat, "expand", recorder)
    return recorder


def _values(values: range | list[int]) -> str:
    return ",".join(map(str, values))


_ALL_YEARDAYS = _values([*range(1, 367), *range(-366, 0)])
_NTH_WEEKDAYS = ",".join(
    f"{n}{d}" for n in (1, 2, 3, 4, -1) for d in ("MO", "TU", "WE", "TH", "FR")
)
# Rules dateutil finds costly, each with its verdict: a series, another user error, or "too
# complex" (``None``: scheduled). The work is counted, so each verdict holds on any machine.
COSTLY = [
    # The rule that once took 59.6 ms of a loaded machine's thread time (7.9 ms quiet).
    ("FREQ=DAILY;BYDAY=5FR;BYSETPOS=-348;UNTIL=20261125T235959Z", "lectures.repeat.no_dates"),
    # The costliest a generated rule gets (four BY* parts of four values): a daily walk of the
    # whole window, four set positions a day.
    (
        "FREQ=DAILY;BYSETPOS=100,200,300,-300;BYYEARDAY=-300,-301,302,303;"
        "BYMONTHDAY=30,31,-30,-31;BYDAY=MO,TU,WE,TH;UNTIL=20301231",
        "lectures.repeat.no_dates",
    ),
    ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1,-1;COUNT=24", None),
    # BYSETPOS: a pass over the period's days for each position, repeats included.
    (f"FREQ=YEARLY;BYSETPOS={_values(range(1, 21))};COUNT=60", "lectures.too_far"),
    (f"FREQ=YEARLY;BYSETPOS={_values(range(1, 200))};COUNT=100", "lectures.repeat.too_complex"),
    (f"FREQ=YEARLY;BYSETPOS={_values(range(1, 367))};COUNT=100", "lectures.repeat.too_complex"),
    (f"FREQ=DAILY;BYSETPOS={_values([1] * 30)};COUNT=5", None),  # five days: little work
    (
        f"FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;BYSETPOS={_values([1] * 30)};COUNT=5",
        "lectures.repeat.too_complex",  # the same positions over every day of the window
    ),
    (
        f"FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31;BYSETPOS={_values([1] * 100)};COUNT=5",
        "lectures.repeat.no_dates",
    ),
    (
        f"FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30;BYSETPOS={_values([1] * 50)};COUNT=5",
        "lectures.repeat.too_complex",
    ),
    # BYYEARDAY: two linear searches of the list for every day looked at.
    (f"FREQ=YEARLY;BYYEARDAY={_values(range(1, 367, 30))};COUNT=30", None),
    (f"FREQ=DAILY;BYYEARDAY={_ALL_YEARDAYS};COUNT=100", None),  # 100 days in: done
    (f"FREQ=YEARLY;BYYEARDAY={_ALL_YEARDAYS};COUNT=100", "lectures.repeat.too_complex"),
    (
        f"FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;BYYEARDAY={_values(range(1, 101))};COUNT=3",
        "lectures.repeat.no_dates",
    ),
    (
        f"FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;BYYEARDAY={_values(range(1, 201))};COUNT=3",
        "lectures.repeat.too_complex",
    ),
    # BYWEEKNO and nth weekdays: masks rebuilt each year or month.
    (
        f"FREQ=DAILY;BYWEEKNO={_values([*range(1, 54), *range(-53, 0)])};BYMONTH=2;"
        "BYMONTHDAY=30;COUNT=2",
        "lectures.repeat.no_dates",
    ),
    (
        f"FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30;BYDAY={_NTH_WEEKDAYS};COUNT=2",
        "lectures.repeat.no_dates",
    ),
    # Several times a day (BYHOUR x BYMINUTE x BYSECOND) is refused before any expansion.
    ("FREQ=DAILY;BYHOUR=9,10;BYMINUTE=0,30;BYSECOND=0,1;COUNT=3", "lectures.repeat.too_often"),
    ("FREQ=YEARLY;BYHOUR=9;BYMINUTE=0,15,30,45;UNTIL=20271231", "lectures.repeat.too_often"),
]


@pytest.mark.backend_free
@pytest.mark.parametrize(("rule", "key"), COSTLY)
def test_a_costly_rule_is_scheduled_or_refused_by_the_work_it_takes(
    rule: str, key: str | None, worked: Worked
) -> None:
    try:
        got = repeat.parse_repeat(rule, first=at("2026-12-01 19:30"), tz=BERLIN, now=NOW)
    except UserError as error:
        assert error.key == key
    else:
        assert key is None, got
    assert len(worked.runs) <= 1
    for run in worked.runs:
        assert run.days <= MAX_DAYS
        assert run.work <= repeat.WORK_BUDGET  # the walk stops before a period would exceed it
        assert run.too_complex is (key == "lectures.repeat.too_complex")


@pytest.mark.backend_free
@pytest.mark.parametrize(("rule", "key"), COSTLY)
def test_the_verdict_never_reads_a_clock(
    rule: str, key: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every clock leaps a minute at each reading, as a loaded machine's CPU time may."""
    for name in ("thread_time", "process_time", "perf_counter", "monotonic"):
        readings = iter(range(0, 10**9, 60))
        monkeypatch.setattr(time, name, lambda readings=readings: float(next(readings)))
    try:
        repeat.parse_repeat(rule, first=at("2026-12-01 19:30"), tz=BERLIN, now=NOW)
    except UserError as error:
        assert error.key == key
    else:
        assert key is None


@pytest.mark.backend_free
def test_the_costliest_generated_rule_fits_the_budget_with_room(worked: Worked) -> None:
    """The budget is above the costliest generated rule's work, so none is ever refused by it."""
    with pytest.raises(UserError):
        repeat.parse_repeat(COSTLY[1][0], first=at("2026-12-01 19:30"), tz=BERLIN, now=NOW)
    (run,) = worked.runs
    assert 0.75 * repeat.WORK_BUDGET < run.work < 0.9 * repeat.WORK_BUDGET


@pytest.mark.backend_free
@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=3",
        "FREQ=DAILY;BYMONTHDAY=31;BYMONTH=4;COUNT=3",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;UNTIL=99991231T000000Z",
        "FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30;UNTIL=99991231T000000Z",
        "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4;UNTIL=99991231",
        "FREQ=YEARLY;BYYEARDAY=367;COUNT=2",
        "FREQ=DAILY;BYWEEKNO=54;COUNT=2",
    ],
)
def test_a_rule_without_dates_is_refused_within_the_work_budget(rule: str, worked: Worked) -> None:
    with pytest.raises(UserError) as caught:
        repeat.parse_repeat(rule, first=at("2026-12-01 19:30"), tz=BERLIN, now=NOW)
    assert caught.value.key == "lectures.repeat.no_dates"
    assert len(worked.runs) == 1
    worked.check()


FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY", "HOURLY", "MINUTELY", "SECONDLY", "FORTNIGHTLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _numbers(low: int, high: int) -> st.SearchStrategy[str]:
    return st.lists(st.integers(low, high), min_size=1, max_size=4).map(
        lambda values: ",".join(map(str, values))
    )


def _day(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


# UNTIL: real days (some near the series, some far), impossible ones, with and without a time.
_UNTIL = st.tuples(
    st.one_of(
        st.dates(date(2026, 11, 1), date(2031, 1, 1)).map(_day),
        st.dates(date(1, 1, 1), date(9999, 12, 31)).map(_day),
        st.tuples(st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32)).map(
            lambda t: f"{t[0]:04d}{t[1]:02d}{t[2]:02d}"
        ),
    ),
    st.sampled_from(("", "T000000", "T183000Z", "T235959Z", "T250000", "Z")),
).map("".join)
_BYDAY = st.lists(
    st.tuples(
        st.sampled_from(("", "1", "2", "-1", "5", "-5", "53", "+3", "0")),
        st.sampled_from((*WEEKDAYS, "XX")),
    ).map("".join),
    min_size=1,
    max_size=4,
).map(",".join)
# The parts that pick days, real or out of range; then the ones that say how the series runs.
_BY_PART = st.one_of(
    _numbers(-14, 14).map("BYMONTH={}".format),
    _numbers(-33, 33).map("BYMONTHDAY={}".format),
    _numbers(-370, 370).map("BYYEARDAY={}".format),
    _numbers(-55, 55).map("BYWEEKNO={}".format),
    _numbers(-370, 370).map("BYSETPOS={}".format),
    _BYDAY.map("BYDAY={}".format),
    _numbers(0, 25).map("BYHOUR={}".format),
    _numbers(0, 61).map("BYMINUTE={}".format),
    _numbers(0, 61).map("BYSECOND={}".format),
    st.sampled_from((*WEEKDAYS, "ZZ")).map("WKST={}".format),
)
_RUN_PART = st.one_of(
    st.one_of(st.integers(-2, 1200).map(str), st.just("x")).map("INTERVAL={}".format),
    st.integers(-1, 150).map("COUNT={}".format),
    _UNTIL.map("UNTIL={}".format),
    st.text(alphabet=";=,:-+ZTQ0123456789abcXY \n", max_size=12),  # garbage
    st.sampled_from(FREQS).map("FREQ={}".format),  # a second FREQ
)


@st.composite
def rrules(draw: st.DrawFn) -> str:
    """Draw an RRULE: mostly a FREQ and a COUNT or UNTIL, then any parts, real or not."""
    parts = []
    if draw(st.integers(0, 9)):
        parts.append("FREQ=" + draw(st.sampled_from(FREQS[:5])))
    if draw(st.integers(0, 9)):
        count = st.integers(1, 120).map("COUNT={}".format)
        parts.append(draw(st.one_of(count, _UNTIL.map("UNTIL={}".format))))
    parts += draw(st.lists(_BY_PART, max_size=4, unique_by=lambda part: part.split("=")[0]))
    if draw(st.integers(0, 3)) == 0:
        parts.append(draw(_RUN_PART))
    rule = ";".join(draw(st.permutations(parts)))
    rule = draw(st.sampled_from(("", "RRULE:", "rrule:"))) + rule
    return rule.lower() if draw(st.integers(0, 9)) == 0 else rule


_FIRSTS = st.datetimes(  # hypothesis takes naive bounds and attaches the zone
    datetime(2026, 11, 21, 13, 0),  # noqa: DTZ001
    datetime(2029, 11, 1),  # noqa: DTZ001
    timezones=st.just(BERLIN),
).map(lambda d: d.astimezone(UTC))


@pytest.mark.backend_free
@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rule=rrules(), first=_FIRSTS)
def test_any_rrule_gives_a_bounded_series_or_a_user_error_within_the_work_budget(
    rule: str, first: datetime, worked: Worked
) -> None:
    worked.runs.clear()
    try:
        got = repeat.parse_repeat(rule, first=first, tz=BERLIN, now=NOW)
    except UserError as error:
        assert error.key.startswith("lectures.")
    else:
        assert 1 <= len(got.starts) <= repeat.MAX_OCCURRENCES
        assert list(got.starts) == sorted(set(got.starts))  # never the same session twice
        assert got.starts[-1] - NOW <= repeat.MAX_AHEAD
        assert got.rrule is None or got.rrule.endswith(f"COUNT={len(got.starts)}")
    finally:
        assert len(worked.runs) <= 1
        worked.check()


def test_any_rrule_through_the_console_is_scheduled_or_refused_never_an_apology(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Type generated rules into /lecture schedule, as an organizer would."""
    recorder = Worked(repeat.expand)
    monkeypatch.setattr(repeat, "expand", recorder)
    loop = asyncio.new_event_loop()
    cohort = loop.run_until_complete(build(make_config(tmp_path), clock=ManualClock(START)))
    console = ConsoleAdapter(
        cohort, cohort.communities["demo"], user="olga", out=io.StringIO(), echo=True
    )
    cohort.platforms[PlatformName.CONSOLE] = console

    async def schedule(rule: str) -> tuple[str, int]:
        await console.handle_line(f'/lecture schedule Talk "2026-12-01 19:30" repeat:"{rule}"')
        async with cohort.db.read() as conn:
            latest = await conn.scalar(select(func.max(lecture_occurrences.c.lecture_id)))
            count = await conn.scalar(
                select(func.count()).where(lecture_occurrences.c.lecture_id == latest)
            )
        return output(console), int(count or 0)

    @settings(max_examples=150, deadline=None)
    @given(rrules().filter(lambda r: '"' not in r))
    def check(rule: str) -> None:
        recorder.runs.clear()
        text, count = loop.run_until_complete(schedule(rule))
        assert "something went wrong" not in text, (rule, text)
        if "Scheduled Talk" in text:
            assert 1 <= count <= repeat.MAX_OCCURRENCES
        else:
            assert text.strip(), rule  # a user error says what is wrong
        # At most one expansion a command, each within the work budget (counted, not timed).
        assert len(recorder.runs) <= 1, (rule, recorder.runs)
        recorder.check()

    try:
        check()
    finally:
        loop.run_until_complete(cohort.db.close())
        loop.close()
