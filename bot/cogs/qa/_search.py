"""The knowledge base: two SQLite FTS5 indexes over titles, details and accepted answers.

``qa_search`` (trigram) finds any substring of three or more characters, so Chinese needs no
word segmentation. A term of one or two characters (common in Chinese: 安装, 错误) cannot be a
trigram query; ``qa_words`` (unicode61 over text with every CJK character spaced apart, see
``bot.store.fts``) finds it as a word or a run of characters.

PostgreSQL has no FTS5: its ``qa_search`` table (migration 0019_pg_search) finds long terms
with ILIKE through a pg_trgm index and short ones in a tsvector cut as unicode61 cuts, so
both backends find the same questions; ranking there is by how often the terms occur for the
text's length (BM25's main ingredients), over the same newest RANK_WINDOW matches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Row, String, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from bot.cogs.qa._states import State
from bot.store.db import Database
from bot.store.fts import spaced, tsquery_phrase, tsvector_literal, word_phrase
from bot.store.types import UTCDateTime

TRIGRAM = 3
MAX_TERMS = 8
RANK_WINDOW = 1000  # matches ranked by relevance, newest first


# Each index and how text is put in it (the trigram index takes it as it is).
_INDEXES: tuple[tuple[str, Callable[[str], str]], ...] = (("qa_search", str), ("qa_words", spaced))


@dataclass(frozen=True, slots=True)
class Hit:
    """A question that matched a search."""

    id: int
    title: str
    state: State
    created_at: datetime


def terms_of(query: str) -> tuple[list[str], list[str]]:
    """Split a query into trigram terms (3+ characters) and short ones for the word index."""
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


def _pg(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def index_question(conn: AsyncConnection, question_id: int, title: str, body: str) -> None:
    """Add a new question to the indexes."""
    if _fts(conn):
        for table, put in _INDEXES:
            await conn.execute(
                text(f"INSERT INTO {table} (rowid, title, body, answer) VALUES (:id, :t, :b, '')"),
                {"id": question_id, "t": put(title), "b": put(body)},
            )
    elif _pg(conn):
        await conn.execute(
            text(
                "INSERT INTO qa_search (question_id, title, body, answer, words) "
                "VALUES (:id, :t, :b, '', CAST(:w AS tsvector))"
            ),
            {"id": question_id, "t": title, "b": body, "w": tsvector_literal(title, body, "")},
        )


async def index_answer(conn: AsyncConnection, question_id: int, answer: str) -> None:
    """Put (or, with "", take out) a question's accepted answer in the indexes."""
    if _fts(conn):
        for table, put in _INDEXES:
            await conn.execute(
                text(f"UPDATE {table} SET answer = :a WHERE rowid = :id"),
                {"id": question_id, "a": put(answer)},
            )
    elif _pg(conn):
        row = (
            await conn.execute(
                text("SELECT title, body FROM qa_search WHERE question_id = :id FOR UPDATE"),
                {"id": question_id},
            )
        ).first()
        if row is not None:
            await conn.execute(
                text(
                    "UPDATE qa_search SET answer = :a, words = CAST(:w AS tsvector) "
                    "WHERE question_id = :id"
                ),
                {"id": question_id, "a": answer, "w": tsvector_literal(row[0], row[1], answer)},
            )


async def unindex(conn: AsyncConnection, question_id: int) -> None:
    """Take a question out of the indexes (its thread is gone)."""
    if _fts(conn):
        for table, _ in _INDEXES:
            await conn.execute(text(f"DELETE FROM {table} WHERE rowid = :id"), {"id": question_id})
    elif _pg(conn):
        await conn.execute(
            text("DELETE FROM qa_search WHERE question_id = :id"), {"id": question_id}
        )


# A member's questions, and others' questions whose accepted answer the member wrote.
_ASKED_BY = "SELECT id FROM qa_questions WHERE asker_id = :member"
_ACCEPTED_FROM = (
    "SELECT q.id FROM qa_questions q JOIN qa_answers a ON a.id = q.accepted_answer_id "
    "WHERE a.author_id = :member AND q.asker_id <> :member"
)


async def forget_member(conn: AsyncConnection, member_id: int) -> None:
    """Take a member's questions, and the accepted answers they wrote, out of the indexes.

    One statement per index whatever the member wrote (an erasure); on PostgreSQL the answers'
    word vectors are rebuilt from their rows in one batch.
    """
    member = {"member": member_id}
    if _fts(conn):
        for table, put in _INDEXES:
            await conn.execute(text(f"DELETE FROM {table} WHERE rowid IN ({_ASKED_BY})"), member)
            await conn.execute(
                text(f"UPDATE {table} SET answer = :a WHERE rowid IN ({_ACCEPTED_FROM})"),
                {**member, "a": put("")},
            )
    elif _pg(conn):
        await conn.execute(
            text(f"DELETE FROM qa_search WHERE question_id IN ({_ASKED_BY})"), member
        )
        rows = (
            await conn.execute(
                text(
                    "SELECT question_id, title, body FROM qa_search "
                    f"WHERE question_id IN ({_ACCEPTED_FROM}) FOR UPDATE"
                ),
                member,
            )
        ).all()
        if rows:
            await conn.execute(
                text(
                    "UPDATE qa_search SET answer = '', words = CAST(:w AS tsvector) "
                    "WHERE question_id = :id"
                ),
                [{"id": r[0], "w": tsvector_literal(r[1], r[2], "")} for r in rows],
            )


async def _window(conn: AsyncConnection, table: str, match: str) -> int | None:
    """Return the rowid below the newest RANK_WINDOW matches, or None when there are fewer."""
    # Ranking every match of a common word costs time in proportion to the matches: rank the
    # newest RANK_WINDOW only (a rowid range FTS5 reads directly).
    found = await conn.scalar(
        text(
            f"SELECT rowid FROM {table} WHERE {table} MATCH :match "
            "ORDER BY rowid DESC LIMIT 1 OFFSET :window"
        ),
        {"match": match, "window": RANK_WINDOW},
    )
    return int(found) if found is not None else None


async def search(db: Database, community_id: int, query: str, *, limit: int = 10) -> list[Hit]:
    """Return the questions of a community that contain every term, best first.

    Terms of three or more characters match substrings through the trigram index; shorter ones
    match words (any CJK run of their characters) through the word index. The newest
    RANK_WINDOW matches are ranked by BM25.
    """
    long, short = terms_of(query)
    if not long and not short:
        return []
    async with db.read() as conn:
        if _fts(conn):
            rows = await _fts_search(conn, community_id, long, short, limit)
        elif _pg(conn):
            rows = await _pg_search(conn, community_id, long, short, limit)
        else:
            rows = await _like_search(conn, community_id, long + short, limit)
    return [Hit(row.id, row.title, State(row.state), row.created_at) for row in rows]


_TYPED: dict[str, TypeEngine[Any]] = {
    "id": Integer(),
    "title": String(),
    "state": String(),
    "created_at": UTCDateTime(),
}


async def _fts_search(
    conn: AsyncConnection, community_id: int, long: list[str], short: list[str], limit: int
) -> Sequence[Row[Any]]:
    """Search the trigram index for long terms and the word index for short ones."""
    phrases = [p for p in (word_phrase(t) for t in short) if p is not None]
    if not long and not phrases:
        return []
    params: dict[str, Any] = {"community": community_id, "limit": limit}
    if long:
        table, match = "qa_search", " AND ".join(_phrase(t) for t in long)
    else:
        table, match = "qa_words", " AND ".join(phrases)
        phrases = []
    params["match"] = match
    where = ["q.community_id = :community", f"{table} MATCH :match"]
    cutoff = await _window(conn, table, match)
    if cutoff is not None:
        where.append("s.rowid > :cutoff")
        params["cutoff"] = cutoff
    if phrases:  # short terms beside long ones: the word index narrows the trigram matches
        params["words"] = " AND ".join(phrases)
        where.append(
            "s.rowid IN (SELECT rowid FROM qa_words WHERE qa_words MATCH :words"
            + (" AND rowid > :cutoff)" if cutoff is not None else ")")
        )
    sql = (
        f"SELECT q.id, q.title, q.state, q.created_at FROM {table} s "
        f"JOIN qa_questions q ON q.id = s.rowid WHERE {' AND '.join(where)} "
        f"ORDER BY bm25({table}) LIMIT :limit"
    )
    return (await conn.execute(text(sql).columns(**_TYPED), params)).all()


async def _pg_search(
    conn: AsyncConnection, community_id: int, long: list[str], short: list[str], limit: int
) -> Sequence[Row[Any]]:
    """Search PostgreSQL's ``qa_search``: ILIKE (pg_trgm) for long terms, tsvector for short."""
    phrases = [p for p in (tsquery_phrase(t) for t in short) if p is not None]
    if not long and not phrases:
        return []
    params: dict[str, Any] = {"community": community_id, "limit": limit, "window": RANK_WINDOW}
    where = ["q.community_id = :community"]
    score: list[str] = []
    for index, term in enumerate(long):
        params[f"like{index}"] = _like(term)
        params[f"term{index}"] = term.lower()
        where.append(f"s.document ILIKE :like{index}")
        # How often the term occurs: the text's length lost when every occurrence is cut out.
        score.append(
            f"(length(s.document) - length(replace(lower(s.document), :term{index}, '')))"
            f"::float / length(:term{index})"
        )
    if phrases:
        params["words"] = " & ".join(phrases)
        where.append("s.words @@ CAST(:words AS tsquery)")
        score.append("ts_rank(s.words, CAST(:words AS tsquery), 0)")
    rank = f"({' + '.join(score)}) / (1 + length(s.document) / 200.0)"
    sql = (
        "SELECT id, title, state, created_at FROM ("
        f"SELECT q.id, q.title, q.state, q.created_at, {rank} AS rank FROM qa_search s "
        f"JOIN qa_questions q ON q.id = s.question_id WHERE {' AND '.join(where)} "
        "ORDER BY s.question_id DESC LIMIT :window) AS newest "
        "ORDER BY rank DESC, id DESC LIMIT :limit"
    )
    return (await conn.execute(text(sql).columns(**_TYPED), params)).all()


async def _like_search(
    conn: AsyncConnection, community_id: int, terms: list[str], limit: int
) -> Sequence[Row[Any]]:
    """Search titles and details with LIKE, newest first (databases without FTS5)."""
    params: dict[str, Any] = {"community": community_id, "limit": limit}
    where = ["q.community_id = :community"]
    for index, term in enumerate(terms):
        params[f"like{index}"] = _like(term)
        where.append(
            f"(q.title LIKE :like{index} ESCAPE '\\' OR q.body LIKE :like{index} ESCAPE '\\')"
        )
    sql = (
        "SELECT q.id, q.title, q.state, q.created_at FROM qa_questions q "
        f"WHERE {' AND '.join(where)} ORDER BY q.id DESC LIMIT :limit"
    )
    return (await conn.execute(text(sql).columns(**_TYPED), params)).all()
