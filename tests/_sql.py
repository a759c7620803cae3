"""Count the SQL a database sends: for tests that a path reads nothing, or once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from bot.store.db import Database


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Collect every SQL statement ``db`` sends while the block runs."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        seen.append(sql)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)


def queries(seen: list[str]) -> list[str]:
    """Drop transaction control (BEGIN, COMMIT) from ``seen``."""
    return [sql for sql in seen if sql.split()[0].upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}]
