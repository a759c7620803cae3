"""The /stats chart: members per day (a line) over messages per day (bars), as a PNG."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

from bot.cogs._fonts import Font, load_font
from bot.cogs.analytics._figures import DayCount

WIDTH = 800
PANEL_HEIGHT = 200
PAD = 28
TITLE = 64
GAP = 44
BACKGROUND = (32, 34, 40)
PANEL = (44, 47, 56)
GRID = (70, 74, 86)
TEXT = (236, 238, 244)
MUTED = (160, 166, 180)
LINE = (120, 170, 255)
BAR = (110, 200, 150)


def _panel(
    draw: ImageDraw.ImageDraw,
    top: int,
    label: str,
    points: Sequence[DayCount],
    *,
    bars: bool,
    colour: tuple[int, int, int],
    font: Font,
    small: Font,
) -> None:
    """Draw one series in a panel whose top edge is ``top``."""
    left, right = PAD, WIDTH - PAD
    bottom = top + PANEL_HEIGHT
    draw.rounded_rectangle((left, top, right, bottom), radius=8, fill=PANEL)
    high = max((p.value for p in points), default=0)
    draw.text((left + 12, top + 10), label, font=font, fill=TEXT)
    draw.text((right - 12, top + 10), f"{high:,}", font=small, fill=MUTED, anchor="ra")
    inner_top, inner_bottom = top + 44, bottom - 28
    inner_left, inner_right = left + 16, right - 16
    draw.line((inner_left, inner_bottom, inner_right, inner_bottom), fill=GRID, width=1)
    if not points:
        return
    step = (inner_right - inner_left) / len(points)
    scale = (inner_bottom - inner_top) / high if high else 0.0

    def y_of(value: int) -> float:
        return inner_bottom - value * scale

    if bars:
        for n, p in enumerate(points):
            x0 = inner_left + n * step + step * 0.15
            x1 = inner_left + (n + 1) * step - step * 0.15
            if p.value:
                draw.rectangle((x0, y_of(p.value), max(x0 + 1, x1), inner_bottom), fill=colour)
    else:
        xy = [(inner_left + (n + 0.5) * step, y_of(p.value)) for n, p in enumerate(points)]
        if len(xy) == 1:
            x, y = xy[0]
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
        else:
            draw.line(xy, fill=colour, width=3, joint="curve")
    first, last = points[0].day, points[-1].day
    draw.text((inner_left, bottom - 8), first.isoformat(), font=small, fill=MUTED, anchor="ls")
    draw.text((inner_right, bottom - 8), last.isoformat(), font=small, fill=MUTED, anchor="rs")


def render_chart(
    title: str,
    members_label: str,
    messages_label: str,
    members: Sequence[DayCount],
    messages: Sequence[DayCount],
    *,
    font_path: str | None,
) -> bytes:
    """Draw the members and messages panels under ``title``; return PNG bytes."""
    height = TITLE + 2 * PANEL_HEIGHT + GAP + PAD
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    big, normal, small = (
        load_font(font_path, 28),
        load_font(font_path, 20),
        load_font(font_path, 15),
    )
    draw.text((PAD, 20), title, font=big, fill=TEXT)
    _panel(draw, TITLE, members_label, members, bars=False, colour=LINE, font=normal, small=small)
    _panel(
        draw,
        TITLE + PANEL_HEIGHT + GAP,
        messages_label,
        messages,
        bars=True,
        colour=BAR,
        font=normal,
        small=small,
    )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
