"""Moderation queries: cases (numbered per community), live warnings, expiries, slowmode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.moderation._rules import Action, Expiry, Source, State
from bot.core.platforms import PlatformName
from bot.store.db import Database
from bot.store.tables import message_log, moderation_cases, moderation_slowmode

NUMBER_TRIES = 5


@dataclass(frozen=True, slots=True)
class Case:
    """One moderation action as recorded."""

    id: int
    community_id: int
    number: int
    action: Action
    source: Source
    member_id: int | None
    moderator_id: int | None
    reason: str
    platform: PlatformName | None
    channel_id: str | None
    created_at: datetime
    until: datetime | None
    state: State
    detail: str | None
    edited_at: datetime | None
    expiry: Expiry | None


@dataclass(frozen=True, slots=True)
class NewCase:
    """What a new case records."""

    action: Action
    source: Source
    member_id: int | None
    moderator_id: int | None
    reason: str
    state: State
    created_at: datetime
    until: datetime | None = None
    detail: str | None = None
    platform: PlatformName | None = None
    channel_id: str | None = None
    expiry: Expiry | None = None


def _case(row: Row[Any]) -> Case:
    m = row._mapping
    return Case(
        id=m["id"],
        community_id=m["community_id"],
        number=m["number"],
        action=Action(m["action"]),
        source=Source(m["source"]),
        member_id=m["member_id"],
        moderator_id=m["moderator_id"],
        reason=m["reason"],
        platform=PlatformName(m["platform"]) if m["platform"] else None,
        channel_id=m["channel_id"],
        created_at=m["created_at"],
        until=m["until"],
        state=State(m["state"]),
        detail=m["detail"],
        edited_at=m["edited_at"],
        expiry=Expiry(m["expiry"]) if m["expiry"] else None,
    )


async def add_case_in(conn: AsyncConnection, community_id: int, new: NewCase) -> Case:
    """Record a case with the community's next number, in the caller's transaction."""
    for attempt in range(NUMBER_TRIES):
        last = (
            await conn.execute(
                select(func.max(moderation_cases.c.number)).where(
                    moderation_cases.c.community_id == community_id
                )
            )
        ).scalar_one_or_none()
        values = {
            "community_id": community_id,
            "number": (last or 0) + 1,
            "action": new.action.value,
            "source": new.source.value,
            "member_id": new.member_id,
            "moderator_id": new.moderator_id,
            "reason": new.reason,
            "platform": new.platform.value if new.platform else None,
            "channel_id": new.channel_id,
            "created_at": new.created_at,
            "until": new.until,
            "state": new.state.value,
            "detail": new.detail[:500] if new.detail else None,
            "expiry": new.expiry.value if new.expiry else None,
        }
        try:
            async with conn.begin_nested():
                row = (
                    await conn.execute(
                        insert(moderation_cases).values(**values).returning(moderation_cases)
                    )
                ).one()
            return _case(row)
        except IntegrityError:
            # Another process took the number between our read and write (PostgreSQL).
            if attempt == NUMBER_TRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def add_case(db: Database, community_id: int, new: NewCase) -> Case:
    """Record a case in its own transaction."""
    async with db.write() as conn:
        return await add_case_in(conn, community_id, new)


async def case_by_number(db: Database, community_id: int, number: int) -> Case | None:
    """Return the case with this number in the community."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(moderation_cases).where(
                    moderation_cases.c.community_id == community_id,
                    moderation_cases.c.number == number,
                )
            )
        ).one_or_none()
    return _case(row) if row else None


async def edit_reason(
    db: Database, community_id: int, number: int, reason: str, at: datetime
) -> Case | None:
    """Change a case's reason; return the case as it is now, or None if there is none."""
    async with db.write() as conn:
        row = (
            await conn.execute(
                update(moderation_cases)
                .where(
                    moderation_cases.c.community_id == community_id,
                    moderation_cases.c.number == number,
                )
                .values(reason=reason, edited_at=at)
                .returning(moderation_cases)
            )
        ).one_or_none()
    return _case(row) if row else None


async def cases_of(db: Database, community_id: int, member_id: int, limit: int) -> list[Case]:
    """Return a member's latest cases, newest first."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(moderation_cases)
                .where(
                    moderation_cases.c.community_id == community_id,
                    moderation_cases.c.member_id == member_id,
                )
                .order_by(moderation_cases.c.number.desc())
                .limit(limit)
            )
        ).all()
    return [_case(r) for r in rows]


async def live_warnings_in(
    conn: AsyncConnection, community_id: int, member_id: int, since: datetime
) -> int:
    """Count a member's warnings given since ``since`` (older ones have expired)."""
    return int(
        (
            await conn.execute(
                select(func.count()).where(
                    moderation_cases.c.community_id == community_id,
                    moderation_cases.c.member_id == member_id,
                    moderation_cases.c.action == Action.WARN.value,
                    moderation_cases.c.state == State.DONE.value,
                    moderation_cases.c.created_at >= since,
                )
            )
        ).scalar_one()
    )


async def cancel_expiries(db: Database, community_id: int, member_id: int, action: Action) -> None:
    """Mark a member's pending mute or ban ends as cancelled (lifted by hand)."""
    async with db.write() as conn:
        await conn.execute(
            update(moderation_cases)
            .where(
                moderation_cases.c.community_id == community_id,
                moderation_cases.c.member_id == member_id,
                moderation_cases.c.action == action.value,
                moderation_cases.c.expiry == Expiry.PENDING.value,
            )
            .values(expiry=Expiry.CANCELLED.value)
        )


def due_expiry(now: datetime) -> ColumnElement[bool]:
    """Return the condition of a pending expiry that is due and no live process holds."""
    c = moderation_cases.c
    return and_(
        c.expiry == Expiry.PENDING.value,
        c.until <= now,
        or_(c.lease_until.is_(None), c.lease_until <= now),
    )


async def finish_expiry_in(
    conn: AsyncConnection, case_id: int, token: str, outcome: Expiry
) -> bool:
    """Mark a claimed expiry done or failed; False when the claim is no longer ``token``'s."""
    result = await conn.execute(
        update(moderation_cases)
        .where(
            moderation_cases.c.id == case_id,
            moderation_cases.c.claimed_by == token,
            moderation_cases.c.expiry == Expiry.PENDING.value,
        )
        .values(expiry=outcome.value, lease_until=None)
    )
    return bool(result.rowcount)


async def recent_messages(
    db: Database,
    community_id: int,
    platform: PlatformName,
    channel_id: str,
    *,
    thread_id: str | None,
    member_id: int | None,
    since: datetime | None,
    limit: int,
) -> list[str]:
    """Return the ids of the latest logged messages of a channel (and member), newest first."""
    c = message_log.c
    where = [
        c.community_id == community_id,
        c.platform == platform.value,
        c.channel_id == channel_id,
    ]
    # A channel's own messages, not those of its threads; a thread's, not its channel's.
    where.append(c.thread_id == thread_id if thread_id is not None else c.thread_id.is_(None))
    if member_id is not None:
        where.append(c.member_id == member_id)
    if since is not None:
        where.append(c.posted_at >= since)
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(c.message_id)
                .where(*where)
                .order_by(c.posted_at.desc(), c.id.desc())
                .limit(limit)
            )
        ).all()
    return [r.message_id for r in rows]


async def forget_messages(
    db: Database, community_id: int, platform: PlatformName, channel_id: str, ids: list[str]
) -> None:
    """Drop deleted messages from the log, so a second purge does not count them again."""
    if not ids:
        return
    c = message_log.c
    async with db.write() as conn:
        await conn.execute(
            delete(message_log).where(
                c.community_id == community_id,
                c.platform == platform.value,
                c.channel_id == channel_id,
                c.message_id.in_(ids),
            )
        )


SlowmodeKey = tuple[int, str, str]  # community, platform, channel


async def slowmodes(db: Database) -> dict[SlowmodeKey, int]:
    """Return every slowmode the bot enforces, by community, platform and channel."""
    async with db.read() as conn:
        rows = (await conn.execute(select(moderation_slowmode))).all()
    return {(r.community_id, r.platform, r.channel_id): r.seconds for r in rows}


async def set_slowmode(db: Database, key: SlowmodeKey, seconds: int, at: datetime) -> None:
    """Record (or, with 0, remove) a slowmode the bot enforces."""
    community_id, platform, channel_id = key
    t = moderation_slowmode
    async with db.write() as conn:
        await conn.execute(
            delete(t).where(
                t.c.community_id == community_id,
                t.c.platform == platform,
                t.c.channel_id == channel_id,
            )
        )
        if seconds > 0:
            await conn.execute(
                insert(t).values(
                    community_id=community_id,
                    platform=platform,
                    channel_id=channel_id,
                    seconds=seconds,
                    updated_at=at,
                )
            )
