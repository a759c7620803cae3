"""Moderation cases per local day: what was done, by whom (people, automod, rules), and refusals.

``moderation_cases`` holds one row per action, so the page reads the range's rows directly and
groups them by local day in Python; it never reads the message log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._figures import Moderation, ModerationDay
from bot.store.tables import moderation_cases

# The moderation cog's action, source and state values (its tables are our input).
ACTIONS = ("warn", "mute", "unmute", "kick", "ban", "unban", "purge", "slowmode", "delete")
DONE = "done"
MODERATOR = "moderator"
AUTOMOD = "automod"


@dataclass(frozen=True, slots=True)
class CaseRow:
    """What the page needs of one case."""

    action: str
    source: str
    state: str
    created_at: datetime


async def cases(
    conn: AsyncConnection, community_id: int, since: datetime, until: datetime
) -> list[CaseRow]:
    """Return the community's cases opened in ``[since, until)``."""
    c = moderation_cases.c
    rows = await conn.execute(
        select(c.action, c.source, c.state, c.created_at).where(
            c.community_id == community_id, c.created_at >= since, c.created_at < until
        )
    )
    return [CaseRow(r.action, r.source, r.state, r.created_at) for r in rows]


def tally(day: date, rows: Iterable[CaseRow]) -> ModerationDay:
    """Count cases: done ones by action and by who took them, failed ones apart."""
    actions: Counter[str] = Counter()
    who: Counter[str] = Counter()
    done = failed = 0
    for row in rows:
        if row.state != DONE:
            failed += 1
            continue
        done += 1
        actions[row.action] += 1
        who[row.source if row.source in (MODERATOR, AUTOMOD) else ""] += 1
    return ModerationDay(
        day,
        **{action: actions[action] for action in ACTIONS},
        done=done,
        people=who[MODERATOR],
        automod=who[AUTOMOD],
        automatic=who[""],
        failed=failed,
    )


def page(rows: list[CaseRow], start: date, end: date, zone: ZoneInfo) -> Moderation:
    """Group cases by the local day they were opened on, and total the range."""
    by_day: dict[date, list[CaseRow]] = {}
    for row in rows:
        by_day.setdefault(rules.local_day(row.created_at, zone), []).append(row)
    return Moderation(
        start=start,
        end=end,
        days=tuple(tally(day, by_day.get(day, ())) for day in rules.days(start, end)),
        totals=tally(start, rows),
    )
