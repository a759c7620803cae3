"""The leaderboard as an image card (PNG), for platforms that show images."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.cogs.points._ledger import Ranked

WIDTH = 720
ROW = 44
TOP = 84
PAD = 28
BACKGROUND = (32, 34, 40)
PANEL = (44, 47, 56)
HIGHLIGHT = (70, 82, 140)
TEXT = (236, 238, 244)
MUTED = (160, 166, 180)
MEDALS = {1: (255, 200, 60), 2: (200, 206, 216), 3: (214, 140, 80)}

# Fonts tried in order when the config names none: ones that also draw Chinese first. `make`
# installs Debian's fonts-noto-cjk, the first; a deployment installs it too (README).
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
# How many faces of a font collection (.ttc) are looked at for the Simplified Chinese one.
MAX_FACES = 16

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _face(path: str, size: int) -> ImageFont.FreeTypeFont:
    """Open ``path``; of a collection (Noto's JP, KR, SC… faces), the Simplified Chinese face."""
    first = ImageFont.truetype(path, size)
    if not path.lower().endswith(".ttc"):
        return first
    for index in range(MAX_FACES):
        try:
            face = first if index == 0 else ImageFont.truetype(path, size, index=index)
        except OSError:  # past the collection's last face
            break
        if (face.getname()[0] or "").endswith(" SC"):
            return face
    return first


@lru_cache(maxsize=8)
def load_font(path: str | None, size: int, candidates: tuple[str, ...] = FONT_CANDIDATES) -> Font:
    """Load the configured font, else the first installed candidate, else Pillow's own."""
    for candidate in (path, *candidates):
        if candidate and Path(candidate).is_file():
            try:
                return _face(candidate, size)
            except OSError:
                continue
    return ImageFont.load_default(size)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def render_card(
    title: str, rows: list[Ranked], *, highlight: int | None, font_path: str | None
) -> bytes:
    """Draw a leaderboard page as a PNG; ``highlight`` is the member whose row stands out."""
    height = TOP + ROW * max(len(rows), 1) + PAD
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    big, normal = load_font(font_path, 30), load_font(font_path, 22)
    draw.text((PAD, 24), _fit(draw, title, big, WIDTH - 2 * PAD), font=big, fill=TEXT)
    for index, row in enumerate(rows):
        y = TOP + index * ROW
        fill = HIGHLIGHT if row.member_id == highlight else PANEL
        draw.rounded_rectangle((PAD, y, WIDTH - PAD, y + ROW - 6), radius=8, fill=fill)
        middle = y + (ROW - 6) // 2
        rank_colour = MEDALS.get(row.rank, MUTED)
        draw.text((PAD + 16, middle), f"#{row.rank}", font=normal, fill=rank_colour, anchor="lm")
        points = f"{row.total:,}"
        right = WIDTH - PAD - 16
        draw.text((right, middle), points, font=normal, fill=TEXT, anchor="rm")
        room = right - draw.textlength(points, font=normal) - (PAD + 96) - 16
        name = _fit(draw, row.name, normal, int(room))
        draw.text((PAD + 96, middle), name, font=normal, fill=TEXT, anchor="lm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
