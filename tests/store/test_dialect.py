"""The dialect helpers: ON CONFLICT statements compiled once per shape, not per execution."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.default import CACHE_HIT

from bot.store.db import Database
from bot.store.dialect import (
    _insert_ignore,
    _upsert_add,
    _upsert_add_columns,
    _upsert_least,
    insert_ignore_returning,
    upsert_add,
    upsert_add_columns,
)
from bot.store.tables import (
    analytics_member_days,
    analytics_presence,
    communities,
    members,
    points_balances,
    points_period_totals,
)

pytestmark = pytest.mark.backend_free

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MEMBER = ("community_id", "member_id")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """Return a migrated database with one community and one member (ids 1)."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    await database.upgrade()
    async with database.write() as conn:
        await conn.execute(insert(communities).values(id=1, slug="c", name="C", created_at=NOW))
        await conn.execute(insert(members).values(id=1, community_id=1, created_at=NOW))
    yield database
    await database.close()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_each_shape_has_a_cache_key_of_its_own(dialect: str) -> None:
    shapes = [
        _insert_ignore(dialect, points_balances, MEMBER),
        _upsert_add(dialect, points_balances, MEMBER, "balance", (), ()),
        _upsert_add(dialect, points_balances, MEMBER, "balance", (), ("level",)),
        _upsert_add(dialect, points_balances, MEMBER, "level", (), ()),
        _insert_ignore(dialect, points_period_totals, (*MEMBER, "period")),
    ]
    keys = [shape._generate_cache_key() for shape in shapes]
    assert all(key is not None for key in keys)
    assert len({key.key for key in keys}) == len(shapes)
    compiler = postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()
    assert "DO NOTHING" in str(shapes[0].compile(dialect=compiler))
    assert "balance + excluded.balance" in str(shapes[1].compile(dialect=compiler))


async def test_a_repeated_shape_is_served_from_the_compiled_cache(db: Database) -> None:
    hits: list[tuple[str, bool]] = []

    @event.listens_for(db.engine.sync_engine, "after_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        context = args[-2]
        if statement.startswith("INSERT"):
            hits.append((statement.split()[2], context.cache_hit == CACHE_HIT))

    async with db.write() as conn:
        news = []
        for _ in range(3):
            key = {"community_id": 1, "member_id": 1}
            first = {**key, "balance": 0}
            news.append(
                bool(await insert_ignore_returning(conn, points_balances, [first], keys=MEMBER))
            )
            row = await upsert_add(
                conn, points_balances, key, column="balance", amount=5, returning=("balance",)
            )
            assert row is not None
    assert news == [True, False, False]
    assert row.balance == 15
    assert hits == [("points_balances", hit) for hit in (False, False, True, True, True, True)]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_rollup_upserts_compile_on_both_and_are_cached(dialect: str) -> None:
    keys = ("community_id", "member_id", "day")
    adding = _upsert_add_columns(dialect, analytics_member_days, keys, ("messages", "reactions"))
    least = _upsert_least(dialect, analytics_presence, ("account_id",), "joined_at")
    assert adding is _upsert_add_columns(
        dialect, analytics_member_days, keys, ("messages", "reactions")
    )
    assert adding._generate_cache_key() is not None
    assert least._generate_cache_key() is not None
    compiler = postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()
    sql = str(adding.compile(dialect=compiler))
    assert "messages = (analytics_member_days.messages + excluded.messages)" in sql
    assert "reactions = (analytics_member_days.reactions + excluded.reactions)" in sql
    assert "CASE WHEN (excluded.joined_at < analytics_presence.joined_at)" in str(
        least.compile(dialect=compiler)
    )


async def test_the_rollup_upserts_add_and_keep_the_least(db: Database) -> None:
    keys = ("community_id", "member_id", "day")
    row = {"community_id": 1, "member_id": 1, "day": NOW.date(), "thread_messages": 0}
    async with db.write() as conn:
        for messages, reactions in ((2, 0), (1, 3)):
            await upsert_add_columns(
                conn,
                analytics_member_days,
                [{**row, "messages": messages, "reactions": reactions}],
                keys=keys,
                columns=("messages", "reactions"),
            )
        kept = (await conn.execute(analytics_member_days.select())).one()
    assert (kept.messages, kept.reactions) == (3, 3)
