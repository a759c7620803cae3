"""A world copied for a test (``copied_world``) holds what playing the world writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.runtime import build
from bot.store.tables import metadata
from tests import _postgres
from tests.cogs.analytics.world import CLOCK_START, play, stock, world_config

pytestmark = pytest.mark.copied_world


# Drawn at random each time the world is played: the points a message earns, a link code; and
# on PostgreSQL the id of the transaction that wrote a row, in any table.
ANY_TABLE = {"ledger_mark"}
RANDOM = {
    "link_codes": {"code"},
    "points_ledger": {"delta"},
    "points_balances": {"balance"},
    "points_period_totals": {"total"},
}


async def rows(bot: Cohort) -> dict[str, list[str]]:
    """Return every table's rows but their random columns, as text in a fixed order."""
    found = {}
    async with bot.db.read() as conn:
        for table in metadata.sorted_tables:
            left_out = ANY_TABLE | RANDOM.get(table.name, set())
            columns = [c for c in table.columns if c.name not in left_out]
            result = await conn.execute(select(*columns))
            found[table.name] = sorted(repr(tuple(r)) for r in result)
    return found


async def test_a_copied_world_holds_the_rows_and_time_of_one_played_here(
    world: Cohort, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert _postgres.copied(tmp_path) == "world"
    clock = ManualClock(CLOCK_START)
    played = await build(world_config(tmp_path_factory.mktemp("played")), clock=clock)
    try:
        await play(played, clock)
        await stock(played)
        found = await rows(played)
        assert sum(map(len, found.values())) > 50
        assert await rows(world) == found
        assert world.clock.now() == clock.now()
    finally:
        await played.db.close()
