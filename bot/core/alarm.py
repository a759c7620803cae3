"""An alarm: sleep until the next due time, run what is due, re-arm when the schedule changes.

A periodic sweep fires up to one period late; an alarm fires on time. Its owner says how to
find the next due time (usually one indexed read) and what to run when it comes; ``rearm()``
(called when this process changes the schedule, for instance from ``Database.on_write``) makes
it look again at once. It never sleeps longer than ``longest``, so a change made by another
process is noticed within that bound; the owner's sweep stays as the safety net.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from bot.core.clock import Clock
from bot.core.supervise import Supervisor, Watch
from bot.store.db import Database

log = logging.getLogger(__name__)

NextDue = Callable[[], Awaitable[datetime | None]]
Sleep = Callable[[float], Awaitable[None]]


class Alarm:
    """Run ``fire`` when ``next_due()`` comes, looking again whenever ``rearm`` is called.

    ``fire`` should not raise (log and count its failures): an exception ends ``run``, which
    its supervisor then restarts after a backoff.
    """

    def __init__(
        self,
        clock: Clock,
        next_due: NextDue,
        fire: Callable[[], Awaitable[object]],
        *,
        longest: timedelta,
        retry: timedelta = timedelta(seconds=1),
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.clock = clock
        self.next_due = next_due
        self.fire = fire
        self.longest = longest
        self.retry = retry  # the pause when a firing left the same time due (another holds it)
        self.sleep = sleep
        self.fired = 0  # how many times ``fire`` ran (tests and benchmarks read it)
        self.armed_for: datetime | None = None  # the due time it sleeps towards, if any
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False

    def rearm(self) -> None:
        """Look for the next due time again now (the schedule changed)."""
        self._changed.set()

    def stop(self) -> None:
        """Make ``run`` return at its next wake-up, or at once if it has not begun."""
        self._stopping = True
        self._changed.set()
        self._stopped.set()

    def resume(self) -> None:
        """Let ``run`` run again after a ``stop`` (a restart of the same process's service)."""
        self._stopping = False
        self._stopped.clear()

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` unless ``stop`` comes first: a backoff a rearm does not cut short."""
        await self._sleep_unless(seconds, self._stopped)

    async def run(self) -> None:
        """Wait for each due time and fire; run until ``stop`` (as a supervised task)."""
        fired_for: datetime | None = None
        while not self._stopping:
            self._changed.clear()
            due = await self.next_due()
            now = self.clock.now()
            if due is not None and due <= now:
                if due == fired_for:
                    # Firing did not move it (a failure, or work another process holds).
                    fired_for = None
                    await self._wait(self.retry.total_seconds())
                    continue
                self.armed_for = None
                fired_for = due
                self.fired += 1
                await self.fire()
                continue
            fired_for = None
            self.armed_for = due
            wait = self.longest if due is None else min(due - now, self.longest)
            await self._wait(wait.total_seconds())

    async def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` unless ``rearm`` (or ``stop``) comes first."""
        await self._sleep_unless(seconds, self._changed)

    async def _sleep_unless(self, seconds: float, event: asyncio.Event) -> None:
        """Sleep ``seconds`` unless ``event`` is or becomes set."""
        if event.is_set():
            return
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        waker = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                if not task.done():
                    task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)


class Timer:
    """An alarm run as a supervised task, re-armed by this process's writes to some tables.

    Its failures are logged and counted on its watch (``/healthz``), and it goes on after the
    supervisor's backoff; ``[supervise] max_failures`` in a row give up, as for a job.
    """

    def __init__(
        self,
        name: str,
        supervisor: Supervisor,
        db: Database,
        next_due: NextDue,
        fire: Callable[[], Awaitable[object]],
        *,
        tables: frozenset[str],
        longest: timedelta,
    ) -> None:
        self.name = name
        self.supervisor = supervisor
        self.tables = tables
        self._fire_due = fire
        self.alarm = Alarm(supervisor.clock, next_due, self._fire, longest=longest)
        self._watch: Watch | None = None
        db.on_write.append(self._written)

    def _written(self, tables: frozenset[str]) -> None:
        if not tables.isdisjoint(self.tables):
            self.alarm.rearm()

    async def _fire(self) -> None:
        watch = self._watch
        try:
            await self._fire_due()
        except Exception as exc:
            log.exception("%s: firing failed", self.name)
            if watch is not None:
                pause = watch.failed(exc)  # counted like a job's failure; None: given up
                if pause is not None:
                    await self.alarm.pause(pause)  # back off before firing again
        else:
            if watch is not None:
                watch.ok()

    async def start(self) -> None:
        """Run the alarm, supervised as ``name``."""
        if self._watch is None:
            self.alarm.resume()
            self._watch = self.supervisor.run(self.name, self.alarm.run)

    async def stop(self) -> None:
        """Stop the alarm after the firing in hand."""
        if self._watch is not None:
            await self._watch.stop(end=self._end)
            self._watch = None

    async def _end(self) -> None:
        self.alarm.stop()


def find_timer(startup: Iterable[Callable[[], Awaitable[object]]], name: str) -> Timer:
    """Return the timer registered as ``name`` among start-up hooks (``Cohort.startup``)."""
    for hook in startup:
        timer = getattr(hook, "__self__", None)
        if isinstance(timer, Timer) and timer.name == name:
            return timer
    raise LookupError(name)
