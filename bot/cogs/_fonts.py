"""Fonts for the image cards: the configured one, else an installed one that draws Chinese."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

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
