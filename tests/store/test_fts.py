"""The word index's text: CJK characters spaced apart, and phrases that always parse."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.store.fts import spaced, word_phrase

pytestmark = pytest.mark.backend_free

HANZI = "安装错误数据库如何部署日志缓存内存泄漏"
TEXT = st.text(alphabet=st.sampled_from(HANZI + "abcXYZ019 _-\"'*()^:+.,，。？"), max_size=40)


@pytest.fixture(scope="module")
def index() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")  # a real FTS5 table, to check query syntax and matching
    conn.execute("CREATE VIRTUAL TABLE w USING fts5(body, tokenize = 'unicode61')")
    yield conn
    conn.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("如何安装numpy", " 如  何  安  装 numpy"),
        ("plain words", "plain words"),
        ("かな한글", " か  な  한  글 "),
    ],
)
def test_spaced(text: str, expected: str) -> None:
    assert spaced(text) == expected


@pytest.mark.parametrize(("term", "phrase"), [("安装", '"安  装"'), ("c#", '"c#"'), ("++", None)])
def test_word_phrase(term: str, phrase: str | None) -> None:
    assert word_phrase(term) == phrase


@given(text=TEXT, term=TEXT)
def test_any_term_is_a_valid_query(index: sqlite3.Connection, text: str, term: str) -> None:
    phrase = word_phrase(term)
    if phrase is not None:
        index.execute("SELECT rowid FROM w WHERE w MATCH ?", (phrase,)).fetchall()


@given(before=TEXT, term=st.text(alphabet=HANZI, min_size=1, max_size=2), after=TEXT)
def test_every_cjk_run_is_found(
    index: sqlite3.Connection, before: str, term: str, after: str
) -> None:
    index.execute("DELETE FROM w")
    index.execute("INSERT INTO w (rowid, body) VALUES (1, ?)", (spaced(before + term + after),))
    phrase = word_phrase(term)
    assert phrase is not None
    assert index.execute("SELECT rowid FROM w WHERE w MATCH ?", (phrase,)).fetchall() == [(1,)]
