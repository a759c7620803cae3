"""The alarm sleeps until the next due time, fires, and looks again when re-armed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.core.alarm import Alarm, Timer, find_timer
from bot.core.clock import ManualClock
from bot.core.config import SuperviseConfig
from bot.core.supervise import Supervisor
from bot.store.db import Database
from tests.conftest import START

pytestmark = pytest.mark.backend_free

BOUND = 5.0  # seconds any wait for the alarm's task may take (a bound, never a measurement)
LONGEST = timedelta(minutes=10)


class Sleeps:
    """An injected sleep: records each request and returns when the test says."""

    def __init__(self) -> None:
        self.requests: list[float] = []
        self.asked = asyncio.Event()
        self._go: asyncio.Future[None] | None = None

    async def __call__(self, seconds: float) -> None:
        self.requests.append(seconds)
        self._go = asyncio.get_running_loop().create_future()
        self.asked.set()
        await self._go

    async def next_request(self) -> float:
        """Wait until the alarm asks to sleep; return for how long."""
        await asyncio.wait_for(self.asked.wait(), BOUND)
        self.asked.clear()
        return self.requests[-1]

    async def wake(self) -> None:
        """End the sleep in progress (or, if a re-arm ended it, the next one)."""
        if self._go is None or self._go.done():
            await self.next_request()
        assert self._go is not None
        self._go.set_result(None)


class Schedule:
    """Due times in a list; firing takes every one that has come."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.due: list[datetime] = []
        self.fired: list[datetime] = []
        self.took = asyncio.Event()
        self.moves = True  # False: firing leaves the due time in place (another holds it)

    async def next_due(self) -> datetime | None:
        return min(self.due, default=None)

    async def fire(self) -> None:
        now = self.clock.now()
        self.fired.append(now)
        if self.moves:
            self.due = [d for d in self.due if d > now]
        self.took.set()


@pytest.fixture
async def armed(clock: ManualClock) -> AsyncIterator[tuple[Alarm, Schedule, Sleeps]]:
    """Return a running alarm over an empty schedule, with its injected sleep."""
    schedule, sleeps = Schedule(clock), Sleeps()
    alarm = Alarm(clock, schedule.next_due, schedule.fire, longest=LONGEST, sleep=sleeps)
    task = asyncio.create_task(alarm.run())
    try:
        yield alarm, schedule, sleeps
    finally:
        alarm.stop()
        await asyncio.wait_for(task, BOUND)


async def test_with_nothing_due_it_sleeps_the_longest_wait(
    armed: tuple[Alarm, Schedule, Sleeps],
) -> None:
    alarm, _, sleeps = armed
    assert await sleeps.next_request() == LONGEST.total_seconds()
    assert alarm.armed_for is None and alarm.fired == 0


@pytest.mark.parametrize(
    ("ahead", "slept"),
    [
        (timedelta(seconds=3), 3.0),
        (timedelta(milliseconds=1), 0.001),
        (LONGEST, LONGEST.total_seconds()),  # exactly the bound
        (LONGEST + timedelta(seconds=1), LONGEST.total_seconds()),  # capped
    ],
)
async def test_it_sleeps_until_the_due_time_and_fires_then(
    clock: ManualClock, ahead: timedelta, slept: float
) -> None:
    schedule, sleeps = Schedule(clock), Sleeps()
    schedule.due = [START + ahead]
    alarm = Alarm(clock, schedule.next_due, schedule.fire, longest=LONGEST, sleep=sleeps)
    task = asyncio.create_task(alarm.run())
    try:
        assert await sleeps.next_request() == pytest.approx(slept)
        assert alarm.armed_for == START + ahead
        clock.advance(ahead)
        await sleeps.wake()
        await asyncio.wait_for(schedule.took.wait(), BOUND)
        assert schedule.fired == [START + ahead] and alarm.fired == 1
        assert await sleeps.next_request() == LONGEST.total_seconds()  # nothing left
    finally:
        alarm.stop()
        await asyncio.wait_for(task, BOUND)


async def test_rearming_looks_again_at_once(
    clock: ManualClock, armed: tuple[Alarm, Schedule, Sleeps]
) -> None:
    alarm, schedule, sleeps = armed
    assert await sleeps.next_request() == LONGEST.total_seconds()
    schedule.due = [START + timedelta(seconds=30)]
    alarm.rearm()  # the sleep in progress is abandoned
    assert await sleeps.next_request() == 30.0
    schedule.due = [START]  # due now: fired without sleeping
    alarm.rearm()
    await asyncio.wait_for(schedule.took.wait(), BOUND)
    assert schedule.fired == [START]


async def test_a_due_time_firing_did_not_move_waits_the_retry_pause(
    clock: ManualClock, armed: tuple[Alarm, Schedule, Sleeps]
) -> None:
    alarm, schedule, sleeps = armed
    assert await sleeps.next_request() == LONGEST.total_seconds()
    schedule.moves = False
    schedule.due = [START]
    alarm.rearm()
    assert await sleeps.next_request() == alarm.retry.total_seconds()  # not a busy loop
    assert schedule.fired == [START]
    schedule.took.clear()
    await sleeps.wake()
    await asyncio.wait_for(schedule.took.wait(), BOUND)
    assert len(schedule.fired) == 2  # and after the pause it tries again


async def test_a_stop_before_the_task_begins_ends_it_at_once(clock: ManualClock) -> None:
    schedule, sleeps = Schedule(clock), Sleeps()
    alarm = Alarm(clock, schedule.next_due, schedule.fire, longest=LONGEST, sleep=sleeps)
    task = asyncio.create_task(alarm.run())
    alarm.stop()  # a quick shutdown: the task has not run a step yet
    await asyncio.wait_for(task, BOUND)
    assert sleeps.requests == [] and alarm.fired == 0
    alarm.resume()  # started again later: it runs
    task = asyncio.create_task(alarm.run())
    assert await sleeps.next_request() == LONGEST.total_seconds()
    alarm.stop()
    await asyncio.wait_for(task, BOUND)


async def test_a_timer_counts_a_failed_firing_and_backs_off(
    tmp_path: Path, clock: ManualClock
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    supervisor = Supervisor(SuperviseConfig(), clock)
    fired: list[datetime] = []

    async def due() -> datetime | None:
        return START

    async def fire() -> None:
        fired.append(clock.now())
        raise RuntimeError("broken")

    timer = Timer("test.alarm", supervisor, db, due, fire, tables=frozenset({"t"}), longest=LONGEST)
    sleeps = Sleeps()
    timer.alarm.sleep = sleeps
    try:
        await timer.start()
        pause = await sleeps.next_request()  # the backoff after the failure, not a busy loop
        assert 0 < pause <= SuperviseConfig().backoff_initial
        watch = supervisor.watches["test.alarm"]
        assert watch.failures == 1 and fired == [START]
        # Stopping during the backoff ends it at once, not after the supervisor's grace.
        await asyncio.wait_for(timer.stop(), 5)
    finally:
        await timer.stop()
        await db.close()


async def test_find_timer_returns_the_timer_started_under_its_name_and_no_other(
    tmp_path: Path, clock: ManualClock
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    supervisor = Supervisor(SuperviseConfig(), clock)

    async def due() -> datetime | None:
        return None

    async def fire() -> None:
        return None

    timers = [
        Timer(name, supervisor, db, due, fire, tables=frozenset(), longest=LONGEST)
        for name in ("a.alarm", "b.alarm")
    ]

    async def other() -> None:
        return None

    try:
        startup = [other, *(timer.start for timer in timers)]
        assert find_timer(startup, "b.alarm") is timers[1]
        with pytest.raises(LookupError):
            find_timer(startup, "c.alarm")
    finally:
        await db.close()
