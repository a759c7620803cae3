"""What the analytics rollups hold about a member: day counts are kept, nameless."""

from __future__ import annotations

from bot.core.privacy import Erase, Holding
from bot.store.tables import (
    analytics_member_days,
    analytics_member_totals,
    analytics_presence,
    analytics_suggestions,
)

HOLDINGS = (
    Holding(
        analytics_member_days.c.member_id,
        Erase.KEEP_AGGREGATE,
        "messages, thread messages and reactions per day: kept under an anonymous id so the "
        "community's activity and retention still add up",
    ),
    Holding(
        analytics_member_totals.c.member_id,
        Erase.KEEP_AGGREGATE,
        "first and last active day: kept under the same anonymous id as the day counts, so "
        "active members still add up; the stay (joined, left) goes",
        scrub={"joined_ordinal": None, "left_ordinal": None},
    ),
    Holding(
        analytics_presence.c.member_id,
        Erase.DELETE,
        "when each account joined and left (it goes with the account)",
    ),
    Holding(
        analytics_suggestions.c.member_id,
        Erase.KEEP_AGGREGATE,
        "course suggestions shown: kept under an anonymous id so shown → bought still adds up",
    ),
)
