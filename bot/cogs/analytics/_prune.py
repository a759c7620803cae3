"""The deletion log pruned: rows older than a horizon go, the highest mark pruned is kept.

The delete triggers log every row deleted from what the revenue ledger reads
(``ledger_deletions``, migration ``0036_ledger_deletions``) so that a kept ledger drops it
without a whole read (``_ledger.refresh``). A logged row serves only a kept ledger read before
the deletion, so once every process has brought its ledgers up to date past it, it can go; a
process cannot know the others' marks, so it goes after a horizon instead (``[work]
ledger_deletions_kept``, a day by default), and the highest mark pruned is kept per community
and table (``ledger_pruned``, migration ``0037_ledger_prunes``). A kept ledger whose next read
starts at or below that mark (a process asleep for longer than the horizon) may have missed a
deletion and reads its whole ledger again (``_ledger.refresh``): no deletion is lost.

``prune`` is run by the keeper's supervised pass (``analytics.ledgers``) every ``PRUNE_EVERY``.
A logged row's age counts from the first pass that saw it (``noted_at``, the process's clock),
never from before the deletion. On SQLite a table's rows and its deletions share one numbering
(0036), so each community's and table's newest logged row stays: the next mark a trigger hands
out stays above every mark handed out. Several processes may prune at once: on PostgreSQL one
takes an advisory lock for the transaction and the others skip their pass; on SQLite writes
are one at a time. A second pass finds nothing more to prune, and the kept marks only rise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import aliased

from bot.core.clock import Clock
from bot.store.db import Database
from bot.store.dialect import upsert_add_columns
from bot.store.locks import lock_key
from bot.store.tables import ledger_deletions, ledger_pruned

PRUNE_EVERY = timedelta(minutes=10)  # how often the keeper's pass prunes the deletion log
KEPT_FOR = timedelta(days=1)  # the default horizon, ``[work] ledger_deletions_kept``
LOCK = "analytics.ledger_prune"  # on PostgreSQL, the one process pruning at a time


async def prune(db: Database, now: datetime, kept_for: timedelta) -> int:
    """Note when each logged deletion was first seen and prune those noted ``kept_for`` ago.

    Return how many logged rows went (0 when another process is pruning at the same time).
    """
    async with db.write() as conn:
        if conn.dialect.name == "postgresql":
            got = await conn.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(LOCK)}
            )
            if not got:
                return 0
        d = ledger_deletions.c
        await conn.execute(
            update(ledger_deletions).where(d.noted_at.is_(None)).values(noted_at=now)
        )
        newer = aliased(ledger_deletions)
        not_newest = (
            select(newer.c.id)
            .where(
                newer.c.community_id == d.community_id,
                newer.c.tbl == d.tbl,
                newer.c.ledger_mark > d.ledger_mark,
            )
            .exists()
        )
        gone = (
            await conn.execute(
                delete(ledger_deletions)
                .where(d.noted_at <= now - kept_for, not_newest)
                .returning(d.community_id, d.tbl, d.ledger_mark)
            )
        ).all()
        highest: dict[tuple[int, str], int] = {}
        for community_id, tbl, mark in gone:
            key = (int(community_id), str(tbl))
            highest[key] = max(highest.get(key, mark), int(mark))
        await upsert_add_columns(
            conn,
            ledger_pruned,
            [{"community_id": c, "tbl": t, "ledger_mark": m} for (c, t), m in highest.items()],
            keys=("community_id", "tbl"),
            columns=(),
            greatest=("ledger_mark",),
        )
    return len(gone)


class Pruner:
    """The keeper's pruning of the deletion log, at most once every ``every`` of ``clock``."""

    def __init__(
        self, db: Database, clock: Clock, kept_for: timedelta, *, every: timedelta = PRUNE_EVERY
    ) -> None:
        self.db = db
        self.clock = clock
        self.kept_for = kept_for
        self.every = every
        self.pruned = 0  # logged rows this process pruned (``/healthz`` shows it)
        self._next: datetime | None = None

    async def due(self) -> None:
        """Prune the log if ``every`` passed since the last prune (or none ran yet)."""
        now = self.clock.now()
        if self._next is not None and now < self._next:
            return
        self.pruned += await prune(self.db, now, self.kept_for)
        self._next = now + self.every
