"""Button callback data: inline when it fits, stored when it does not, never confused."""

from __future__ import annotations

import pytest

from bot.core.cohort import Cohort
from bot.core.replies import Button


@pytest.mark.parametrize(
    ("payload", "stored"),
    [
        ("zh_CN", False),
        ("x" * 49, False),  # "a|general.lang|" is 15 bytes: 64 in all
        ("x" * 50, True),
        ("中" * 17, True),  # 51 bytes of UTF-8
        ("", False),
    ],
)
async def test_payloads_round_trip(cohort: Cohort, payload: str, stored: bool) -> None:
    demo = cohort.communities["demo"].id
    data = await cohort.buttons.encode(demo, Button("L", "general.lang", payload), limit=64)
    assert len(data.encode()) <= 64
    assert data.startswith("s|") is stored
    assert await cohort.buttons.decode(demo, data) == ("general.lang", payload)


async def test_the_same_long_payload_is_stored_once(cohort: Cohort) -> None:
    demo = cohort.communities["demo"].id
    button = Button("L", "qa.accept", "answer:" + "9" * 80)
    first = await cohort.buttons.encode(demo, button, limit=64)
    again = await cohort.buttons.encode(demo, button, limit=64)
    assert first == again


@pytest.mark.parametrize("data", ["", "junk", "a|", "a||x", "s|", "s|abc", "s|999", "z|a|b"])
async def test_foreign_or_stale_data_decodes_to_nothing(cohort: Cohort, data: str) -> None:
    assert await cohort.buttons.decode(cohort.communities["demo"].id, data) is None


async def test_stored_payloads_belong_to_their_community(cohort: Cohort) -> None:
    demo = cohort.communities["demo"].id
    data = await cohort.buttons.encode(demo, Button("L", "x.y", "p" * 100), limit=64)
    assert await cohort.buttons.decode(demo + 1, data) is None
