"""The platform calls that ``gating_access`` rows ask for, made and recorded (rule 10).

Rows whose ``next_attempt_at`` is due are the durable queue. A process claims a batch of them
under a lease (``bot.store.lease``) before it calls a platform, so that of several processes on
one database one makes each call (a Telegram invitation is sent once, not once per process);
a process that dies holding a claim leaves it to another once the lease has run out. A call
that fails for a while is retried with backoff and reported after ``ALERT_AFTER`` tries; one
refused for good is parked as ``failed`` and reported at once. An error never changes what a
row wants.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating._access import (
    HOLDING,
    AccessState,
    Target,
    community_by_id,
    loaded_ids,
    targets_of,
)
from bot.cogs.gating._notices import PLATFORM_TIMEOUT, Notices
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.platforms import PlatformName
from bot.core.ports import PlatformError, PlatformErrorReason
from bot.store.lease import Lease, claimant_id
from bot.store.tables import gating_access

log = logging.getLogger(__name__)

ACCESS_BATCH = 50  # access rows read at a time; their results are written together
# A batch of events, or of platform calls, is closed after about this long: the webhook waits
# for the write lock a batch of events holds, and a crash repeats a batch's platform calls.
BATCH_SECONDS = 0.2
ALERT_AFTER = 5  # transient platform failures before the admin channel hears of it
MAX_BACKOFF = timedelta(hours=1)
PERMANENT = frozenset(
    {PlatformErrorReason.FORBIDDEN, PlatformErrorReason.INVALID, PlatformErrorReason.UNSUPPORTED}
)


class AccessQueue:
    """Makes the due platform calls and writes what came of them."""

    def __init__(self, cohort: Cohort, notices: Notices) -> None:
        self.cohort = cohort
        self.notices = notices
        self.lease = Lease(claimant_id(), cohort.config.work.lease)
        self.changed = 0  # access given or taken away on a platform, since the start

    async def run(self) -> int:
        """Make every due call no other process has claimed; return how many rows were handled."""
        count = 0
        c = gating_access.c
        loaded = loaded_ids(self.cohort)  # a community the config lost: its rows wait untouched
        while True:
            now = self.cohort.clock.now()
            async with self.cohort.db.read() as conn:  # the write lock only when there is work
                if await conn.scalar(select(c.id).where(_free_due(now, loaded)).limit(1)) is None:
                    return count
            token = self.lease.token()
            async with self.cohort.db.write() as conn:
                due = await self.lease.claim(
                    conn,
                    gating_access,
                    _free_due(now, loaded),
                    token=token,
                    now=now,
                    order_by=[c.next_attempt_at, c.id],
                    limit=ACCESS_BATCH,
                    returning=list(c),
                )
            if not due:
                return count  # another process claimed them meanwhile, and works through them
            renew = partial(self._renew, token, [row.id for row in due])
            async with self.lease.kept(renew):
                count += await self._act_batch(due, now, token)

    async def _renew(self, token: str, ids: list[int]) -> None:
        async with self.cohort.db.write() as conn:
            await conn.execute(
                update(gating_access)
                .where(gating_access.c.id.in_(ids), gating_access.c.claimed_by == token)
                .values(lease_until=self.lease.until(self.cohort.clock.now()))
            )

    async def _act_batch(self, due: Sequence[Row[Any]], now: datetime, token: str) -> int:
        """Make the platform calls of claimed access rows, then record them in one transaction.

        The calls are made one after the other (the adapters pace them); what each came to is
        written together after them, with the claim let go, and the admin channel hears of
        failures after that write. A crash in between only means the calls are made again once
        the lease has run out, which the platforms take as no change (a role given twice, a
        fresh invite link). Rows left for the next batch are let go too.
        """
        results = _AccessResults(token)
        started = time.monotonic()
        taken = 0
        for row in due:
            if taken and time.monotonic() - started > BATCH_SECONDS:
                break
            taken += 1
            await self._act(row, now, results)
        async with self.cohort.db.write() as conn:
            for (keys, settle), batch in results.writes.items():
                await conn.execute(_access_update(keys, settle), batch)
            await conn.execute(
                update(gating_access)
                .where(
                    gating_access.c.id.in_([row.id for row in due]),
                    gating_access.c.claimed_by == token,
                )
                .values(claimed_by=None, lease_until=None)
            )
        for community, key, params in results.alerts:
            await self.notices.alert(community, key, **params)
        return taken

    async def _act(self, row: Row[Any], now: datetime, results: _AccessResults) -> None:
        """Make the platform call one access row asks for, and note what came of it."""
        community = community_by_id(self.cohort, row.community_id)
        target = Target(PlatformName(row.platform), row.space_id, row.role_id)
        state = AccessState(row.state)
        values: dict[str, Any] = {"next_attempt_at": None, "attempts": 0, "last_error": None}
        if row.desired and state in HOLDING:
            results.settle(row, values, now)
            return
        if not row.desired and state not in HOLDING:
            values["state"] = AccessState.NONE.value
            results.settle(row, values, now)
            return
        platform = self.cohort.platforms.get(target.platform)
        if platform is None:
            self._failed(row, community, target, "platform not running", now, results, True)
            return
        try:
            if row.desired:
                values.update(await self._give(community, platform, row, target, now))
            else:
                await asyncio.wait_for(
                    platform.revoke_access(row.user_id, target.port()), PLATFORM_TIMEOUT
                )
                values["state"] = AccessState.NONE.value
                values["invite_link"] = None
            self.changed += 1
        except PlatformError as exc:
            if exc.reason is PlatformErrorReason.NOT_FOUND:
                if row.desired and target.role_id:
                    values["state"] = AccessState.WAITING.value  # not in the guild yet
                    results.settle(row, values, now)
                    return
                if not row.desired:
                    values["state"] = AccessState.NONE.value  # nothing left to take away
                    results.settle(row, values, now)
                    return
            permanent = exc.reason in PERMANENT or exc.reason is PlatformErrorReason.NOT_FOUND
            self._failed(row, community, target, str(exc), now, results, not permanent)
            return
        except Exception as exc:  # a timeout, a dropped connection: try again later
            error = f"{type(exc).__name__}: {exc}"
            self._failed(row, community, target, error, now, results, True)
            return
        results.settle(row, values, now)

    async def _give(
        self, community: Community, platform: Any, row: Row[Any], target: Target, now: datetime
    ) -> dict[str, Any]:
        await asyncio.wait_for(platform.grant_access(row.user_id, target.port()), PLATFORM_TIMEOUT)
        if target.platform is not PlatformName.TELEGRAM:
            return {"state": AccessState.GRANTED.value}
        # Telegram has no roles: a link that asks to join, approved for entitled people only.
        expires = now + community.config.gating.invite_ttl
        link = await asyncio.wait_for(
            platform.create_invite(target.port(), expires_at=expires, join_request=True),
            PLATFORM_TIMEOUT,
        )
        offer = self._offer_for_target(community, target)
        await self.notices.dm_invite(community, row, link, offer)
        return {"state": AccessState.INVITED.value, "invite_link": link}

    def _offer_for_target(self, community: Community, target: Target) -> str:
        names = [o.name for o in community.config.offers if target in targets_of(o)]
        return names[0] if names else community.config.name

    def _failed(
        self,
        row: Row[Any],
        community: Community,
        target: Target,
        error: str,
        now: datetime,
        results: _AccessResults,
        transient: bool,
    ) -> None:
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_error": error[:500]}
        if transient:
            values["next_attempt_at"] = now + backoff(attempts)
        else:
            values["next_attempt_at"] = None
            values["state"] = AccessState.FAILED.value
        results.write(row, values, now, settle=False)
        log.warning(
            "gating: %s of %s:%s on %s failed (%s, attempt %s)",
            "grant" if row.desired else "revoke",
            row.platform,
            row.user_id,
            target,
            error,
            attempts,
        )
        if not transient or attempts == ALERT_AFTER:
            key = "gating.alert.failed" if not transient else "gating.alert.retrying"
            verb = "gating.alert.grant" if row.desired else "gating.alert.revoke"
            action = self.cohort.i18n.plain(community.config.locale, verb)
            where = f"{target.space_id}/{target.role_id}" if target.role_id else target.space_id
            params = {
                "action": action,
                "user": f"{row.platform}:{row.user_id}",
                "target": where,
                "error": error[:200],
                "attempts": attempts,
            }
            results.alerts.append((community, key, params))


def _free_due(now: datetime, loaded: list[int]) -> ColumnElement[bool]:
    """Return the condition of a loaded community's access row due now that nobody holds."""
    c = gating_access.c
    return and_(
        c.next_attempt_at.is_not(None),
        c.next_attempt_at <= now,
        c.community_id.in_(loaded),
        free(now),
    )


async def next_call(conn: AsyncConnection, loaded: list[int], now: datetime) -> datetime | None:
    """Return when the next platform call (a first try or a retry) of a loaded community is due.

    Rows another process holds a claim on are its own to make; they are not waited for.
    """
    c = gating_access.c
    when = await conn.scalar(
        select(func.min(c.next_attempt_at)).where(
            c.next_attempt_at.is_not(None), c.community_id.in_(loaded), free(now)
        )
    )
    return when if isinstance(when, datetime) else None


def free(now: datetime) -> ColumnElement[bool]:
    """Return the condition of an access row no process holds a claim on at ``now``."""
    c = gating_access.c
    return or_(c.lease_until.is_(None), c.lease_until <= now)


@dataclass(slots=True)
class _AccessResults:
    """What a run of platform calls came to: row updates grouped by shape, and alerts."""

    token: str  # the claim the rows were made under: a row taken over meanwhile is left alone
    writes: dict[tuple[tuple[str, ...], bool], list[dict[str, Any]]] = field(default_factory=dict)
    alerts: list[tuple[Community, str, dict[str, Any]]] = field(default_factory=list)

    def settle(self, row: Row[Any], values: dict[str, Any], now: datetime) -> None:
        """Record a call's outcome, only if nobody changed the row's desire meanwhile."""
        self.write(row, values, now, settle=True)

    def write(self, row: Row[Any], values: dict[str, Any], now: datetime, *, settle: bool) -> None:
        """Queue an update of one access row."""
        keys = tuple(sorted(values))
        params = {f"b_{k}": v for k, v in values.items()}
        params.update(b_id=row.id, b_desired=row.desired, b_updated_at=now, b_token=self.token)
        self.writes.setdefault((keys, settle), []).append(params)


@lru_cache(maxsize=32)
def _access_update(keys: tuple[str, ...], settle: bool) -> Any:
    """Return the UPDATE of an access row setting ``keys`` (and ``updated_at``).

    A settling update applies only if the row's desire is still the one the call was made
    for: a new desire re-arms the row, and must not be overwritten by an older call's result.
    Any update applies only while the row is still this batch's claim.
    """
    where = [
        gating_access.c.id == bindparam("b_id"),
        gating_access.c.claimed_by == bindparam("b_token"),
    ]
    if settle:
        where.append(gating_access.c.desired == bindparam("b_desired"))
    values: dict[str, BindParameter[Any]] = {k: bindparam(f"b_{k}") for k in (*keys, "updated_at")}
    return update(gating_access).where(*where).values(**values)


def backoff(attempts: int, *, first: float = 2.0) -> timedelta:
    """Wait ``first`` seconds after the first failure, doubling each time, at most an hour."""
    return min(timedelta(seconds=first * 2 ** min(attempts - 1, 20)), MAX_BACKOFF)
