"""The tests' second backend: a fresh PostgreSQL database per test when COHORT_TEST_POSTGRES is set.

``.ci/with-postgres`` starts a throwaway server and sets ``COHORT_TEST_POSTGRES`` to a URL of
its maintenance database. Each xdist worker migrates one template database once; a test's
database is a ``CREATE DATABASE ... TEMPLATE`` copy of it (not a migration run), kept for the
test's ``tmp_path`` so that building the bot twice in one test (a restart) finds the same data,
and dropped when the test ends.

A test may instead start from a copy of a database this worker built once (``copy_of``): the
played world of the analytics tests is made once per worker and copied for each test asking
for it, a file copy on SQLite and a ``TEMPLATE`` copy on PostgreSQL.

A copy costs the server two checkpoints (a tenth of a second or more on a busy machine), and a
drop a few hundredths: both happen on a thread of the worker's own while tests run. A test takes
a copy made ahead of it, and leaves its databases to be dropped behind it. On SQLite a test's
file is likewise a copy of one the worker migrated (``sqlite_file``).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

from bot.store.db import Database

ENV = "COHORT_TEST_POSTGRES"
T = TypeVar("T")

AHEAD = 2  # migrated databases each worker keeps ready

_lock = threading.Lock()
_template: str | None = None
_sqlite_template: Path | None = None
_created: list[str] = []
_names: dict[str, str] = {}
_kept: dict[str, str | Path] = {}  # databases built once, by key: a PG name or a SQLite file
_copied: dict[str, str] = {}  # the test's tmp_path -> the key of the database it copied
_copies = itertools.count()
_files: set[Path] = set()  # the SQLite files handed out (the backend under test), resolved
# Set while a test marked ``backend_free`` runs (``tests/_backend_free.py``): told of each use.
watcher: Callable[[str], None] | None = None


def _used(what: str) -> None:
    """Tell the watcher, if any, that the running test asks for the backend under test."""
    if watcher is not None:
        watcher(what)


def handed_out(path: str) -> bool:
    """Say whether the SQLite file ``path`` is one of this module's (the backend under test)."""
    return bool(path) and Path(path).resolve() in _files


def server_url() -> str | None:
    """Return the maintenance database's URL (``postgresql://...``), or None on SQLite runs."""
    _used("tests/_postgres.py: server_url() (enabled(), backend())")
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


def _maintenance() -> str:
    """Return the name of the server's maintenance database (the one the URL names)."""
    return make_url(server_url() or "").database or "postgres"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_dsn(_maintenance()))
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


class _Spares:
    """Migrated databases made ahead of the tests and dropped after them, on a thread of its own."""

    def __init__(self, template: str) -> None:
        self._template = template
        self._numbers = itertools.count()
        self._jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        # A daemon: a worker that ends without ``finish`` must not hang on it.
        self._thread = threading.Thread(
            target=self._serve, name="test-postgres-spares", daemon=True
        )
        self._thread.start()
        for _ in range(AHEAD):
            self._make()

    def take(self) -> str:
        """Return a migrated database of the test's own, and start making the next one."""
        got = self._ready.get(timeout=300)
        if isinstance(got, BaseException):
            raise got
        self._make()
        return got

    def drop(self, name: str) -> None:
        """Drop ``name`` once the thread gets to it (its connections are closed by force)."""
        self._jobs.put(("drop", name))

    def close(self) -> None:
        """Drop what is ready and what is left to drop, then end the thread."""
        self._jobs.put(None)
        self._thread.join()
        leftover: list[str] = []
        while not self._ready.empty():
            got = self._ready.get()
            if isinstance(got, str):
                leftover.append(got)

        async def drop() -> None:
            for name in leftover:
                await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        _run(drop)

    def _make(self) -> None:
        self._jobs.put(("make", f"t_{_worker()}_{next(self._numbers)}"))

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            conn = loop.run_until_complete(asyncpg.connect(_dsn(_maintenance())))
            try:
                while (job := self._jobs.get()) is not None:
                    loop.run_until_complete(self._do(conn, *job))
            finally:
                loop.run_until_complete(conn.close())
        finally:
            loop.close()

    async def _do(self, conn: asyncpg.Connection, what: str, name: str) -> None:
        try:
            if what == "make":
                # FILE_COPY (PostgreSQL 15+) copies the files: far faster than WAL_LOG.
                await conn.execute(
                    f'CREATE DATABASE "{name}" TEMPLATE "{self._template}" STRATEGY FILE_COPY'
                )
                self._ready.put(name)
            else:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:  # handed to the test that waits for a database
            self._ready.put(exc)


_spares: _Spares | None = None


def _spare() -> str:
    """Return a migrated database made ahead of this test."""
    global _spares  # noqa: PLW0603 - one maker per test process
    if _spares is None:
        _spares = _Spares(_template_name())
    return _spares.take()


def sqlite_file(tmp_path: Path) -> Path:
    """Return ``tmp_path``'s SQLite file, a copy of this worker's migrated one if not there yet.

    Migrating a new file takes 200 ms, a copy a few: the bot finds it at the head revision.
    """
    _used("tests/_postgres.py: sqlite_file()")
    global _sqlite_template  # noqa: PLW0603 - one template per test process, made once
    path = tmp_path / "cohort.db"
    if path.exists():
        return path
    with _lock:
        if _sqlite_template is None:
            made = Path(tempfile.mkdtemp(prefix=f"cohort-template-{_worker()}-")) / "cohort.db"

            async def make() -> None:
                db = Database(f"sqlite+aiosqlite:///{made}")
                try:
                    await db.upgrade()
                finally:
                    await db.close()

            _run(make)
            _sqlite_template = made
            _files.add(made.resolve())
    shutil.copyfile(_sqlite_template, path)
    _files.add(path.resolve())
    return path


def database_url(tmp_path: Path, *, migrated: bool = True) -> str:
    """Return a database URL for this test: a SQLite file in ``tmp_path``, or a PG database.

    On PostgreSQL the database is the test's from the first call on (a copy of the migrated
    template, or an empty one when ``migrated`` is false), dropped when the test ends.
    """
    _used("tests/_postgres.py: database_url()")
    if not enabled():
        path = sqlite_file(tmp_path) if migrated else tmp_path / "cohort.db"
        _files.add(path.resolve())
        return f"sqlite+aiosqlite:///{path}"
    key = str(tmp_path)
    if key not in _names:
        if migrated:
            name = _spare()
        else:
            name = f"t_{_worker()}_{hashlib.sha1(key.encode()).hexdigest()[:16]}"
            _run(lambda: _admin(f'CREATE DATABASE "{name}"'))
        _names[key] = name
        _created.append(name)
    return sqlalchemy_url(_names[key])


def copy_of(tmp_path: Path, key: str, make: Callable[[Path], Awaitable[None]]) -> None:
    """Make ``tmp_path``'s database a copy of this worker's database ``key``, built once.

    ``make(directory)`` builds on the database ``database_url(directory)`` names and closes
    every connection to it; that database is kept to the end of the run. Call before anything
    else asks for ``tmp_path``'s database.
    """
    _used("tests/_postgres.py: copy_of()")
    key_path = str(tmp_path)
    assert key_path not in _names and not (tmp_path / "cohort.db").exists(), "already made"
    if key not in _kept:
        directory = Path(tempfile.mkdtemp(prefix=f"cohort-{key}-{_worker()}-"))
        _run(lambda: make(directory))
        if enabled():
            name = _names.pop(str(directory))
            _created.remove(name)  # kept, not dropped with this test's databases
            _kept[key] = name
        else:
            _kept[key] = sqlite_file(directory)
            assert not Path(f"{_kept[key]}-wal").exists(), "a connection is still open"
    source = _kept[key]
    if enabled():
        name = f"t_{_worker()}_{key}_{next(_copies)}"
        _run(lambda: _admin(f'CREATE DATABASE "{name}" TEMPLATE "{source}" STRATEGY FILE_COPY'))
        _names[key_path] = name
        _created.append(name)
    else:
        assert isinstance(source, Path)
        shutil.copyfile(source, tmp_path / "cohort.db")
        _files.add((tmp_path / "cohort.db").resolve())
    _copied[key_path] = key


def copied(tmp_path: Path) -> str | None:
    """Return the key of the database ``tmp_path``'s is a copy of (``copy_of``), if any."""
    return _copied.get(str(tmp_path))


def drop_created() -> None:
    """Leave the databases this test made to be dropped (connections still open are closed)."""
    names = list(_created)
    _created.clear()
    _names.clear()
    _copied.clear()
    for name in names:
        if _spares is not None:
            _spares.drop(name)
        else:
            _run(lambda name=name: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def finish() -> None:
    """Drop this worker's databases made ahead and not used, its kept ones and its templates."""
    global _spares, _sqlite_template  # noqa: PLW0603 - one of each per test process
    if _spares is not None:
        _spares.close()
        _spares = None
    for kept in _kept.values():
        if isinstance(kept, Path):
            shutil.rmtree(kept.parent, ignore_errors=True)
        else:
            _run(lambda kept=kept: _admin(f'DROP DATABASE IF EXISTS "{kept}" WITH (FORCE)'))
    _kept.clear()
    if _sqlite_template is not None:
        shutil.rmtree(_sqlite_template.parent, ignore_errors=True)
        _sqlite_template = None


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
