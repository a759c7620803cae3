"""Migration 0018_privacy with money in the database: nothing lost, members no longer cascade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from bot.store.db import Database
from bot.store.tables import (
    access_sources,
    communities,
    gating_audit,
    members,
    purchases,
    stripe_customers,
    stripe_payments,
)

pytestmark = pytest.mark.backend_free

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BEFORE = "0014_lecture_leases"
MONEY = (purchases, stripe_customers, access_sources, gating_audit, stripe_payments)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        yield database
    finally:
        await database.close()


async def fill(db: Database) -> int:
    """Give one member a purchase, a customer, a subscription, its payment and an audit row."""
    async with db.write() as conn:
        cid = (
            await conn.execute(insert(communities).values(slug="d", name="D", created_at=NOW))
        ).inserted_primary_key[0]
        mid = (
            await conn.execute(insert(members).values(community_id=cid, created_at=NOW))
        ).inserted_primary_key[0]
        await conn.execute(
            insert(purchases).values(
                community_id=cid,
                member_id=mid,
                offer_id="o",
                source="stripe",
                source_ref="cs",
                purchased_at=NOW,
            )
        )
        await conn.execute(
            insert(stripe_customers).values(
                community_id=cid, member_id=mid, customer_id="cus", livemode=False, created_at=NOW
            )
        )
        source = (
            await conn.execute(
                insert(access_sources).values(
                    community_id=cid,
                    member_id=mid,
                    offer_id="o",
                    kind="subscription",
                    ref="sub",
                    status="active",
                    cancel_at_period_end=False,
                    refunded=False,
                    disputed=False,
                    version=1,
                    entitled=True,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        ).inserted_primary_key[0]
        await conn.execute(
            insert(stripe_payments).values(
                community_id=cid,
                payment_intent="pi",
                source_id=source,
                purchase_ref="cs",
                paid_at=1,
                refunded=False,
            )
        )
        await conn.execute(
            insert(gating_audit).values(
                community_id=cid,
                member_id=mid,
                action="purchase",
                offer_id="o",
                ref="cs",
                created_at=NOW,
            )
        )
    return int(mid)


async def counts(db: Database) -> list[int]:
    async with db.read() as conn:
        return [int(await conn.scalar(select(func.count()).select_from(t)) or 0) for t in MONEY]


async def test_upgrade_keeps_every_money_row_and_a_member_with_money_cannot_be_deleted(
    db: Database,
) -> None:
    await db.upgrade(BEFORE)
    member = await fill(db)
    await db.upgrade()
    assert await counts(db) == [1, 1, 1, 1, 1]
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(delete(members).where(members.c.id == member))
    assert await counts(db) == [1, 1, 1, 1, 1]
    async with db.write() as conn:  # a whole community still goes, money and all
        await conn.execute(delete(communities))
    assert await counts(db) == [0, 0, 0, 0, 0]


async def test_downgrade_keeps_the_money_too(db: Database) -> None:
    await db.upgrade()
    await fill(db)
    await db.downgrade(BEFORE)
    assert await counts(db) == [1, 1, 1, 1, 1]
