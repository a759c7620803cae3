"""``paid_access_on_forget``: an erased member keeps what they paid for, or loses it everywhere."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget
from bot.core.privacy import Requester
from bot.runtime import build
from bot.store.tables import gating_access
from tests.conftest import make_config

BOB = Caller(PlatformName.CONSOLE, "bob", "Bob")
VIP = AccessTarget(PlatformName.CONSOLE, "vip")


async def bot_with(tmp_path: Path, clock: ManualClock, setting: str) -> Cohort:
    config = make_config(tmp_path, community={"privacy": {"paid_access_on_forget": setting}})
    return await build(config, clock=clock)


@pytest.fixture(params=["keep", "revoke"])
async def setting(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    yield str(request.param)


@pytest.mark.parametrize(("state", "taken"), [("granted", True), ("none", False)])
async def test_paid_access_on_forget(
    tmp_path: Path, clock: ManualClock, setting: str, state: str, taken: bool
) -> None:
    cohort = await bot_with(tmp_path, clock, setting)
    try:
        community = cohort.communities["demo"]
        console = ConsoleAdapter(cohort, community, user="alice", out=io.StringIO())
        cohort.platforms[PlatformName.CONSOLE] = console
        account = await cohort.identity.resolve(community.id, BOB)
        console.access.add(("bob", VIP))
        async with cohort.db.write() as conn:
            await conn.execute(
                insert(gating_access).values(
                    community_id=community.id,
                    member_id=account.member_id,
                    account_id=account.id,
                    platform="console",
                    user_id="bob",
                    space_id="vip",
                    role_id="",
                    desired=True,
                    state=state,
                    attempts=0,
                    updated_at=clock.now(),
                )
            )
        await cohort.privacy.erase(community.id, account.member_id, Requester.ORGANIZER)
        revoked = ("bob", VIP) not in console.access
        assert revoked == (setting == "revoke" and taken)
        async with cohort.db.read() as conn:
            assert await conn.scalar(select(func.count()).select_from(gating_access)) == 0
    finally:
        await cohort.db.close()
