"""Which level rewards a member holds: plain rules over the config, no I/O."""

from __future__ import annotations

from bot.core.config import LevelReward


def crossed(rewards: tuple[LevelReward, ...], before: int, after: int) -> LevelReward | None:
    """Return the highest reward reached by climbing from ``before`` to ``after``, if any."""
    reached = [r for r in rewards if before < r.level <= after]
    return max(reached, key=lambda r: r.level, default=None)


def roles_for(
    rewards: tuple[LevelReward, ...], level: int, *, stack: bool
) -> tuple[frozenset[str], frozenset[str]]:
    """Return the reward roles a member at ``level`` should hold, and those they should not.

    Stacking keeps every role reached; otherwise only the highest reached reward's roles.
    Roles are ``"<guild id>:<role id>"``.
    """
    reached = [r for r in rewards if r.level <= level]
    if not stack:
        reached = [max(reached, key=lambda r: r.level)] if reached else []
    keep = frozenset(role for r in reached for role in r.discord_roles)
    every = frozenset(role for r in rewards for role in r.discord_roles)
    return keep, every - keep
