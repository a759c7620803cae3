"""The knowledge base (``_search``): English and Chinese terms, and the /questions listings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.cogs import qa
from bot.cogs.qa._search import terms_of
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from tests.cogs.qa._helpers import ASK, BOB, CAROL, post, say


def test_search_terms_split_by_length() -> None:
    assert terms_of("numpy 安装 失败了 a") == (["numpy", "失败了"], ["安装", "a"])


@pytest.mark.parametrize(
    ("words", "found"),
    [
        ("numpy", [1, 2]),
        ("source", [1]),
        ("NUMPY wheel", [1]),  # the accepted answer is searched too
        ("如何安装", [2]),
        ("安装", [2]),  # two characters: below a trigram, found in the word index
        ("装", [2]),
        ("或者", [1]),  # a short term in the accepted answer
        ("to", [1]),  # a short Latin term is a whole word ...
        ("nu", []),  # ... not a piece of one
        ("wheel 或者", [1]),
        ("pip 环境", [2]),
        ("numpy 安装", [2]),
        ("matplotlib", []),
        ('"quoted', []),
        ("100%", []),
    ],
)
async def test_search_finds_english_and_chinese(
    cohort: Cohort, console: ConsoleAdapter, words: str, found: list[int]
) -> None:
    await say(
        console,
        "alice",
        "general",
        "/ask How to build numpy from source? | compiler errors",
        "/ask 如何安装 numpy？ | pip 报错，说缺少环境",
    )
    await post(cohort, BOB, "101", "Install the prebuilt wheel instead, 或者 conda")
    await say(console, "alice", "general/thread-1", "/accept @bob")
    hits = await qa.search(cohort.db, cohort.communities["demo"].id, words)
    assert sorted(h.id for h in hits) == found


async def test_questions_open_mine_and_search_commands(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await say(console, "alice", "general", ASK)
    clock.advance(timedelta(hours=1))
    await say(console, "bob", "general", "/ask 如何安装 numpy？")
    clock.advance(timedelta(hours=1))
    await say(console, "bob", "general", "/ask A third one")
    await post(
        cohort, CAROL, "101", "an answer", ChannelRef(PlatformName.CONSOLE, "general", "thread-3")
    )
    printed = await say(console, "carol", "general", "/questions open")
    assert "Unanswered questions" in printed
    assert printed.index("#1") < printed.index("#2") and "#3" not in printed
    printed = await say(console, "bob", "general", "/questions mine")
    assert printed.index("#3") < printed.index("#2") and "#1" not in printed
    printed = await say(console, "bob", "general", "/questions search 安装")
    assert "#2" in printed and "如何安装 numpy？" in printed
    printed = await say(console, "bob", "general", "/questions search nothing-like-this")
    assert "No question matches" in printed
