"""Webhook updates claimed in the database: each handled once, whichever process it reaches.

Several Cohort processes may serve one webhook URL behind a load balancer. Telegram sends an
update again when its POST failed or timed out, perhaps to another process, so the same
``update_id`` can arrive twice. The first process to insert ``(bot_id, update_id)`` owns the
update for a lease, handles it, and marks it handled before it answers 2xx. A copy that comes
later is a duplicate (handled: answer 2xx, do nothing) or arrives while the owner works on it
(answer 503: Telegram tries again later, by when it is handled), unless the owner's lease ran
out unhandled (it died between its claim and its answer): then the newcomer takes it over.
Claims are pruned once far older than the 24 hours Telegram keeps an undelivered update.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, select, update

from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.lease import claimant_id
from bot.store.tables import telegram_updates

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=2)  # longer than handling one update takes
KEEP_CLAIMS = timedelta(days=2)  # Telegram gives up on an update after 24 hours
PRUNE_EVERY = timedelta(hours=1)


class Claim(enum.Enum):
    """What a process may do with an update that reached it."""

    OWN = "own"  # this process handles it
    HANDLED = "handled"  # another copy was handled already: answer 2xx, do nothing
    BUSY = "busy"  # another process is handling it now: answer 503 so Telegram comes back


class UpdateClaims:
    """Claim webhook updates of one bot for this process, by their ``update_id``."""

    def __init__(self, db: Database, bot_id: int, *, claimant: str | None = None) -> None:
        self.db = db
        self.bot_id = bot_id
        self.claimant = claimant or claimant_id()
        self._pruned: datetime | None = None

    def _key(self, update_id: int) -> list[ColumnElement[bool]]:
        return [
            telegram_updates.c.bot_id == self.bot_id,
            telegram_updates.c.update_id == update_id,
        ]

    async def claim(self, update_id: int, now: datetime) -> Claim:
        """Claim ``update_id`` unless it was handled or another live process holds it."""
        row = {
            "bot_id": self.bot_id,
            "update_id": update_id,
            "received_at": now,
            "claimed_by": self.claimant,
            "lease_until": now + CLAIM_LEASE,
            "handled_at": None,
        }
        async with self.db.write() as conn:
            if await insert_ignore_returning(
                conn, telegram_updates, [row], keys=("bot_id", "update_id")
            ):
                return Claim.OWN
            taken = await conn.execute(
                update(telegram_updates)
                .where(
                    and_(*self._key(update_id)),
                    telegram_updates.c.handled_at.is_(None),
                    telegram_updates.c.lease_until <= now,
                )
                .values(claimed_by=self.claimant, lease_until=now + CLAIM_LEASE)
            )
            if taken.rowcount == 1:
                log.warning("telegram: took over update %d, its first claim ran out", update_id)
                return Claim.OWN
            handled = await conn.scalar(
                select(telegram_updates.c.handled_at).where(*self._key(update_id))
            )
        return Claim.HANDLED if handled is not None else Claim.BUSY

    async def handled(self, update_id: int, now: datetime) -> None:
        """Mark an update this process claimed as handled (its copies are then duplicates)."""
        async with self.db.write() as conn:
            await conn.execute(
                update(telegram_updates)
                .where(*self._key(update_id), telegram_updates.c.claimed_by == self.claimant)
                .values(handled_at=now)
            )

    async def release(self, update_id: int) -> None:
        """Give up a claim on an update this process could not handle, for a copy to take."""
        async with self.db.write() as conn:
            await conn.execute(
                delete(telegram_updates).where(
                    *self._key(update_id),
                    telegram_updates.c.claimed_by == self.claimant,
                    telegram_updates.c.handled_at.is_(None),
                )
            )

    async def prune(self, now: datetime) -> int:
        """Delete claims older than Telegram keeps an update, at most once per ``PRUNE_EVERY``."""
        if self._pruned is not None and now - self._pruned < PRUNE_EVERY:
            return 0
        self._pruned = now
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(telegram_updates).where(
                    telegram_updates.c.bot_id == self.bot_id,
                    telegram_updates.c.received_at < now - KEEP_CLAIMS,
                )
            )
        return int(result.rowcount or 0)
