"""What the dashboard holds about an organizer: sign-in links and sessions, which go."""

from __future__ import annotations

from bot.core.privacy import Erase, Holding
from bot.store.tables import dashboard_links, dashboard_sessions

HOLDINGS = (
    Holding(
        dashboard_links.c.member_id,
        Erase.DELETE,
        "dashboard sign-in links (hashes only)",
        hidden=("token_hash",),
    ),
    Holding(
        dashboard_sessions.c.member_id,
        Erase.DELETE,
        "dashboard sessions (the cookie's hash): erasing signs the member out",
        hidden=("token_hash",),
    ),
)
