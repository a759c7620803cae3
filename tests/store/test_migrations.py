"""Migrations on an empty database, step by step, and on a database that already has data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, delete, func, insert, inspect, select, text
from sqlalchemy.exc import StatementError

from bot.cogs import qa
from bot.store.db import MIGRATIONS, Database, alembic_config, head_revision
from bot.store.tables import (
    analytics_member_days,
    analytics_ranges,
    analytics_weeks,
    communities,
    is_search_index,
    members,
    metadata,
    qa_questions,
    qa_transitions,
)
from tests import _postgres

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """Return an empty database: a new SQLite file, or a new PostgreSQL database."""
    database = Database(_postgres.database_url(tmp_path, migrated=False))
    try:
        yield database
    finally:
        await database.close()


def revisions_in_order() -> list[str]:
    """Return every revision id from the first to the head."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_the_files_are_numbered_in_the_order_of_the_revisions() -> None:
    # head_revision() reads the highest-numbered file, so that a start need not load Alembic.
    files = sorted(path.stem for path in (MIGRATIONS / "versions").glob("*.py"))
    script = ScriptDirectory.from_config(alembic_config())
    in_order = [Path(script.get_revision(rev).path).stem for rev in revisions_in_order()]
    assert in_order == files
    assert head_revision() == script.get_current_head() == revisions_in_order()[-1]


def _described(name: str | None, kind: str, _parent: object) -> bool:
    return not (kind == "table" and name is not None and is_search_index(name))


def _diff(sync: Connection) -> list[object]:
    context = MigrationContext.configure(sync, opts={"include_name": _described})
    return list(compare_metadata(context, metadata))


async def test_empty_database_upgrades_to_a_schema_matching_the_tables(db: Database) -> None:
    assert await db.current_revision() is None
    await db.upgrade()
    assert await db.current_revision() == head_revision()
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_each_migration_applies_on_the_database_the_previous_one_left(db: Database) -> None:
    for revision in revisions_in_order():
        await db.upgrade(revision)
        assert await db.current_revision() == revision
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_upgrading_again_keeps_the_data(db: Database) -> None:
    await db.upgrade()
    async with db.write() as conn:
        await conn.execute(insert(communities).values(slug="demo", name="Demo", created_at=NOW))
    await db.upgrade()
    async with db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(communities)) == 1
        created = await conn.scalar(select(communities.c.created_at))
    assert created == NOW


async def test_downgrade_to_nothing_and_back(db: Database) -> None:
    await db.upgrade()
    await db.downgrade("base")
    async with db.read() as conn:
        names = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert names <= {"alembic_version"}
    await db.upgrade()
    assert await db.current_revision() == head_revision()


@pytest.mark.skipif(
    _postgres.enabled(), reason="WAL, the foreign_keys pragma and busy_timeout are SQLite's"
)
async def test_sqlite_runs_in_wal_mode_with_foreign_keys(db: Database) -> None:
    await db.upgrade()
    async with db.read() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 10_000


async def test_naive_datetimes_are_refused(db: Database) -> None:
    await db.upgrade()
    with pytest.raises(StatementError, match="naive datetime"):
        async with db.write() as conn:
            await conn.execute(
                insert(communities).values(slug="x", name="X", created_at=NOW.replace(tzinfo=None))
            )


# Tables of the bot as a whole, not of a community: a Telegram update is claimed before anyone
# knows whose chat it is from (and one bot serves several communities).
# The bot's own queues: Telegram updates, and messages not yet folded (batches of any community).
PER_BOT = {"telegram_updates", "analytics_pending"}


async def test_every_table_carries_a_community() -> None:
    for table in metadata.sorted_tables:
        if table.name == "communities" or table.name in PER_BOT:
            continue
        assert "community_id" in table.c, table.name


@pytest.mark.skipif(_postgres.enabled(), reason="FTS5 is SQLite's (PostgreSQL: the next test)")
async def test_the_word_index_is_filled_from_the_questions_already_indexed(db: Database) -> None:
    await db.upgrade("0010")
    async with db.write() as conn:
        await conn.execute(
            text("INSERT INTO qa_search (rowid, title, body, answer) VALUES (7, :t, :b, :a)"),
            {"t": "如何安装", "b": "pip fails", "a": "用 conda"},
        )
    await db.upgrade()
    async with db.read() as conn:
        found = await conn.execute(
            text("SELECT rowid FROM qa_words WHERE qa_words MATCH :m"), {"m": '"安 装" AND conda'}
        )
        assert found.scalars().all() == [7]


@pytest.mark.skipif(not _postgres.enabled(), reason="0019_pg_search acts on PostgreSQL only")
async def test_the_postgresql_index_is_filled_from_the_questions_already_asked(
    db: Database,
) -> None:
    await db.upgrade("0014_lecture_leases")
    async with db.write() as conn:
        await conn.execute(insert(communities).values(id=1, slug="c", name="C", created_at=NOW))
        await conn.execute(insert(members).values(id=1, community_id=1, created_at=NOW))
        for number, title in ((7, "如何安装 numpy"), (8, "a closed thread")):
            await conn.execute(
                insert(qa_questions).values(
                    id=number,
                    community_id=1,
                    asker_id=1,
                    platform="console",
                    channel_id="general",
                    title=title,
                    body="pip fails",
                    state="open",
                    created_at=NOW,
                    active_at=NOW,
                )
            )
        await conn.execute(
            insert(qa_transitions).values(
                community_id=1,
                question_id=8,
                from_state="open",
                to_state="closed",
                reason="thread_deleted",
                at=NOW,
            )
        )
    await db.upgrade()
    assert [h.id for h in await qa.search(db, 1, "安装")] == [7]
    assert [h.id for h in await qa.search(db, 1, "pip")] == [7]  # not the deleted thread's


@pytest.mark.parametrize(
    "revision", ["0020_cache_versions", "0021_recommend_versions", "0025_analytics_pages"]
)
async def test_the_cache_version_triggers_exist_at_the_head(db: Database, revision: str) -> None:
    # SQLite rebuilds a table to change it (batch mode) and drops its triggers: a migration that
    # rebuilds a watched table after the triggers were made would silently stop every bump.
    script = ScriptDirectory.from_config(alembic_config())
    module = script.get_revision(revision).module
    await db.upgrade()
    if db.engine.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    async with db.read() as conn:
        present = set((await conn.execute(text(query))).scalars())
    names = {name for name, *_ in module.TRIGGERS}
    assert names <= present
    if db.engine.dialect.name == "postgresql":  # each with its bump at commit (0026)
        assert {name + "_at_commit" for name in names} <= present


@pytest.mark.skipif(not _postgres.enabled(), reason="one process per SQLite file")
async def test_processes_that_start_together_migrate_an_empty_database_once(
    tmp_path: Path, db: Database
) -> None:
    # Three `cohort run` processes started at one moment on a new database each upgrade it:
    # the others wait for the first instead of creating the same tables beside it.
    url = _postgres.database_url(tmp_path, migrated=False)
    others = [Database(url) for _ in range(2)]
    try:
        together = asyncio.gather(db.upgrade(), *(other.upgrade() for other in others))
        await asyncio.wait_for(together, 120)  # without the lock, they wait for one another
    finally:
        for other in others:
            await other.close()
    assert await db.current_revision() == head_revision()
    async with db.read() as conn:
        assert not await conn.run_sync(_diff)


async def test_member_days_keyed_by_day_keep_their_rows_and_triggers(db: Database) -> None:
    # 0032 keys the member days by (community, day, member) and indexes them by member without
    # the counts, so a message's update changes no index; SQLite makes the table again
    # (WITHOUT ROWID), which drops its triggers: the range triggers of 0025 and the week
    # triggers of 0030 must be back.
    await db.upgrade("0031_member_search")
    days = [
        {"member": m, "day": date(2026, 11, d), "n": 10 * m + d} for m in (1, 2) for d in (3, 4)
    ]
    async with db.write() as conn:
        await conn.execute(insert(communities).values(id=1, slug="d", name="D", created_at=NOW))
        await conn.execute(
            insert(members), [{"id": m, "community_id": 1, "created_at": NOW} for m in (1, 2)]
        )
        await conn.execute(
            text(
                "INSERT INTO analytics_member_days (community_id, member_id, day, messages,"
                " thread_messages, reactions) VALUES (1, :member, :day, :n, 1, 2)"
            ),
            days,
        )
        await conn.execute(
            text(
                "INSERT INTO analytics_ranges (community_id, first_ordinal, last_ordinal,"
                " messages, thread_messages, reactions, active) VALUES (1, 1, 2, 0, 0, 0, 0)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO analytics_weeks (community_id, week_ordinal, last_ordinal, messages,"
                " thread_messages, reactions, active, members) VALUES (1, :w, :w, 0, 0, 0, 2, :m)"
            ),
            {"w": date(2026, 11, 2).toordinal(), "m": b"\x06"},  # the Monday of 3 and 4 Nov
        )
    await db.upgrade()
    d = analytics_member_days.c
    async with db.read() as conn:
        kept = (await conn.execute(select(d.member_id, d.day, d.messages))).all()
        shape = await conn.run_sync(
            lambda sync: (
                inspect(sync).get_pk_constraint("analytics_member_days")["constrained_columns"],
                [i["column_names"] for i in inspect(sync).get_indexes("analytics_member_days")],
            )
        )
    assert sorted(kept) == sorted((r["member"], r["day"], r["n"]) for r in days)
    assert shape == (["community_id", "day", "member_id"], [["community_id", "member_id", "day"]])
    async with db.write() as conn:  # a member-day row gone drops the kept ranges and its week
        await conn.execute(delete(analytics_member_days).where(d.member_id == 2))
    async with db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(analytics_ranges)) == 0
        assert await conn.scalar(select(func.count()).select_from(analytics_weeks)) == 0
