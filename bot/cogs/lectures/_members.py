"""Reading and writing what members do with lectures: RSVPs and the waitlist, attendance,
reminder settings and calendar tokens, and merging two members' rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.lectures._rules import Method, Rsvp, promotions, rsvp_status
from bot.cogs.lectures._store import Occurrence
from bot.core.platforms import PlatformName
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import (
    accounts,
    lecture_attendance,
    lecture_member_settings,
    lecture_occurrences,
    lecture_rsvps,
    members,
)


@dataclass(frozen=True, slots=True)
class Counts:
    """How many members answered an occurrence each way."""

    going: int = 0
    maybe: int = 0
    no: int = 0
    waitlist: int = 0


@dataclass(frozen=True, slots=True)
class Recipient:
    """A member to message privately, and how."""

    member_id: int
    platform: PlatformName
    user_id: str
    locale: str | None
    timezone: str | None


# --- RSVPs -------------------------------------------------------------------------------------


async def counts(conn: AsyncConnection, occurrence_id: int) -> Counts:
    """Return the RSVP counts of an occurrence."""
    rows = (
        await conn.execute(
            select(lecture_rsvps.c.status, func.count())
            .where(lecture_rsvps.c.occurrence_id == occurrence_id)
            .group_by(lecture_rsvps.c.status)
        )
    ).all()
    by = {Rsvp(r[0]): int(r[1]) for r in rows}
    return Counts(
        going=by.get(Rsvp.GOING, 0),
        maybe=by.get(Rsvp.MAYBE, 0),
        no=by.get(Rsvp.NOT_GOING, 0),
        waitlist=by.get(Rsvp.WAITLIST, 0),
    )


async def counts_of(db: Database, occurrence_id: int) -> Counts:
    """Return the RSVP counts of an occurrence, in a read of its own."""
    async with db.read() as conn:
        return await counts(conn, occurrence_id)


async def rsvp_of(db: Database, occurrence_id: int, member_id: int) -> Rsvp | None:
    """Return a member's answer to an occurrence."""
    async with db.read() as conn:
        value = await conn.scalar(
            select(lecture_rsvps.c.status).where(
                lecture_rsvps.c.occurrence_id == occurrence_id,
                lecture_rsvps.c.member_id == member_id,
            )
        )
    return Rsvp(value) if value is not None else None


async def answer(
    db: Database,
    occ: Occurrence,
    member_id: int,
    platform: PlatformName,
    wanted: Rsvp,
    now: datetime,
) -> tuple[Rsvp, list[int]]:
    """Record an answer; return the member's status and who moved up from the waitlist."""
    async with db.write() as conn:
        current_value = await conn.scalar(
            select(lecture_rsvps.c.status).where(
                lecture_rsvps.c.occurrence_id == occ.id, lecture_rsvps.c.member_id == member_id
            )
        )
        current = Rsvp(current_value) if current_value is not None else None
        capacity = await conn.scalar(
            select(lecture_occurrences.c.capacity).where(lecture_occurrences.c.id == occ.id)
        )
        going = await _going_besides(conn, occ.id, member_id)
        status = rsvp_status(wanted, current, going, capacity)
        if current is None:
            await conn.execute(
                insert(lecture_rsvps).values(
                    community_id=occ.community_id,
                    occurrence_id=occ.id,
                    member_id=member_id,
                    status=status.value,
                    platform=platform.value,
                    since=now,
                )
            )
        elif status is not current:
            await conn.execute(
                update(lecture_rsvps)
                .where(
                    lecture_rsvps.c.occurrence_id == occ.id,
                    lecture_rsvps.c.member_id == member_id,
                )
                .values(status=status.value, platform=platform.value, since=now)
            )
        promoted = await promote(conn, occ.id, capacity, now)
    return status, promoted


async def _going_besides(conn: AsyncConnection, occurrence_id: int, member_id: int) -> int:
    value = await conn.scalar(
        select(func.count()).where(
            lecture_rsvps.c.occurrence_id == occurrence_id,
            lecture_rsvps.c.status == Rsvp.GOING.value,
            lecture_rsvps.c.member_id != member_id,
        )
    )
    return int(value or 0)


async def promote(
    conn: AsyncConnection, occurrence_id: int, capacity: int | None, now: datetime
) -> list[int]:
    """Move waitlisted members up, first come first served, while there is room."""
    going = await _going_besides(conn, occurrence_id, 0)
    waiting = (
        await conn.execute(
            select(lecture_rsvps.c.member_id)
            .where(
                lecture_rsvps.c.occurrence_id == occurrence_id,
                lecture_rsvps.c.status == Rsvp.WAITLIST.value,
            )
            .order_by(lecture_rsvps.c.since, lecture_rsvps.c.member_id)
        )
    ).all()
    room = promotions(going, capacity, len(waiting))
    moved = [int(r.member_id) for r in waiting[:room]]
    if moved:
        await conn.execute(
            update(lecture_rsvps)
            .where(
                lecture_rsvps.c.occurrence_id == occurrence_id,
                lecture_rsvps.c.member_id.in_(moved),
            )
            .values(status=Rsvp.GOING.value, since=now)
        )
    return moved


async def answered(db: Database, occurrence_id: int, statuses: Iterable[Rsvp]) -> list[Recipient]:
    """Return the members who answered an occurrence one of ``statuses``, with a DM address."""
    wanted = [s.value for s in statuses]
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    lecture_rsvps.c.member_id,
                    lecture_rsvps.c.platform,
                    lecture_member_settings.c.dm_reminders,
                )
                .select_from(
                    lecture_rsvps.outerjoin(
                        lecture_member_settings,
                        and_(
                            lecture_member_settings.c.member_id == lecture_rsvps.c.member_id,
                            lecture_member_settings.c.community_id == lecture_rsvps.c.community_id,
                        ),
                    )
                )
                .where(
                    lecture_rsvps.c.occurrence_id == occurrence_id,
                    lecture_rsvps.c.status.in_(wanted),
                )
                .order_by(lecture_rsvps.c.since, lecture_rsvps.c.member_id)
            )
        ).all()
        wanted_platform = {int(r.member_id): PlatformName(r.platform) for r in rows}
        return await recipients(conn, wanted_platform)


async def recipients(
    conn: AsyncConnection, members_platforms: dict[int, PlatformName]
) -> list[Recipient]:
    """Return a DM address per member: their account on the given platform, else their first."""
    if not members_platforms:
        return []
    rows = (
        await conn.execute(
            select(
                accounts.c.member_id,
                accounts.c.platform,
                accounts.c.platform_user_id,
                accounts.c.locale,
                members.c.locale.label("member_locale"),
                members.c.timezone,
            )
            .select_from(accounts.join(members, members.c.id == accounts.c.member_id))
            .where(accounts.c.member_id.in_(list(members_platforms)))
            .order_by(accounts.c.member_id, accounts.c.id)
        )
    ).all()
    chosen: dict[int, Row[Any]] = {}
    for row in rows:
        member_id = int(row.member_id)
        preferred = members_platforms[member_id].value
        if member_id not in chosen or (
            row.platform == preferred and chosen[member_id].platform != preferred
        ):
            chosen[member_id] = row
    return [
        Recipient(
            member_id=member_id,
            platform=PlatformName(row.platform),
            user_id=row.platform_user_id,
            locale=row.member_locale or row.locale,
            timezone=row.timezone,
        )
        for member_id, row in ((m, chosen[m]) for m in members_platforms if m in chosen)
    ]


# --- attendance --------------------------------------------------------------------------------


async def attend(
    conn: AsyncConnection,
    occ: Occurrence,
    member_id: int,
    method: Method,
    now: datetime,
    *,
    marked_by: int | None = None,
) -> bool:
    """Record attendance once; return False when it was already recorded."""
    added = await insert_ignore_returning(
        conn,
        lecture_attendance,
        [
            {
                "community_id": occ.community_id,
                "occurrence_id": occ.id,
                "member_id": member_id,
                "method": method.value,
                "marked_by": marked_by,
                "at": now,
            }
        ],
        keys=("occurrence_id", "member_id"),
    )
    return bool(added)


async def attendees(db: Database, occurrence_id: int) -> int:
    """Return how many members attended an occurrence."""
    async with db.read() as conn:
        value = await conn.scalar(
            select(func.count()).where(lecture_attendance.c.occurrence_id == occurrence_id)
        )
    return int(value or 0)


# --- member settings ---------------------------------------------------------------------------


async def set_dm_reminders(db: Database, community_id: int, member_id: int, on: bool) -> None:
    """Turn a member's reminder DMs on or off."""
    async with db.write() as conn:
        await _ensure_settings(conn, community_id, member_id)
        await conn.execute(
            update(lecture_member_settings)
            .where(
                lecture_member_settings.c.community_id == community_id,
                lecture_member_settings.c.member_id == member_id,
            )
            .values(dm_reminders=on)
        )


async def dm_settings(db: Database, community_id: int, member_ids: list[int]) -> dict[int, bool]:
    """Return the members' own choice about reminder DMs, where they made one."""
    if not member_ids:
        return {}
    settings = lecture_member_settings
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(settings.c.member_id, settings.c.dm_reminders).where(
                    settings.c.community_id == community_id,
                    settings.c.member_id.in_(member_ids),
                    settings.c.dm_reminders.is_not(None),
                )
            )
        ).all()
    return {int(r.member_id): bool(r.dm_reminders) for r in rows}


async def calendar_token(db: Database, community_id: int, member_id: int) -> str:
    """Return a member's private calendar token, creating it on first use."""
    async with db.write() as conn:
        await _ensure_settings(conn, community_id, member_id)
        where = and_(
            lecture_member_settings.c.community_id == community_id,
            lecture_member_settings.c.member_id == member_id,
        )
        token = await conn.scalar(select(lecture_member_settings.c.calendar_token).where(where))
        if token is None:
            token = secrets.token_urlsafe(24)
            await conn.execute(
                update(lecture_member_settings).where(where).values(calendar_token=token)
            )
    return str(token)


async def member_of_token(db: Database, community_id: int, token: str) -> int | None:
    """Return the member a private calendar token belongs to."""
    async with db.read() as conn:
        value = await conn.scalar(
            select(lecture_member_settings.c.member_id).where(
                lecture_member_settings.c.community_id == community_id,
                lecture_member_settings.c.calendar_token == token,
            )
        )
    return int(value) if value is not None else None


async def _ensure_settings(conn: AsyncConnection, community_id: int, member_id: int) -> None:
    await insert_ignore_returning(
        conn,
        lecture_member_settings,
        [{"community_id": community_id, "member_id": member_id}],
        keys=("community_id", "member_id"),
    )


# --- merging members ---------------------------------------------------------------------------


async def merge_members(conn: AsyncConnection, survivor: int, absorbed: int) -> None:
    """Keep one RSVP, attendance and settings row where both members have one."""
    for table in (lecture_rsvps, lecture_attendance):
        mine = select(table.c.occurrence_id).where(table.c.member_id == survivor)
        await conn.execute(
            delete(table).where(table.c.member_id == absorbed, table.c.occurrence_id.in_(mine))
        )
    theirs = (
        await conn.execute(
            select(lecture_member_settings).where(lecture_member_settings.c.member_id == absorbed)
        )
    ).all()
    for row in theirs:
        where: ColumnElement[bool] = and_(
            lecture_member_settings.c.community_id == row.community_id,
            lecture_member_settings.c.member_id == survivor,
        )
        kept = (await conn.execute(select(lecture_member_settings).where(where))).first()
        if kept is None:
            continue  # the generic re-pointing moves the row over
        await conn.execute(
            delete(lecture_member_settings).where(
                lecture_member_settings.c.community_id == row.community_id,
                lecture_member_settings.c.member_id == absorbed,
            )
        )
        await conn.execute(
            update(lecture_member_settings)
            .where(where)
            .values(
                dm_reminders=kept.dm_reminders
                if kept.dm_reminders is not None
                else row.dm_reminders,
                calendar_token=kept.calendar_token or row.calendar_token,
            )
        )
