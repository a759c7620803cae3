"""The webhook inbox: events stored before the 2xx, then applied in batches.

A batch of due events is applied in one write transaction, each event's status written in
it too, so a crash mid-batch leaves all of them pending and none half-applied. Deferred
events wait for what they refer to; subscriptions an event needs from Stripe are read after
the commit, never while the write lock is held.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating import _events as ev
from bot.cogs.gating._access import loaded_ids, recompute_pairs
from bot.cogs.gating._apply import Applier
from bot.cogs.gating._notices import Notices
from bot.cogs.gating._outcomes import Defer, EventStatus, NeedFetch, Outcome
from bot.cogs.gating._queue import BATCH_SECONDS, backoff
from bot.cogs.gating._stripe import StripeGateway, StripeUnavailable
from bot.core.cohort import Cohort
from bot.store.batch import GroupCommit
from bot.store.tables import stripe_events

log = logging.getLogger(__name__)

BATCH = 200  # due events read at a time (a batch takes fewer when it runs out of time)
# From this many due events on, a batch reads what they will look up in advance (below it,
# at ordinary rates, the up-to-five reads would cost more than the lookups they save).
LOOKUP_AHEAD = 8
FETCH_CONCURRENCY = 8  # subscriptions read from Stripe at once after a batch
EVENT_ATTEMPTS = 16  # an event that still cannot be applied after this many tries is failed
# An event that came before what it refers to usually waits milliseconds for it.
EVENT_RETRY_FIRST = 0.25
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
    values = {column: bindparam(f"b_{column}") for column in columns}
    return update(stripe_events).where(stripe_events.c.id == bindparam("b_id")).values(**values)


_MARK_DONE = _mark("status", "community_id", "last_error", "attempts", "processed_at")
_MARK_RETRY = _mark("status", "attempts", "next_attempt_at", "last_error")


class Inbox:
    """Stores verified events (group commit) and applies the due ones in batches."""

    def __init__(
        self,
        cohort: Cohort,
        gateway: StripeGateway | None,
        applier: Applier,
        notices: Notices,
    ) -> None:
        self.cohort = cohort
        self.gateway = gateway
        self.applier = applier
        self.notices = notices
        self._group = GroupCommit(cohort.db, stripe_events, ("event_id",))
        self.hooks: list[Callable[[str], Awaitable[None]]] = []  # called with each applied id
        # Deferred events by what they wait for: woken when a batch makes it (a hint; after a
        # restart the backoff still brings them back).
        self._waiting: dict[tuple[str, str], set[int]] = {}

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
        while max_batches is None or batches < max_batches:
            batches += 1
            now = self.cohort.clock.now()
            async with self.cohort.db.read() as conn:
                due = (
                    await conn.execute(
                        select(stripe_events)
                        .where(
                            stripe_events.c.status == EventStatus.PENDING.value,
                            or_(
                                stripe_events.c.next_attempt_at.is_(None),
                                stripe_events.c.next_attempt_at <= now,
                            ),
                        )
                        .order_by(stripe_events.c.id)
                        .limit(BATCH)
                    )
                ).all()
            if not due:
                return count
            count += await self._apply_batch(due)
        return count

    async def _apply_batch(
        self, due: Sequence[Row[Any]], fetched: dict[str, dict[str, Any]] | None = None
    ) -> int:
        """Apply due events in one write transaction; return how many were taken.

        ``Defer`` and ``NeedFetch`` are raised before an event writes anything, so the batch
        goes on past them: a deferred event is tried once more at the end of the batch (what
        it waits for may have come in it) and otherwise marked for a retry in the same
        transaction. The subscriptions that events need from Stripe are read after the commit,
        so that no HTTP call is made while the write lock is held, and those events follow in
        a batch of their own. Any other error rolls the whole batch back and its events are
        applied again one transaction each, where an error costs only its own event. Notices,
        hooks and platform calls follow the commit.
        """
        applied: list[tuple[Row[Any], Outcome]] = []
        fetch: list[tuple[Row[Any], str]] = []
        known = fetched or {}
        taken = 0
        # In the order Stripe made them (the outcome does not depend on it, rule 2), so that
        # what an event refers to usually comes first: fewer deferrals and Stripe reads.
        due = sorted(due, key=lambda r: (r.created, _FIRST.get(r.type, 9), r.id))
        events = [json.loads(row.payload) for row in due]
        try:
            async with self.cohort.db.write() as conn:
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
                        if fetched is not None:  # read already: the event asks for another one
                            deferred.append((row, event, Defer(f"needs {need.subscription_id}")))
                        else:
                            fetch.append((row, need.subscription_id))
                    except Defer as exc:
                        deferred.append((row, event, exc))
                retry: list[tuple[Row[Any], Defer]] = []
                for row, event, exc in deferred:
                    if exc.waits_for is None or exc.waits_for not in self.applier.made:
                        retry.append((row, exc))
                        continue
                    try:  # what it waits for came later in this batch
                        applied.append(
                            (row, await self.applier.apply(conn, event, self._now(), known))
                        )
                    except (Defer, NeedFetch):
                        retry.append((row, exc))
                await self._settle(conn, applied, retry)
        except Exception:
            log.exception("gating: a batch of %s events failed; applying them one by one", taken)
            self.applier.lookups.clear()  # what it read belongs to the rolled-back transaction
            for row in due[:taken]:
                await self._apply_row(row)
            return taken
        finally:
            self.applier.lookups.clear()
        for row, outcome in applied:
            await self._after(row, outcome)
        if fetch:
            await self._apply_fetched(fetch)
        return taken

    async def _apply_fetched(self, fetch: list[tuple[Row[Any], str]]) -> None:
        """Read from Stripe the subscriptions events asked for, then apply those events."""
        found: dict[str, dict[str, Any]] = {}
        failed: dict[str, str] = {}
        gateway = self.gateway
        if gateway is None:
            failed = dict.fromkeys(
                (s for _, s in fetch), "needs Stripe to settle the subscription, and no key is set"
            )
        else:
            limit = asyncio.Semaphore(FETCH_CONCURRENCY)

            async def read(subscription_id: str) -> None:
                async with limit:
                    try:
                        found[subscription_id] = await gateway.subscription(subscription_id)
                    except StripeUnavailable as exc:
                        failed[subscription_id] = str(exc)

            await asyncio.gather(*(read(s) for s in dict.fromkeys(s for _, s in fetch)))
        ready = [row for row, s in fetch if s in found]
        if ready:
            await self._apply_batch(ready, found)
        if failed:
            now = self._now()
            async with self.cohort.db.write() as conn:
                await conn.execute(
                    _MARK_RETRY,
                    [self._retry_values(row, failed[s], now) for row, s in fetch if s in failed],
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
        if retry:
            await conn.execute(
                _MARK_RETRY, [self._retry_values(r, f"deferred: {e}", now) for r, e in retry]
            )
        touched = [(o.community_id, m) for _, o in applied if o.community_id for m in o.members]
        await recompute_pairs(conn, self.cohort, touched, now)

    async def _after(self, row: Row[Any], outcome: Outcome) -> None:
        """Send what an applied event asked for, once it is committed."""
        await self.notices.notify(outcome)
        for hook in self.hooks:
            await hook(row.event_id)

    async def _apply_row(self, row: Row[Any]) -> None:
        now = self.cohort.clock.now()
        event = json.loads(row.payload)
        fetched: dict[str, dict[str, Any]] = {}
        outcome: Outcome | None = None
        error: str | None = None
        for _attempt in range(2):
            try:
                async with self.cohort.db.write() as conn:
                    outcome = await self.applier.apply(conn, event, now, fetched)
                    await self._settle(conn, [(row, outcome)], [])
                break
            except NeedFetch as need:
                if self.gateway is None:
                    error = "needs Stripe to settle the subscription, and no key is set"
                    break
                try:
                    fetched[need.subscription_id] = await self.gateway.subscription(
                        need.subscription_id
                    )
                except StripeUnavailable as exc:
                    error = str(exc)
                    break
            except Defer as exc:
                error = f"deferred: {exc}"
                if exc.waits_for is not None:
                    self._waiting.setdefault(exc.waits_for, set()).add(row.id)
                break
            except Exception as exc:
                log.exception("gating: event %s (%s) failed", row.event_id, row.type)
                error = f"{type(exc).__name__}: {exc}"[:500]
                break
        if outcome is None:
            retry = self._retry_values(row, error or "not applied", now)
            async with self.cohort.db.write() as conn:
                await conn.execute(_MARK_RETRY, retry)
            return
        await self._after(row, outcome)

    def _retry_values(self, row: Row[Any], error: str, now: datetime) -> dict[str, Any]:
        """Return the parameters of ``_MARK_RETRY`` for an event that could not be applied."""
        attempts = row.attempts + 1
        give_up = attempts >= EVENT_ATTEMPTS
        if give_up:
            log.error("gating: event %s (%s) given up: %s", row.event_id, row.type, error)
        return {
            "b_id": row.id,
            "b_status": (EventStatus.FAILED if give_up else EventStatus.PENDING).value,
            "b_attempts": attempts,
            "b_next_attempt_at": now + backoff(attempts, first=EVENT_RETRY_FIRST),
            "b_last_error": error[:500],
        }
