"""Text for the word index (FTS5 unicode61): every CJK character stands as a word of its own.

unicode61 splits on spaces and punctuation, so a run of Chinese would be one long "word" and
``安装`` inside ``如何安装`` would never match. Spacing each Han, kana and Hangul character
makes it a token; a query then looks for its characters as a phrase (next to each other), which
finds words of any length, one and two characters included.
"""

from __future__ import annotations

import re

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
