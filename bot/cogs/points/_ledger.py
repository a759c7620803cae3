"""The points ledger and what is kept in step with it: the module API other cogs call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    ColumnElement,
    RowMapping,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.points._direct import award_direct
from bot.cogs.points._levels import progress
from bot.cogs.points._rules import Reason
from bot.core.community import Community
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning, upsert_add, upsert_add_all
from bot.store.tables import (
    accounts,
    points_balances,
    points_ledger,
    points_level_changes,
    points_period_totals,
    points_seasons,
)

LEDGER_KEY = ("community_id", "reason", "source_ref")


class Period(StrEnum):
    """A leaderboard's span."""

    WEEK = "week"
    MONTH = "month"
    SEASON = "season"
    ALL = "all"


def period_key(period: Period, at: datetime, tz: ZoneInfo) -> str | None:
    """Return the stored key of the week or month ``at`` falls in, in the community's zone."""
    local = at.astimezone(tz)
    if period is Period.WEEK:
        year, week, _ = local.isocalendar()
        return f"w{year}-{week:02d}"
    if period is Period.MONTH:
        return f"m{local.year}-{local.month:02d}"
    return None


def season_key(number: int) -> str:
    """Return the stored key of a season's totals."""
    return f"s{number}"


# Built once: every message award asks, and building the query and its cache key each time
# was a third of an award's CPU (docs/design-notes.md, Store).
_SEASON_AT = select(func.max(points_seasons.c.number)).where(
    points_seasons.c.community_id == bindparam("community_id"),
    points_seasons.c.started_at <= bindparam("at"),
)


async def season_at(conn: AsyncConnection, community_id: int, at: datetime) -> int:
    """Return the number of the season ``at`` falls in (season 1 until a reset)."""
    number = await conn.scalar(_SEASON_AT, {"community_id": community_id, "at": at})
    return int(number or 1)


async def _board_key(
    conn: AsyncConnection, community: Community, period: Period, at: datetime
) -> str | None:
    if period is Period.SEASON:
        return season_key(await season_at(conn, community.id, at))
    return period_key(period, at, community.tz)


async def start_season(
    db: Database, community: Community, *, ending: int, by: int | None, at: datetime
) -> bool:
    """End season ``ending`` and start the next; False when it already ended (a replay)."""
    async with db.write() as conn:
        if await season_at(conn, community.id, at) != ending:
            return False
        return bool(
            await insert_ignore_returning(
                conn,
                points_seasons,
                [
                    {
                        "community_id": community.id,
                        "number": ending + 1,
                        "started_at": at,
                        "started_by": by,
                    }
                ],
                keys=("community_id", "number"),
            )
        )


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the ledger."""

    member_id: int
    delta: int
    reason: Reason
    source_ref: str
    actor_id: int | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Ranked:
    """A leaderboard line."""

    rank: int
    member_id: int
    total: int
    name: str


async def award(
    db: Database,
    community: Community,
    member_id: int,
    delta: int,
    reason: Reason,
    source_ref: str,
    *,
    at: datetime,
    actor_id: int | None = None,
    note: str | None = None,
) -> bool:
    """Record ``delta`` points once per ``(reason, source_ref)``; return False for a replay."""
    async with db.write() as conn:
        return await award_in(
            conn,
            community,
            member_id,
            delta,
            reason,
            source_ref,
            at=at,
            actor_id=actor_id,
            note=note,
        )


async def award_in(
    conn: AsyncConnection,
    community: Community,
    member_id: int,
    delta: int,
    reason: Reason,
    source_ref: str,
    *,
    at: datetime,
    actor_id: int | None = None,
    note: str | None = None,
    balance_extra: Mapping[str, Any] | None = None,
) -> bool:
    """Do what ``award`` does inside the caller's write transaction.

    ``balance_extra`` columns of the member's balance row are set with the award, in the same
    statement (a message award's cooldown), and only when the award was new.
    """
    entry = {
        "community_id": community.id,
        "member_id": member_id,
        "delta": delta,
        "reason": reason.value,
        "source_ref": source_ref[:200],
        "actor_id": actor_id,
        "note": note[:200] if note else None,
        "created_at": at,
    }
    # SQLite on its thread (a message's award in the message log's batch): plain SQL.
    direct = award_direct(
        conn,
        community,
        entry,
        periods=_periods(at, community.tz),
        season_key=season_key,
        balance_extra=balance_extra,
    )
    if direct is not None:
        return direct
    added = await insert_ignore_returning(conn, points_ledger, [entry], keys=LEDGER_KEY)
    if not added:
        return False
    keys = {"community_id": community.id, "member_id": member_id}
    season = season_key(await season_at(conn, community.id, at))
    row = await upsert_add(
        conn,
        points_balances,
        keys,
        column="balance",
        amount=delta,
        extra=balance_extra,
        returning=("balance", "level"),
    )
    assert row is not None
    await _track_level(conn, community, member_id, balance=row.balance, stored=row.level, at=at)
    await upsert_add_all(
        conn,
        points_period_totals,
        [{**keys, "period": key, "total": delta} for key in (*_periods(at, community.tz), season)],
        keys=("community_id", "member_id", "period"),
        column="total",
    )
    return True


async def _track_level(
    conn: AsyncConnection,
    community: Community,
    member_id: int,
    *,
    balance: int,
    stored: int,
    at: datetime,
) -> None:
    """Keep the member's stored level in step with the balance; queue any change."""
    config = community.config.points
    level = progress(balance, config.curve, config.curve_step).level
    if level == stored:
        return
    await conn.execute(
        update(points_balances)
        .where(
            points_balances.c.community_id == community.id,
            points_balances.c.member_id == member_id,
        )
        .values(level=level)
    )
    await conn.execute(
        insert(points_level_changes).values(
            community_id=community.id,
            member_id=member_id,
            level_from=stored,
            level_to=level,
            created_at=at,
        )
    )


@dataclass(frozen=True, slots=True)
class LevelChange:
    """A member's level moved; the cog announces it and settles reward roles."""

    id: int
    community_id: int
    member_id: int
    level_from: int
    level_to: int


async def claim_level_changes(
    db: Database, now: datetime, *, member_id: int | None = None, limit: int = 200
) -> list[LevelChange]:
    """Take pending level changes (one member's, or anyone's), marking them handled."""
    table = points_level_changes
    async with db.write() as conn:
        query = select(
            table.c.id,
            table.c.community_id,
            table.c.member_id,
            table.c.level_from,
            table.c.level_to,
        ).where(table.c.handled_at.is_(None))
        if member_id is not None:
            query = query.where(table.c.member_id == member_id)
        rows = (await conn.execute(query.order_by(table.c.id).limit(limit))).all()
        if rows:
            await conn.execute(
                update(table).where(table.c.id.in_([r.id for r in rows])).values(handled_at=now)
            )
    return [LevelChange(*row) for row in rows]


async def level_of(db: Database, community_id: int, member_id: int) -> int:
    """Return a member's stored level."""
    async with db.read() as conn:
        value = await conn.scalar(
            select(points_balances.c.level).where(
                points_balances.c.community_id == community_id,
                points_balances.c.member_id == member_id,
            )
        )
    return int(value or 0)


async def reverse_matching(
    db: Database, community: Community, reason: Reason, prefix: str, *, at: datetime, note: str
) -> list[int]:
    """Reverse, once, every ``reason`` entry whose source starts with ``prefix``; return members.

    The range on ``source_ref`` reads the ledger's unique index, not the whole ledger.
    """
    async with db.write() as conn:
        rows = (
            await conn.execute(
                select(points_ledger.c.id, points_ledger.c.member_id, points_ledger.c.delta).where(
                    points_ledger.c.community_id == community.id,
                    points_ledger.c.reason == reason.value,
                    points_ledger.c.source_ref >= prefix,
                    points_ledger.c.source_ref < prefix + "\U0010ffff",
                )
            )
        ).all()
        reversed_for = [
            member_id
            for entry_id, member_id, delta in rows
            if await award_in(
                conn,
                community,
                member_id,
                -delta,
                Reason.REVERSAL,
                f"reversal:{entry_id}",
                at=at,
                note=note,
            )
        ]
    return reversed_for


async def balance_of(db: Database, community_id: int, member_id: int) -> int:
    """Return a member's balance."""
    async with db.read() as conn:
        value = await conn.scalar(
            select(points_balances.c.balance).where(
                points_balances.c.community_id == community_id,
                points_balances.c.member_id == member_id,
            )
        )
    return int(value or 0)


def _board(
    community_id: int, key: str | None
) -> tuple[Table, Column[Any], list[ColumnElement[bool]]]:
    """Return the (table, total column, filters) a leaderboard reads."""
    if key is None:
        return (
            points_balances,
            points_balances.c.balance,
            [points_balances.c.community_id == community_id],
        )
    return (
        points_period_totals,
        points_period_totals.c.total,
        [
            points_period_totals.c.community_id == community_id,
            points_period_totals.c.period == key,
        ],
    )


async def rank_of(
    db: Database, community: Community, member_id: int, period: Period, now: datetime
) -> tuple[int, int] | None:
    """Return ``(rank, total)`` of a member on a board, or None when they have no points there."""
    async with db.read() as conn:
        table, total, filters = _board(community.id, await _board_key(conn, community, period, now))
        member_column = table.c.member_id
        mine = await conn.scalar(select(total).where(*filters, member_column == member_id))
        if mine is None or mine <= 0:
            return None
        ahead = await conn.scalar(
            select(func.count()).select_from(table).where(*filters, total > mine)
        )
    return int(ahead or 0) + 1, int(mine)


async def leaderboard(
    db: Database, community: Community, period: Period, now: datetime, *, page: int, size: int
) -> tuple[list[Ranked], bool]:
    """Return one page of a board, ranked with ties sharing a rank, and whether more follow.

    Ranks equal SQL's ``RANK() OVER (ORDER BY total DESC)``, computed from the index: one
    count of those ahead of the page's first total, then positions within the page. Nothing
    reads the whole board, so a page costs the same at any size.
    """
    async with db.read() as conn:
        table, total, filters = _board(community.id, await _board_key(conn, community, period, now))
        member_column = table.c.member_id
        rows = (
            await conn.execute(
                select(member_column, total)
                .where(*filters, total > 0)
                .order_by(total.desc(), member_column)
                .limit(size + 1)
                .offset(page * size)
            )
        ).all()
        more = len(rows) > size
        rows = rows[:size]
        if not rows:
            return [], False
        ahead = int(
            await conn.scalar(
                select(func.count()).select_from(table).where(*filters, total > rows[0][1])
            )
            or 0
        )
        names = await _names(conn, [r[0] for r in rows])
    ranked: list[Ranked] = []
    for index, (member_id, points) in enumerate(rows):
        if ranked and ranked[-1].total == points:
            rank = ranked[-1].rank
        elif not ranked:
            rank = ahead + 1
        else:
            rank = page * size + index + 1
        ranked.append(Ranked(rank, member_id, int(points), names.get(member_id, f"#{member_id}")))
    return ranked, more


async def standings(
    db: Database, community: Community, period: Period, now: datetime, *, season: int | None
) -> list[tuple[Ranked, tuple[str, ...]]]:
    """Return a whole board, ranked, each line with the member's accounts ("telegram:42").

    ``season`` picks an ended (or the current) season's board instead of ``period``'s.
    """
    async with db.read() as conn:
        key = (
            season_key(season)
            if season is not None
            else await _board_key(conn, community, period, now)
        )
        table, total, filters = _board(community.id, key)
        member_column = table.c.member_id
        rows = (
            await conn.execute(
                select(member_column, total)
                .where(*filters, total > 0)
                .order_by(total.desc(), member_column)
            )
        ).all()
        names: dict[int, str] = {}
        refs: dict[int, list[str]] = {}
        for member_id, platform, user_id, name in await conn.execute(
            select(
                accounts.c.member_id,
                accounts.c.platform,
                accounts.c.platform_user_id,
                accounts.c.display_name,
            )
            .where(accounts.c.community_id == community.id)
            .order_by(accounts.c.last_seen_at)
        ):
            names[member_id] = name  # the most recently seen wins
            refs.setdefault(member_id, []).append(f"{platform}:{user_id}")
    board: list[tuple[Ranked, tuple[str, ...]]] = []
    for index, (member_id, points) in enumerate(rows):
        tied = bool(board) and board[-1][0].total == points
        rank = board[-1][0].rank if tied else index + 1
        line = Ranked(rank, member_id, int(points), names.get(member_id, f"#{member_id}"))
        board.append((line, tuple(refs.get(member_id, ()))))
    return board


async def current_season(db: Database, community: Community, now: datetime) -> int:
    """Return the number of the season running at ``now``."""
    async with db.read() as conn:
        return await season_at(conn, community.id, now)


async def board_size(db: Database, community: Community, period: Period, now: datetime) -> int:
    """Return how many members have points on a board."""
    async with db.read() as conn:
        table, total, filters = _board(community.id, await _board_key(conn, community, period, now))
        return int(
            await conn.scalar(select(func.count()).select_from(table).where(*filters, total > 0))
            or 0
        )


async def _names(conn: AsyncConnection, member_ids: list[int]) -> dict[int, str]:
    rows = (
        await conn.execute(
            select(accounts.c.member_id, accounts.c.display_name)
            .where(accounts.c.member_id.in_(member_ids))
            .order_by(accounts.c.last_seen_at)
        )
    ).all()
    return {member_id: name for member_id, name in rows}  # the most recently seen wins


async def recent(db: Database, community_id: int, member_id: int, limit: int = 5) -> list[Entry]:
    """Return a member's latest ledger entries, newest first."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(points_ledger)
                .where(
                    points_ledger.c.community_id == community_id,
                    points_ledger.c.member_id == member_id,
                )
                .order_by(points_ledger.c.created_at.desc(), points_ledger.c.id.desc())
                .limit(limit)
            )
        ).all()
    return [_entry(r._mapping) for r in rows]


def _entry(row: RowMapping) -> Entry:
    return Entry(
        member_id=row["member_id"],
        delta=row["delta"],
        reason=Reason(row["reason"]),
        source_ref=row["source_ref"],
        actor_id=row["actor_id"],
        note=row["note"],
        created_at=row["created_at"],
    )


async def kudos_given_since(
    conn: AsyncConnection, community_id: int, giver_id: int, since: datetime
) -> int:
    """Count the kudos ``giver_id`` gave since ``since``."""
    return int(
        await conn.scalar(
            select(func.count()).where(
                points_ledger.c.community_id == community_id,
                points_ledger.c.reason == Reason.KUDOS.value,
                points_ledger.c.actor_id == giver_id,
                points_ledger.c.created_at >= since,
            )
        )
        or 0
    )


async def last_kudos(
    conn: AsyncConnection, community_id: int, giver_id: int, receiver_id: int
) -> datetime | None:
    """Return when ``giver_id`` last thanked ``receiver_id``."""
    value: datetime | None = await conn.scalar(
        select(func.max(points_ledger.c.created_at)).where(
            points_ledger.c.community_id == community_id,
            points_ledger.c.reason == Reason.KUDOS.value,
            points_ledger.c.actor_id == giver_id,
            points_ledger.c.member_id == receiver_id,
        )
    )
    return value


def start_of_day(now: datetime, tz: ZoneInfo) -> datetime:
    """Return the start of ``now``'s day in ``tz``, as an aware datetime."""
    local = now.astimezone(tz)
    return datetime.combine(local.date(), time(0), tzinfo=tz)


def _periods(at: datetime, tz: ZoneInfo) -> tuple[str, str]:
    week = period_key(Period.WEEK, at, tz)
    month = period_key(Period.MONTH, at, tz)
    assert week is not None and month is not None
    return week, month
