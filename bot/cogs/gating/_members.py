"""People joining, leaving and asking to join gated spaces (rules 6, 7 and 8)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Row, func, select, update

from bot.cogs.gating._access import (
    AccessState,
    gated_targets,
    recompute,
)
from bot.core.cohort import Cohort
from bot.core.commands import Role
from bot.core.community import Community
from bot.core.platforms import PlatformName
from bot.store.tables import accounts, gating_access

log = logging.getLogger(__name__)


class Members:
    """Keeps access rows in step with who is where; the worker makes the calls."""

    def __init__(self, cohort: Cohort, kick: Callable[[], None]) -> None:
        self.cohort = cohort
        self.kick = kick  # wakes the worker to make the platform calls

    async def joined(
        self,
        community: Community,
        account_id: int,
        member_id: int,
        space: str,
        platform: PlatformName,
        role: Role,
    ) -> None:
        """Give an entitled person their access on joining; remove an intruder from a chat."""
        gated = [
            t for t in gated_targets(community) if t.platform is platform and t.space_id == space
        ]
        if not gated:
            return
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            await recompute(conn, community, member_id, now)
            rows = (
                await conn.execute(
                    select(gating_access).where(
                        gating_access.c.account_id == account_id,
                        gating_access.c.space_id == space,
                    )
                )
            ).all()
            by_role = {r.role_id: r for r in rows}
            for target in gated:
                row = by_role.get(target.role_id)
                if target.role_id:
                    # Discord: roles do not survive leaving; give them back on joining.
                    if row is not None and row.desired:
                        await conn.execute(
                            update(gating_access)
                            .where(gating_access.c.id == row.id)
                            .values(state=AccessState.NONE.value, next_attempt_at=now, attempts=0)
                        )
                    continue
                if row is not None and row.desired:
                    await conn.execute(
                        update(gating_access)
                        .where(gating_access.c.id == row.id)
                        .values(
                            state=AccessState.GRANTED.value, next_attempt_at=None, updated_at=now
                        )
                    )
                    continue
                if role is not Role.MEMBER:
                    continue  # staff may be anywhere
                values = {
                    "desired": False,
                    "state": AccessState.GRANTED.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "updated_at": now,
                }
                if row is None:
                    user_id = await conn.scalar(
                        select(accounts.c.platform_user_id).where(accounts.c.id == account_id)
                    )
                    await conn.execute(
                        gating_access.insert().values(
                            community_id=community.id,
                            member_id=member_id,
                            account_id=account_id,
                            platform=platform.value,
                            user_id=user_id,
                            space_id=space,
                            role_id="",
                            **values,
                        )
                    )
                else:
                    await conn.execute(
                        update(gating_access).where(gating_access.c.id == row.id).values(**values)
                    )
                log.info("gating: %s joined gated %s without access: removing", member_id, space)
        self.kick()

    async def left(self, community: Community, account_id: int, space: str) -> None:
        """Note that a person left a gated space (their access there is gone with them)."""
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            rows = (
                await conn.execute(
                    select(gating_access).where(
                        gating_access.c.community_id == community.id,
                        gating_access.c.account_id == account_id,
                        gating_access.c.space_id == space,
                    )
                )
            ).all()
            for row in rows:
                if row.desired:
                    state = AccessState.WAITING if row.role_id else AccessState.LEFT
                else:
                    state = AccessState.NONE
                await conn.execute(
                    update(gating_access)
                    .where(gating_access.c.id == row.id)
                    .values(
                        state=state.value, next_attempt_at=None, invite_link=None, updated_at=now
                    )
                )

    async def may_enter(
        self, community: Community, account_id: int, member_id: int, space: str
    ) -> bool:
        """Say whether a person asking to join ``space`` is entitled to it."""
        async with self.cohort.db.write() as conn:
            await recompute(conn, community, member_id, self.cohort.clock.now())
            found = await conn.scalar(
                select(func.count()).where(
                    gating_access.c.account_id == account_id,
                    gating_access.c.space_id == space,
                    gating_access.c.desired.is_(True),
                )
            )
        return bool(found)

    async def reinvite(self, community: Community, member_id: int) -> int:
        """Send fresh invite links for the chats a member is owed but not in; return how many."""
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            await recompute(conn, community, member_id, now)
            result = await conn.execute(
                update(gating_access)
                .where(
                    gating_access.c.member_id == member_id,
                    gating_access.c.desired.is_(True),
                    gating_access.c.role_id == "",
                    gating_access.c.state.in_(
                        [AccessState.INVITED.value, AccessState.LEFT.value, AccessState.NONE.value]
                    ),
                )
                .values(state=AccessState.NONE.value, next_attempt_at=now, attempts=0)
            )
        self.kick()
        return int(result.rowcount)

    async def pending_access(self, community: Community, member_id: int) -> list[Row[Any]]:
        """Return a member's access rows that the platforms have not confirmed."""
        async with self.cohort.db.read() as conn:
            return list(
                (
                    await conn.execute(
                        select(gating_access).where(
                            gating_access.c.community_id == community.id,
                            gating_access.c.member_id == member_id,
                            gating_access.c.desired.is_(True),
                            gating_access.c.state != AccessState.GRANTED.value,
                        )
                    )
                ).all()
            )
