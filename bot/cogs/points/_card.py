"""The leaderboard as an image card (PNG), for platforms that show images."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from bot.cogs._fonts import Font, load_font
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
