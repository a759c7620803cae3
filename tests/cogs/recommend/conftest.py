"""The recommend tests' bot: the catalog of _helpers.py with the weekly digest, and its console."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.runtime import build
from tests.cogs.recommend._helpers import config_with


@pytest.fixture
async def bot(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Cohort]:
    cohort = await build(config_with(tmp_path, digest=True), clock=clock)
    try:
        yield cohort
    finally:
        await cohort.db.close()


@pytest.fixture
def con(bot: Cohort) -> ConsoleAdapter:
    adapter = ConsoleAdapter(bot, bot.communities["demo"], user="alice", out=io.StringIO())
    bot.platforms[PlatformName.CONSOLE] = adapter
    return adapter
