"""What the recommend cog holds about a member: its settings and the last digest, which go."""

from __future__ import annotations

from bot.core.privacy import Erase, Holding
from bot.store.tables import recommend_prefs

HOLDINGS = (
    Holding(
        recommend_prefs.c.member_id,
        Erase.DELETE,
        "recommendation settings and the courses last suggested by direct message",
    ),
)
