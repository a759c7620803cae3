"""SQLite under asyncio with one thread hop a statement (SQLAlchemy's aiosqlite adapter takes 3-4).

aiosqlite runs each call on its connection's own thread: the caller queues a function and
waits for its future. SQLAlchemy's adapter queues one call to make a cursor, one to execute,
one to fetch and one to close, and a transaction's ``BEGIN`` and the pool's ``ROLLBACK`` on
return one each. Each hop waits for the other thread to get the GIL and the CPU, which on a
loaded machine costs far more than the statement (``docs/design-notes.md``, Store). Here a
statement is one function run on that thread (cursor, execute, fetch, close together);
``BEGIN`` rides with the transaction's first statement; a rollback of a connection that is
known to hold no transaction, and a transaction that ran nothing, cost no hop at all.

``in_thread`` goes further for the message log's group commit: it runs a whole coroutine of
statements (a batch's insert, its rollup hooks, its points) on that thread in one hop. The
coroutine is written against an ``AsyncConnection`` as usual; on the thread each statement
runs at once instead of hopping, so the coroutine never suspends and is driven to its end
there. One that awaits anything else (it would suspend) is refused with ``NotOnThread``
before it does, and the caller runs it again the usual way.
"""

from __future__ import annotations

import contextvars
import sqlite3
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")
_BEGINS = frozenset({"BEGIN", "BEGIN IMMEDIATE"})
# What one statement hands back: description, rows, lastrowid, rowcount, in a transaction.
_Outcome = tuple[Any, list[Any] | None, int | None, int, bool]


def _statement(
    conn: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, *, many: bool
) -> _Outcome:
    """Run (on the connection's thread) a pending BEGIN and one statement; fetch its rows."""
    if begin is not None:
        conn.execute(begin)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        if cursor.description:
            return cursor.description, cursor.fetchall(), -1, -1, conn.in_transaction
        return None, None, cursor.lastrowid, cursor.rowcount, conn.in_transaction
    finally:
        cursor.close()


async def _ready(value: T) -> T:
    return value


class NotOnThread(Exception):
    """A coroutine given to ``in_thread`` awaited something other than the database."""


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose every statement is one call on the connection's thread."""

    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        """Run one statement and keep its rows (a BEGIN waits for the next statement)."""
        adapted: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        if parameters in (None, ()) and operation in _BEGINS and adapted.begin is None:
            adapted.begin = operation
            adapted.in_transaction = True
            self.description, self.lastrowid, self.rowcount = None, -1, -1
            return
        self._run(adapted, operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        """Run one statement for each set of parameters, in one call."""
        adapted: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        self._run(adapted, operation, seq_of_parameters, many=True)

    def _run(
        self, adapted: OneHopConnection, operation: Any, parameters: Any, *, many: bool
    ) -> None:
        begin, adapted.begin = adapted.begin, None
        raw = self._connection
        try:
            outcome = adapted.hop(
                lambda: _statement(raw._conn, begin, operation, parameters, many=many)
            )
        except Exception as error:
            adapted.in_transaction = None  # unknown: the next rollback really rolls back
            adapted._handle_exception(error)
        description, rows, lastrowid, rowcount, adapted.in_transaction = outcome
        self.description = description
        self.lastrowid = -1 if lastrowid is None else lastrowid
        self.rowcount = rowcount
        self._rows.clear()
        if rows:
            self._rows.extend(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's connection adapted for SQLAlchemy with as few thread hops as it can."""

    __slots__ = ("begin", "in_transaction", "on_thread")

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.begin: str | None = None  # a BEGIN not sent yet: it goes with the next statement
        self.in_transaction: bool | None = None  # None: not known, so act as if it were
        self.on_thread = False  # True while ``in_thread`` runs a coroutine on its thread

    def hop(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the connection's thread and wait for it (one hop)."""
        if self.on_thread:
            # Already there: run it now. SQLAlchemy still expects its greenlet to switch once.
            now: T = self.await_(_ready(function()))
            return now
        self.dbapi.hops += 1
        result: T = self.await_(self._connection._execute(function))
        return result

    def _not_on_thread(self, what: str) -> None:
        if self.on_thread:
            raise NotOnThread(f"{what} inside in_thread")

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        """Return a one-hop cursor (server-side cursors keep SQLAlchemy's own)."""
        if not server_side:
            return OneHopCursor(self)
        self._not_on_thread("a server-side cursor")
        self._flush_begin()  # its statements go straight to aiosqlite: BEGIN must be sent first
        self.in_transaction = None
        return super().cursor(server_side)

    def execute(self, *args: Any, **kw: Any) -> Any:
        """Run a statement through aiosqlite directly (its transaction state is then unknown)."""
        self._not_on_thread("execute on the connection")
        self._flush_begin()
        self.in_transaction = None
        self.dbapi.hops += 1
        return super().execute(*args, **kw)

    def commit(self) -> None:
        """Commit; a transaction that ran nothing has nothing to commit."""
        if self.begin is not None:
            self.begin = None
            self.in_transaction = False
            return
        if self.in_transaction is False:
            return  # already committed on the thread (``in_thread``), or never begun
        self._not_on_thread("commit")
        self.dbapi.hops += 1
        super().commit()
        self.in_transaction = False

    def rollback(self) -> None:
        """Roll back, unless the connection surely holds no transaction."""
        if self.begin is not None:
            self.begin = None
            self.in_transaction = False
            return
        if self.in_transaction is False:
            return
        self._not_on_thread("rollback")
        self.dbapi.hops += 1
        super().rollback()
        self.in_transaction = False

    def _flush_begin(self) -> None:
        if self.begin is not None:
            begin, self.begin = self.begin, None
            raw = self._connection
            self.hop(lambda: raw._conn.execute(begin))


async def in_thread(
    conn: AsyncConnection,
    work: Callable[[AsyncConnection], Coroutine[Any, Any, T]],
    *,
    commit: bool = False,
) -> T:
    """Run ``work(conn)`` on the SQLite connection's own thread in one hop, where it can.

    With ``commit`` the transaction commits there too, in the same hop; the caller's
    ``db.write()`` then finds nothing left to commit (its ``on_write`` hooks run after).
    On any other connection (PostgreSQL) ``work`` is simply awaited. ``work`` may only await
    statements on ``conn``; anything else raises ``NotOnThread`` (the transaction must then
    be rolled back: some of its statements may have run).
    """
    sync = conn.sync_connection
    adapted: Any = sync.connection.dbapi_connection if sync is not None else None
    if not isinstance(adapted, OneHopConnection):
        return await work(conn)

    def drive() -> T:
        adapted.on_thread = True
        coroutine = work(conn)
        try:
            coroutine.send(None)
        except StopIteration as done:
            result: T = done.value
            if commit:
                adapted.begin = None  # a transaction that ran nothing: nothing to send
                adapted._connection._conn.commit()
                adapted.in_transaction = False
            return result
        except RuntimeError as exc:
            if "event loop" in str(exc):  # it asked for asyncio's loop: not on this thread
                raise NotOnThread(str(exc)) from exc
            raise
        finally:
            adapted.on_thread = False
        coroutine.close()
        raise NotOnThread(f"{getattr(work, '__qualname__', work)} awaited something else")

    adapted.dbapi.hops += 1
    context = contextvars.copy_context()  # the work sees the caller's context variables
    result: T = await adapted._connection._execute(context.run, drive)
    return result


async def raw_transaction(
    adapted: OneHopConnection, work: Callable[[sqlite3.Connection], T], *, begin: str
) -> T:
    """Run ``work(raw)`` in a transaction on the connection's own thread, in one hop.

    ``begin`` starts it; it commits when ``work`` returns and rolls back when it raises. No
    SQLAlchemy on either side: the caller holds the connection checked out of the pool.
    """

    def run() -> T:
        raw: sqlite3.Connection = adapted._connection._conn
        raw.execute(begin)
        try:
            result = work(raw)
        except BaseException:
            raw.rollback()
            raise
        raw.commit()
        return result

    adapted.dbapi.hops += 1
    context = contextvars.copy_context()  # the work sees the caller's context variables
    result: T = await adapted._connection._execute(context.run, run)
    return result


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI shim handing out one-hop connections; it counts their hops."""

    def __init__(self, aiosqlite: Any, sqlite: Any) -> None:
        super().__init__(aiosqlite, sqlite)
        self.hops = 0  # calls queued to a connection's thread, opening connections aside

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        """Open a connection (a thread of aiosqlite's) wrapped for one hop a statement."""
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


def dbapi() -> OneHopDBAPI:
    """Return the DBAPI module to hand ``create_async_engine`` for ``sqlite+aiosqlite`` URLs."""
    return OneHopDBAPI(aiosqlite, sqlite3)


def raw_on_thread(conn: AsyncConnection) -> sqlite3.Connection | None:
    """Return the SQLite connection itself while ``in_thread`` runs ``conn``'s work on its thread.

    Statements sent to it skip SQLAlchemy (no compile, no result object: a few microseconds
    each instead of tens) and belong to the same transaction. Anywhere else (PostgreSQL, or
    SQLite off its thread) there is none: the caller goes through SQLAlchemy as usual.
    """
    sync = conn.sync_connection
    adapted: Any = sync.connection.dbapi_connection if sync is not None else None
    if not isinstance(adapted, OneHopConnection) or not adapted.on_thread:
        return None
    raw: sqlite3.Connection = adapted._connection._conn
    if adapted.begin is not None:  # the transaction's BEGIN has not gone yet: it goes first
        raw.execute(adapted.begin)
        adapted.begin = None
        adapted.in_transaction = True
    return raw
