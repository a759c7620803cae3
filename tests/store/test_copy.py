"""`cohort db copy`: a community's history moves whole, verified, into an empty database only."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update

from bot import demo
from bot.cogs import qa
from bot.store.copy import CopyError, checksum, copy_database, normalise_url, tables, verify
from bot.store.db import Database
from bot.store.tables import accounts, communities, ledger_deletions, purchases, qa_questions
from tests import _postgres

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
# A copy between SQLite files (the seeded source is one too) is the same on either run.
SQLITE = pytest.param("sqlite", marks=pytest.mark.backend_free)
POSTGRES = pytest.param(
    "postgresql",
    marks=pytest.mark.skipif(
        not _postgres.enabled(), reason="needs PostgreSQL: runs under .ci/with-postgres"
    ),
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a SQLite file with the demo community's history (members, Q&A, points, ...)."""
    directory = tmp_path_factory.mktemp("demo")
    config = asyncio.run(demo.prepare(directory))
    path = Path(config.database.url.removeprefix("sqlite+aiosqlite:///"))
    assert path.is_file()
    return path


@pytest.fixture
def source(seeded: Path, tmp_path: Path) -> str:
    """Return the URL of a copy of the seeded file, as a user types it (no driver)."""
    path = tmp_path / "source.db"
    shutil.copy(seeded, path)
    return f"sqlite:///{path}"


def target_url(backend: str, tmp_path: Path, name: str = "target") -> str:
    """Return an empty database's URL on ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    return _postgres.database_url(tmp_path / name, migrated=False)


async def _totals(url: str) -> dict[str, tuple[int, str]]:
    db = Database(normalise_url(url))
    try:
        async with db.read() as conn:
            return {t.name: await checksum(conn, t) for t in tables()}
    finally:
        await db.close()


@pytest.mark.parametrize("backend", [SQLITE, POSTGRES])
async def test_copy_moves_every_row_and_the_search_index(
    source: str, tmp_path: Path, backend: str
) -> None:
    target = target_url(backend, tmp_path)
    copied = await copy_database(source, target)
    rows = {t.name: t.rows for t in copied}
    assert rows["members"] >= 5 and rows["qa_questions"] >= 2 and rows["points_ledger"] > 0
    assert await _totals(source) == await _totals(target)
    db = Database(normalise_url(target))
    try:
        hits = await qa.search(db, 1, "pandas")
        assert [h.title for h in hits] == ["How do I group rows in pandas?"]
        async with db.write() as conn:  # ids go on after the copied ones (PG sequences moved)
            top = await conn.scalar(select(func.max(communities.c.id)))
            new = await conn.scalar(
                insert(communities)
                .values(slug="second", name="Second", created_at=NOW)
                .returning(communities.c.id)
            )
        assert new == (top or 0) + 1
    finally:
        await db.close()


@pytest.mark.parametrize("backend", [SQLITE, POSTGRES])
async def test_a_source_with_deleted_ledger_rows_copies_without_its_log(
    source: str, tmp_path: Path, backend: str
) -> None:
    """The deletion log (0036) is the source's own: its marks mean nothing to the target."""
    db = Database(normalise_url(source))
    try:
        async with db.write() as conn:
            gone = await conn.scalar(select(func.min(purchases.c.id)))
            assert gone is not None  # the demo has purchases
            await conn.execute(delete(purchases).where(purchases.c.id == gone))
            assert await conn.scalar(select(func.count()).select_from(ledger_deletions)) == 1
    finally:
        await db.close()
    target = target_url(backend, tmp_path)
    copied = {t.name for t in await copy_database(source, target)}
    assert "purchases" in copied and "ledger_deletions" not in copied


@pytest.mark.parametrize("backend", [SQLITE, POSTGRES])
async def test_a_target_with_rows_is_refused_and_left_alone(
    source: str, tmp_path: Path, backend: str
) -> None:
    target = target_url(backend, tmp_path)
    await copy_database(source, target)
    before = await _totals(target)
    # Messages not folded yet come with their pending rows (a table with no parent: first).
    with pytest.raises(
        CopyError, match=r"the target is not empty \((analytics_pending, )?communities, "
    ):
        await copy_database(source, target)
    assert await _totals(target) == before


@pytest.mark.backend_free
async def test_a_source_behind_the_migrations_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CopyError, match=r"is at revision none.*cohort db upgrade"):
        await copy_database(f"sqlite:///{tmp_path / 'empty.db'}", target_url("sqlite", tmp_path))


@pytest.mark.parametrize("backend", [SQLITE, POSTGRES])
async def test_verify_finds_a_changed_row(source: str, tmp_path: Path, backend: str) -> None:
    target = target_url(backend, tmp_path)
    await copy_database(source, target)
    one, two = Database(normalise_url(source)), Database(normalise_url(target))
    try:
        async with two.write() as conn:
            await conn.execute(update(accounts).where(accounts.c.id == 2).values(display_name="X"))
        with pytest.raises(CopyError, match=r"differs from the source: accounts \("):
            await verify(one, two)
    finally:
        await one.close()
        await two.close()


@pytest.mark.parametrize("backend", [POSTGRES])
async def test_postgresql_back_to_sqlite_is_the_same_history(
    source: str, tmp_path: Path, backend: str
) -> None:
    middle = target_url(backend, tmp_path, "middle")
    back = target_url("sqlite", tmp_path, "back")
    await copy_database(source, middle)
    await copy_database(middle, back)
    assert await _totals(back) == await _totals(source)
    db = Database(normalise_url(back))
    try:
        assert len(await qa.search(db, 1, "pandas")) == 1
        async with db.read() as conn:
            assert await conn.scalar(select(func.count()).select_from(qa_questions)) >= 2
    finally:
        await db.close()


def _cohort(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "db", "copy", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cohort_db_copy_reports_and_refuses_a_second_time(source: str, tmp_path: Path) -> None:
    target = target_url(_postgres.backend(), tmp_path)
    first = _cohort("--from", source, "--to", target)
    assert first.returncode == 0, first.stderr
    assert "  members: " in first.stdout
    assert "counts and checksums match" in first.stdout
    again = _cohort("--from", source, "--to", target)
    assert again.returncode == 1
    assert "the target is not empty" in again.stderr
    assert "Traceback" not in again.stderr
