"""The compiled thanks-word pattern answers as one search per word did."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cogs.points._rules import says_thanks
from bot.core.config import PointsConfig

pytestmark = pytest.mark.backend_free

WORDS = st.lists(
    st.text(alphabet="abcTY!.谢 ", min_size=0, max_size=6), min_size=0, max_size=5
).map(tuple)


def one_search_per_word(text: str, words: tuple[str, ...]) -> bool:
    """Return what says_thanks answered before its pattern was compiled once."""
    folded = text.casefold()
    for raw in words:
        word = raw.casefold()
        if not word.isascii():
            if word in folded:
                return True
        elif re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", folded):
            return True
    return False


@given(text=st.text(alphabet="abcty !.谢谢Thanks0", max_size=30), words=WORDS)
def test_the_compiled_pattern_agrees_with_a_search_per_word(
    text: str, words: tuple[str, ...]
) -> None:
    assert says_thanks(text, words) is one_search_per_word(text, words)


@given(text=st.text(max_size=60))
def test_the_default_words_agree_on_any_text(text: str) -> None:
    words = PointsConfig().thanks_words
    assert says_thanks(text, words) is one_search_per_word(text, words)
