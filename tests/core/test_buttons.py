"""Button callback data: inline when it fits, stored when it does not, never confused."""

from __future__ import annotations

import pytest

from bot.core.buttons import MAX_ID, payload_fields, payload_int, read_int
from bot.core.cohort import Cohort
from bot.core.errors import UserError
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


@pytest.mark.parametrize(
    "data",
    [
        *("", "junk", "a|", "a||x", "s|", "s|abc", "s|999", "z|a|b"),
        *("s|²", "s|٣", "s|-1", "s|0", "s| 1", "s|1.0"),
        *(f"s|{2**63}", f"s|{10**30}", "s|" + "9" * 5000),  # past SQLite's 64-bit integers
    ],
)
async def test_foreign_or_stale_data_decodes_to_nothing(cohort: Cohort, data: str) -> None:
    assert await cohort.buttons.decode(cohort.communities["demo"].id, data) is None


async def test_stored_payloads_belong_to_their_community(cohort: Cohort) -> None:
    demo = cohort.communities["demo"].id
    data = await cohort.buttons.encode(demo, Button("L", "x.y", "p" * 100), limit=64)
    assert await cohort.buttons.decode(demo + 1, data) is None


@pytest.mark.parametrize(
    ("text", "low", "high", "value"),
    [
        ("1", 1, MAX_ID, 1),
        ("007", 1, MAX_ID, 7),
        (str(MAX_ID), 1, MAX_ID, MAX_ID),
        (str(MAX_ID + 1), 1, MAX_ID, None),
        ("0", 1, MAX_ID, None),
        ("0", 0, 5, 0),
        ("6", 0, 5, None),
        ("²", 1, MAX_ID, None),
        ("٣", 1, MAX_ID, None),
        ("-1", 1, MAX_ID, None),
        ("+1", 1, MAX_ID, None),
        ("", 1, MAX_ID, None),
        ("9" * 5000, 1, MAX_ID, None),  # int() itself refuses more than 4,300 digits
    ],
)
def test_read_int(text: str, low: int, high: int, value: int | None) -> None:
    assert read_int(text, low=low, high=high) == value


def test_payload_fields_and_numbers_refuse_what_cohort_did_not_write() -> None:
    assert payload_fields("week:2", 2) == ["week", "2"]
    assert payload_int("2", high=10) == 2
    for payload, count in (("week", 2), ("week:2:3", 2), ("", 2)):
        with pytest.raises(UserError) as caught:
            payload_fields(payload, count)
        assert caught.value.key == "action.unknown"
    for text in ("11", "²", str(10**30)):
        with pytest.raises(UserError) as caught:
            payload_int(text, high=10)
        assert caught.value.key == "action.unknown"
