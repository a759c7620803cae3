"""Gating ``_queue``: the platform calls, failing on purpose (rule 10)."""

from __future__ import annotations

from datetime import timedelta

from bot.cogs.gating._access import AccessState
from bot.core.platforms import PlatformName
from bot.core.ports import PlatformError, PlatformErrorReason
from tests.cogs.gating._world import DANA, PRO_ROLE, RolePlatform, World, access_rows, discord_buys


async def test_failed_platform_calls_are_retried_with_backoff_and_never_reported_done(
    w: World,
) -> None:
    discord = RolePlatform(w)
    discord.members.add(DANA.user_id)
    w.cohort.platforms[PlatformName.DISCORD] = discord
    admins = []
    discord.failures = [
        PlatformError(PlatformErrorReason.RATE_LIMITED, "429"),
        PlatformError(PlatformErrorReason.UNAVAILABLE, "502"),
    ]
    await discord_buys(w)
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.NONE.value, 1)]
    assert await w.holds_member(DANA) == {"pro"}  # a platform error is never "not entitled"
    await w.gating.run_due()
    assert len(discord.calls) == 1  # not due yet: backing off
    w.clock.advance(timedelta(seconds=2))
    await w.gating.run_due()
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.NONE.value, 2)]
    w.clock.advance(timedelta(seconds=4))
    await w.gating.run_due()
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.GRANTED.value, 0)]
    admins.append(w.read())
    assert "Could not" not in admins[0]


async def test_a_permanent_platform_failure_goes_to_the_admin_channel(w: World) -> None:
    discord = RolePlatform(w)
    discord.members.add(DANA.user_id)
    w.cohort.platforms[PlatformName.DISCORD] = discord
    discord.failures = [PlatformError(PlatformErrorReason.FORBIDDEN, "50013 Missing Permissions")]
    await discord_buys(w)
    printed = w.read()
    assert "[#admins] cohort:" in printed
    assert "Could not give access for discord:900000000000000001" in printed
    assert "50013 Missing Permissions" in printed
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.FAILED.value, 1)]
    w.clock.advance(timedelta(days=1))
    await w.gating.run_due()
    assert len(discord.calls) == 1  # parked: no hammering
    printed = await w.say("/gating check", "olga")  # fixed the rights: the check retries
    assert "failed platform calls retried: 1" in printed
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.GRANTED.value, 0)]
