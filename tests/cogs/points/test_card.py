"""The leaderboard card draws Chinese names with real glyphs, not the font's empty boxes."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFont

from bot.cogs import _fonts
from bot.cogs.points import _card as card
from bot.cogs.points._ledger import Ranked

pytestmark = pytest.mark.backend_free

NAMES = ("小明", "张伟", "学习小组·组长", "王芳 Fang", "積分榜")
TITLE = "本周积分榜 · 第 1 页"
LATIN_ONLY = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
# A code point no font draws: what the font shows for it is its missing-glyph box (.notdef).
NO_SUCH_CHARACTER = "\U0010fffd"


def missing(font: _fonts.Font, text: str) -> list[str]:
    """Return the characters of ``text`` that ``font`` draws as its missing-glyph box."""
    notdef = font.getmask(NO_SUCH_CHARACTER)
    box = (notdef.size, bytes(notdef))
    found = []
    for char in dict.fromkeys(text):
        if char.isspace():
            continue
        mask = font.getmask(char)
        if (mask.size, bytes(mask)) == box:
            found.append(char)
    return found


def test_the_card_finds_a_font_that_draws_chinese_without_config() -> None:
    font = _fonts.load_font(None, 22)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert "CJK SC" in " ".join(font.getname() or ())  # Simplified Chinese forms
    assert missing(font, "".join(NAMES) + TITLE) == []
    rows = [Ranked(rank=i, member_id=i, total=100 - i, name=n) for i, n in enumerate(NAMES, 1)]
    data = card.render_card(TITLE, rows, highlight=1, font_path=None)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize(
    ("candidates", "boxes"),
    [
        (_fonts.FONT_CANDIDATES, False),
        # Where only a Latin font is found, the check above sees the boxes: it would fail.
        (LATIN_ONLY, True),
    ],
)
def test_a_latin_only_font_is_caught_drawing_boxes(
    candidates: tuple[str, ...], boxes: bool
) -> None:
    font = _fonts.load_font(None, 22, candidates)
    assert bool(missing(font, "".join(NAMES))) is boxes
    assert missing(font, "Bob #1 1,000") == []
