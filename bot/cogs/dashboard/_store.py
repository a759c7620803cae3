"""Queries of dashboard links and sessions; the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.tables import dashboard_links, dashboard_sessions


@dataclass(frozen=True, slots=True)
class LinkRow:
    """A sign-in link as stored."""

    id: int
    community_id: int
    member_id: int
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A dashboard session as stored."""

    id: int
    community_id: int
    member_id: int
    locale: str | None
    expires_at: datetime


async def add_link(
    conn: AsyncConnection,
    community_id: int,
    member_id: int,
    token_hash: str,
    now: datetime,
    expires: datetime,
) -> None:
    """Store a new link, voiding the member's earlier unused ones."""
    await conn.execute(
        delete(dashboard_links).where(
            dashboard_links.c.member_id == member_id, dashboard_links.c.used_at.is_(None)
        )
    )
    await conn.execute(
        insert(dashboard_links).values(
            community_id=community_id,
            member_id=member_id,
            token_hash=token_hash,
            created_at=now,
            expires_at=expires,
        )
    )


async def find_link(conn: AsyncConnection, token_hash: str) -> LinkRow | None:
    """Return the link with this token hash."""
    row = (
        await conn.execute(
            select(
                dashboard_links.c.id,
                dashboard_links.c.community_id,
                dashboard_links.c.member_id,
                dashboard_links.c.expires_at,
                dashboard_links.c.used_at,
            ).where(dashboard_links.c.token_hash == token_hash)
        )
    ).first()
    return LinkRow(*row) if row else None


async def use_link(conn: AsyncConnection, link_id: int, now: datetime) -> bool:
    """Mark a link used, only if no one did first; say whether this call did."""
    result = await conn.execute(
        update(dashboard_links)
        .where(dashboard_links.c.id == link_id, dashboard_links.c.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


async def add_session(
    conn: AsyncConnection,
    community_id: int,
    member_id: int,
    token_hash: str,
    now: datetime,
    expires: datetime,
) -> None:
    """Store a new session."""
    await conn.execute(
        insert(dashboard_sessions).values(
            community_id=community_id,
            member_id=member_id,
            token_hash=token_hash,
            created_at=now,
            expires_at=expires,
        )
    )


async def find_session(conn: AsyncConnection, token_hash: str) -> SessionRow | None:
    """Return the session with this token hash."""
    row = (
        await conn.execute(
            select(
                dashboard_sessions.c.id,
                dashboard_sessions.c.community_id,
                dashboard_sessions.c.member_id,
                dashboard_sessions.c.locale,
                dashboard_sessions.c.expires_at,
            ).where(dashboard_sessions.c.token_hash == token_hash)
        )
    ).first()
    return SessionRow(*row) if row else None


async def end_session(conn: AsyncConnection, token_hash: str) -> None:
    """Delete the session with this token hash."""
    await conn.execute(
        delete(dashboard_sessions).where(dashboard_sessions.c.token_hash == token_hash)
    )


async def set_locale(conn: AsyncConnection, session_id: int, locale: str) -> None:
    """Set the language a session shows the dashboard in."""
    await conn.execute(
        update(dashboard_sessions)
        .where(dashboard_sessions.c.id == session_id)
        .values(locale=locale)
    )


async def purge(conn: AsyncConnection, now: datetime) -> int:
    """Delete expired links and sessions; return how many rows went."""
    links = await conn.execute(delete(dashboard_links).where(dashboard_links.c.expires_at < now))
    sessions = await conn.execute(
        delete(dashboard_sessions).where(dashboard_sessions.c.expires_at < now)
    )
    return int(links.rowcount) + int(sessions.rowcount)
