"""The analytics tests' bot: the New York community of ``world.py``.

A module marked ``copied_world`` starts each test asking for ``world`` from a copy of the world
this worker played once (``tests/_postgres.py``'s ``copy_of``) rather than playing it again: the
56 ledger cases would otherwise play it 56 times. Its bot is built on the copy, as after a
restart, with the accounts ``stock`` resolves in its cache again.
``test_world.py`` checks that the copy holds what playing the world writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from tests import _postgres
from tests.cogs.analytics.world import (
    CALLERS,
    CLOCK_START,
    PLAYED_TO,
    play,
    played_world,
    stock,
    world_config,
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of the modules whose ``world`` is a copy."""
    config.addinivalue_line("markers", "copied_world: start `world` from a copy of one played")


@pytest.fixture
def clock() -> ManualClock:
    """Return a clock at the fixture's first event."""
    return ManualClock(CLOCK_START)


@pytest.fixture
def config(tmp_path: Path, request: pytest.FixtureRequest) -> Config:
    """Return the config of the New York community, on a copy of the world if marked so."""
    if "world" in request.fixturenames and request.node.get_closest_marker("copied_world"):
        _postgres.copy_of(tmp_path, "world", played_world)
    return world_config(tmp_path)


@pytest.fixture
async def world(cohort: Cohort, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Cohort]:
    """Return the bot after the fixture's events, with the other cogs' rows written."""
    if _postgres.copied(tmp_path) == "world":
        clock.advance(PLAYED_TO - clock.now())  # where playing the events leaves it
        for caller in CALLERS.values():  # as ``stock`` leaves the cache
            await cohort.identity.resolve(cohort.communities["demo"].id, caller)
    else:
        await play(cohort, clock)
        await stock(cohort)
    yield cohort
