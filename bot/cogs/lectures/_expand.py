"""dateutil's recurrence expansion, bounded: it looks a few years ahead at most, never to 9999.

dateutil checks a rule's UNTIL only against a date the rule produced, and stops otherwise only
after the year 9999. A rule that can never produce a date (``BYMONTH=2;BYMONTHDAY=30``), or a
very sparse one, therefore walks eight thousand years, period by period, for seconds. The
expansion here runs dateutil's own generator with a calendar helper (dateutil's ``_iterinfo``,
asked for each period's days) that stops the walk once a period begins after ``end``, or once
the thread has spent ``cpu_budget`` seconds on it. The garbage collector waits while the walk
runs: a collection of the whole process's heap is not the rule's cost, and once charged to a
three-date rule it turned that rule down as too complex.
"""

from __future__ import annotations

import gc
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from typing import Any

from dateutil import rrule as dateutil_rrule


class _Stop(Exception):
    """The walk reached the end of its window (or of its time)."""

    def __init__(self, *, out_of_time: bool) -> None:
        super().__init__()
        self.out_of_time = out_of_time


@dataclass(frozen=True, slots=True)
class Expansion:
    """The dates a rule gives up to ``end`` (at most ``limit`` of them) and how it ended."""

    starts: tuple[datetime, ...]
    # False when the rule may go on past the window: the walk stopped, the rule did not.
    complete: bool
    # True when the walk stopped because it had used up its CPU time, not its window.
    out_of_time: bool
    # How many days the walk looked at (each period's days), to check the bound.
    days: int


class _Walk(dateutil_rrule._iterinfo):
    """dateutil's per-walk calendar, counting the days of each period and stopping at the end."""

    # No __slots__ of its own: dateutil's __init__ clears ``self.__slots__``, which must stay its.

    def __init__(self, rule: dateutil_rrule.rrule, *, end: date, deadline: float) -> None:
        super().__init__(rule)
        self.end = end
        self.deadline = deadline
        self.days = 0

    def _period(self, first: date, days: int) -> None:
        if first > self.end:
            raise _Stop(out_of_time=False)
        if time.thread_time() > self.deadline:
            raise _Stop(out_of_time=True)
        self.days += days

    def ydayset(self, year: int, month: int, day: int) -> Any:
        """Return a yearly period's days, once the walk may go on."""
        self._period(date(year, 1, 1), 366)
        return super().ydayset(year, month, day)

    def mdayset(self, year: int, month: int, day: int) -> Any:
        """Return a monthly period's days, once the walk may go on."""
        self._period(date(year, month, 1), 31)
        return super().mdayset(year, month, day)

    def wdayset(self, year: int, month: int, day: int) -> Any:
        """Return a weekly period's days, once the walk may go on."""
        self._period(date(year, month, day), 7)
        return super().wdayset(year, month, day)

    def ddayset(self, year: int, month: int, day: int) -> Any:
        """Return a daily period's day, once the walk may go on."""
        self._period(date(year, month, day), 1)
        return super().ddayset(year, month, day)


_SOURCE: types.FunctionType = dateutil_rrule.rrule._iter  # type: ignore[attr-defined]
# The copy below swaps the calendar helper dateutil's generator builds; fail loudly, at import,
# if a dateutil release stops building it by that name.
if "_iterinfo" not in _SOURCE.__code__.co_names:  # pragma: no cover - a dateutil upgrade
    raise ImportError("dateutil.rrule.rrule._iter no longer uses _iterinfo")


def _bounded(walk: Callable[[dateutil_rrule.rrule], _Walk]) -> Any:
    """Return dateutil's rrule generator function, building ``walk`` as its calendar helper."""
    names = dict(vars(dateutil_rrule))
    names["_iterinfo"] = walk
    return types.FunctionType(_SOURCE.__code__, names, _SOURCE.__name__, _SOURCE.__defaults__)


def expand(rule: dateutil_rrule.rrule, *, end: date, limit: int, cpu_budget: float) -> Expansion:
    """Return the first ``limit`` dates of ``rule`` whose period begins by ``end``."""
    walks: list[_Walk] = []

    def walk(of: dateutil_rrule.rrule) -> _Walk:
        made = _Walk(of, end=end, deadline=time.thread_time() + cpu_budget)
        walks.append(made)
        return made

    found: list[datetime] = []
    dates: Iterator[datetime] = _bounded(walk)(rule)
    complete, out_of_time = True, False
    collecting = gc.isenabled()
    gc.disable()
    try:
        for start in islice(dates, limit):
            found.append(start)
    except _Stop as stop:
        complete, out_of_time = False, stop.out_of_time
    finally:
        if collecting:
            gc.enable()
    return Expansion(tuple(found), complete, out_of_time, sum(w.days for w in walks))
