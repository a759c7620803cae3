"""What lectures do: schedule, deliver what is due exactly once, RSVP, check in, change."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs import points
from bot.cogs.lectures import _members as members
from bot.cogs.lectures import _native as native
from bot.cogs.lectures import _render as render
from bot.cogs.lectures import _store as store
from bot.cogs.lectures._deliveries import Deliveries, Progress, SweepResult
from bot.cogs.lectures._members import Recipient
from bot.cogs.lectures._render import Voice
from bot.cogs.lectures._rules import (
    Method,
    Rsvp,
    Scope,
    Slot,
    Status,
    checkin_open,
    plan,
    shift_wall_clock,
)
from bot.cogs.lectures._store import NewLecture, Occurrence
from bot.core.alarm import Timer
from bot.core.cohort import Cohort
from bot.core.commands import Role
from bot.core.community import Community
from bot.core.errors import UserError
from bot.core.i18n import normalize_locale
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, PlatformError
from bot.core.replies import Reply
from bot.store.lease import Lease, claimant_id
from bot.store.tables import lecture_occurrences, lectures

log = logging.getLogger(__name__)

NOTIFY = (Rsvp.GOING, Rsvp.MAYBE, Rsvp.WAITLIST)
# The alarm looks at the schedule at least this often (another process may have changed it).
ALARM_LONGEST = timedelta(seconds=10)
# Writes to these tables (by this process) may change what is due next: the alarm looks again.
SCHEDULE_TABLES = frozenset({"lecture_occurrences", "lecture_deliveries"})


@dataclass(frozen=True, slots=True)
class Changes:
    """What an organizer changes with ``/lecture edit``."""

    title: str | None = None
    speaker: str | None = None
    link: str | None = None
    duration: timedelta | None = None
    capacity: int | None = None
    tier: str | None = None

    def occurrence_values(self) -> dict[str, object]:
        """Return the occurrence columns to update."""
        values: dict[str, object] = {}
        if self.title is not None:
            values["title"] = self.title
        # An empty speaker or link, or a capacity of 0, clears it.
        for name in ("speaker", "link", "capacity"):
            value = getattr(self, name)
            if value is not None:
                values[name] = value or None
        if self.duration is not None:
            values["duration_s"] = int(self.duration.total_seconds())
        return values


class LectureService:
    """Lectures of every community of one bot."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        self.lease = Lease(claimant_id(), cohort.config.work.lease)
        self.native = native.NativeEvents(cohort, self.community, self.lease)
        self.deliveries = Deliveries(self, self.lease)
        # Fires each delivery on its second; the runtime's sweep stays as the safety net.
        self.timer = Timer(
            "lectures.alarm",
            cohort.supervisor,
            cohort.db,
            self.deliveries.next_due,
            self.sweep,
            tables=SCHEDULE_TABLES,
            longest=ALARM_LONGEST,
        )
        self.alarm = self.timer.alarm
        self.swept: list[Callable[[SweepResult], None]] = []  # told what each sweep sent

    # --- helpers ------------------------------------------------------------------------------

    def community(self, community_id: int) -> Community:
        """Return the community with this row id."""
        for community in self.cohort.communities.values():
            if community.id == community_id:
                return community
        raise LookupError(f"no community {community_id}")

    def channel_voice(self, community: Community, platform: PlatformName) -> Voice:
        """Return how posts in a community's channels on ``platform`` are written."""
        return Voice(self.cohort.i18n, community.config.locale, community.tz, platform)

    def dm_voice(self, community: Community, who: Recipient) -> Voice:
        """Return how a private message to ``who`` is written."""
        locale = normalize_locale(who.locale) or community.config.locale
        tz = ZoneInfo(who.timezone) if who.timezone else community.tz
        return Voice(self.cohort.i18n, locale, tz, who.platform)

    def targets(self, community: Community, occ: Occurrence) -> list[ChannelRef]:
        """Return the channels an occurrence is announced in."""
        configured = community.config.lectures.announce_channels
        if configured:
            return [ChannelRef(c.platform, c.channel_id, c.thread_id) for c in configured]
        return [occ.origin] if occ.origin is not None else []

    async def may_see(self, member_id: int, role: Role, tier: str | None, now: datetime) -> bool:
        """Say whether a member may see a lecture for ``tier`` (None: everyone may)."""
        if tier is None or role in (Role.ORGANIZER, Role.ADMIN):
            return True
        return tier in await self.cohort.entitlements.tiers_of(member_id, now)

    # --- scheduling -------------------------------------------------------------------------------

    async def schedule(self, new: NewLecture) -> list[Occurrence]:
        """Store a lecture and deliver its announcement; return its occurrences."""
        community = self.community(new.community_id)
        now = self.cohort.clock.now()
        lecture_id = await store.create(
            self.cohort.db, new, now=now, reminders=community.config.lectures.reminders
        )
        await self.sweep()
        async with self.cohort.db.read() as conn:
            return await store.occurrences_of(conn, lecture_id)

    # --- the sweep ------------------------------------------------------------------------------

    async def sweep(self) -> SweepResult:
        """Send what is due, then bring native events in line with changed occurrences."""
        result = await self.deliveries.run()
        for listener in self.swept:
            listener(result)
        await self.native.sync()
        return result

    async def start(self) -> None:
        """Arm the alarm: it sweeps at once what came due while the bot was down."""
        self.deliveries.stopping = False
        await self.timer.start()

    async def stop(self) -> None:
        """Let the sweeps stop after the delivery in hand and free the claims they leave."""
        self.deliveries.stopping = True
        await self.timer.stop()

    async def dm(
        self,
        community: Community,
        recipients: Sequence[Recipient],
        build: Callable[[Voice], Reply],
        *,
        tier: str | None,
        progress: Progress | None = None,
    ) -> int:
        """Message each recipient privately (those still holding ``tier``); return how many.

        With the ``progress`` of a claimed delivery, each message is recorded as it goes out,
        and those it recorded before are not sent again.
        """
        now = self.cohort.clock.now()
        count = 0
        for who in recipients:
            target = f"dm:{who.member_id}"
            if progress is not None and progress.has(target):
                continue
            role = community.role_of(who.platform, who.user_id)
            if not await self.may_see(who.member_id, role, tier, now):
                continue
            platform = self.cohort.platforms.get(who.platform)
            if platform is None:
                continue
            try:
                await platform.direct_message(who.user_id, build(self.dm_voice(community, who)))
            except PlatformError as exc:
                log.info("lectures: no DM to member %s: %s", who.member_id, exc)
                continue
            count += 1
            if progress is not None:
                await progress.sent(target)
        return count

    async def refresh(self, occ: Occurrence) -> None:
        """Edit an occurrence's announcements in place (RSVP counts, changes, cancellation)."""
        community = self.community(occ.community_id)
        counts = await members.counts_of(self.cohort.db, occ.id)
        now = self.cohort.clock.now()
        for ref in await store.posts_of(self.cohort.db, occ.id):
            platform = self.cohort.platforms.get(ref.channel.platform)
            if platform is None:
                continue
            voice = self.channel_voice(community, ref.channel.platform)
            try:
                await platform.edit(ref, render.announcement(voice, occ, counts, now=now))
            except PlatformError as exc:
                log.info("lectures: could not edit %s: %s", ref, exc)

    # --- RSVP and attendance ----------------------------------------------------------------------

    async def rsvp(
        self,
        community: Community,
        occurrence_id: int,
        member_id: int,
        role: Role,
        platform: PlatformName,
        wanted: Rsvp,
    ) -> tuple[Occurrence, Rsvp]:
        """Record an answer, move people up from the waitlist, and update the announcements."""
        now = self.cohort.clock.now()
        occ = await store.occurrence(self.cohort.db, community.id, occurrence_id)
        if occ is None:
            raise UserError("lectures.not_found", id=occurrence_id)
        if not await self.may_see(member_id, role, occ.tier, now):
            offer = community.config.offer(occ.tier or "")
            raise UserError(
                "lectures.tier_only",
                id=occurrence_id,
                tier=offer.name if offer is not None else occ.tier,
                offer=occ.tier,
            )
        if occ.status is Status.CANCELLED:
            raise UserError("lectures.rsvp.cancelled")
        if now >= occ.end:
            raise UserError("lectures.rsvp.over")
        status, moved_up = await members.answer(
            self.cohort.db, occ, member_id, platform, wanted, now
        )
        await self.refresh(occ)
        await self.tell_promoted(community, occ, moved_up)
        return occ, status

    async def tell_promoted(
        self, community: Community, occ: Occurrence, member_ids: list[int]
    ) -> None:
        """Tell members who moved up from the waitlist that they have a seat."""
        if not member_ids:
            return
        going = await members.answered(self.cohort.db, occ.id, (Rsvp.GOING,))
        chosen = [r for r in going if r.member_id in set(member_ids)]
        await self.dm(community, chosen, lambda v: render.promoted(v, occ), tier=occ.tier)

    async def checkin(
        self, community: Community, member_id: int, role: Role, code: str
    ) -> Occurrence:
        """Record a member's attendance by code and award the attendance points once."""
        now = self.cohort.clock.now()
        occ = await store.by_code(self.cohort.db, community.id, code)
        if occ is None or not await self.may_see(member_id, role, occ.tier, now):
            raise UserError("lectures.checkin.unknown", code=code)
        if occ.status is Status.CANCELLED:
            raise UserError("lectures.checkin.cancelled", title=occ.title)
        grace = community.config.lectures.checkin_grace
        if not checkin_open(now, occ.start, occ.end, grace):
            key = "lectures.checkin.early" if now < occ.start else "lectures.checkin.closed"
            raise UserError(key, title=occ.title)
        if not await self._attend(community, occ, member_id, Method.CODE, None):
            raise UserError("lectures.checkin.again", title=occ.title)
        return occ

    async def mark(
        self, community: Community, occurrence_id: int, member_id: int, by: int
    ) -> tuple[Occurrence, bool]:
        """Record a member's attendance by hand; return False when it was already recorded."""
        occ = await store.occurrence(self.cohort.db, community.id, occurrence_id)
        if occ is None:
            raise UserError("lectures.not_found", id=occurrence_id)
        if occ.start > self.cohort.clock.now():
            raise UserError("lectures.attend.future", title=occ.title)
        return occ, await self._attend(community, occ, member_id, Method.MANUAL, by)

    async def _attend(
        self,
        community: Community,
        occ: Occurrence,
        member_id: int,
        method: Method,
        by: int | None,
    ) -> bool:
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            added = await members.attend(conn, occ, member_id, method, now, marked_by=by)
        # The ledger is idempotent by (reason, ref): awarding again after a crash between the
        # two writes heals the points, and a replay never doubles them.
        amount = community.config.points.attendance
        if amount:
            await points.award(
                self.cohort.db,
                community,
                member_id,
                amount,
                points.Reason.ATTENDANCE,
                f"lecture:{occ.id}:{member_id}",
                at=now,
                actor_id=by,
            )
        return added

    # --- changes ----------------------------------------------------------------------------------

    async def _affected(
        self, community: Community, occurrence_id: int, scope: Scope
    ) -> list[Occurrence]:
        now = self.cohort.clock.now()
        occ = await store.occurrence(self.cohort.db, community.id, occurrence_id)
        if occ is None:
            raise UserError("lectures.not_found", id=occurrence_id)
        if occ.status is Status.CANCELLED:
            raise UserError("lectures.change.cancelled", title=occ.title)
        if occ.end <= now:
            raise UserError("lectures.change.over", title=occ.title)
        if scope is Scope.THIS:
            return [occ]
        async with self.cohort.db.read() as conn:
            found = await store.occurrences_of(conn, occ.lecture_id, since=now)
        return [o for o in found if o.status is Status.SCHEDULED and o.start >= occ.start]

    async def cancel(
        self, community: Community, occurrence_id: int, scope: Scope
    ) -> list[Occurrence]:
        """Cancel one occurrence or the rest of its series, and tell those who answered."""
        affected = await self._affected(community, occurrence_id, scope)
        ids = [o.id for o in affected]
        async with self.cohort.db.write() as conn:
            await conn.execute(
                update(lecture_occurrences)
                .where(lecture_occurrences.c.id.in_(ids))
                .values(status=Status.CANCELLED.value, next_due_at=None)
            )
            await native.mark(conn, ids, self.cohort.clock.now())
            await self._touch(conn, affected[0].lecture_id)
        await self.native.sync()
        done = [await self._reload(community, o.id) for o in affected]
        for occ in done:
            await self.refresh(occ)
            who = await members.answered(self.cohort.db, occ.id, NOTIFY)
            await self.dm(community, who, partial(render.cancelled, occ=occ), tier=occ.tier)
        return done

    async def move(
        self, community: Community, occurrence_id: int, when: datetime, scope: Scope
    ) -> list[Occurrence]:
        """Move one occurrence, or the rest of its series by the same wall-clock shift."""
        now = self.cohort.clock.now()
        if when <= now:
            raise UserError("lectures.past")
        affected = await self._affected(community, occurrence_id, scope)
        first = affected[0]
        if first.start <= now:
            raise UserError("lectures.change.started", title=first.title)
        tz = first.tz
        delta = when.astimezone(tz).replace(tzinfo=None) - first.start.astimezone(tz).replace(
            tzinfo=None
        )
        new_starts = {
            o.id: when if o.id == first.id else shift_wall_clock(o.start, delta, tz)
            for o in affected
        }
        reminders = community.config.lectures.reminders
        async with self.cohort.db.write() as conn:
            for occ in affected:
                start = new_starts[occ.id]
                slot = replace_slot(occ, start, now)
                await conn.execute(
                    update(lecture_occurrences)
                    .where(lecture_occurrences.c.id == occ.id)
                    .values(
                        start_at=start,
                        scheduled_at=now,
                        next_due_at=min(d.at for d in plan(slot, reminders)),
                    )
                )
            await native.mark(conn, [o.id for o in affected], now)
            await self._touch(conn, first.lecture_id)
        await self.native.sync()
        done = []
        for occ in affected:
            moved = await self._reload(community, occ.id)
            done.append(moved)
            await self.refresh(moved)
            who = await members.answered(self.cohort.db, occ.id, NOTIFY)
            moved_note = partial(render.moved, occ=moved, before=occ.start)
            await self.dm(community, who, moved_note, tier=occ.tier)
        return done

    async def edit(
        self, community: Community, occurrence_id: int, changes: Changes, scope: Scope
    ) -> list[Occurrence]:
        """Change the details of one occurrence or the rest of its series."""
        affected = await self._affected(community, occurrence_id, scope)
        if changes.tier is not None and scope is not Scope.SERIES:
            raise UserError("lectures.edit.tier_series")
        values = changes.occurrence_values()
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            if values:
                await conn.execute(
                    update(lecture_occurrences)
                    .where(lecture_occurrences.c.id.in_([o.id for o in affected]))
                    .values(**values)
                )
            series_values = dict(values)
            if changes.tier is not None:
                series_values["tier"] = changes.tier or None
            if scope is Scope.SERIES and series_values:
                await conn.execute(
                    update(lectures)
                    .where(lectures.c.id == affected[0].lecture_id)
                    .values(**series_values, updated_at=now)
                )
            else:
                await self._touch(conn, affected[0].lecture_id)
            promoted: dict[int, list[int]] = {}
            if changes.capacity is not None:
                for occ in affected:
                    promoted[occ.id] = await members.promote(
                        conn, occ.id, changes.capacity or None, now
                    )
            await native.mark(conn, [o.id for o in affected], now)
        await self.native.sync()
        done = []
        for occ in affected:
            fresh = await self._reload(community, occ.id)
            done.append(fresh)
            await self.refresh(fresh)
            who = await members.answered(self.cohort.db, occ.id, NOTIFY)
            await self.dm(community, who, partial(render.edited, occ=fresh), tier=fresh.tier)
            await self.tell_promoted(community, fresh, promoted.get(occ.id, []))
        return done

    async def _touch(self, conn: AsyncConnection, lecture_id: int) -> None:
        await conn.execute(
            update(lectures)
            .where(lectures.c.id == lecture_id)
            .values(updated_at=self.cohort.clock.now())
        )

    async def _reload(self, community: Community, occurrence_id: int) -> Occurrence:
        occ = await store.occurrence(self.cohort.db, community.id, occurrence_id)
        assert occ is not None
        return occ


def replace_slot(occ: Occurrence, start: datetime, now: datetime) -> Slot:
    """Return the delivery times of ``occ`` once moved to ``start`` at ``now``."""
    return Slot(start, start + occ.duration, occ.announce_at, now)
