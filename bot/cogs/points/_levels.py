"""Level curves: how many points each level needs."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.config import LevelCurve

MAX_LEVEL = 10_000


def cost_of_next(level: int, curve: LevelCurve, step: int) -> int:
    """Return the points needed to go from ``level`` to ``level + 1``."""
    match curve:
        case LevelCurve.MEE6:
            return 5 * level * level + 50 * level + 100
        case LevelCurve.LINEAR:
            return (level + 1) * max(step, 1)
        case LevelCurve.FLAT:
            return max(step, 1)
    raise AssertionError(curve)  # pragma: no cover


def total_for(level: int, curve: LevelCurve, step: int) -> int:
    """Return the points needed to reach ``level`` from nothing."""
    return sum(cost_of_next(n, curve, step) for n in range(level))


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a balance stands: the level, points into it, and points the next level needs."""

    level: int
    into: int
    needed: int

    @property
    def percent(self) -> int:
        """Return how far into the level, 0-100."""
        return min(100, self.into * 100 // self.needed) if self.needed else 100


def progress(points: int, curve: LevelCurve, step: int) -> Progress:
    """Return the level ``points`` reach and the progress towards the next one."""
    level, left = 0, max(points, 0)
    while level < MAX_LEVEL:
        cost = cost_of_next(level, curve, step)
        if left < cost:
            return Progress(level, left, cost)
        left -= cost
        level += 1
    return Progress(level, left, 0)
