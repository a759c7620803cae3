"""What moderation holds about a member: cases are kept as a nameless, reasonless record."""

from __future__ import annotations

from bot.core.privacy import Erase, Holding
from bot.store.tables import moderation_cases

HOLDINGS = (
    Holding(
        moderation_cases.c.member_id,
        Erase.KEEP_AGGREGATE,
        "moderation cases against the member: kept under an anonymous id, with the reason, "
        "detail and appeal thread cleared and no scheduled undo, so case numbers and the "
        "moderation counts stay whole",
        scrub={"reason": "", "detail": None, "expiry": None, "appeal_thread": None},
    ),
    Holding(moderation_cases.c.moderator_id, Erase.DETACH, "cases the member took as moderator"),
)
