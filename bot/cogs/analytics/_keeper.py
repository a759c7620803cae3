"""A bot's kept revenue ledgers: one per community, shared, read whole off the request path.

A community's first revenue figure in a process reads its whole ledger (``_ledger.read``: about
300 ms at 20,000 purchases), later ones only the rows changed since (``_ledger.refresh``).
``Ledgers`` holds one bot's kept ledgers and lets one read or refresh of a community run at a
time: a request arriving meanwhile awaits it and takes its result rather than starting a
second. There is no module global: the analytics cog's ``setup`` makes the bot's ``Ledgers``,
its ``Keeper`` owns it, and every service built for the bot (``service_of``: the dashboard's,
/stats's, the weekly report's) is handed it (``ledgers_of(cohort)``); two bots built in one
process keep their own. ``Keeper`` is the supervised task (``analytics.ledgers``) that reads
each community's ledger as the bot starts and brings it up to date every ``KEEP_EVERY`` after,
so that a request finds it read: the whole read is paid at start, not by the organizer who
opens the revenue page first. Its pass also prunes the deletion log when due (``_prune.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _ledger as ledger_of
from bot.cogs.analytics._prune import Pruner
from bot.core.cohort import Cohort
from bot.core.supervise import Supervisor, Watch
from bot.core.versions import CacheName, VersionedCache, Versions
from bot.store.db import Database

log = logging.getLogger(__name__)

LEDGER_VERSIONS = (CacheName.ACCESS, CacheName.RECOMMEND, CacheName.PAYMENTS)
LEDGERS_CACHED = 16  # communities whose revenue ledger is kept in memory
KEEP_EVERY = timedelta(seconds=10)  # how often the keeper brings the kept ledgers up to date


class Ledgers:
    """Each community's kept revenue ledger, read or brought up to date one at a time."""

    def __init__(self, versions: Versions) -> None:
        self.cache: VersionedCache[int, ledger_of.Kept] = VersionedCache(
            versions, LEDGER_VERSIONS, size=LEDGERS_CACHED
        )
        self._running: dict[int, asyncio.Future[None]] = {}

    async def get(self, conn: AsyncConnection, community_id: int) -> ledger_of.Kept:
        """Return the community's kept ledger, read or brought up to date if its data changed.

        While another caller reads or refreshes it, wait for that one and use what it kept.
        """
        while (running := self._running.get(community_id)) is not None:
            await asyncio.wait({running})
        done = asyncio.get_running_loop().create_future()
        self._running[community_id] = done
        try:
            return await self.cache.get(
                community_id,
                lambda: ledger_of.read(conn, community_id),
                update=lambda old: ledger_of.refresh(conn, old),
            )
        finally:
            del self._running[community_id]
            done.set_result(None)

    async def keep(self, db: Database, community_ids: Sequence[int]) -> None:
        """Read (or bring up to date) the kept ledger of each of ``community_ids``."""
        for community_id in community_ids[:LEDGERS_CACHED]:
            async with db.read() as conn:
                await self.get(conn, community_id)


class Keeper:
    """The supervised task keeping each community's revenue ledger read and up to date."""

    def __init__(
        self,
        db: Database,
        ledgers: Ledgers,
        community_ids: Sequence[int],
        *,
        every: timedelta = KEEP_EVERY,
        pruner: Pruner | None = None,
    ) -> None:
        self.db = db
        self.ledgers = ledgers
        self.community_ids = tuple(community_ids)
        self.every = every
        # Prunes the deletion log when due, after a pass kept every ledger (``_prune.py``).
        self.pruner = pruner
        self.passes = 0  # passes that kept every ledger (``/healthz`` shows it)
        self._stopping = False
        self._wake = asyncio.Event()
        self._passed = asyncio.Event()
        self._watch: Watch | None = None

    async def start(self, supervisor: Supervisor) -> None:
        """Start the task, supervised; its first pass reads every community's ledger."""
        if self._watch is None and self.community_ids:
            self._stopping = False
            self._watch = supervisor.run("analytics.ledgers", self._loop)
            self._watch.details = self._details

    async def passed(self, n: int) -> None:
        """Wait until the keeper made ``n`` passes (the first: every ledger read)."""
        while self.passes < n:
            self._passed.clear()
            await self._passed.wait()

    async def stop(self) -> None:
        """Stop the task (a read under way ends first)."""
        self._stopping = True
        self._wake.set()
        if self._watch is not None:
            await self._watch.stop()
            self._watch = None

    def _details(self) -> dict[str, object]:
        details: dict[str, object] = {"passes": self.passes}
        if self.pruner is not None:
            details["deletions_pruned"] = self.pruner.pruned
        return details

    async def _loop(self) -> None:
        watch = self._watch
        while not self._stopping:
            wait = self.every.total_seconds()
            try:
                await self.ledgers.keep(self.db, self.community_ids)
                if self.pruner is not None:
                    await self.pruner.due()
            except Exception as exc:
                log.exception("analytics: keeping the revenue ledgers or pruning their log failed")
                pause = watch.failed(exc) if watch is not None else None
                if pause is None:
                    return
                wait = pause
            else:
                self.passes += 1
                self._passed.set()
                if watch is not None:
                    watch.ok()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)


def keeper_of(cohort: Cohort) -> Keeper | None:
    """Return the keeper the analytics cog's ``setup`` made for ``cohort`` (None: not loaded)."""
    for run in cohort.shutdown:
        owner = getattr(run, "__self__", None)
        if isinstance(owner, Keeper):
            return owner
    return None


def ledgers_of(cohort: Cohort) -> Ledgers:
    """Return the bot's kept ledgers, which its keeper owns and every service is handed.

    A bot without the analytics cog has no keeper: the caller gets ledgers of its own.
    """
    keeper = keeper_of(cohort)
    return keeper.ledgers if keeper is not None else Ledgers(cohort.versions)
