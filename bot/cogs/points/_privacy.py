"""What the points cog holds about a member, for export and erasure: all of it goes."""

from __future__ import annotations

from bot.core.privacy import Erase, Holding
from bot.store.tables import (
    points_balances,
    points_invites,
    points_ledger,
    points_level_changes,
    points_period_totals,
    points_referrals,
    points_seasons,
)

HOLDINGS = (
    Holding(points_ledger.c.member_id, Erase.DELETE, "every points award and deduction"),
    Holding(points_ledger.c.actor_id, Erase.DETACH, "points an organizer gave or took"),
    Holding(points_balances.c.member_id, Erase.DELETE, "balance, level and last activity"),
    Holding(points_period_totals.c.member_id, Erase.DELETE, "leaderboard totals by period"),
    Holding(points_level_changes.c.member_id, Erase.DELETE, "level changes to announce"),
    Holding(points_invites.c.member_id, Erase.DELETE, "personal invite links"),
    Holding(points_referrals.c.referred_id, Erase.DELETE, "who invited the member"),
    Holding(points_referrals.c.inviter_id, Erase.DELETE, "whom the member invited"),
    Holding(points_seasons.c.started_by, Erase.DETACH, "seasons an organizer started"),
)
