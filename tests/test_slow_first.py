"""The suite starts its slow tests first, so that the xdist workers finish together."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import slow_first

pytestmark = pytest.mark.backend_free


class Item:
    """What ``slow_first`` reads of a collected test: its name and its marks."""

    def __init__(self, name: str, *marks: str) -> None:
        self.name = name
        self.marks = marks

    def get_closest_marker(self, name: str) -> Any:
        return name if name in self.marks else None


def test_slow_tests_move_to_the_front_and_both_parts_keep_their_order() -> None:
    items: list[Any] = [
        Item("a"),
        Item("b", "slow"),
        Item("c", "backend_free"),
        Item("d", "slow", "backend_free"),
        Item("e"),
    ]
    slow_first(items)
    assert [item.name for item in items] == ["b", "d", "a", "c", "e"]


def test_the_collected_suite_starts_with_its_slow_tests(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    marked = [item.get_closest_marker("slow") is not None for item in items]
    assert marked == sorted(marked, reverse=True)  # every slow one before every other
