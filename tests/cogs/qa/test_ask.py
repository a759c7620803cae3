"""Reading /ask (``_ask``): a title, details and tags, or a clear refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cogs import qa
from bot.core.errors import UserError

pytestmark = pytest.mark.backend_free


@pytest.mark.parametrize(
    ("text", "title", "body", "tags"),
    [
        ("How do I X?", "How do I X?", "", ()),
        ("How do I X? | I tried Y #Python #sql", "How do I X?", "I tried Y", ("python", "sql")),
        ("Title line\nmore\ndetail", "Title line", "more\ndetail", ()),
        ("如何安装 numpy？ | pip 报错 #环境", "如何安装 numpy？", "pip 报错", ("环境",)),
        ("#a #b #c #d #e #f #a tags only title", "tags only title", "", ("a", "b", "c", "d", "e")),
        ("C# is not a tag here", "C# is not a tag here", "", ()),
    ],
)
def test_parse_question(text: str, title: str, body: str, tags: tuple[str, ...]) -> None:
    assert qa.parse_question(text) == qa.Draft(title, body, tags)


@pytest.mark.parametrize("text", ["", "   ", "| only details", "#tag"])
def test_a_question_needs_a_title(text: str) -> None:
    with pytest.raises(UserError) as caught:
        qa.parse_question(text)
    assert caught.value.key == "qa.ask.empty"


@given(st.text(max_size=400))
def test_parse_question_never_breaks(text: str) -> None:
    try:
        draft = qa.parse_question(text)
    except UserError as exc:
        assert exc.key == "qa.ask.empty"
        return
    assert draft.title and len(draft.title) <= 150 and "\n" not in draft.title
    assert len(draft.tags) <= 5 and len(set(draft.tags)) == len(draft.tags)
