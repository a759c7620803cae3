"""Timed mutes and bans lifted on schedule, once, across restarts and several processes.

A due case is claimed under a lease (``bot.store.lease``), lifted on every platform, and marked
done in the same transaction that records the lifting case; a process that takes over a dead
one's claim lifts again (harmless: lifting twice changes nothing) but records it once.
"""

from __future__ import annotations

import logging
from functools import partial

from sqlalchemy import update

from bot.cogs.moderation import _store as store
from bot.cogs.moderation._rules import Action, Expiry, Source, State
from bot.cogs.moderation._service import ModerationService
from bot.cogs.moderation._store import Case, NewCase
from bot.core.community import Community
from bot.core.ports import Platform
from bot.store.lease import Lease, claimant_id
from bot.store.tables import moderation_cases

log = logging.getLogger(__name__)

SWEEP_BATCH = 50


class Expiries:
    """Lifts the due mutes and bans of one process, under its lease."""

    def __init__(self, service: ModerationService) -> None:
        self.service = service
        self.cohort = service.cohort
        self.lease = Lease(claimant_id(), service.cohort.config.work.lease)

    async def sweep(self) -> int:
        """Lift the timed mutes and bans that are due; return how many this process lifted."""
        now = self.cohort.clock.now()
        token = self.lease.token()
        c = moderation_cases.c
        async with self.cohort.db.write() as conn:
            rows = await self.lease.claim(
                conn,
                moderation_cases,
                store.due_expiry(now),
                token=token,
                now=now,
                order_by=[c.until, c.id],
                limit=SWEEP_BATCH,
                returning=[c.id, c.community_id, c.number],
            )
        if not rows:
            return 0
        ids = [r.id for r in rows]
        lifted = 0
        async with self.lease.kept(partial(self._renew, token, ids)):
            for row in rows:
                community = next(
                    (x for x in self.cohort.communities.values() if x.id == row.community_id),
                    None,
                )
                if community is None:
                    continue
                case = await store.case_by_number(self.cohort.db, community.id, row.number)
                if case is not None and await self._lift(community, case, token):
                    lifted += 1
        return lifted

    async def _renew(self, token: str, ids: list[int]) -> None:
        async with self.cohort.db.write() as conn:
            await conn.execute(
                update(moderation_cases)
                .where(moderation_cases.c.id.in_(ids), moderation_cases.c.claimed_by == token)
                .values(lease_until=self.lease.until(self.cohort.clock.now()))
            )

    async def _lift(self, community: Community, case: Case, token: str) -> bool:
        """Lift one due mute or ban this process claimed; record it once."""
        if case.member_id is None:
            return False
        member_id = case.member_id
        if case.action is Action.MUTE:
            undo, act = Action.UNMUTE, self._unmute_act
        else:
            undo, act = Action.UNBAN, self._unban_act
        _, refusals = await self.service.each_space(community, member_id, act, missing_ok=True)
        now = self.cohort.clock.now()
        state = State.FAILED if refusals else State.DONE
        async with self.cohort.db.write() as conn:
            outcome = Expiry.FAILED if refusals else Expiry.DONE
            if not await store.finish_expiry_in(conn, case.id, token, outcome):
                log.warning("moderation: case %s was taken over; leaving it", case.number)
                return False
            lifted = await store.add_case_in(
                conn,
                community.id,
                NewCase(
                    action=undo,
                    source=Source.EXPIRY,
                    member_id=member_id,
                    moderator_id=None,
                    reason=f"#{case.number}",
                    state=state,
                    created_at=now,
                    detail="; ".join(str(r) for r in refusals) or None,
                ),
            )
        if state is State.DONE:
            await self.service.tell_member(community, lifted, now)
        accounts = await self.cohort.identity.accounts_of(member_id)
        name = accounts[0].display_name if accounts else None
        await self.service.post_log(community, lifted, "Cohort", name)
        return state is State.DONE

    @staticmethod
    async def _unmute_act(platform: Platform, space: str, user: str) -> None:
        await platform.timeout_member(space, user, None)

    @staticmethod
    async def _unban_act(platform: Platform, space: str, user: str) -> None:
        await platform.unban_member(space, user)
