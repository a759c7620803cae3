"""The leaderboard card (``_card``) is a PNG with a row per member.

Apart from ``test_card.py``, whose module is marked ``backend_free``: this test ran on both
backends in the flat ``test_points.py`` and still does, so the split changed no test count.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from bot.cogs.points._card import render_card
from bot.cogs.points._ledger import Ranked


@pytest.mark.parametrize("count", [1, 10])
def test_the_card_is_a_png_with_a_row_per_member(count: int) -> None:
    rows = [
        points_ledger_ranked(rank, 1000 - rank, name)
        for rank, name in zip(
            range(1, count + 1), ["小明", "Bob " * 40, *(f"M{n}" for n in range(20))], strict=False
        )
    ]
    data = render_card(
        "This week's leaderboard · 1", rows, highlight=rows[0].member_id, font_path=None
    )
    with PILImage.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (720, 84 + 44 * count + 28)


def points_ledger_ranked(rank: int, total: int, name: str) -> Ranked:
    """Return a leaderboard line."""
    return Ranked(rank=rank, member_id=rank, total=total, name=name)
