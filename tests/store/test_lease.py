"""A lease claim takes at most its limit of free rows, in order, on both backends."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.db import Database
from bot.store.lease import Lease
from tests import _postgres

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
ROWS = 500
LIMIT = 25

# Shaped like the leased tables (lecture_deliveries, gating_access): a status, a lease, an index.
work = Table(
    "lease_work",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=False),
    Column("claimed_by", String(80)),
    Index("ix_lease_work_lease", "status", "lease_until"),
)
FREE = (work.c.status == "sending") & (work.c.lease_until <= NOW)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """Return a database with the work table, empty."""
    handle = Database(_postgres.database_url(tmp_path))
    async with handle.write() as conn:
        await conn.run_sync(work.metadata.create_all)
    try:
        yield handle
    finally:
        await handle.close()


async def claim(lease: Lease, conn: AsyncConnection, token: str) -> list[int]:
    """Claim up to LIMIT free rows as ``token``; return their ids."""
    rows = await lease.claim(
        conn,
        work,
        FREE,
        token=token,
        now=NOW,
        order_by=(work.c.id,),
        limit=LIMIT,
        returning=(work.c.id,),
    )
    return sorted(row.id for row in rows)


def free_rows() -> list[dict[str, object]]:
    return [{"id": n, "status": "sending", "lease_until": NOW} for n in range(1, ROWS + 1)]


# On PostgreSQL a LIMIT in a subquery of the UPDATE was run again for each row the planner's
# nested loop looked at: rows made in the claiming transaction (a sweep plans, then claims) all
# went to the first claim.
@pytest.mark.parametrize("made", ["in the same transaction", "committed before"])
async def test_a_claim_takes_its_limit_and_the_next_takes_the_rows_after(
    db: Database, made: str
) -> None:
    lease = Lease("vm:1:abcd", timedelta(minutes=1))
    if made == "committed before":
        async with db.write() as conn:
            await conn.execute(insert(work), free_rows())
    async with db.write() as conn:
        if made == "in the same transaction":
            await conn.execute(insert(work), free_rows())
        first = await claim(lease, conn, "vm:1:abcd/1")
    async with db.write() as conn:
        second = await claim(lease, conn, "vm:1:abcd/2")
    async with db.read() as conn:
        holders = Counter((await conn.execute(select(work.c.claimed_by))).scalars())
    assert first == list(range(1, LIMIT + 1))
    assert second == list(range(LIMIT + 1, 2 * LIMIT + 1))
    assert holders == {"vm:1:abcd/1": LIMIT, "vm:1:abcd/2": LIMIT, None: ROWS - 2 * LIMIT}


async def test_a_claim_finds_nothing_free_and_changes_nothing(db: Database) -> None:
    lease = Lease("vm:1:abcd", timedelta(minutes=1))
    async with db.write() as conn:
        await conn.execute(
            insert(work), [{"id": 1, "status": "sending", "lease_until": NOW + timedelta(1)}]
        )
        assert await claim(lease, conn, "vm:1:abcd/1") == []
    async with db.read() as conn:
        assert await conn.scalar(select(work.c.claimed_by)) is None
