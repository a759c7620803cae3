"""What collection made is frozen (tests/conftest.py): later garbage collections skip it."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from tests.conftest import settle_unhandled

pytestmark = pytest.mark.backend_free


class Node:
    """An object that can refer to itself."""

    other: Node | None = None


def test_what_collection_made_is_frozen_and_a_new_cycle_is_still_collected() -> None:
    assert gc.get_freeze_count() > 10_000  # modules, test items and what they hold
    node = Node()
    node.other = node  # a cycle: only the garbage collector frees it
    gone = weakref.ref(node)
    del node
    gc.collect()
    assert gone() is None


async def test_a_task_exception_never_retrieved_is_still_reported() -> None:
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))

    async def fail() -> None:
        raise RuntimeError("never retrieved")

    try:
        task = loop.create_task(fail())
        await asyncio.sleep(0)
        assert task.done()
        del task
        await settle_unhandled()
    finally:
        loop.set_exception_handler(previous)
    assert [str(context.get("exception")) for context in seen] == ["never retrieved"]
