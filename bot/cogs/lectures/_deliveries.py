"""Announcements, reminders and "starting now": each message once, even across crashes.

A due delivery becomes a row (one per natural key) that processes claim with a lease
(``bot.store.lease``). The claimant records each message as it goes out, and that write also
checks and renews its claim; a delivery taken over from a process that died sends only what is not
recorded, so a crash repeats at most the one message the platform took just before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.lectures import _members as members
from bot.cogs.lectures import _render as render
from bot.cogs.lectures import _store as store
from bot.cogs.lectures._members import Counts
from bot.cogs.lectures._render import Voice
from bot.cogs.lectures._rules import (
    DeliveryState,
    Due,
    Kind,
    Rsvp,
    Status,
    key_start,
    next_due,
    plan,
    recheck,
)
from bot.cogs.lectures._store import Occurrence
from bot.core.community import Community
from bot.core.parsing import format_duration
from bot.core.ports import MessageRef, PlatformError
from bot.core.replies import Reply
from bot.store.dialect import insert_ignore_returning
from bot.store.lease import Lease, LeaseLost
from bot.store.tables import lecture_deliveries, lecture_delivery_messages, lecture_occurrences

if TYPE_CHECKING:
    from bot.cogs.lectures._service import LectureService

log = logging.getLogger(__name__)

SWEEP_BATCH = 500  # occurrences planned per transaction
# Deliveries claimed at a time: what one sweep sends in a few seconds, so that the other
# processes take the rest at once instead of idling while one sends a whole sweep in turn.
CLAIM_BATCH = 25
DELIVERY_KEY = ("occurrence_id", "occurrence_start", "kind", "offset_s")
_SENDING = DeliveryState.SENDING.value


@dataclass(slots=True)
class SweepResult:
    """What one sweep did: each delivery sent with how late it was, and how many it skipped."""

    sent: list[tuple[Kind, timedelta]] = field(default_factory=list)
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class _Claim:
    """A delivery this process holds the lease of, under the name ``token``."""

    id: int
    token: str
    occ: Occurrence
    kind: Kind
    offset: timedelta
    due_at: datetime


class Progress:
    """The messages one claimed delivery has sent; recording one renews the claim."""

    def __init__(self, deliveries: Deliveries, claim: _Claim, done: set[str]) -> None:
        self._deliveries = deliveries
        self._claim = claim
        self._done = done

    def has(self, target: str) -> bool:
        """Say whether the message to ``target`` went out already (before a takeover)."""
        return target in self._done

    async def sent(self, target: str, posts: Sequence[MessageRef] = ()) -> None:
        """Record the message to ``target``; raise LeaseLost when the claim is no longer ours."""
        await self._deliveries.record(self._claim, target, posts)
        self._done.add(target)


class Deliveries:
    """Claim what is due, send it, and confirm it while the claim is still this process's."""

    def __init__(self, service: LectureService, lease: Lease) -> None:
        self.service = service
        self.cohort = service.cohort
        self.lease = lease
        self.stopping = False

    # --- the sweep ----------------------------------------------------------------------------

    async def next_due(self) -> datetime | None:
        """Return when something next comes due: a planned delivery, or a claim running out."""
        async with self.cohort.db.read() as conn:
            planned = await conn.scalar(select(func.min(lecture_occurrences.c.next_due_at)))
            held = await conn.scalar(
                select(func.min(lecture_deliveries.c.lease_until)).where(
                    lecture_deliveries.c.status == _SENDING
                )
            )
        times = [t for t in (planned, held) if t is not None]
        return min(times) if times else None

    async def run(self) -> SweepResult:
        """Claim and send every announcement, reminder and "starting now" that is due."""
        result = SweepResult()
        while not self.stopping:
            token = self.lease.token()
            claims, more = await self._claim(self.cohort.clock.now(), token, result)
            if claims:
                ids = [c.id for c in claims]
                async with self.lease.kept(partial(self._renew, token, ids)):
                    await self._send_all(token, claims, result)
            if not more:
                break
        return result

    async def _send_all(self, token: str, claims: list[_Claim], result: SweepResult) -> None:
        left = {c.id for c in claims}
        try:
            for claim in claims:
                if self.stopping:
                    break
                late = await self._send(claim)
                left.discard(claim.id)
                if late is not None:
                    result.sent.append((claim.kind, late))
        finally:
            if left:
                await self._release(token, left)

    async def _send(self, claim: _Claim) -> timedelta | None:
        """Send one claimed delivery; return how late it went out, or None when it did not."""
        state = DeliveryState.SENT
        try:
            done = await self._hold(claim)
            await self._deliver(claim, Progress(self, claim, done))
        except LeaseLost:
            log.warning(
                "lectures: another process took over the %s of occurrence %s",
                claim.kind,
                claim.occ.id,
            )
            return None
        except Exception:
            # A delivery that fails this way is not tried again: it would fail again.
            log.exception("lectures: %s for occurrence %s failed", claim.kind, claim.occ.id)
            state = DeliveryState.FAILED
        if not await self._confirm(claim, state) or state is not DeliveryState.SENT:
            return None
        return self.cohort.clock.now() - claim.due_at

    # --- claiming -----------------------------------------------------------------------------

    async def _claim(
        self, now: datetime, token: str, result: SweepResult
    ) -> tuple[list[_Claim], bool]:
        """Make rows of what came due, and claim those free or left by a dead claimant.

        Return the claims to send, and whether more may be waiting.
        """
        # Most sweeps find nothing: look first, so that they never take the write lock.
        async with self.cohort.db.read() as conn:
            anything = await conn.scalar(
                select(lecture_occurrences.c.id)
                .where(lecture_occurrences.c.next_due_at <= now)
                .limit(1)
            ) or await conn.scalar(select(lecture_deliveries.c.id).where(_claimable(now)).limit(1))
        if anything is None:
            return [], False
        async with self.cohort.db.write() as conn:
            planned = await self._plan_due(conn, now)
            table = lecture_deliveries
            rows = await self.lease.claim(
                conn,
                table,
                _claimable(now),
                token=token,
                now=now,
                order_by=(table.c.due_at, table.c.id),
                limit=CLAIM_BATCH,
                returning=(
                    table.c.id,
                    table.c.occurrence_id,
                    table.c.occurrence_start,
                    table.c.kind,
                    table.c.offset_s,
                    table.c.due_at,
                ),
                claimed_at=now,
            )
            # RETURNING comes in no set order: send the soonest due first.
            rows = sorted(rows, key=lambda r: (r.due_at, r.id))
            claims = await self._keep_sendable(conn, rows, now, token, result)
        return claims, planned == SWEEP_BATCH or len(rows) == CLAIM_BATCH

    async def _plan_due(self, conn: AsyncConnection, now: datetime) -> int:
        """Add a free row for each delivery of the occurrences due; return how many were due."""
        found = (
            await conn.execute(
                store.occurrence_select()
                .where(lecture_occurrences.c.next_due_at <= now)
                .order_by(lecture_occurrences.c.next_due_at)
                .limit(SWEEP_BATCH)
            )
        ).all()
        rows_out: list[dict[str, object]] = []
        next_values: list[tuple[int, datetime | None]] = []
        for row in found:
            occ = store.to_occurrence(row)
            if occ.status is not Status.SCHEDULED:
                next_values.append((occ.id, None))
                continue
            config = self.service.community(occ.community_id).config.lectures
            dues = plan(occ.slot, config.reminders)
            for due in dues:
                if due.at > now:
                    continue
                rows_out.append(
                    {
                        "community_id": occ.community_id,
                        "occurrence_id": occ.id,
                        "occurrence_start": key_start(due, occ.original_start, occ.start),
                        "kind": due.kind.value,
                        "offset_s": int(due.offset.total_seconds()),
                        "due_at": due.at,
                        "claimed_at": now,
                        "status": _SENDING,
                        "lease_until": now,  # free: the claim below takes it
                    }
                )
            next_values.append((occ.id, next_due(dues, now)))
        # A key that exists was made before, by this process or another: it is not made twice.
        await insert_ignore_returning(conn, lecture_deliveries, rows_out, keys=DELIVERY_KEY)
        await store.set_next_due(conn, next_values)
        return len(found)

    async def _keep_sendable(
        self,
        conn: AsyncConnection,
        rows: Sequence[Any],
        now: datetime,
        token: str,
        result: SweepResult,
    ) -> list[_Claim]:
        """Return the claimed deliveries to send; mark those too late (or moot) as skipped."""
        ids = sorted({r.occurrence_id for r in rows})
        occurrences = {
            o.id: o
            for o in (
                store.to_occurrence(found)
                for found in (
                    await conn.execute(
                        store.occurrence_select().where(lecture_occurrences.c.id.in_(ids))
                    )
                ).all()
            )
        }
        claims: list[_Claim] = []
        for row in rows:
            occ = occurrences[row.occurrence_id]
            due = Due(Kind(row.kind), timedelta(seconds=row.offset_s), row.due_at)
            grace = self.service.community(occ.community_id).config.lectures.late_grace
            skip = recheck(due, row.occurrence_start, occ.status, occ.slot, now, grace)
            if skip is None:
                claims.append(_Claim(row.id, token, occ, due.kind, due.offset, due.at))
                continue
            await conn.execute(
                update(lecture_deliveries)
                .where(lecture_deliveries.c.id == row.id)
                .values(status=DeliveryState.SKIPPED.value, detail=skip.value)
            )
            result.skipped += 1
            log.info(
                "lectures: skipped the %s (%s before) of occurrence %s due %s: %s",
                due.kind,
                format_duration(due.offset),
                occ.id,
                due.at.isoformat(),
                skip,
            )
        return claims

    # --- holding the claims -------------------------------------------------------------------

    @staticmethod
    def _held(token: str, *ids: int) -> Any:
        return (
            lecture_deliveries.c.id.in_(ids),
            lecture_deliveries.c.claimed_by == token,
            lecture_deliveries.c.status == _SENDING,
        )

    async def _renew(self, token: str, ids: list[int]) -> None:
        """Extend the claims of a batch that is still being sent."""
        async with self.cohort.db.write() as conn:
            await conn.execute(
                update(lecture_deliveries)
                .where(*self._held(token, *ids))
                .values(lease_until=self.lease.until(self.cohort.clock.now()))
            )

    async def _hold(self, claim: _Claim) -> set[str]:
        """Extend the claim before sending, and return what it sent before a takeover.

        Raise LeaseLost when another process took it over meanwhile (this one stalled).
        """
        async with self.cohort.db.write() as conn:
            await self._extend(conn, claim)
            found = await conn.execute(
                select(lecture_delivery_messages.c.target).where(
                    lecture_delivery_messages.c.delivery_id == claim.id
                )
            )
            return set(found.scalars().all())

    async def _extend(self, conn: AsyncConnection, claim: _Claim) -> None:
        held = await conn.execute(
            update(lecture_deliveries)
            .where(*self._held(claim.token, claim.id))
            .values(lease_until=self.lease.until(self.cohort.clock.now()))
        )
        if held.rowcount != 1:
            raise LeaseLost(claim.id)

    async def record(self, claim: _Claim, target: str, posts: Sequence[MessageRef]) -> None:
        """Record one message sent for ``claim`` (and extend the claim), if it is still ours."""
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            await self._extend(conn, claim)
            row = {
                "community_id": claim.occ.community_id,
                "delivery_id": claim.id,
                "target": target,
                "sent_at": now,
            }
            await insert_ignore_returning(
                conn, lecture_delivery_messages, [row], keys=("delivery_id", "target")
            )
            await store.add_posts_in(conn, claim.occ.community_id, claim.occ.id, posts, now)

    async def _confirm(self, claim: _Claim, state: DeliveryState) -> bool:
        """Record how a delivery went; return False when another process had taken it over."""
        async with self.cohort.db.write() as conn:
            done = await conn.execute(
                update(lecture_deliveries)
                .where(*self._held(claim.token, claim.id))
                .values(status=state.value)
            )
        if done.rowcount != 1:
            log.warning("lectures: lost the claim on delivery %s before confirming it", claim.id)
            return False
        return True

    async def _release(self, token: str, ids: set[int]) -> None:
        """Let other sweeps take at once the claims this one will not send (it is stopping)."""
        try:
            async with self.cohort.db.write() as conn:
                await conn.execute(
                    update(lecture_deliveries)
                    .where(*self._held(token, *sorted(ids)))
                    .values(lease_until=self.cohort.clock.now())
                )
        except Exception:
            log.exception("lectures: could not release %s claims; their lease runs out", len(ids))

    # --- sending ------------------------------------------------------------------------------

    async def _deliver(self, claim: _Claim, progress: Progress) -> None:
        """Post a claimed delivery in the channels and privately to those going."""
        occ = claim.occ
        community = self.service.community(occ.community_id)
        now = self.cohort.clock.now()
        if claim.kind is Kind.ANNOUNCE:
            # Nobody can have answered yet: the RSVP buttons come with this announcement.
            await self._post(
                community,
                occ,
                lambda v: render.announcement(v, occ, Counts(), now=now),
                progress,
                keep=True,
            )
            await self.service.native.create(community, occ)
            return
        if claim.kind is Kind.REMINDER:
            await self._post(
                community,
                occ,
                lambda v: render.reminder(v, occ, claim.offset, private=False),
                progress,
            )
            await self._dm_going(
                community,
                occ,
                lambda v: render.reminder(v, occ, claim.offset, private=True),
                progress,
            )
            return
        await self._post(community, occ, lambda v: render.starting(v, occ, private=False), progress)
        await self._dm_going(
            community, occ, lambda v: render.starting(v, occ, private=True), progress
        )

    async def _post(
        self,
        community: Community,
        occ: Occurrence,
        build: Callable[[Voice], Reply],
        progress: Progress,
        *,
        keep: bool = False,
    ) -> None:
        """Post in every announcement channel whose platform is running (``keep``: to edit)."""
        for channel in self.service.targets(community, occ):
            target = f"post:{channel.platform}:{channel.channel_id}:{channel.thread_id or ''}"
            if progress.has(target):
                continue
            platform = self.cohort.platforms.get(channel.platform)
            if platform is None:
                log.debug("lectures: no %s adapter running for %s", channel.platform, channel)
                continue
            voice = self.service.channel_voice(community, channel.platform)
            try:
                ref = await platform.send(channel, build(voice))
            except PlatformError as exc:
                log.warning("lectures: could not post in %s: %s", channel, exc)
                continue
            await progress.sent(target, [ref] if keep else [])

    async def _dm_going(
        self,
        community: Community,
        occ: Occurrence,
        build: Callable[[Voice], Reply],
        progress: Progress,
    ) -> None:
        default = community.config.lectures.dm_reminders
        going = await members.answered(self.cohort.db, occ.id, (Rsvp.GOING,))
        settings = await members.dm_settings(
            self.cohort.db, community.id, [r.member_id for r in going]
        )
        wanted = [r for r in going if settings.get(r.member_id, default)]
        await self.service.dm(community, wanted, build, tier=occ.tier, progress=progress)


def _claimable(now: datetime) -> Any:
    """Return the condition of a delivery no live process holds: free, or its lease ran out."""
    return (lecture_deliveries.c.status == _SENDING) & (lecture_deliveries.c.lease_until <= now)
