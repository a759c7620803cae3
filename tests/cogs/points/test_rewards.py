"""Level rewards (``_rewards``): the roles a level holds, granted and taken as levels change."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.cogs.points._rewards import roles_for
from bot.core.clock import ManualClock
from bot.core.config import LevelReward
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget, PlatformError, PlatformErrorReason
from bot.runtime import build
from tests.cogs.points._helpers import BOB, NOW
from tests.conftest import make_config, output

GUILD = "111111111111111111"
REWARDS = [
    {"level": 1, "title": "Newcomer", "discord_roles": [f"{GUILD}:201"]},
    {"level": 2, "title": "Regular", "discord_roles": [f"{GUILD}:202"]},
]


class RecordingDiscord:
    """Our Platform port on Discord, recording role changes (the adapter is tested apart)."""

    name = PlatformName.DISCORD

    def __init__(self) -> None:
        self.roles: set[tuple[str, str]] = set()
        self.refuse: set[str] = set()

    async def grant_access(self, user_id: str, target: AccessTarget) -> None:
        if target.role_id in self.refuse:
            raise PlatformError(PlatformErrorReason.FORBIDDEN, "role above the bot's")
        self.roles.add((user_id, f"{target.space_id}:{target.role_id}"))

    async def revoke_access(self, user_id: str, target: AccessTarget) -> None:
        self.roles.discard((user_id, f"{target.space_id}:{target.role_id}"))


@pytest.mark.parametrize(
    ("level", "stack", "keep"),
    [
        (0, True, set()),
        (1, True, {f"{GUILD}:201"}),
        (5, True, {f"{GUILD}:201", f"{GUILD}:202"}),
        (5, False, {f"{GUILD}:202"}),
    ],
)
def test_reward_roles_for_a_level(level: int, stack: bool, keep: set[str]) -> None:
    rewards = tuple(LevelReward(**r) for r in REWARDS)
    held, dropped = roles_for(rewards, level, stack=stack)
    assert held == keep and held | dropped == {f"{GUILD}:201", f"{GUILD}:202"}
    assert not held & dropped


@pytest.mark.parametrize("stack", [True, False])
async def test_reward_roles_follow_the_level_up_and_down(
    tmp_path: Path, clock: ManualClock, stack: bool
) -> None:
    config = make_config(
        tmp_path,
        community={"points": {"level_rewards": REWARDS, "level_rewards_stack": stack}},
    )
    cohort = await build(config, clock=clock)
    discord = RecordingDiscord()
    cohort.platforms[PlatformName.DISCORD] = discord  # type: ignore[assignment]
    cog = points.PointsCog(cohort)
    try:
        demo = cohort.communities["demo"]
        dana = await cohort.identity.resolve(demo.id, Caller(PlatformName.DISCORD, "42", "Dana"))
        now = clock.now()
        await points.award(cohort.db, demo, dana.member_id, 260, points.Reason.ANSWER, "a", at=now)
        assert await cog.settle_levels() == 1
        expected = {("42", f"{GUILD}:201"), ("42", f"{GUILD}:202")}
        assert discord.roles == (expected if stack else {("42", f"{GUILD}:202")})
        assert await cog.settle_levels() == 0  # handled once
        await points.award(cohort.db, demo, dana.member_id, -150, points.Reason.MANUAL, "b", at=now)
        await cog.settle_levels()
        assert discord.roles == {("42", f"{GUILD}:201")}
    finally:
        await cohort.db.close()


async def test_a_refused_role_is_logged_and_the_rest_still_happens(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, community={"points": {"level_rewards": REWARDS}})
    cohort = await build(config, clock=clock)
    discord = RecordingDiscord()
    discord.refuse.add("201")
    cohort.platforms[PlatformName.DISCORD] = discord  # type: ignore[assignment]
    try:
        demo = cohort.communities["demo"]
        dana = await cohort.identity.resolve(demo.id, Caller(PlatformName.DISCORD, "42", "Dana"))
        await points.award(
            cohort.db, demo, dana.member_id, 260, points.Reason.ANSWER, "a", at=clock.now()
        )
        await points.PointsCog(cohort).settle_levels()
        assert discord.roles == {("42", f"{GUILD}:202")}
        assert "reward role 111111111111111111:201 for 42 not changed" in caplog.text
    finally:
        await cohort.db.close()


async def test_a_level_up_from_another_cog_is_announced_after_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config(
        tmp_path,
        community={"points": {"level_rewards": REWARDS, "level_up_channels": ["console:news"]}},
    )
    cohort = await build(config, clock=clock)
    demo = cohort.communities["demo"]
    bob = await cohort.identity.resolve(demo.id, BOB)
    await points.award(cohort.db, demo, bob.member_id, 120, points.Reason.ANSWER, "a", at=NOW)
    await cohort.db.close()  # stopped before the job ran: the change waits in the database

    cohort = await build(config, clock=clock)
    try:
        console = ConsoleAdapter(
            cohort, cohort.communities["demo"], user="alice", out=io.StringIO()
        )
        cohort.platforms[PlatformName.CONSOLE] = console
        (job,) = [j for j in cohort.jobs if j.id == "points.levels"]
        await job.run()
        said = output(console)
        assert "[#news] cohort:" in said
        assert "Bob reached level 1 and is now Newcomer!" in said
        await job.run()
        assert output(console) == ""
    finally:
        await cohort.db.close()
