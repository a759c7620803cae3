"""Text for the word index (FTS5 unicode61): every CJK character stands as a word of its own.

unicode61 splits on spaces and punctuation, so a run of Chinese would be one long "word" and
``安装`` inside ``如何安装`` would never match. Spacing each Han, kana and Hangul character
makes it a token; a query then looks for its characters as a phrase (next to each other), which
finds words of any length, one and two characters included.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af])")
_WORDLIKE = re.compile(r"\w")


def spaced(text: str) -> str:
    """Return ``text`` with a space on each side of every CJK character."""
    return _CJK.sub(r" \1 ", text)


def word_phrase(term: str) -> str | None:
    """Return the FTS5 phrase that finds ``term`` in the word index, or None if it has no word."""
    if _WORDLIKE.search(term) is None:
        return None
    return '"' + spaced(term).strip().replace('"', '""') + '"'


# --- PostgreSQL: the same word index as a tsvector ----------------------------------------------
# PostgreSQL's parsers split text their own way (hyphenated words, hosts, versions); to find what
# FTS5's unicode61 finds, the tokens are cut here, as unicode61 cuts them (runs of letters and
# digits, lower case, diacritics removed), and handed over as tsvector and tsquery literals.

_TOKEN = re.compile(r"[^\W_]+")
_MAX_POSITION = 16383  # PostgreSQL's highest tsvector position
_COLUMN_GAP = 2  # a phrase never runs from one column into the next


def _fold(token: str) -> str:
    decomposed = unicodedata.normalize("NFD", token.lower())
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def words(text: str) -> list[str]:
    """Return the word-index tokens of ``text`` (CJK characters one by one), in order."""
    return [_fold(t) for t in _TOKEN.findall(spaced(text))]


def _lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(*columns: str) -> str:
    """Return the tsvector of ``columns`` (title, body, answer) as a literal to cast."""
    positions: dict[str, list[int]] = {}
    at = 0
    for column in columns:
        for token in words(column):
            at += 1
            positions.setdefault(token, []).append(min(at, _MAX_POSITION))
        at += _COLUMN_GAP
    return " ".join(
        f"{_lexeme(t)}:{','.join(str(p) for p in sorted(set(ps)))}" for t, ps in positions.items()
    )


def tsquery_phrase(term: str) -> str | None:
    """Return the tsquery that finds ``term`` as ``word_phrase`` does, or None if it has no word."""
    tokens = words(term)
    if not tokens:
        return None
    return "(" + " <-> ".join(_lexeme(t) for t in tokens) + ")"


# --- the Q&A index as rows, on either backend (``cohort db copy`` moves it) ---------------------

IndexRow = tuple[int, str, str, str]  # question id, title, details, accepted answer


async def indexed_count(conn: AsyncConnection) -> int:
    """Return how many questions the search index holds."""
    if conn.dialect.name not in ("sqlite", "postgresql"):
        return 0
    return int(await conn.scalar(text("SELECT count(*) FROM qa_search")) or 0)


async def read_index(conn: AsyncConnection) -> list[IndexRow]:
    """Return every indexed question's text as it went in (FTS5's trigram table keeps it raw)."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT rowid, title, body, answer FROM qa_search ORDER BY rowid"
    elif conn.dialect.name == "postgresql":
        sql = "SELECT question_id, title, body, answer FROM qa_search ORDER BY question_id"
    else:
        return []
    return [(int(r[0]), r[1], r[2], r[3]) for r in await conn.execute(text(sql))]


async def write_index(conn: AsyncConnection, rows: Sequence[IndexRow]) -> None:
    """Put questions in the search index (both FTS5 tables, or PostgreSQL's ``qa_search``)."""
    for start in range(0, len(rows), _WRITE_PAGE):
        page = rows[start : start + _WRITE_PAGE]
        if not page:
            return
        if conn.dialect.name == "sqlite":
            for table, put in (("qa_search", str), ("qa_words", spaced)):
                await conn.execute(
                    text(
                        f"INSERT INTO {table} (rowid, title, body, answer) VALUES (:id, :t, :b, :a)"
                    ),
                    [{"id": i, "t": put(t), "b": put(b), "a": put(a)} for i, t, b, a in page],
                )
        elif conn.dialect.name == "postgresql":
            await conn.execute(
                text(
                    "INSERT INTO qa_search (question_id, title, body, answer, words) "
                    "VALUES (:id, :t, :b, :a, CAST(:w AS tsvector))"
                ),
                [
                    {"id": i, "t": t, "b": b, "a": a, "w": tsvector_literal(t, b, a)}
                    for i, t, b, a in page
                ],
            )


_WRITE_PAGE = 1000
