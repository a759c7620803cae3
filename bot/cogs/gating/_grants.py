"""Manual grants and what organizers and members are shown (``/grant``, ``/revoke``,
``/membership``, ``/members``)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select, update

from bot.cogs.gating._access import (
    grace_of,
    lock_members,
    recompute,
    state_of,
)
from bot.cogs.gating._apply import Applier
from bot.cogs.gating._outcomes import Audit
from bot.cogs.gating._payments import audit
from bot.cogs.gating._rules import ManualStatus, SourceKind, SourceState, entitled
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.config import OfferConfig
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import access_sources, purchases

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Holding:
    """One source of one offer for /membership and /members."""

    member_id: int
    offer_id: str
    kind: SourceKind
    state: SourceState
    entitled: bool
    until: datetime | None
    actor_id: int | None


def _lasts_longer(a: Holding, b: Holding) -> bool:
    """Say whether ``a`` gives the offer for longer than ``b`` (no end outlasts any end)."""
    if a.entitled != b.entitled:
        return a.entitled
    if a.until is None or b.until is None:
        return a.until is None and b.until is not None
    return a.until > b.until


def strongest(holdings: Iterable[Holding], key: Callable[[Holding], object]) -> list[Holding]:
    """Keep one holding per ``key``: the one that lasts longest, in the order first seen."""
    best: dict[object, Holding] = {}
    for holding in holdings:
        found = best.get(key(holding))
        if found is None or _lasts_longer(holding, found):
            best[key(holding)] = holding
    return list(best.values())


class Grants:
    """Manual grants, recorded with who made them, and the holdings they are read back as."""

    def __init__(self, cohort: Cohort, applier: Applier, kick: Callable[[], None]) -> None:
        self.cohort = cohort
        self.applier = applier
        self.kick = kick  # wakes the worker to make the platform calls

    async def holdings(self, community: Community, member_id: int) -> list[Holding]:
        """Return a member's offers, newest first: each once, by the source that lasts longest.

        Two grants (or a grant and a purchase) of one offer are two sources; access lasts as
        long as the longer, so that is the one shown.
        """
        now = self.cohort.clock.now()
        async with self.cohort.db.read() as conn:
            rows = (
                await conn.execute(
                    select(access_sources)
                    .where(
                        access_sources.c.community_id == community.id,
                        access_sources.c.member_id == member_id,
                    )
                    .order_by(access_sources.c.updated_at.desc(), access_sources.c.id.desc())
                )
            ).all()
        return strongest((self._holding(community, row, now) for row in rows), lambda h: h.offer_id)

    def _holding(self, community: Community, row: Row[Any], now: datetime) -> Holding:
        state = state_of(row)
        grace = grace_of(community, row.offer_id)
        is_in = community.config.offer(row.offer_id) is not None and entitled(state, grace, now)
        until = row.period_end if state.kind is SourceKind.SUBSCRIPTION else state.ends_at
        return Holding(row.member_id, row.offer_id, state.kind, state, is_in, until, row.actor_id)

    async def holders(
        self, community: Community, offer_id: str, *, page: int, size: int
    ) -> tuple[list[Holding], bool]:
        """Return one page of the members who hold ``offer_id`` now, and whether more follow."""
        now = self.cohort.clock.now()
        async with self.cohort.db.read() as conn:
            rows = (
                await conn.execute(
                    select(access_sources)
                    .where(
                        access_sources.c.community_id == community.id,
                        access_sources.c.offer_id == offer_id,
                        access_sources.c.entitled.is_(True),
                    )
                    .order_by(access_sources.c.member_id, access_sources.c.id)
                )
            ).all()
        live = strongest(
            (h for row in rows if (h := self._holding(community, row, now)).entitled),
            lambda h: h.member_id,
        )
        chunk = live[page * size : (page + 1) * size]
        return chunk, len(live) > (page + 1) * size

    async def grant(
        self,
        community: Community,
        member_id: int,
        offer: OfferConfig,
        days: int | None,
        actor_id: int,
        note: str | None = None,
    ) -> datetime | None:
        """Give a member an offer by hand (for ``days``, or for good); return when it ends."""
        now = self.cohort.clock.now()
        ends = now + timedelta(days=days) if days else None
        ref = f"grant:{secrets.token_hex(8)}"
        async with self.cohort.db.write() as conn:
            await self.applier.put_source(
                conn,
                community_id=community.id,
                member_id=member_id,
                kind=SourceKind.MANUAL,
                ref=ref,
                now=now,
                offer_id=offer.id,
                status=ManualStatus.GRANTED.value,
                ends_at=ends,
                actor_id=actor_id,
                note=note,
                version=int(now.timestamp()),
                existing=None,  # a fresh reference
            )
            await insert_ignore_returning(
                conn,
                purchases,
                [
                    {
                        "community_id": community.id,
                        "member_id": member_id,
                        "offer_id": offer.id,
                        "source": "manual",
                        "source_ref": ref,
                        "purchased_at": now,
                    }
                ],
                keys=("community_id", "source", "source_ref"),
            )
            detail = f"until {ends.isoformat()}" if ends else "for good"
            await audit(
                conn,
                community.id,
                member_id,
                Audit.GRANT,
                offer.id,
                ref,
                now,
                actor_id=actor_id,
                detail=detail,
            )
            await recompute(conn, community, member_id, now)
        self.kick()
        return ends

    async def revoke(
        self, community: Community, member_id: int, offer: OfferConfig, actor_id: int
    ) -> int:
        """End a member's manual grants of an offer; return how many there were."""
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            await lock_members(conn, [member_id])  # before its sources, as recompute takes it
            rows = (
                await conn.execute(
                    select(access_sources).where(
                        access_sources.c.community_id == community.id,
                        access_sources.c.member_id == member_id,
                        access_sources.c.offer_id == offer.id,
                        access_sources.c.kind == SourceKind.MANUAL.value,
                        access_sources.c.status == ManualStatus.GRANTED.value,
                    )
                )
            ).all()
            for row in rows:
                await conn.execute(
                    update(access_sources)
                    .where(access_sources.c.id == row.id)
                    .values(status=ManualStatus.REVOKED.value, updated_at=now)
                )
                await conn.execute(
                    update(purchases)
                    .where(
                        purchases.c.community_id == community.id,
                        purchases.c.source == "manual",
                        purchases.c.source_ref == row.ref,
                    )
                    .values(refunded_at=now)
                )
                await audit(
                    conn,
                    community.id,
                    member_id,
                    Audit.REVOKE,
                    offer.id,
                    row.ref,
                    now,
                    actor_id=actor_id,
                )
            await recompute(conn, community, member_id, now)
        self.kick()
        return len(rows)
