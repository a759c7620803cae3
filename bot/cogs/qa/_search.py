"""The knowledge base: SQLite FTS5 (trigram) over titles, details and accepted answers.

Trigram finds any substring of three or more characters, so Chinese needs no word
segmentation; a term of one or two characters (common in Chinese: 安装, 错误) cannot be a
trigram query and is matched with LIKE instead. PostgreSQL has no FTS5: there every term is a
LIKE over the questions table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.qa._states import State
from bot.store.db import Database
from bot.store.types import UTCDateTime

TRIGRAM = 3
MAX_TERMS = 8
RANK_WINDOW = 1000  # matches ranked by relevance, newest first


@dataclass(frozen=True, slots=True)
class Hit:
    """A question that matched a search."""

    id: int
    title: str
    state: State
    created_at: datetime


def terms_of(query: str) -> tuple[list[str], list[str]]:
    """Split a query into terms FTS5 can match (3+ characters) and short ones for LIKE."""
    words = [w for w in query.split() if w][:MAX_TERMS]
    long = [w for w in words if len(w) >= TRIGRAM]
    short = [w for w in words if len(w) < TRIGRAM]
    return long, short


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "sqlite"


async def index_question(conn: AsyncConnection, question_id: int, title: str, body: str) -> None:
    """Add a new question to the index."""
    if _fts(conn):
        await conn.execute(
            text("INSERT INTO qa_search (rowid, title, body, answer) VALUES (:id, :t, :b, '')"),
            {"id": question_id, "t": title, "b": body},
        )


async def index_answer(conn: AsyncConnection, question_id: int, answer: str) -> None:
    """Put (or, with "", take out) a question's accepted answer in the index."""
    if _fts(conn):
        await conn.execute(
            text("UPDATE qa_search SET answer = :a WHERE rowid = :id"),
            {"id": question_id, "a": answer},
        )


async def unindex(conn: AsyncConnection, question_id: int) -> None:
    """Take a question out of the index (its thread is gone)."""
    if _fts(conn):
        await conn.execute(text("DELETE FROM qa_search WHERE rowid = :id"), {"id": question_id})


async def search(db: Database, community_id: int, query: str, *, limit: int = 10) -> list[Hit]:
    """Return the questions of a community that contain every term, best first.

    With a term of three or more characters, the newest RANK_WINDOW matches are ranked by
    BM25; with only short terms, the newest matches come first (the scan stops at ``limit``).
    """
    long, short = terms_of(query)
    if not long and not short:
        return []
    params: dict[str, Any] = {"community": community_id, "limit": limit}
    async with db.read() as conn:
        columns: tuple[str, ...]
        if _fts(conn) and long:
            columns = ("s.title", "s.body", "s.answer")
            source = "qa_search s JOIN qa_questions q ON q.id = s.rowid"
        else:
            columns = ("q.title", "q.body")
            source = "qa_questions q"
            short, long = short + long, []  # short terms alone: a newest-first LIKE scan
        where = ["q.community_id = :community"]
        if long:
            where.append("qa_search MATCH :match")
            params["match"] = " AND ".join(_phrase(t) for t in long)
            # Ranking every match of a common word costs time in proportion to the matches:
            # rank the newest RANK_WINDOW matches only (a rowid range FTS5 reads directly).
            cutoff = await conn.scalar(
                text(
                    "SELECT rowid FROM qa_search WHERE qa_search MATCH :match "
                    "ORDER BY rowid DESC LIMIT 1 OFFSET :window"
                ),
                {"match": params["match"], "window": RANK_WINDOW},
            )
            if cutoff is not None:
                where.append("s.rowid > :cutoff")
                params["cutoff"] = cutoff
        for index, term in enumerate(short):
            params[f"like{index}"] = _like(term)
            where.append(
                "(" + " OR ".join(f"{c} LIKE :like{index} ESCAPE '\\'" for c in columns) + ")"
            )
        order = (
            "bm25(qa_search)"
            if long
            else ("s.rowid DESC" if columns[0] == "s.title" else "q.id DESC")
        )
        sql = (
            f"SELECT q.id, q.title, q.state, q.created_at FROM {source} "
            f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT :limit"
        )
        typed = text(sql).columns(
            id=Integer(), title=String(), state=String(), created_at=UTCDateTime()
        )
        rows = (await conn.execute(typed, params)).all()
    return [Hit(row.id, row.title, State(row.state), row.created_at) for row in rows]
