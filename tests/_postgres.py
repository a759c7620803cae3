"""The tests' second backend: a fresh PostgreSQL database per test when COHORT_TEST_POSTGRES is set.

``.ci/with-postgres`` starts a throwaway server and sets ``COHORT_TEST_POSTGRES`` to a URL of
its maintenance database. Each xdist worker migrates one template database once; a test's
database is a ``CREATE DATABASE ... TEMPLATE`` copy of it (milliseconds, not a migration run),
named after the test's ``tmp_path`` so that building the bot twice in one test (a restart)
finds the same data, and dropped when the test ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

from bot.store.db import Database

ENV = "COHORT_TEST_POSTGRES"
T = TypeVar("T")

_lock = threading.Lock()
_template: str | None = None
_created: list[str] = []


def server_url() -> str | None:
    """Return the maintenance database's URL (``postgresql://...``), or None on SQLite runs."""
    return os.environ.get(ENV) or None


def enabled() -> bool:
    """Say whether this run's databases are PostgreSQL."""
    return server_url() is not None


def backend() -> str:
    """Return ``postgresql`` or ``sqlite``: the backend this run tests."""
    return "postgresql" if enabled() else "sqlite"


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a loop of its own (callable from inside a loop too)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(_call(make))
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="test-postgres")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


def _dsn(database: str) -> str:
    url = server_url()
    assert url is not None
    return (
        make_url(url)
        .set(drivername="postgresql", database=database)
        .render_as_string(hide_password=False)
    )


def sqlalchemy_url(database: str) -> str:
    """Return the ``postgresql+asyncpg://`` URL of ``database`` on the test server."""
    url = server_url()
    assert url is not None
    return (
        make_url(url)
        .set(drivername="postgresql+asyncpg", database=database)
        .render_as_string(hide_password=False)
    )


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_dsn(make_url(server_url() or "").database or "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _template_name() -> str:
    """Return this worker's migrated template database, making it on first use."""
    global _template  # noqa: PLW0603 - one template per test process, made once
    with _lock:
        if _template is None:
            name = f"cohort_template_{_worker()}"

            async def make() -> None:
                await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await _admin(f'CREATE DATABASE "{name}"')
                db = Database(sqlalchemy_url(name))
                try:
                    await db.upgrade()
                finally:
                    await db.close()

            _run(make)
            _template = name
        return _template


def database_name(tmp_path: Path) -> str:
    """Return the database name this test's ``tmp_path`` stands for."""
    digest = hashlib.sha1(str(tmp_path).encode()).hexdigest()[:16]
    return f"t_{_worker()}_{digest}"


def database_url(tmp_path: Path, *, migrated: bool = True) -> str:
    """Return a database URL for this test: a SQLite file under ``tmp_path``, or a PG database.

    On PostgreSQL the database is made on first call (a copy of the migrated template, or an
    empty one when ``migrated`` is false) and dropped when the test ends.
    """
    if not enabled():
        return f"sqlite+aiosqlite:///{tmp_path / 'cohort.db'}"
    name = database_name(tmp_path)
    if name not in _created:
        # FILE_COPY (PostgreSQL 15+) copies the files: ten times faster than the WAL_LOG default.
        template = f' TEMPLATE "{_template_name()}" STRATEGY FILE_COPY' if migrated else ""
        _run(lambda: _admin(f'CREATE DATABASE "{name}"{template}'))
        _created.append(name)
    return sqlalchemy_url(name)


def drop_created() -> None:
    """Drop the databases this test made (connections still open are closed by force)."""
    if not _created:
        return
    names = list(_created)
    _created.clear()

    async def drop() -> None:
        for name in names:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    _run(drop)


async def integrity_problems(conn: Any) -> list[str]:
    """Return what is broken in the database: SQLite's own checks, or orphans of any foreign key.

    PostgreSQL keeps its foreign keys on every write and has no file to check; the rows every
    foreign key points at are looked for on both backends alike.
    """
    from sqlalchemy import and_, exists, func, not_, select  # noqa: PLC0415

    from bot.store.tables import metadata  # noqa: PLC0415

    problems: list[str] = []
    if conn.dialect.name == "sqlite":
        problems += [r for r in (await conn.exec_driver_sql("PRAGMA integrity_check")).scalars()]
        problems = [p for p in problems if p != "ok"]
        problems += [str(r) for r in (await conn.exec_driver_sql("PRAGMA foreign_key_check"))]
    for table in metadata.sorted_tables:
        for key in table.foreign_key_constraints:
            target = key.referred_table.alias("target")  # a table may point at itself
            pairs = [(e.parent, target.c[e.column.name]) for e in key.elements]
            present = and_(*(c.is_not(None) for c, _ in pairs))
            found = exists().where(*(ref == col for col, ref in pairs)).select_from(target)
            orphans = await conn.scalar(
                select(func.count()).select_from(table).where(present, not_(found))
            )
            if orphans:
                problems.append(f"{table.name}.{key.name}: {orphans} rows point nowhere")
    return problems
