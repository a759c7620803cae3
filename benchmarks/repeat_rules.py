"""How long dateutil takes to expand costly repeat rules, against the work the walk counts.

``_expand`` refuses a rule as too complex by the work it counts (``Cost`` units), never by a
clock. This prints, for a fixed set of costly rules (long BYSETPOS, BYYEARDAY, BYMONTHDAY,
BYWEEKNO and nth-BYDAY lists, rules with no dates that walk the whole window) and ``--random``
more drawn from a seeded generator, each rule's counted work and its thread time (best of
``--repeat`` runs, the walk never stopped for work), then the most expensive rules within the
budget and the time per unit of work. Figures only: nothing here is asserted.

Run: ``.venv/bin/python -m benchmarks.repeat_rules [--random 400] [--repeat 5] [--top 12]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import time
from dataclasses import dataclass
from datetime import datetime

from dateutil.rrule import rrule, rrulestr

from bot.cogs.lectures._expand import expand
from bot.cogs.lectures._repeat import MAX_OCCURRENCES, SCAN, WORK_BUDGET

FIRST = datetime(2026, 12, 1, 19, 30)  # noqa: DTZ001 - a wall time, as parse_repeat gives dateutil
UNBOUNDED = 10**12
FAR = "UNTIL=99991231T000000"

YEARDAYS = [*range(1, 367), *range(-366, 0)]
SETPOS_ALL = ",".join(map(str, [*range(1, 367), *range(-366, 0)]))


def _series(values: list[int]) -> str:
    return ",".join(map(str, values))


# Costly by construction: each stresses one part of dateutil's loop over a period.
COSTLY = [
    # No dates at all: the whole window, period by period.
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=3",
    "FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30;" + FAR,
    "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31;" + FAR,
    "FREQ=DAILY;BYDAY=5FR;BYSETPOS=-348;" + FAR,
    # The costliest shape the tests generate: four BY* parts of four values, a daily walk.
    "FREQ=DAILY;BYSETPOS=100,200,300,-300;BYYEARDAY=-300,-301,302,303;"
    "BYMONTHDAY=30,31,-30,-31;BYDAY=MO,TU,WE,TH;UNTIL=20301231",
    # BYSETPOS: a pass over the period's days per position, repeats kept by dateutil.
    "FREQ=YEARLY;BYSETPOS=" + SETPOS_ALL + ";COUNT=100",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;BYSETPOS=" + SETPOS_ALL + ";" + FAR,
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;BYSETPOS=" + _series([1] * 100) + ";" + FAR,
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;BYSETPOS=" + _series([1] * 20) + ";" + FAR,
    "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4;BYSETPOS=" + _series([1] * 100) + ";" + FAR,
    "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4;BYSETPOS=" + _series(list(range(1, 32))) + ";" + FAR,
    "FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30;BYSETPOS=" + _series([1] * 50) + ";" + FAR,
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;BYSETPOS=" + _series([1] * 20) + ";" + FAR,
    # BYYEARDAY: two linear searches of the list a day.
    "FREQ=YEARLY;BYMONTH=2;BYYEARDAY=" + _series(YEARDAYS) + ";BYMONTHDAY=30;" + FAR,
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;BYYEARDAY=" + _series(YEARDAYS) + ";" + FAR,
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;BYYEARDAY=" + _series(YEARDAYS[:100]) + ";" + FAR,
    "FREQ=YEARLY;BYYEARDAY=" + _series(list(range(-366, 0, 40))) + ";" + FAR,
    # BYMONTHDAY, BYWEEKNO, nth weekdays: longer filters, masks rebuilt each month or year.
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=" + _series([*range(30, 32), *range(-31, -29)]) + ";" + FAR,
    "FREQ=DAILY;BYWEEKNO=" + _series([*range(-53, 0), *range(1, 54)]) + ";BYMONTH=2;"
    "BYMONTHDAY=30;" + FAR,
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;BYDAY="
    + ",".join(f"{n}{d}" for n in range(1, 54) for d in ("MO", "TU", "WE", "TH", "FR", "SA", "SU"))
    + ";"
    + FAR,
    "FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30;BYDAY="
    + ",".join(f"{n}{d}" for n in range(-5, 6) if n for d in ("MO", "TU", "WE", "TH", "FR"))
    + ";"
    + FAR,
]

PARTS = {
    "BYMONTH": (list(range(1, 13)), 12),
    "BYMONTHDAY": ([*range(1, 32), *range(-31, 0)], 62),
    "BYYEARDAY": (YEARDAYS, 732),
    "BYWEEKNO": ([*range(1, 54), *range(-53, 0)], 106),
    "BYSETPOS": ([*range(1, 367), *range(-366, 0)], 400),
}


def drawn(rng: random.Random) -> str:
    """Return a random rule: a FREQ, a few BY* lists of any length, a far UNTIL or a COUNT."""
    parts = ["FREQ=" + rng.choice(("DAILY", "WEEKLY", "MONTHLY", "YEARLY"))]
    for name in rng.sample(sorted(PARTS), rng.randint(1, 4)):
        values, most = PARTS[name]
        length = min(int(rng.paretovariate(0.6)), most)
        parts.append(f"{name}=" + _series([rng.choice(values) for _ in range(length)]))
    if rng.random() < 0.3:
        parts.append("BYDAY=" + ",".join(rng.sample(["MO", "TU", "WE", "TH", "FR"], 2)))
    parts.append(FAR if rng.random() < 0.7 else f"COUNT={rng.randint(1, MAX_OCCURRENCES)}")
    return ";".join(parts)


@dataclass(frozen=True)
class Measured:
    rule: str
    work: int
    seconds: float
    refused: bool


def measure(text: str, repeat: int) -> Measured | None:
    """Expand ``text`` as parse_repeat does, unbounded by work; None if dateutil refuses it."""
    try:
        rule = rrulestr(text, dtstart=FIRST, forceset=False)
        assert isinstance(rule, rrule)
        end = FIRST.date() + SCAN
        got = expand(rule, end=end, limit=MAX_OCCURRENCES + 1, budget=UNBOUNDED)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return None
    best = float("inf")
    for _ in range(repeat):
        began = time.thread_time()
        expand(rule, end=end, limit=MAX_OCCURRENCES + 1, budget=UNBOUNDED)
        best = min(best, time.thread_time() - began)
    refused = expand(rule, end=end, limit=MAX_OCCURRENCES + 1, budget=WORK_BUDGET).too_complex
    return Measured(text, got.work, best, refused)


def short(rule: str, width: int = 70) -> str:
    """Return the rule, its long lists shortened to their length."""
    parts = []
    for part in rule.split(";"):
        name, _, value = part.partition("=")
        n = value.count(",") + 1
        parts.append(f"{name}=<{n} values>" if n > 4 else part)
    text = ";".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=400, help="rules drawn at random")
    parser.add_argument("--repeat", type=int, default=5, help="runs per rule, best kept")
    parser.add_argument("--top", type=int, default=12, help="rows of each table")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    texts = COSTLY + [drawn(rng) for _ in range(args.random)]
    gc.collect()
    runs = [m for m in (measure(t, args.repeat) for t in texts) if m is not None]
    print(f"load average {os.getloadavg()}, budget {WORK_BUDGET:,} units, {len(runs)} rules")
    accepted = sorted((m for m in runs if not m.refused), key=lambda m: -m.seconds)
    print(f"\nthe {args.top} slowest rules within the budget (thread time, best of {args.repeat}):")
    print(f"  {'ms':>7} {'work':>10} {'ns/unit':>8}  rule")
    for m in accepted[: args.top]:
        per = m.seconds / max(m.work, 1) * 1e9
        print(f"  {m.seconds * 1e3:7.2f} {m.work:10,} {per:8.1f}  {short(m.rule)}")
    over = sorted((m for m in runs if m.refused), key=lambda m: m.work)
    print(f"\nrefused as too complex: {len(over)}; the cheapest of them, unbounded:")
    for m in over[: args.top]:
        print(f"  {m.seconds * 1e3:7.2f} {m.work:10,}  {short(m.rule)}")
    pers = sorted(m.seconds / m.work * 1e9 for m in runs if m.work > 20_000)
    if pers:
        print(
            f"\nns per unit over {len(pers)} rules of 20,000+ units: min {pers[0]:.1f}, "
            f"median {pers[len(pers) // 2]:.1f}, max {pers[-1]:.1f}; "
            f"the budget at the max: {WORK_BUDGET * pers[-1] / 1e6:.1f} ms"
        )


if __name__ == "__main__":
    main()
