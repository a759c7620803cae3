"""The analytics tests' bot: the New York community of ``world.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from tests.cogs.analytics.world import CLOCK_START, play, stock, world_config


@pytest.fixture
def clock() -> ManualClock:
    """Return a clock at the fixture's first event."""
    return ManualClock(CLOCK_START)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return the config of the New York community."""
    return world_config(tmp_path)


@pytest.fixture
async def world(cohort: Cohort, clock: ManualClock) -> AsyncIterator[Cohort]:
    """Return the bot after the fixture's events, with the other cogs' rows written."""
    await play(cohort, clock)
    await stock(cohort)
    yield cohort
