"""The organizers' points commands: a floor for /points take, /points history, private answers."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import ConfigError
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import points_ledger
from tests.cogs.points._helpers import CAROL
from tests.conftest import START, make_config, output


async def run(console: ConsoleAdapter, user: str, *lines: str) -> str:
    """Type ``lines`` into the console as ``user`` and return what it printed."""
    console.user = user
    output(console)
    for line in lines:
        await console.handle_line(line)
    return output(console)


async def give_carol(cohort: Cohort, amount: int, ref: str = "start") -> int:
    """Give Carol points as a message would; return her member id."""
    demo = cohort.communities["demo"]
    carol = await cohort.identity.resolve(demo.id, CAROL)
    await points.award(
        cohort.db, demo, carol.member_id, amount, points.Reason.MESSAGE, ref, at=START
    )
    return carol.member_id


async def balance(cohort: Cohort, member_id: int) -> int:
    """Return a member's balance in the demo community."""
    return await points.balance_of(cohort.db, cohort.communities["demo"].id, member_id)


async def test_take_stops_at_the_floor_and_says_so(cohort: Cohort, console: ConsoleAdapter) -> None:
    carol = await give_carol(cohort, 72)
    said = await run(console, "olga", "/points take @carol 1000 spam")
    assert "Only 72 of the 1,000 points were taken: Carol is now at the floor (0)" in said
    assert "-72 points for Carol, now at 0." in said
    assert await balance(cohort, carol) == 0
    refused = await run(console, "olga", "/points take @carol 5 again")
    assert "Carol has 0 points, the floor is 0: there is nothing to take." in refused
    async with cohort.db.read() as conn:
        deltas = (await conn.scalars(select(points_ledger.c.delta))).all()
    assert sorted(deltas) == [-72, 72]  # the refusal wrote nothing
    board = await run(console, "olga", "/points export all")
    assert "0 members" in board  # not a negative line anywhere


async def test_a_configured_floor_lets_a_balance_go_that_far_below_zero(
    tmp_path: Path, clock: ManualClock
) -> None:
    bot = await build(make_config(tmp_path, community={"points": {"floor": -50}}), clock=clock)
    try:
        console = ConsoleAdapter(bot, bot.communities["demo"], user="olga", out=io.StringIO())
        bot.platforms[PlatformName.CONSOLE] = console
        carol = await give_carol(bot, 10)
        said = await run(console, "olga", "/points take @carol 100 spam")
        assert "Only 60 of the 100 points were taken" in said and "floor (-50)" in said
        assert await balance(bot, carol) == -50
    finally:
        await bot.db.close()


@pytest.mark.parametrize("floor", [1, -1_000_001, "0", True])
def test_the_floor_is_a_whole_number_from_minus_a_million_to_zero(
    tmp_path: Path, floor: object
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, community={"points": {"floor": floor}})
    assert "from -1000000 to 0" in str(caught.value)


async def test_give_and_take_answer_the_organizer_privately_and_dm_the_member(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await give_carol(cohort, 72)
    said = await run(console, "olga", "/points give @carol 8 helped at the meetup")
    dm, private = said.split("(only you can see this) [#general] cohort:")
    assert "+8 points for Carol, now at 80." in private
    assert "[#dm-carol] cohort:" in dm
    assert "Olga gave you 8 points in Demo Community: helped at the meetup. You now have 80." in dm
    said = await run(console, "olga", "/points take @carol 30 spam")
    assert "(only you can see this)" in said
    assert "Olga took 30 points from you in Demo Community: spam. You now have 50." in said
    assert "could not tell" not in said


async def test_history_shows_reasons_dates_in_the_community_zone_and_pages(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await give_carol(cohort, 500)
    await run(console, "olga", "/whoami")
    for n in range(11):
        clock.advance(timedelta(hours=1))
        await run(console, "olga", f"/points take @carol {n + 1} correction {n}")
    first = await run(console, "olga", "/points history @carol")
    assert "(only you can see this)" in first
    assert "Points ledger of Carol" in first
    # 12:00 UTC + 11 h is 00:00 the next day in Berlin: the newest line first.
    assert re.search(
        r"2026-11-22 00:00 `-11` given by an organizer — correction 10 · by Olga", first
    )
    assert first.count("given by an organizer") == 10
    assert "1 of 2" in first and "Next page" in first and "Previous page" not in first
    number = re.search(r"\[(\d+)\] Next page", first).group(1)  # type: ignore[union-attr]
    second = await run(console, "olga", f"/press {number}")
    assert "2026-11-21 13:00 `+500` message" in second
    assert "2 of 2" in second and "Previous page" in second and "Next page" not in second
    assert "There is no page 3: the ledger has 2." in await run(
        console, "olga", "/points history @carol 3"
    )
    assert "Only organizers" in await run(console, "carol", "/points history @carol")


@pytest.mark.parametrize(
    "payload", ["1", "x:1", "999999:1", "1:0", "1:999999999", f"{10**30}:1", "²:1"]
)
async def test_a_forged_history_button_is_refused(
    cohort: Cohort, console: ConsoleAdapter, payload: str
) -> None:
    await give_carol(cohort, 5)
    said = await run(console, "olga", f"/press a|points.history|{payload}")
    assert "That button no longer works. Run the command again." in said
