"""Levels (``_levels``): the curves, and a level-up announced where the config says."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.cogs.points._levels import cost_of_next, progress, total_for
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import LevelCurve
from bot.core.platforms import PlatformName
from bot.runtime import build
from tests.cogs.points._helpers import BOB, NOW, post
from tests.conftest import make_config, output


@pytest.mark.parametrize(
    ("level", "total"), [(0, 0), (1, 100), (2, 255), (10, 4_675), (100, 1_899_250)]
)
def test_the_mee6_curve(level: int, total: int) -> None:
    assert total_for(level, LevelCurve.MEE6, 0) == total
    assert progress(total, LevelCurve.MEE6, 0).level == level
    assert progress(total - 1, LevelCurve.MEE6, 0).level == max(level - 1, 0)


@pytest.mark.parametrize(
    ("curve", "points", "level", "into", "needed"),
    [
        (LevelCurve.LINEAR, 0, 0, 0, 100),
        (LevelCurve.LINEAR, 299, 1, 199, 200),
        (LevelCurve.LINEAR, 300, 2, 0, 300),
        (LevelCurve.FLAT, 250, 2, 50, 100),
        (LevelCurve.MEE6, -40, 0, 0, 100),
    ],
)
def test_other_curves(curve: LevelCurve, points: int, level: int, into: int, needed: int) -> None:
    got = progress(points, curve, 100)
    assert (got.level, got.into, got.needed) == (level, into, needed)
    assert cost_of_next(got.level, curve, 100) == needed


async def test_a_level_up_is_announced(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    demo = cohort.communities["demo"]
    bob = await cohort.identity.resolve(demo.id, BOB)
    await points.award(cohort.db, demo, bob.member_id, 95, points.Reason.MANUAL, "near", at=NOW)
    await post(cohort, BOB, "1", "this message crosses into level one")
    assert "Bob reached level 1!" in output(console)


async def test_level_ups_can_go_by_dm_or_nowhere(tmp_path: Path, clock: ManualClock) -> None:
    for mode, where in (("dm", "[#dm-bob] cohort:"), ("off", None)):
        (tmp_path / mode).mkdir()
        config = make_config(tmp_path / mode, community={"points": {"level_up_message": mode}})
        cohort = await build(config, clock=clock)
        try:
            console = ConsoleAdapter(
                cohort, cohort.communities["demo"], user="alice", out=io.StringIO()
            )
            cohort.platforms[PlatformName.CONSOLE] = console
            bob = await cohort.identity.resolve(cohort.communities["demo"].id, BOB)
            await points.award(
                cohort.db,
                cohort.communities["demo"],
                bob.member_id,
                95,
                points.Reason.MANUAL,
                "n",
                at=NOW,
            )
            await post(cohort, BOB, "1", "this message crosses into level one")
            said = output(console)
            if where is None:
                assert "reached level" not in said
            else:
                assert where in said and "Bob reached level 1!" in said
                assert "[#general] cohort:" not in said
        finally:
            await cohort.db.close()
