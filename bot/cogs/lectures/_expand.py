"""dateutil's recurrence expansion, bounded: it looks a few years ahead at most, never to 9999.

dateutil checks a rule's UNTIL only against a date the rule produced, and stops otherwise only
after the year 9999. A rule that can never produce a date (``BYMONTH=2;BYMONTHDAY=30``), or a
very sparse one, therefore walks eight thousand years, period by period, for seconds. The
expansion here runs dateutil's own generator with a calendar helper (dateutil's ``_iterinfo``,
asked for each period's days) that stops the walk once a period begins after ``end``.

Within that window a rule can still make dateutil work hard: its loop over a period tests each
day against every BY* list (a linear search of a tuple: 732 BYYEARDAY values cost 1,464
comparisons a day), and BYSETPOS walks the period's days once for each position given (a list
dateutil does not shorten: ``BYSETPOS=1,1,1,…``). The helper therefore counts the work each
period will cost before dateutil does it (``Cost``: units of about one such comparison) and
stops the walk once the next period would take it past ``budget``. The count depends on the
rule, its start and the window only, never on the machine: a rule is refused as too complex on
a loaded machine exactly when it is on a quiet one.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from typing import Any

from dateutil import rrule as dateutil_rrule

# Work is counted in units of about one comparison of dateutil's filters (a step of a linear
# search of a BY* tuple, ~20 ns here). The weights below are what each piece of dateutil's loop
# costs in those units, measured (benchmarks/repeat_rules.py; docs/design-notes.md, "Lectures"):
PERIOD = 150  # a period: the loop body, a fresh dayset a year long, the next period's date
DAY = 6  # a day of the period, before its filters
POSITION = 40  # a BYSETPOS position in a period: a list of the period's days, an IndexError
NEW_YEAR = 150  # a new year's masks (dateutil's ``rebuild``: lengths, slices of the masks)
NEW_MONTH = 10  # a new month
WEEKNO = 32  # a BYWEEKNO entry, marked in a new year's mask
NTH_WEEKDAY = 6  # an nth weekday of BYDAY (``2MO``), placed in a new month's mask


class _Stop(Exception):
    """The walk reached the end of its window, or of its work budget."""

    def __init__(self, *, too_complex: bool) -> None:
        super().__init__()
        self.too_complex = too_complex


@dataclass(frozen=True, slots=True)
class Expansion:
    """The dates a rule gives up to ``end`` (at most ``limit`` of them) and how it ended."""

    starts: tuple[datetime, ...]
    # False when the rule may go on past the window: the walk stopped, the rule did not.
    complete: bool
    # True when the walk stopped because its next period would cost more than the budget.
    too_complex: bool
    # How many days the walk looked at (each period's days), to check the bound.
    days: int
    # The work counted (``Cost`` units), always at most the budget.
    work: int


@dataclass(frozen=True, slots=True)
class Cost:
    """What one period of a rule costs dateutil, read from the rule's parts (not from a clock)."""

    # Comparisons to test one day (beyond DAY): a linear search of each BY* tuple dateutil checks.
    per_day: int
    # The positions of BYSETPOS (each a pass over the period's days), repeats included.
    setpos: int
    # Sessions per day (the time set); dateutil makes a datetime for each, per day kept.
    times: int
    # Entries re-read when the month or year changes (BYWEEKNO weeks, BYDAY's nth weekdays).
    weeknos: int
    nth_weekdays: int
    months: int

    @classmethod
    def of(cls, rule: dateutil_rrule.rrule) -> Cost:
        """Return the cost parts of ``rule``, as dateutil's ``_iter`` and ``rebuild`` use them."""
        got: dict[str, Any] = {
            name: getattr(rule, "_" + name) or ()
            for name in (
                "bymonth",
                "byweekno",
                "byyearday",
                "byweekday",
                "bymonthday",
                "bynmonthday",
                "bysetpos",
                "bynweekday",
                "timeset",
            )
        }
        per_day = len(got["bymonth"]) + len(got["byweekday"]) + 2 * len(got["byyearday"])
        per_day += len(got["bymonthday"]) + len(got["bynmonthday"]) + (1 if got["byweekno"] else 0)
        return cls(
            per_day=per_day,
            setpos=len(got["bysetpos"]),
            times=max(len(got["timeset"]), 1),
            weeknos=len(got["byweekno"]),
            nth_weekdays=len(got["bynweekday"]),
            months=max(len(got["bymonth"]), 1),
        )

    def period(self, days: int) -> int:
        """Return the work of a period of ``days`` days: the filters, BYSETPOS, the dates."""
        # BYSETPOS: for each position, a list of the period's days, then a linear search of
        # the dates already picked (at most one per position, at most one per day).
        picking = self.setpos * (POSITION + days + min(self.setpos, days * self.times))
        return PERIOD + days * (DAY + self.per_day + self.times) + picking

    def rebuild(self, *, new_year: bool, new_month: bool) -> int:
        """Return the work of re-reading the masks for a new month or year."""
        work = NEW_MONTH
        if new_year:
            work += NEW_YEAR + WEEKNO * self.weeknos
        return work + NTH_WEEKDAY * self.nth_weekdays * self.months


class _Walk(dateutil_rrule._iterinfo):
    """dateutil's per-walk calendar: it counts each period's work and stops at the window's end."""

    # No __slots__ of its own: dateutil's __init__ clears ``self.__slots__``, which must stay its.

    def __init__(self, rule: dateutil_rrule.rrule, *, end: date, budget: int) -> None:
        super().__init__(rule)
        self.end = end
        self.budget = budget
        self.cost = Cost.of(rule)
        self.days = 0
        self.work = 0

    def _charge(self, work: int) -> None:
        if self.work + work > self.budget:
            raise _Stop(too_complex=True)
        self.work += work

    def _period(self, first: date, found: Any) -> Any:
        if first > self.end:
            raise _Stop(too_complex=False)
        _dayset, start, stop = found
        self._charge(self.cost.period(stop - start))
        self.days += stop - start
        return found

    def rebuild(self, year: int, month: int) -> None:
        """Re-read the masks for a new month or year, once the budget allows it."""
        new_year, new_month = year != self.lastyear, month != self.lastmonth
        if new_year or new_month:
            self._charge(self.cost.rebuild(new_year=new_year, new_month=new_month))
        super().rebuild(year, month)

    def ydayset(self, year: int, month: int, day: int) -> Any:
        """Return a yearly period's days, once the walk may go on."""
        return self._period(date(year, 1, 1), super().ydayset(year, month, day))

    def mdayset(self, year: int, month: int, day: int) -> Any:
        """Return a monthly period's days, once the walk may go on."""
        return self._period(date(year, month, 1), super().mdayset(year, month, day))

    def wdayset(self, year: int, month: int, day: int) -> Any:
        """Return a weekly period's days, once the walk may go on."""
        return self._period(date(year, month, day), super().wdayset(year, month, day))

    def ddayset(self, year: int, month: int, day: int) -> Any:
        """Return a daily period's day, once the walk may go on."""
        return self._period(date(year, month, day), super().ddayset(year, month, day))


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


def expand(rule: dateutil_rrule.rrule, *, end: date, limit: int, budget: int) -> Expansion:
    """Return the first ``limit`` dates of ``rule`` whose period begins by ``end``.

    The walk stops, as too complex, before a period that would take its work past ``budget``.
    """
    walks: list[_Walk] = []

    def walk(of: dateutil_rrule.rrule) -> _Walk:
        made = _Walk(of, end=end, budget=budget)
        walks.append(made)
        return made

    found: list[datetime] = []
    dates: Iterator[datetime] = _bounded(walk)(rule)
    complete, too_complex = True, False
    try:
        for start in islice(dates, limit):
            found.append(start)
    except _Stop as stop:
        complete, too_complex = False, stop.too_complex
    return Expansion(
        tuple(found),
        complete,
        too_complex,
        sum(w.days for w in walks),
        sum(w.work for w in walks),
    )
