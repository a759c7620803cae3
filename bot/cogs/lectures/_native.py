"""Native calendar events (Discord guild scheduled events) that follow their occurrence.

One row of ``lecture_native_events`` per occurrence and guild. The announcement creates the
event; a cancel, move or edit bumps the row's ``version`` and makes it due, in the same write
transaction as the change; ``sync`` then deletes or edits the event and is run again by the
lectures sweep until the platform has taken the change (or the session is over). A process
works on a row only while it holds the row's lease (``bot.store.lease``), so no two act on one
event.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.lectures import _store as store
from bot.cogs.lectures._rules import Status
from bot.cogs.lectures._store import Occurrence
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.platforms import PlatformName
from bot.core.ports import PlatformError, PlatformErrorReason, ScheduledEvent
from bot.store.dialect import insert_ignore_returning
from bot.store.lease import Lease
from bot.store.tables import lecture_native_events, lecture_occurrences

log = logging.getLogger(__name__)

KEY = ("occurrence_id", "platform", "space_id")
# The platforms with native events (Telegram has none; the console only pretends).
PLATFORMS = (PlatformName.DISCORD,)
BATCH = 100
RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 10
ERROR_LENGTH = 500


class EventState(StrEnum):
    """Whether a native event exists for an occurrence in one guild."""

    PENDING = "pending"  # wanted but not made: its creation failed and is retried
    ACTIVE = "active"  # exists on the platform as ``event_id``
    GONE = "gone"  # deleted with its occurrence, or by a moderator: never made again


def wanted(community: Community, occ: Occurrence) -> ScheduledEvent:
    """Return the event an occurrence should have; a paid lecture's link is never shown."""
    return ScheduledEvent(
        title=occ.title,
        description=occ.speaker or "",
        start=occ.start,
        end=occ.end,
        location=(occ.link if not occ.tier else None) or community.config.name,
    )


def fingerprint(event: ScheduledEvent) -> str:
    """Return a digest of what an event says, to tell whether it needs an edit."""
    fields = [event.title, event.description, event.start.isoformat(), event.end.isoformat()]
    fields.append(event.location)
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def retry_after(attempts: int) -> timedelta:
    """Return how long to wait after ``attempts`` failed tries: 30 s, doubling, at most 1 h."""
    wait: timedelta = RETRY_FIRST * 2 ** max(attempts - 1, 0)
    return min(wait, RETRY_MAX)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one attempt left: the event's state and id, and the error when it failed."""

    state: EventState
    event_id: str | None
    fingerprint: str | None
    error: str | None = None


class NativeEvents:
    """Create native events with announcements and keep them in step with their occurrence."""

    def __init__(
        self, cohort: Cohort, community_of: Callable[[int], Community], lease: Lease
    ) -> None:
        self.cohort = cohort
        self.community_of = community_of
        self.lease = lease

    async def create(self, community: Community, occ: Occurrence) -> None:
        """Create an occurrence's event in each of the community's guilds and remember it."""
        if not community.config.lectures.native_events or not community.config.discord_guilds:
            return
        platform = self.cohort.platforms.get(PlatformName.DISCORD)
        if platform is None:
            return
        event = wanted(community, occ)
        sent = fingerprint(event)
        table = lecture_native_events
        async with self.cohort.db.read() as conn:
            # An announcement taken over after a crash: the guilds done before are not redone.
            made = set(
                (
                    await conn.execute(
                        select(table.c.space_id).where(table.c.occurrence_id == occ.id)
                    )
                )
                .scalars()
                .all()
            )
        for guild in community.config.discord_guilds:
            if str(guild) in made:
                continue
            now = self.cohort.clock.now()
            row: dict[str, Any] = {
                "community_id": community.id,
                "occurrence_id": occ.id,
                "platform": PlatformName.DISCORD.value,
                "space_id": str(guild),
                "version": 0,
                "created_at": now,
                "updated_at": now,
            }
            try:
                event_id = await platform.create_scheduled_event(guild, event)
            except PlatformError as exc:
                log.warning("lectures: no scheduled event in guild %s yet: %s", guild, exc)
                row |= {
                    "event_id": None,
                    "state": EventState.PENDING.value,
                    "fingerprint": None,
                    "attempts": 1,
                    "next_attempt_at": now + retry_after(1),
                    "last_error": str(exc)[:ERROR_LENGTH],
                }
            else:
                row |= {
                    "event_id": event_id,
                    "state": EventState.ACTIVE.value,
                    "fingerprint": sent,
                    "attempts": 0,
                    "next_attempt_at": None,
                    "last_error": None,
                }
            # Written at once, so that a crash after the next guild cannot make this one twice.
            async with self.cohort.db.write() as conn:
                await insert_ignore_returning(conn, table, [row], keys=KEY)
        async with self.cohort.db.write() as conn:
            # A cancel, move or edit while the platform answered found no row to mark: look
            # at the occurrence again, so that the sweep brings the event in line.
            found = (
                await conn.execute(
                    store.occurrence_select().where(lecture_occurrences.c.id == occ.id)
                )
            ).first()
            fresh = store.to_occurrence(found) if found is not None else None
            if (
                fresh is None
                or fresh.status is Status.CANCELLED
                or (fingerprint(wanted(community, fresh)) != sent)
            ):
                await mark(conn, [occ.id], self.cohort.clock.now())

    async def sync(self) -> int:
        """Create, edit or delete every event whose occurrence changed; return how many rows."""
        done = 0
        if not any(name in self.cohort.platforms for name in PLATFORMS):
            return done  # nothing could be done now; the rows wait for the adapter
        table = lecture_native_events
        while True:
            now = self.cohort.clock.now()
            # Most sweeps find nothing: look first, so that they never take the write lock.
            async with self.cohort.db.read() as conn:
                anything = await conn.scalar(select(table.c.id).where(_claimable(now)).limit(1))
            if anything is None:
                return done
            token = self.lease.token()
            async with self.cohort.db.write() as conn:
                rows = await self.lease.claim(
                    conn,
                    table,
                    _claimable(now),
                    token=token,
                    now=now,
                    order_by=(table.c.next_attempt_at,),
                    limit=BATCH,
                    returning=tuple(table.c),
                )
            if not rows:
                return done  # another process claimed them first
            async with self.lease.kept(partial(self._renew, token, [r.id for r in rows])):
                outcomes = [(row, await self._attempt(row, now)) for row in rows]
            changed_meanwhile = await self._finish(token, outcomes)
            done += len(rows)
            if len(rows) < BATCH and not changed_meanwhile:
                return done

    async def _renew(self, token: str, ids: list[int]) -> None:
        """Extend the claim on rows this process is still working on."""
        table = lecture_native_events
        async with self.cohort.db.write() as conn:
            await conn.execute(
                update(table)
                .where(table.c.id.in_(ids), table.c.claimed_by == token)
                .values(lease_until=self.lease.until(self.cohort.clock.now()))
            )

    async def _attempt(self, row: Any, now: datetime) -> _Outcome:
        """Bring one event in line with its occurrence."""
        state, event_id = EventState(row.state), row.event_id
        kept = _Outcome(state, event_id, row.fingerprint)
        occ = await store.occurrence(self.cohort.db, row.community_id, row.occurrence_id)
        if occ is None:
            return _Outcome(EventState.GONE, None, None)
        wants_event = occ.status is Status.SCHEDULED and state is not EventState.GONE
        if wants_event and occ.end <= now:
            return kept  # over: Discord ends it by itself, and refuses to move it
        if not wants_event and event_id is None:
            return _Outcome(EventState.GONE, None, None)
        platform = self.cohort.platforms.get(PlatformName(row.platform))
        if platform is None:
            return _Outcome(state, event_id, row.fingerprint, f"no {row.platform} adapter")
        where = f"{row.platform} event {event_id} of occurrence {occ.id} in {row.space_id}"
        try:
            if not wants_event:
                try:
                    await platform.delete_scheduled_event(row.space_id, event_id)
                except PlatformError as exc:
                    if exc.reason is not PlatformErrorReason.NOT_FOUND:
                        raise
                    log.info("lectures: %s was already deleted", where)
                return _Outcome(EventState.GONE, None, None)
            event = wanted(self.community_of(occ.community_id), occ)
            digest = fingerprint(event)
            if event_id is None:
                if occ.start <= now:
                    log.info(
                        "lectures: too late to create the %s event of %s", row.platform, occ.id
                    )
                    return _Outcome(EventState.GONE, None, None)
                created = await platform.create_scheduled_event(row.space_id, event)
                return _Outcome(EventState.ACTIVE, created, digest)
            if row.fingerprint == digest:
                return kept
            try:
                await platform.edit_scheduled_event(row.space_id, event_id, event)
            except PlatformError as exc:
                if exc.reason is not PlatformErrorReason.NOT_FOUND:
                    raise
                # A moderator deleted (or ended) it on the platform: respect that.
                log.info("lectures: %s is gone (%s); not making it again", where, exc)
                return _Outcome(EventState.GONE, None, None)
            return _Outcome(EventState.ACTIVE, event_id, digest)
        except PlatformError as exc:
            log.warning("lectures: could not update %s: %s", where, exc)
            return _Outcome(state, event_id, row.fingerprint, str(exc))
        except Exception as exc:
            log.exception("lectures: updating %s failed", where)
            return _Outcome(state, event_id, row.fingerprint, repr(exc))

    async def _finish(self, token: str, outcomes: Sequence[tuple[Any, _Outcome]]) -> int:
        """Record what each attempt did; return how many rows changed meanwhile (due again)."""
        now = self.cohort.clock.now()
        table = lecture_native_events
        again = 0
        async with self.cohort.db.write() as conn:
            for row, outcome in outcomes:
                values: dict[str, Any] = {
                    "state": outcome.state.value,
                    "event_id": outcome.event_id,
                    "fingerprint": outcome.fingerprint,
                    "updated_at": now,
                }
                if outcome.error is None:
                    values |= {"attempts": 0, "next_attempt_at": None, "last_error": None}
                else:
                    attempts = row.attempts + 1
                    retry = now + retry_after(attempts) if attempts < MAX_ATTEMPTS else None
                    if retry is None:
                        log.error(
                            "lectures: gave up on the %s event of occurrence %s after %s tries",
                            row.platform,
                            row.occurrence_id,
                            attempts,
                        )
                    values |= {
                        "attempts": attempts,
                        "next_attempt_at": retry,
                        "last_error": outcome.error[:ERROR_LENGTH],
                    }
                mine = (table.c.id == row.id, table.c.claimed_by == token)
                free = {"claimed_by": None, "lease_until": None}
                result = await conn.execute(
                    update(table)
                    .where(*mine, table.c.version == row.version)
                    .values(**values, **free)
                )
                if result.rowcount == 1:
                    continue
                # Changed while the platform answered: keep what exists, and do it again.
                result = await conn.execute(
                    update(table)
                    .where(*mine)
                    .values(
                        state=outcome.state.value,
                        event_id=outcome.event_id,
                        fingerprint=None,
                        next_attempt_at=now,
                        updated_at=now,
                        **free,
                    )
                )
                if result.rowcount == 1:
                    again += 1
                else:
                    log.warning(
                        "lectures: another process took over the %s event of occurrence %s "
                        "(this one left it %s, event %s)",
                        row.platform,
                        row.occurrence_id,
                        outcome.state,
                        outcome.event_id,
                    )
        return again


async def mark(conn: AsyncConnection, occurrence_ids: Sequence[int], now: datetime) -> None:
    """Make the events of changed occurrences due now, inside the change's transaction."""
    if not occurrence_ids:
        return
    table = lecture_native_events
    await conn.execute(
        update(table)
        .where(
            table.c.occurrence_id.in_(list(occurrence_ids)),
            table.c.state != EventState.GONE.value,
        )
        .values(
            version=table.c.version + 1,
            attempts=0,
            next_attempt_at=now,
            updated_at=now,
        )
    )


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Return the condition of a row due for work that no live process holds."""
    table = lecture_native_events
    return (table.c.next_attempt_at <= now) & or_(
        table.c.lease_until.is_(None), table.c.lease_until <= now
    )
