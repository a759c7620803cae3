"""Lecture sessions with their RSVPs, check-ins and reminders, counted in one read each."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics._pages import fetch
from bot.store.tables import (
    lecture_attendance,
    lecture_deliveries,
    lecture_occurrences,
    lecture_rsvps,
)

GOING = "going"
MAYBE = "maybe"
REMINDER = "reminder"
SENT = "sent"


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One session's counts."""

    occurrence_id: int
    title: str
    start_at: datetime
    status: str
    going: int
    maybe: int
    attended: int
    no_shows: int
    reminders_sent: int


async def sessions(
    conn: AsyncConnection, community_id: int, since: datetime, until: datetime
) -> list[SessionRow]:
    """Return the sessions that start in ``[since, until)``, in time order."""
    o = lecture_occurrences.c
    occurrences = (
        await conn.execute(
            select(o.id, o.title, o.start_at, o.status)
            .where(o.community_id == community_id, o.start_at >= since, o.start_at < until)
            .order_by(o.start_at, o.id)
        )
    ).all()
    ids = [r.id for r in occurrences]
    if not ids:
        return []
    r = lecture_rsvps.c
    a = lecture_attendance.c
    rsvps: Counter[tuple[int, str]] = Counter()
    going: dict[int, set[int]] = {}
    for occurrence_id, member_id, status in await fetch(
        conn, select(r.occurrence_id, r.member_id, r.status).where(r.occurrence_id.in_(ids))
    ):
        rsvps[(occurrence_id, status)] += 1
        if status == GOING:
            going.setdefault(occurrence_id, set()).add(member_id)
    came: dict[int, set[int]] = {}
    for occurrence_id, member_id in await fetch(
        conn, select(a.occurrence_id, a.member_id).where(a.occurrence_id.in_(ids))
    ):
        came.setdefault(occurrence_id, set()).add(member_id)
    d = lecture_deliveries.c
    reminders = dict(
        (int(k), int(n))
        for k, n in await fetch(
            conn,
            select(d.occurrence_id, func.count())
            .where(and_(d.occurrence_id.in_(ids), d.kind == REMINDER, d.status == SENT))
            .group_by(d.occurrence_id),
        )
    )
    return [
        SessionRow(
            occurrence_id=row.id,
            title=row.title,
            start_at=row.start_at,
            status=row.status,
            going=rsvps[(row.id, GOING)],
            maybe=rsvps[(row.id, MAYBE)],
            attended=len(came.get(row.id, ())),
            no_shows=len(going.get(row.id, set()) - came.get(row.id, set())),
            reminders_sent=reminders.get(row.id, 0),
        )
        for row in occurrences
    ]
