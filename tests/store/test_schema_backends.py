"""The same migrations give the same schema on SQLite and PostgreSQL (reflected and compared)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, inspect

from bot.store.db import Database
from bot.store.tables import is_search_index
from tests import _postgres

pytestmark = pytest.mark.skipif(
    not _postgres.enabled(),
    reason="compares SQLite with PostgreSQL: runs under .ci/with-postgres (make test does)",
)


def _type(column_type: Any) -> str:
    """Name a reflected type by what it keeps, not how each database spells it."""
    if isinstance(column_type, sa.Boolean):
        return "boolean"
    if isinstance(column_type, sa.Integer):  # BIGINT on PostgreSQL is INTEGER (rowid) on SQLite
        return "integer"
    if isinstance(column_type, sa.DateTime):
        return "datetime"
    if isinstance(column_type, sa.JSON):
        return "json"
    if isinstance(column_type, sa.Text) or (
        isinstance(column_type, sa.String) and column_type.length is None
    ):
        return "text"
    if isinstance(column_type, sa.String):
        return f"string({column_type.length})"
    if isinstance(column_type, sa.Float):
        return "float"
    if isinstance(column_type, sa.Numeric):
        return f"numeric({column_type.precision},{column_type.scale})"
    if isinstance(column_type, sa.LargeBinary):
        return "binary"
    return type(column_type).__name__.lower()


def _default(value: str | None) -> str | None:
    """Strip quotes and PostgreSQL's casts from a server default: '0'::integer is 0."""
    if value is None or value.startswith("nextval("):  # an autoincrement id is no default
        return None
    value = re.sub(r"::[a-z ]+(\([0-9]+\))?$", "", value.strip())
    value = value.strip("'\"")
    return {"false": "0", "true": "1"}.get(value.lower(), value)


def _schema(sync: Connection) -> dict[str, Any]:
    """Return every table's columns, keys and indexes in a form both databases share."""
    inspector = inspect(sync)
    tables: dict[str, Any] = {}
    for name in sorted(inspector.get_table_names()):
        if is_search_index(name) or name == "alembic_version":
            continue
        columns = {
            c["name"]: (_type(c["type"]), c["nullable"], _default(c.get("default")))
            for c in inspector.get_columns(name)
        }
        indexes = {
            (i["name"], tuple(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes(name)
            if not i.get("duplicates_constraint")  # PostgreSQL's index behind a UNIQUE
        }
        uniques = {
            (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(name)
        }
        foreign = {
            (
                tuple(f["constrained_columns"]),
                f["referred_table"],
                tuple(f["referred_columns"]),
                (f.get("options") or {}).get("ondelete", "NO ACTION").upper(),
            )
            for f in inspector.get_foreign_keys(name)
        }
        primary = tuple(inspector.get_pk_constraint(name)["constrained_columns"])
        tables[name] = {
            "columns": columns,
            "indexes": indexes,
            "uniques": uniques,
            "foreign keys": foreign,
            "primary key": primary,
        }
    return tables


async def _reflect(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            return await conn.run_sync(_schema)
    finally:
        await db.close()


async def test_sqlite_and_postgresql_have_the_same_schema(tmp_path: Path) -> None:
    lite = await _reflect(f"sqlite+aiosqlite:///{tmp_path / 'lite.db'}")
    pg = await _reflect(_postgres.database_url(tmp_path, migrated=False))
    assert sorted(lite) == sorted(pg)
    differences = _differences(lite, pg)
    assert not differences, "\n".join(differences)


def _differences(lite: dict[str, Any], pg: dict[str, Any]) -> list[str]:
    """List what differs, one line per column, index or key."""
    found: list[str] = []
    for table, parts in lite.items():
        for part, ours in parts.items():
            theirs = pg[table][part]
            if isinstance(ours, dict):
                for key in sorted(set(ours) | set(theirs)):
                    if ours.get(key) != theirs.get(key):
                        found.append(f"{table} {part} {key}: {ours.get(key)} | {theirs.get(key)}")
            elif isinstance(ours, set):
                for item in sorted(ours - theirs, key=repr):
                    found.append(f"{table} {part}: only on SQLite {item}")
                for item in sorted(theirs - ours, key=repr):
                    found.append(f"{table} {part}: only on PostgreSQL {item}")
            elif ours != theirs:
                found.append(f"{table} {part}: {ours} | {theirs}")
    return found


async def test_postgresql_has_its_search_index(tmp_path: Path) -> None:
    db = Database(_postgres.database_url(tmp_path))
    try:
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            extensions = set(
                (await conn.execute(sa.text("SELECT extname FROM pg_extension"))).scalars()
            )
    finally:
        await db.close()
    assert "qa_search" in names
    assert "pg_trgm" in extensions
