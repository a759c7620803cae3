"""The database handle: an async SQLAlchemy Core engine, tuned per dialect, and migrations."""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.util import greenlet_spawn

from bot.store import hops
from bot.store.checkpoint import WAL_PAGES, Checkpointer

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# The advisory lock migrations run under on PostgreSQL (locks.lock_key("migrate")).
_MIGRATE = int.from_bytes(hashlib.sha256(b"cohort:migrate").digest()[:8], "big", signed=True)

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 10_000
# SQLite's page cache for one bulk write (an erasure): SQLite's default of 2 MiB makes a
# transaction that changes tens of thousands of rows spill dirty pages to the WAL part-way and
# read them back; the connection returns to the default size afterwards.
BULK_CACHE_KIB = 65_536
_WRITE = "cohort_write"
_TOUCHED = "cohort_touched"

_REVISION = re.compile(r'^revision = "([^"]+)"$', re.MULTILINE)

WriteHook = Callable[[frozenset[str]], None]
T = TypeVar("T")


def alembic_config() -> AlembicConfig:
    """Return an Alembic config pointing at the packaged migrations (no ini file needed)."""
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415 (only to migrate)

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _tune_sqlite(engine: AsyncEngine, *, wal_pages: int | None) -> None:
    """Turn on WAL, foreign keys and a busy timeout; let writers take the lock up front.

    ``wal_pages``: the WAL's size in pages past which a commit checkpoints it (SQLite's
    default, 1,000, when None; a ``Checkpointer`` does it off the commit path before that).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Manage transactions ourselves so BEGIN IMMEDIATE is possible (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if wal_pages is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction that starts deferred and upgrades later can fail with SQLITE_BUSY
        # at once, without waiting; taking the write lock at BEGIN makes writers queue instead.
        immediate = conn.get_execution_options().get(_WRITE, False)
        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        adapted: Any = conn.connection.dbapi_connection
        if isinstance(adapted, hops.OneHopConnection):
            # Kept to go with the first statement; sent through SQLAlchemy (execution context,
            # events, result) it was a fifth of an empty write transaction's CPU.
            adapted.cursor().execute(begin)
            return
        conn.exec_driver_sql(begin)


def _note_tables(conn: Connection, clause: object, *_args: object) -> None:
    """Remember which tables a write transaction inserts into, updates or deletes from."""
    touched = conn.info.get(_TOUCHED)
    if touched is not None and isinstance(clause, UpdateBase):
        table = getattr(clause, "table", None)
        name = getattr(table, "name", None)
        if isinstance(name, str):
            touched.add(name)


def note_written(conn: AsyncConnection, table: str) -> None:
    """Count ``table`` as written by ``conn``'s transaction (for SQL sent past SQLAlchemy)."""
    touched = conn.info.get(_TOUCHED)
    if touched is not None:
        touched.add(table)


class Database:
    """An async engine plus the two ways in: a read transaction and a write transaction."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        self._hops: hops.OneHopDBAPI | None = None
        if self.url.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
            if self.url.get_driver_name() == "aiosqlite":
                self._hops = hops.dbapi()  # one thread hop a statement (bot/store/hops.py)
                kwargs["module"] = self._hops
        self.engine = create_async_engine(self.url, **kwargs)
        # SQLite has one writer at a time. Queueing this process's writers here, instead of in
        # SQLite's busy handler (which sleeps and retries), keeps the wait short and fair.
        self._write_lock: asyncio.Lock | None = None
        self._raw: PoolProxiedConnection | None = None  # ``raw_write``'s connection, once used
        # The WAL checkpointed beside the writers (bot/store/checkpoint.py): a file database's;
        # its ``run`` is supervised by whoever serves (``Cohort.start``).
        self.checkpointer: Checkpointer | None = None
        if self.engine.dialect.name == "sqlite":
            path = self.url.database
            if path and path != ":memory:" and not path.startswith("file:"):
                self.checkpointer = Checkpointer(path)
            _tune_sqlite(self.engine, wal_pages=WAL_PAGES if self.checkpointer else None)
            self._write_lock = asyncio.Lock()
        # Connections for write transactions: the option set once, not copied onto each one.
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        # Called with the tables a write transaction changed, just before it commits and again
        # just after: caches drop what the write may have changed (see bot/core/versions.py).
        self.on_write: list[WriteHook] = []
        event.listen(self.engine.sync_engine, "before_execute", _note_tables)

    @property
    def hops(self) -> int | None:
        """Return how many calls went to SQLite's connection threads (None: not SQLite)."""
        return self._hops.hops if self._hops is not None else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """Open a read transaction."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def write(self, *, bulk: bool = False) -> AsyncIterator[AsyncConnection]:
        """Open a write transaction; it commits on success and rolls back on any error.

        ``bulk`` gives a transaction that changes many rows a larger SQLite page cache.
        """
        async with self._writer(), self._write_engine.connect() as conn:
            touched: set[str] = set()
            conn.info[_TOUCHED] = touched
            default_cache: int | None = None
            try:
                async with conn.begin():
                    if bulk and conn.dialect.name == "sqlite":
                        default_cache = int(await conn.scalar(text("PRAGMA cache_size")))
                        await conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
                    yield conn
                    self._wrote(touched)
            finally:
                conn.info.pop(_TOUCHED, None)
                if default_cache is not None:  # a pooled connection keeps its pragmas
                    plain = await conn.execution_options(**{_WRITE: False})
                    await plain.exec_driver_sql(f"PRAGMA cache_size={default_cache}")
                    await plain.rollback()
            self._wrote(touched)
        if self.checkpointer is not None:
            self.checkpointer.written()

    @property
    def raw_writes(self) -> bool:
        """Tell whether ``raw_write`` can run here (SQLite through aiosqlite's one-hop shim)."""
        return self._hops is not None

    async def raw_write(self, work: Callable[[sqlite3.Connection], T], *, tables: set[str]) -> T:
        """Run ``work`` in a write transaction on SQLite's own connection, on its thread.

        For a hot path whose statements are plain SQL (the message log's group commit): one
        pooled connection kept for these writes, ``BEGIN IMMEDIATE``, ``work(raw)`` and the
        commit in one hop, with none of SQLAlchemy's connection, transaction and pool events
        around it (about 110 µs of the event loop's CPU a transaction, docs/design-notes.md).
        It rolls back when ``work`` raises; an SQLite error is raised as SQLAlchemy raises it
        (and the connection goes back to the pool). ``on_write`` hooks hear of ``tables``
        after the commit. Only where ``raw_writes`` says so.
        """
        if self._hops is None:
            raise RuntimeError("raw_write needs SQLite through aiosqlite")
        async with self._writer():
            # One pooled connection kept for these writes (they queue on the write lock): a
            # checkout and return each time cost about 40 µs of the event loop's CPU.
            if self._raw is None:
                self._raw = await self.engine.raw_connection()
            adapted: Any = self._raw.dbapi_connection  # a OneHopConnection (``_hops``)
            try:
                result = await hops.raw_transaction(adapted, work, begin="BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                await self._release_raw()  # rolled back; the pool checks it again on return
                raise DBAPIError.instance("", None, error, sqlite3.Error) from error
        self._wrote(tables)
        if self.checkpointer is not None:
            self.checkpointer.written()
        return result

    async def _release_raw(self) -> None:
        kept, self._raw = self._raw, None
        if kept is not None:
            await greenlet_spawn(kept.close)  # back to the pool (its reset may need a hop)

    def _wrote(self, touched: set[str]) -> None:
        if touched:
            tables = frozenset(touched)
            for hook in self.on_write:
                hook(tables)

    def _writer(self) -> AbstractAsyncContextManager[object]:
        if self._write_lock is None:
            return nullcontext()
        if self.checkpointer is None:
            return self._write_lock
        return _WriteTurn(self._write_lock, self.checkpointer)

    async def upgrade(self, revision: str = "head") -> None:
        """Apply the migrations up to ``revision`` (on PostgreSQL, one process at a time)."""
        if revision == "head" and await self.current_revision() == head_revision():
            return  # every start but the first: Alembic and the migrations stay unloaded
        async with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                # Processes started together on a new database would each create the same
                # tables; the lock goes with the transaction, so the next one finds the head.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE})
            await conn.run_sync(_run_alembic, "upgrade", revision)
            await conn.commit()

    async def downgrade(self, revision: str) -> None:
        """Revert the migrations down to ``revision``."""
        async with self.engine.connect() as conn:
            await conn.run_sync(_run_alembic, "downgrade", revision)
            await conn.commit()

    async def current_revision(self) -> str | None:
        """Return the revision the database is at, or None when it has none."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current_revision)

    async def close(self) -> None:
        """Close every pooled connection (and the checkpointer's)."""
        await self._release_raw()
        if self.checkpointer is not None:
            await self.checkpointer.close()
        await self.engine.dispose()


class _WriteTurn:
    """The process's write lock; a WAL over its limit is truncated first (checkpoint.py)."""

    __slots__ = ("checkpointer", "lock")

    def __init__(self, lock: asyncio.Lock, checkpointer: Checkpointer) -> None:
        self.lock = lock
        self.checkpointer = checkpointer

    async def __aenter__(self) -> None:
        await self.lock.acquire()
        if self.checkpointer.over:
            try:
                await self.checkpointer.truncate()
            except BaseException:
                self.lock.release()
                raise

    async def __aexit__(self, *_exc: object) -> None:
        self.lock.release()


def head_revision() -> str:
    """Return the newest migration's revision id: the one in the highest-numbered file."""
    files = sorted((MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    if not files:
        raise RuntimeError("no migrations found")
    found = _REVISION.search(files[-1].read_text(encoding="utf-8"))
    if found is None:
        raise RuntimeError(f"{files[-1].name} names no revision")
    return found.group(1)


def _current_revision(sync_conn: Connection) -> str | None:
    """Return the revision recorded in ``alembic_version``, or None on a new database."""
    if not inspect(sync_conn).has_table("alembic_version"):
        return None
    versions = sync_conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(versions) > 1:
        raise RuntimeError(f"the database is at several revisions: {', '.join(sorted(versions))}")
    return versions[0] if versions else None


def _run_alembic(sync_conn: Connection, action: str, revision: str) -> None:
    from alembic import command  # noqa: PLC0415 (only to migrate)

    cfg = alembic_config()
    cfg.attributes["connection"] = sync_conn
    if action == "upgrade":
        command.upgrade(cfg, revision)
    else:
        command.downgrade(cfg, revision)
