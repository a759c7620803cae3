"""The webhook inbox: events stored before the 2xx, then applied in batches.

A batch of due events is applied in one write transaction, each event's status written in
it too, so a crash mid-batch leaves all of them pending and none half-applied. Deferred
events wait for what they refer to, woken when it comes, and expire after ``EVENT_ATTEMPTS``
tries; what an event needs from Stripe is read after the commit, never while the write lock
is held. An event whose object is not what Stripe sends is rejected at once, in one log line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Row, bindparam, func, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating import _events as ev
from bot.cogs.gating._access import RACE_RETRIES, loaded_ids, recompute_pairs
from bot.cogs.gating._apply import Applier
from bot.cogs.gating._fetch import FETCH_ROUNDS, Reads, read_all
from bot.cogs.gating._notices import Notices
from bot.cogs.gating._orphans import Orphans
from bot.cogs.gating._outcomes import Defer, EventStatus, FetchKey, NeedFetch, Orphaned, Outcome
from bot.cogs.gating._queue import BATCH_SECONDS, MAX_BACKOFF, backoff
from bot.cogs.gating._stripe import Gateway
from bot.core.cohort import Cohort
from bot.store.batch import GroupCommit
from bot.store.tables import stripe_events

log = logging.getLogger(__name__)

BATCH = 200  # due events read at a time (a batch takes fewer when it runs out of time)
# From this many due events on, a batch reads what they will look up in advance (below it,
# at ordinary rates, the up-to-five reads would cost more than the lookups they save).
LOOKUP_AHEAD = 8
# An event that still cannot be applied after this many tries is given up: failed, or, if it
# was waiting for what it refers to (hours, with the backoff), expired.
EVENT_ATTEMPTS = 16
# An event that came before what it refers to usually waits milliseconds for it.
EVENT_RETRY_FIRST = 0.25
# An event whose batch committed while it waits for its Stripe reads is not due for the other
# processes until then, or this long should the process reading die.
FETCH_HOLD = timedelta(minutes=1)
# Within a second, the events that make what others refer to come first.
_FIRST = {
    **dict.fromkeys(ev.SUBSCRIPTION_EVENTS, 0),
    ev.EventType.CHECKOUT_COMPLETED: 1,
    ev.EventType.CHECKOUT_ASYNC_SUCCEEDED: 2,
    ev.EventType.CHECKOUT_ASYNC_FAILED: 2,
    ev.EventType.INVOICE_PAID: 2,
}


def _mark(*columns: str) -> Any:
    """Return the UPDATE of one inbox row setting ``columns`` from ``b_<column>`` parameters."""
    values: dict[str, BindParameter[Any]] = {column: bindparam(f"b_{column}") for column in columns}
    return update(stripe_events).where(stripe_events.c.id == bindparam("b_id")).values(**values)


_MARK_DONE = _mark("status", "community_id", "last_error", "attempts", "processed_at")
_MARK_RETRY = _mark("status", "attempts", "next_attempt_at", "last_error")
# An event of a community the config no longer has: named, its tries not counted.
_MARK_ORPHANED = _mark("community_id", "next_attempt_at", "last_error")


def _due(now: datetime) -> Any:
    """Return the condition of an inbox event due at ``now`` (if pending)."""
    return or_(stripe_events.c.next_attempt_at.is_(None), stripe_events.c.next_attempt_at <= now)


async def _still_due(
    conn: AsyncConnection, due: Sequence[Row[Any]], now: datetime | None
) -> list[Row[Any]]:
    """Return the rows of ``due`` still pending, now claimed by this write transaction.

    Several processes may read the same due events; only the transaction that holds an
    event's row applies it. On SQLite writers take turns, so a row another process applied
    meanwhile is no longer pending; on PostgreSQL the rows are locked ``FOR UPDATE SKIP
    LOCKED``: a row another process is applying right now is left to it. With ``now``, a row
    another process held back since (``FETCH_HOLD``) is left to it too; without, this process
    takes the events it held back itself.
    """
    if not due:
        return []
    query = select(stripe_events.c.id).where(
        stripe_events.c.id.in_([row.id for row in due]),
        stripe_events.c.status == EventStatus.PENDING.value,
    )
    if now is not None:
        query = query.where(_due(now))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    held = set((await conn.execute(query)).scalars())
    return [row for row in due if row.id in held]


async def next_event(
    conn: AsyncConnection, loaded: list[int], looked: datetime | None
) -> datetime | None:
    """Return when the next pending event this process may apply is due (a retry, a hold's end).

    Events of a loaded community, or of none yet, with a time set: a deferred event at its
    backoff (``EVENT_RETRY_FIRST`` first), one held for Stripe reads (``FETCH_HOLD``) when the
    hold ends. One due when the last drain looked (``looked``) was left by it (another process
    holds its row) and is not counted, or the worker would spin until that process commits.
    A new event (no time) kicks the worker of the process that stored it.
    """
    c = stripe_events.c
    query = select(func.min(c.next_attempt_at)).where(
        c.status == EventStatus.PENDING.value,
        c.next_attempt_at.is_not(None),
        or_(c.community_id.is_(None), c.community_id.in_(loaded)),
    )
    if looked is not None:
        query = query.where(c.next_attempt_at > looked)
    when = await conn.scalar(query)
    return when if isinstance(when, datetime) else None


class Inbox:
    """Stores verified events (group commit) and applies the due ones in batches."""

    def __init__(
        self,
        cohort: Cohort,
        gateway: Gateway | None,
        applier: Applier,
        notices: Notices,
        orphans: Orphans,
    ) -> None:
        self.cohort = cohort
        self.gateway = gateway
        self.applier = applier
        self.notices = notices
        self.orphans = orphans
        self._group = GroupCommit(cohort.db, stripe_events, ("event_id",))
        self.hooks: list[Callable[[str], Awaitable[None]]] = []  # called with each applied id
        # Deferred events by what they wait for: woken when a batch makes it (a hint; after a
        # restart the backoff still brings them back).
        self._waiting: dict[tuple[str, str], set[int]] = {}
        self.looked: datetime | None = None  # when the last drain first looked for due events

    async def store(self, event: dict[str, Any], body: str, now: datetime) -> bool:
        """Put one event in the inbox unless its id is there; return whether it was new.

        Deliveries that arrive together share one transaction (group commit); each caller
        returns only once its row is committed, so a 2xx always follows a durable write.
        """
        return await self._group.insert(
            {
                "community_id": None,
                "event_id": event["id"],
                "type": event["type"][:100],
                "livemode": bool(event.get("livemode")),
                "created": int(event["created"]),
                "payload": body,
                "status": EventStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": None,
                "last_error": None,
                "received_at": now,
                "processed_at": None,
            }
        )

    async def drain(self, *, max_batches: int | None = None) -> int:
        """Apply due events, ``max_batches`` batches at most; return how many were taken."""
        count = 0
        batches = 0
        after = 0  # due events up to this id were another process's in this pass
        first = True
        while max_batches is None or batches < max_batches:
            now = self.cohort.clock.now()
            if first:
                self.looked, first = now, False
            async with self.cohort.db.read() as conn:
                due = (
                    await conn.execute(
                        select(stripe_events)
                        .where(
                            stripe_events.c.status == EventStatus.PENDING.value,
                            _due(now),
                            stripe_events.c.id > after,
                        )
                        .order_by(stripe_events.c.id)
                        .limit(BATCH)
                    )
                ).all()
            if not due:
                return count
            taken = await self._apply_batch(due)
            if not taken:
                # Other processes hold every one of them (they read the same first rows): those
                # are theirs. Look past them rather than stop, so the processes share the work;
                # a batch of others' events does not count as one of this pass's.
                after = max(row.id for row in due)
                continue
            batches += 1
            count += taken
        return count

    async def _apply_batch(
        self,
        due: Sequence[Row[Any]],
        fetched: Reads | None = None,
        rounds: int = 0,
        races: int = 0,
    ) -> int:
        """Apply due events in one write transaction; return how many were taken.

        ``Defer`` and ``NeedFetch`` are raised before an event writes anything, so the batch
        goes on past them: a deferred event is tried once more at the end of the batch (what
        it waits for may have come in it) and otherwise marked for a retry in the same
        transaction. What events need from Stripe is read after the commit, so that no HTTP
        call is made while the write lock is held, and those events follow in a batch of their
        own, with the reads (``rounds`` times at most); meanwhile they are held back from the
        other processes (``FETCH_HOLD``). A batch that lost a race with another
        process's (the same subscription made by both, a deadlock) is tried again whole, reading
        what the other made, ``RACE_RETRIES`` times at most. Any other error rolls the whole
        batch back and its events are applied again one transaction each, where an error costs
        only its own event. Notices, hooks and platform calls follow the commit.
        """
        applied: list[tuple[Row[Any], Outcome]] = []
        fetch: list[tuple[Row[Any], tuple[FetchKey, ...]]] = []
        known = fetched or {}
        taken = 0
        # In the order Stripe made them (the outcome does not depend on it, rule 2), so that
        # what an event refers to usually comes first: fewer deferrals and Stripe reads.
        due = sorted(due, key=lambda r: (r.created, _FIRST.get(r.type, 9), r.id))
        try:
            async with self.cohort.db.write() as conn:
                due = await _still_due(conn, due, None if rounds else self._now())
                events = [json.loads(row.payload) for row in due]
                started = time.monotonic()
                if len(events) >= LOOKUP_AHEAD:
                    # What the events will look up by Stripe id: a few reads, not some each.
                    await self.applier.lookups.load(conn, loaded_ids(self.cohort), events)
                deferred: list[tuple[Row[Any], dict[str, Any], Defer]] = []
                for row, event in zip(due, events, strict=True):
                    if applied and time.monotonic() - started > BATCH_SECONDS:
                        break
                    taken += 1
                    try:
                        applied.append(
                            (row, await self.applier.apply(conn, event, self._now(), known))
                        )
                    except NeedFetch as need:
                        if rounds >= FETCH_ROUNDS:  # it keeps asking: try again later
                            deferred.append((row, event, Defer(f"needs {need}")))
                        else:
                            fetch.append((row, need.keys))
                    except Defer as exc:
                        deferred.append((row, event, exc))
                retry: list[tuple[Row[Any], Defer]] = []
                for row, event, wait in deferred:
                    if wait.waits_for is None or wait.waits_for not in self.applier.made:
                        retry.append((row, wait))
                        continue
                    try:  # what it waits for came later in this batch
                        applied.append(
                            (row, await self.applier.apply(conn, event, self._now(), known))
                        )
                    except (Defer, NeedFetch):
                        retry.append((row, wait))
                await self._settle(conn, applied, retry)
                await self._hold(conn, [row for row, _ in fetch])
        except Exception as exc:
            self.applier.lookups.clear()  # what it read belongs to the rolled-back transaction
            if isinstance(exc, DBAPIError) and races < RACE_RETRIES:
                log.info("gating: a batch of %s events lost a race (%s); again", taken, exc.orig)
                return await self._apply_batch(due[:taken], fetched, rounds, races + 1)
            log.exception("gating: a batch of %s events failed; applying them one by one", taken)
            for row in due[:taken]:
                await self._apply_row(row)
            return taken
        finally:
            self.applier.lookups.clear()
        for row, outcome in applied:
            await self._after(row, outcome)
        if fetch:
            await self._apply_fetched(fetch, known, rounds)
        return taken

    async def _apply_fetched(
        self, fetch: list[tuple[Row[Any], tuple[FetchKey, ...]]], known: Reads, rounds: int
    ) -> None:
        """Read from Stripe what events asked for, then apply those events with it."""
        found, failed = await read_all(
            self.gateway, (key for _, keys in fetch for key in keys if key not in known)
        )
        reads = {**known, **found}
        ready = [row for row, keys in fetch if all(key in reads for key in keys)]
        if ready and await self._apply_batch(ready, reads, rounds + 1) < len(ready):
            await self._release(ready)
        unread = [
            (row, next(failed[k] for k in keys if k in failed))
            for row, keys in fetch
            if any(k in failed for k in keys)
        ]
        if unread:
            now = self._now()
            async with self.cohort.db.write() as conn:
                await conn.execute(
                    _MARK_RETRY, [self._retry_values(row, error, now) for row, error in unread]
                )

    def _now(self) -> datetime:
        return self.cohort.clock.now()

    async def _settle(
        self,
        conn: AsyncConnection,
        applied: list[tuple[Row[Any], Outcome]],
        retry: list[tuple[Row[Any], Defer]],
    ) -> None:
        """Record a batch's events, recompute whom they touched, wake those they waited for."""
        now = self._now()
        woken: set[int] = set()
        for key in self.applier.made:
            woken |= self._waiting.pop(key, set())
        self.applier.made.clear()
        for row, exc in retry:
            if exc.waits_for is not None:
                self._waiting.setdefault(exc.waits_for, set()).add(row.id)
        if woken:
            await conn.execute(
                update(stripe_events)
                .where(
                    stripe_events.c.id.in_(sorted(woken)),
                    stripe_events.c.status == EventStatus.PENDING.value,
                )
                .values(next_attempt_at=now)
            )
        done = []
        for row, outcome in applied:
            done.append(
                {
                    "b_id": row.id,
                    "b_status": outcome.status.value,
                    "b_community_id": outcome.community_id,
                    "b_last_error": outcome.note,
                    "b_attempts": row.attempts + 1,
                    "b_processed_at": now,
                }
            )
        if done:
            await conn.execute(_MARK_DONE, done)
        orphaned = [(r, e) for r, e in retry if isinstance(e, Orphaned)]
        if orphaned:
            await conn.execute(_MARK_ORPHANED, [self._orphaned(r, e, now) for r, e in orphaned])
        retry = [(r, e) for r, e in retry if not isinstance(e, Orphaned)]
        if retry:
            await conn.execute(
                _MARK_RETRY,
                [self._retry_values(r, f"deferred: {e}", now, waiting=True) for r, e in retry],
            )
        touched = [(o.community_id, m) for _, o in applied if o.community_id for m in o.members]
        await recompute_pairs(conn, self.cohort, touched, now)

    async def _hold(self, conn: AsyncConnection, fetching: list[Row[Any]]) -> None:
        """Keep events waiting for their Stripe reads from the other processes.

        Otherwise another process takes such an event once this batch commits, asks Stripe
        too and holds it when this one comes back with the reads, over and over.
        """
        if fetching:
            await conn.execute(
                update(stripe_events)
                .where(stripe_events.c.id.in_([row.id for row in fetching]))
                .values(next_attempt_at=self._now() + FETCH_HOLD)
            )

    async def _release(self, held: list[Row[Any]]) -> None:
        """Make due again the events of ``held`` that their batch did not get to.

        Such an event (its batch ran out of time, or lost a race before reaching it) is still
        pending with the attempts it had, and would wait for the rest of ``FETCH_HOLD``. The
        update waits for a row another process's batch holds rather than skip it: that batch
        may have locked it without applying it (it read the event as due before the hold), and
        once it commits the event is either applied (no longer pending) or free to release.
        """
        now = self._now()
        async with self.cohort.db.write() as conn:
            await conn.execute(
                update(stripe_events)
                .where(
                    stripe_events.c.id == bindparam("b_id"),
                    stripe_events.c.status == EventStatus.PENDING.value,
                    stripe_events.c.attempts == bindparam("b_attempts"),
                    stripe_events.c.next_attempt_at > now,
                )
                .values(next_attempt_at=now),
                [
                    {"b_id": row.id, "b_attempts": row.attempts}
                    for row in sorted(held, key=lambda row: row.id)
                ],
            )

    async def _after(self, row: Row[Any], outcome: Outcome) -> None:
        """Send what an applied event asked for, once it is committed."""
        if outcome.status is EventStatus.REJECTED:
            log.warning("gating: event %s (%s) rejected: %s", row.event_id, row.type, outcome.note)
        await self.notices.notify(outcome)
        for hook in self.hooks:
            await hook(row.event_id)

    async def _apply_row(self, row: Row[Any]) -> None:
        now = self.cohort.clock.now()
        event = json.loads(row.payload)
        fetched: Reads = {}
        outcome: Outcome | None = None
        error: str | None = None
        waiting = False
        rounds = races = 0
        while rounds <= FETCH_ROUNDS:
            rounds += 1
            try:
                async with self.cohort.db.write() as conn:
                    if not await _still_due(conn, [row], None):
                        return  # another process applied it, or is applying it now
                    outcome = await self.applier.apply(conn, event, now, fetched)
                    await self._settle(conn, [(row, outcome)], [])
                break
            except NeedFetch as need:
                async with self.cohort.db.write() as conn:
                    await self._hold(conn, [row])  # as a batch does: see ``_hold``
                found, failed = await read_all(self.gateway, need.keys)
                fetched.update(found)
                if failed:
                    error = next(iter(failed.values()))
                    break
                error = f"deferred: needs {need}"
            except Orphaned as exc:
                async with self.cohort.db.write() as conn:
                    await conn.execute(_MARK_ORPHANED, self._orphaned(row, exc, now))
                return
            except Defer as exc:
                error, waiting = f"deferred: {exc}", True
                if exc.waits_for is not None:
                    self._waiting.setdefault(exc.waits_for, set()).add(row.id)
                break
            except DBAPIError as exc:
                # Several processes apply events at once: another one inserted the same natural
                # key (a subscription's source) after this one looked, or a deadlock picked this
                # transaction. Rolled back whole: try again at once, reading what it made.
                self.applier.lookups.clear()
                error = f"{type(exc.orig).__name__}: {exc.orig}"[:500]
                if races < RACE_RETRIES:
                    races += 1
                    rounds -= 1
                    log.info("gating: event %s lost a race (%s); again", row.event_id, error)
                    continue
                log.exception("gating: event %s (%s) failed", row.event_id, row.type)
                break
            except Exception as exc:
                log.exception("gating: event %s (%s) failed", row.event_id, row.type)
                error = f"{type(exc).__name__}: {exc}"[:500]
                break
        if outcome is None:
            retry = self._retry_values(row, error or "not applied", now, waiting=waiting)
            async with self.cohort.db.write() as conn:
                await conn.execute(_MARK_RETRY, retry)
            return
        await self._after(row, outcome)

    def _orphaned(self, row: Row[Any], exc: Orphaned, now: datetime) -> dict[str, Any]:
        """Return the parameters of ``_MARK_ORPHANED``: pending, its tries not counted.

        It is looked at again after ``MAX_BACKOFF`` (still orphaned: again not counted), and at
        once by the first pass of a process that loads its community (``Orphans.rearm``).
        """
        self.orphans.note(exc.community_id)
        return {
            "b_id": row.id,
            "b_community_id": exc.community_id,
            "b_next_attempt_at": now + MAX_BACKOFF,
            "b_last_error": f"deferred: {exc}",
        }

    def _retry_values(
        self, row: Row[Any], error: str, now: datetime, *, waiting: bool = False
    ) -> dict[str, Any]:
        """Return the parameters of ``_MARK_RETRY`` for an event that could not be applied.

        ``waiting``: it was deferred until what it refers to comes; given up, it expires.
        """
        attempts = row.attempts + 1
        status = EventStatus.PENDING
        if attempts >= EVENT_ATTEMPTS:
            status = EventStatus.EXPIRED if waiting else EventStatus.FAILED
            level = logging.WARNING if waiting else logging.ERROR
            log.log(level, "gating: event %s (%s) %s: %s", row.event_id, row.type, status, error)
        return {
            "b_id": row.id,
            "b_status": status.value,
            "b_attempts": attempts,
            "b_next_attempt_at": now + backoff(attempts, first=EVENT_RETRY_FIRST),
            "b_last_error": error[:500],
        }
