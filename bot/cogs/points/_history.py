"""Reading a member's ledger a page at a time, and taking points no lower than the floor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.points._ledger import Entry, _entry, _names, award_in
from bot.cogs.points._rules import Reason
from bot.core.community import Community
from bot.store.db import Database
from bot.store.tables import points_balances, points_ledger


@dataclass(frozen=True, slots=True)
class Taken:
    """What ``/points take`` did: how many points it took of how many asked, and the balance."""

    taken: int
    asked: int
    balance: int


async def _balance_in(conn: AsyncConnection, community_id: int, member_id: int) -> int:
    balance = await conn.scalar(
        select(points_balances.c.balance).where(
            points_balances.c.community_id == community_id,
            points_balances.c.member_id == member_id,
        )
    )
    return int(balance or 0)


async def take_to_floor(
    db: Database,
    community: Community,
    member_id: int,
    amount: int,
    source_ref: str,
    *,
    at: datetime,
    actor_id: int,
    note: str,
) -> Taken:
    """Take up to ``amount`` points, never below the community's floor; nothing at the floor."""
    floor = community.config.points.floor
    async with db.write() as conn:
        balance = await _balance_in(conn, community.id, member_id)
        taken = max(0, min(amount, balance - floor))
        if taken:
            await award_in(
                conn,
                community,
                member_id,
                -taken,
                Reason.MANUAL,
                source_ref,
                at=at,
                actor_id=actor_id,
                note=note,
            )
    return Taken(taken, amount, balance - taken)


async def history_page(
    db: Database, community_id: int, member_id: int, *, page: int, size: int
) -> tuple[list[Entry], dict[int, str], int]:
    """Return one page of a member's ledger (newest first), the actors' names, and the total."""
    where = (
        points_ledger.c.community_id == community_id,
        points_ledger.c.member_id == member_id,
    )
    async with db.read() as conn:
        total = int(await conn.scalar(select(func.count()).where(*where)) or 0)
        rows = (
            await conn.execute(
                select(points_ledger)
                .where(*where)
                .order_by(points_ledger.c.created_at.desc(), points_ledger.c.id.desc())
                .offset(page * size)
                .limit(size)
            )
        ).all()
        entries = [_entry(r._mapping) for r in rows]
        actors = sorted({e.actor_id for e in entries if e.actor_id is not None})
        names = await _names(conn, actors)
    return entries, names, total
