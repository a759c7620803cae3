"""Gating ``_members``: joins and leaves of gated spaces on a platform with roles (rule 6)."""

from __future__ import annotations

from bot.cogs.gating._access import AccessState
from bot.core.platforms import PlatformName
from tests.cogs.gating._world import (
    DANA,
    GUILD,
    PRO_ROLE,
    RolePlatform,
    World,
    access_rows,
    discord_buys,
)

# --- rule 6: Discord-like roles, given on join ------------------------------------------------


async def test_paid_before_joining_gets_the_role_on_join_and_again_on_rejoin(w: World) -> None:
    discord = RolePlatform(w)
    w.cohort.platforms[PlatformName.DISCORD] = discord
    await discord_buys(w)
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.WAITING.value, 0)]
    community = w.cohort.communities["demo"]
    discord.members.add(DANA.user_id)
    await w.cohort.dispatcher.member_joined(community, DANA, GUILD)
    await w.gating.run_due()
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.GRANTED.value, 0)]
    await w.cohort.dispatcher.member_left(community, DANA, GUILD)
    await w.cohort.dispatcher.member_joined(community, DANA, GUILD)
    await w.gating.run_due()
    assert [c[0] for c in discord.calls] == ["grant", "grant", "grant"]
    assert await access_rows(w) == [(PRO_ROLE, True, AccessState.GRANTED.value, 0)]
