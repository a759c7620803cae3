"""A leaderboard as CSV (``_export``), through /points export."""

from __future__ import annotations

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from tests.cogs.points._helpers import run


async def test_export_sends_a_board_as_csv(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    demo = cohort.communities["demo"]
    now = clock.now()
    for n, (name, total) in enumerate([("Bob", 30), ("=HYPERLINK()", 30), ("小明", 10)]):
        account = await cohort.identity.resolve(
            demo.id, Caller(PlatformName.CONSOLE, f"u{n}", name)
        )
        await points.award(
            cohort.db, demo, account.member_id, total, points.Reason.MANUAL, f"{n}", at=now
        )
    await run(console, "/as olga")
    said = await run(console, "/points export")
    assert "The leaderboard as CSV: 3 members." in said
    ((name, data),) = console.files.items()
    assert name == "points-demo-all-20261121.csv" and f"[file: {name}," in said
    rows = data.decode("utf-8-sig").splitlines()
    assert rows[0] == "rank,member_id,name,accounts,points"
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "1", "3"]  # ties share a rank
    assert ",'=HYPERLINK()," in rows[2]  # never a formula in a spreadsheet
    assert rows[3].endswith(",小明,console:u2,10")
    errors = await run(console, "/points export season:9")
    assert "There is no season 9 yet: this is season 1." in errors


@pytest.mark.parametrize("period", ["week", "month", "all"])
async def test_export_refuses_a_period_with_a_season_number(
    cohort: Cohort, console: ConsoleAdapter, period: str
) -> None:
    await run(console, "/as olga")
    said = await run(console, f"/points export {period} 1")
    assert f"A season number goes only with the season board, not “{period}”" in said
    assert "/points export season 1" in said
    assert not console.files
    assert "The leaderboard as CSV" in await run(console, "/points export season 1")
    ((name, _data),) = console.files.items()
    assert name == "points-demo-season-1-20261121.csv"
