"""Pending messages: logged, not yet folded into the rollups (``_fold.py``), as id ranges."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.locks import lock_key
from bot.store.tables import analytics_pending, message_log

FOLDS = lock_key("analytics.fold")  # folds share it; a merge or an erasure holds it alone


def runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Return sorted ids as runs of consecutive ids: (first, last), both included."""
    found: list[tuple[int, int]] = []
    for n in ids:
        if found and n == found[-1][1] + 1:
            found[-1] = (found[-1][0], n)
        else:
            found.append((n, n))
    return found


async def fold_turn(conn: AsyncConnection) -> None:
    """Take a fold's share of the folds' lock for this transaction (PostgreSQL only).

    A merge or an erasure holding the lock (``hold_folds``) keeps the fold waiting until it
    commits, so the fold reads the messages as re-pointed or erased.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": FOLDS})


async def hold_folds(conn: AsyncConnection) -> None:
    """Wait for running folds to commit, and keep new ones waiting until this transaction ends.

    Without it, on PostgreSQL, a fold in another process that read a member's messages before a
    merge or an erasure of that member committed would add them under the old member id after
    the merge had moved (or the erasure scrubbed) that member's rollups. Message batches do not
    take this lock, so a merge deleting a member cannot wait on a batch that waits on it.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FOLDS})


async def hold_during_merge(conn: AsyncConnection, survivor: int, absorbed: int) -> None:
    """Keep folds waiting while two members merge (the identity's first merge hook)."""
    await hold_folds(conn)


async def unpend(conn: AsyncConnection, community_id: int) -> None:
    """Take a community's messages out of the pending rows (``_fold.py``): a rebuild counts them.

    On PostgreSQL the pending rows are locked first: message batches wait until the rebuild
    commits, and a batch or a fold still running ends first, so every pending row is seen.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("LOCK TABLE analytics_pending IN EXCLUSIVE MODE"))
    p, m = analytics_pending.c, message_log.c
    for row in (await conn.execute(select(p.id, p.first_id, p.last_id))).all():
        others = (
            await conn.scalars(
                select(m.id)
                .where(m.id.between(row.first_id, row.last_id), m.community_id != community_id)
                .order_by(m.id)
            )
        ).all()
        await conn.execute(delete(analytics_pending).where(p.id == row.id))
        if others:
            await conn.execute(
                insert(analytics_pending),
                [{"first_id": first, "last_id": last} for first, last in runs(others)],
            )
