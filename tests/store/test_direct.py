"""The group commit's insert straight to ``sqlite3``: values as SQLAlchemy sends them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, UniqueConstraint
from sqlalchemy.dialects import sqlite

from bot.store.direct import DirectInsert
from bot.store.types import UTCDateTime

pytestmark = pytest.mark.backend_free

DIALECT = sqlite.dialect()
metadata = MetaData()
tags = Table(  # one column besides the rowid: a row's values are not an itemgetter's tuple
    "tags", metadata, Column("id", Integer, primary_key=True), Column("name", String, unique=True)
)
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String, nullable=False),
    Column("ref", String, nullable=False),
    Column("note", String, nullable=True),
    Column("at", UTCDateTime(), nullable=True),
    UniqueConstraint("kind", "ref"),
)


@pytest.fixture
def raw() -> Iterator[sqlite3.Connection]:
    """Return an in-memory SQLite connection holding ``tags`` and ``events``."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(
        "CREATE TABLE tags (id INTEGER PRIMARY KEY, name VARCHAR UNIQUE);"
        "CREATE TABLE events (id INTEGER PRIMARY KEY, kind VARCHAR NOT NULL,"
        " ref VARCHAR NOT NULL, note VARCHAR, at DATETIME, UNIQUE (kind, ref));"
    )
    yield conn
    conn.close()


def test_a_one_column_row_is_written_once_by_its_key(raw: sqlite3.Connection) -> None:
    direct = DirectInsert(tags, ("name",))
    rows = [{"name": "a"}, {"name": "b"}, {"name": "a"}]
    assert direct.insert(raw, DIALECT, rows) == [True, True, False]
    assert direct.insert(raw, DIALECT, [{"name": "b"}, {"name": "c"}]) == [False, True]
    assert raw.execute("SELECT name FROM tags ORDER BY id").fetchall() == [("a",), ("b",), ("c",)]


@pytest.mark.parametrize(
    ("at", "stored"),
    [
        (datetime(2026, 12, 7, 11, 0, tzinfo=UTC), "2026-12-07 11:00:00.000000"),
        (  # converted to UTC by the column type's processor, as SQLAlchemy stores it
            datetime(2026, 12, 7, 6, 0, 0, 5, tzinfo=timezone(timedelta(hours=-5))),
            "2026-12-07 11:00:00.000005",
        ),
        (None, None),
    ],
)
def test_a_column_with_a_bind_processor_is_converted(
    raw: sqlite3.Connection, at: datetime | None, stored: str | None
) -> None:
    direct = DirectInsert(events, ("kind", "ref"))
    rows = [
        {"kind": "k", "ref": "1", "note": None, "at": at},
        {"kind": "k", "ref": "1", "note": "repeat", "at": at},
    ]
    assert direct.insert(raw, DIALECT, rows) == [True, False]
    assert raw.execute("SELECT ref, note, at FROM events").fetchall() == [("1", None, stored)]


def test_rows_of_another_shape_are_declined_before_anything_is_written(
    raw: sqlite3.Connection,
) -> None:
    direct = DirectInsert(events, ("kind", "ref"))
    first = {"kind": "k", "ref": "1", "note": None}
    assert direct.insert(raw, DIALECT, [first, {"kind": "k", "ref": "2", "at": None}]) is None
    assert direct.insert(raw, DIALECT, [first, {"kind": "k", "ref": "2"}]) is None
    assert direct.insert(raw, DIALECT, [{"kind": "k", "ref": "1", "at": "not a datetime"}]) is None
    assert raw.execute("SELECT count(*) FROM events").fetchone() == (0,)
