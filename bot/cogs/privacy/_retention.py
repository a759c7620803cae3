"""The nightly message-log purge: rows older than ``retention_days`` go, day counts stay.

The hourly check purges once a night, between 03:00 and 06:00 in the community's time zone.

Each community's run is leased to one process (``privacy_jobs``): a process claims it when it
is due and no live lease holds it, renews the lease with every batch, and gives it up when it
is done; a process that dies mid-run stops renewing, and the next check of any process takes
the run over once the lease has run out. A batch is one transaction: its rows are counted into
``message_days`` and deleted together, so a crash never loses a count or counts a row twice.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from bot.cogs.privacy import _store as store
from bot.core.clock import Clock
from bot.core.community import Community
from bot.core.privacy import fold_messages
from bot.store.db import Database
from bot.store.tables import message_log

log = logging.getLogger(__name__)

BATCH = 5000
LEASE = timedelta(minutes=10)
EVERY = timedelta(hours=20)  # at most once a day...
NIGHT = range(3, 6)  # ...between 03:00 and 06:00 in the community's time zone, checked hourly


def claimant_id() -> str:
    """Return a name for this process's claims: host, pid and a random part."""
    host = socket.gethostname()[:60] or "host"
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class Purged:
    """What one run did."""

    ran: bool
    messages: int
    complete: bool


def at_night(now: datetime, community: Community) -> bool:
    """Tell whether it is the community's night, when the purge runs."""
    return now.astimezone(community.tz).hour in NIGHT


def cutoff(now: datetime, retention_days: int) -> datetime:
    """Return the instant before which logged messages are purged."""
    return now - timedelta(days=retention_days)


class Retention:
    """Purge each community's old message-log rows in batches, under a lease."""

    def __init__(self, db: Database, clock: Clock, *, batch: int = BATCH) -> None:
        self.db = db
        self.clock = clock
        self.batch = batch
        self.claimant = claimant_id()

    async def run(self, community: Community, *, force: bool = False) -> Purged:
        """Purge at night if due (``force``: now) and unclaimed; return what was done."""
        now = self.clock.now()
        if not force and not at_night(now, community):
            return Purged(ran=False, messages=0, complete=False)
        every = timedelta(0) if force else EVERY
        if not await store.claim_job(self.db, community.id, self.claimant, now, LEASE, every):
            return Purged(ran=False, messages=0, complete=False)
        before = cutoff(now, community.config.privacy.retention_days)
        total = 0
        while True:
            async with self.db.write() as conn:
                if not await store.renew_job(
                    conn, community.id, self.claimant, self.clock.now(), LEASE
                ):
                    log.warning(
                        "privacy: lost the retention lease of %s; another process goes on",
                        community.slug,
                    )
                    return Purged(ran=True, messages=total, complete=False)
                ids = (
                    (
                        await conn.execute(
                            select(message_log.c.id)
                            .where(
                                message_log.c.community_id == community.id,
                                message_log.c.posted_at < before,
                            )
                            .order_by(message_log.c.id)
                            .limit(self.batch)
                        )
                    )
                    .scalars()
                    .all()
                )
                if ids:
                    await fold_messages(conn, message_log.c.id.in_(ids))
                    deleted = await conn.execute(
                        delete(message_log).where(message_log.c.id.in_(ids))
                    )
                    total += int(deleted.rowcount)
            if len(ids) < self.batch:
                break
        await store.finish_job(self.db, community.id, self.claimant, self.clock.now())
        return Purged(ran=True, messages=total, complete=True)
