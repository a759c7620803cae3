"""Upkeep of the points ledger's totals: merging members, rebuilding from the ledger, decay."""

from __future__ import annotations

import sys
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.points._ledger import Period, _periods, award, period_key, season_key
from bot.cogs.points._rules import Reason
from bot.core.community import Community
from bot.store.db import Database
from bot.store.dialect import upsert_add
from bot.store.tables import (
    points_balances,
    points_ledger,
    points_period_totals,
    points_seasons,
)


async def merge_members(conn: AsyncConnection, survivor: int, absorbed: int) -> None:
    """Fold the absorbed member's balances and period totals into the survivor's."""
    rows = (
        await conn.execute(select(points_balances).where(points_balances.c.member_id == absorbed))
    ).all()
    for row in rows:
        m = row._mapping
        await upsert_add(
            conn,
            points_balances,
            {"community_id": m["community_id"], "member_id": survivor},
            column="balance",
            amount=m["balance"],
        )
        mine = (
            await conn.execute(
                select(
                    points_balances.c.last_message_award_at, points_balances.c.last_active_at
                ).where(
                    points_balances.c.community_id == m["community_id"],
                    points_balances.c.member_id == survivor,
                )
            )
        ).one()
        await conn.execute(
            update(points_balances)
            .where(
                and_(
                    points_balances.c.community_id == m["community_id"],
                    points_balances.c.member_id == survivor,
                )
            )
            .values(
                last_message_award_at=_latest(mine[0], m["last_message_award_at"]),
                last_active_at=_latest(mine[1], m["last_active_at"]),
            )
        )
    await conn.execute(delete(points_balances).where(points_balances.c.member_id == absorbed))
    totals = (
        await conn.execute(
            select(points_period_totals).where(points_period_totals.c.member_id == absorbed)
        )
    ).all()
    for row in totals:
        m = row._mapping
        await upsert_add(
            conn,
            points_period_totals,
            {"community_id": m["community_id"], "period": m["period"], "member_id": survivor},
            column="total",
            amount=m["total"],
        )
    await conn.execute(
        delete(points_period_totals).where(points_period_totals.c.member_id == absorbed)
    )


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((x for x in (a, b) if x is not None), default=None)


@dataclass(frozen=True, slots=True)
class Difference:
    """A kept total that did not match the ledger, and what it was set to."""

    member_id: int
    period: str  # "all" for the balance
    kept: int
    ledger: int


async def rebuild(db: Database, community: Community, *, fix: bool = True) -> list[Difference]:
    """Recompute balances and period totals from the ledger; return (and fix) what differed."""
    async with db.write() as conn:
        starts = [
            (started_at, number)
            for number, started_at in await conn.execute(
                select(points_seasons.c.number, points_seasons.c.started_at)
                .where(points_seasons.c.community_id == community.id)
                .order_by(points_seasons.c.started_at)
            )
        ]
        sums: dict[tuple[int, str], int] = {}
        result = await conn.stream(
            select(points_ledger.c.member_id, points_ledger.c.delta, points_ledger.c.created_at)
            .where(points_ledger.c.community_id == community.id)
            .execution_options(yield_per=10_000)
        )
        async for member_id, delta, created_at in result:
            index = bisect_right(starts, (created_at, sys.maxsize))
            season = season_key(starts[index - 1][1] if index else 1)
            for key in ("all", season, *_periods(created_at, community.tz)):
                sums[(member_id, key)] = sums.get((member_id, key), 0) + delta
        kept: dict[tuple[int, str], int] = {}
        for member_id, balance in await conn.execute(
            select(points_balances.c.member_id, points_balances.c.balance).where(
                points_balances.c.community_id == community.id
            )
        ):
            kept[(member_id, "all")] = balance
        for member_id, period, total in await conn.execute(
            select(
                points_period_totals.c.member_id,
                points_period_totals.c.period,
                points_period_totals.c.total,
            ).where(points_period_totals.c.community_id == community.id)
        ):
            kept[(member_id, period)] = total
        differences = [
            Difference(member_id, key, kept.get((member_id, key), 0), sums.get((member_id, key), 0))
            for member_id, key in sorted(set(sums) | set(kept))
            if kept.get((member_id, key), 0) != sums.get((member_id, key), 0)
        ]
        if fix:
            for diff in differences:
                await _set_total(conn, community.id, diff)
    return differences


async def _set_total(conn: AsyncConnection, community_id: int, diff: Difference) -> None:
    keys: dict[str, Any] = {"community_id": community_id, "member_id": diff.member_id}
    if diff.period == "all":
        await upsert_add(conn, points_balances, keys, column="balance", amount=0)
        await conn.execute(
            update(points_balances)
            .where(
                points_balances.c.community_id == community_id,
                points_balances.c.member_id == diff.member_id,
            )
            .values(balance=diff.ledger)
        )
        return
    keys["period"] = diff.period
    await upsert_add(conn, points_period_totals, keys, column="total", amount=0)
    await conn.execute(
        update(points_period_totals)
        .where(
            points_period_totals.c.community_id == community_id,
            points_period_totals.c.member_id == diff.member_id,
            points_period_totals.c.period == diff.period,
        )
        .values(total=diff.ledger)
    )


async def decay(db: Database, community: Community, now: datetime) -> int:
    """Take the configured percent from inactive members' balances, once per week each.

    Returns how many members lost points. Running it again in the same week changes nothing,
    because each member's entry is keyed by the week.
    """
    config = community.config.points
    if config.decay_percent_per_week == 0:
        return 0
    cutoff = now - timedelta(weeks=config.decay_after_weeks)
    week = period_key(Period.WEEK, now, community.tz)
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(points_balances.c.member_id, points_balances.c.balance).where(
                    points_balances.c.community_id == community.id,
                    points_balances.c.balance > 0,
                    points_balances.c.last_active_at < cutoff,
                )
            )
        ).all()
    decayed = 0
    for member_id, balance in rows:
        loss = max(1, balance * config.decay_percent_per_week // 100)
        if await award(
            db, community, member_id, -loss, Reason.DECAY, f"decay:{member_id}:{week}", at=now
        ):
            decayed += 1
    return decayed
