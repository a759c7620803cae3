"""The gating tests' fixture: the gating world (``_world.world``) on the tests' clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.clock import ManualClock
from tests.cogs.gating._world import World, world


@pytest.fixture
async def w(tmp_path: Path, clock: ManualClock) -> AsyncIterator[World]:
    """Return the gating world: bot, console, web app and Stripe stand-in on one clock."""
    async with world(tmp_path, clock) as it:
        yield it
