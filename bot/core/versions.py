"""Per-community version numbers that let a process serve cached reads without a query.

Each cached kind of data (``CacheName``) has a row in ``cache_versions`` per community, bumped
by database triggers (migration ``0020_cache_versions``) in the same transaction as every write
that changes that data, whichever process makes it. On PostgreSQL the bump waits for the commit
(once per transaction, migration ``0026_cache_versions_at_commit``), so that writers of the same
data in several processes do not queue behind the row; a reader sees it with the data. A
process reads the version rows at most every ``[work] cache_staleness`` seconds; its own writes
to a watched table make it read them again at the next use, so a local change is seen at once
and another process's change within the staleness window. While nothing changed, a cached
value is served with no database read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from sqlalchemy import select

from bot.core.clock import Clock
from bot.store.db import Database
from bot.store.tables import cache_versions


class CacheName(StrEnum):
    """What a version number covers."""

    PROFILE = "profile"  # members and their accounts (locale, time zone, links, names)
    ACCESS = "access"  # access sources: the tiers and courses a member holds
    RECOMMEND = "recommend"  # purchases, the recommendations privacy switch, the course catalog
    PAYMENTS = "payments"  # Stripe payments, and purchases' amounts and times (revenue)
    # Rows deleted from what the revenue ledger reads (migration 0034_ledger_marks): a kept
    # ledger brought up to date by the rows changed since its read cannot see them go.
    LEDGER_DELETED = "ledger_deleted"


# Which cache each watched table's writes invalidate (the migration's triggers bump the same).
WATCHED: dict[str, CacheName] = {
    "members": CacheName.PROFILE,
    "accounts": CacheName.PROFILE,
    "access_sources": CacheName.ACCESS,
    "purchases": CacheName.RECOMMEND,  # migration 0021_recommend_versions
    "recommend_prefs": CacheName.RECOMMEND,
    "courses": CacheName.RECOMMEND,
    "stripe_payments": CacheName.PAYMENTS,  # migration 0025_analytics_pages
}

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Stamp = tuple[tuple[int, str, int], ...]


class Versions:
    """Know the cache versions, reading them at most every ``staleness``."""

    def __init__(self, db: Database, clock: Clock, *, staleness: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.staleness = staleness
        self.reads = 0  # version reads so far (the benchmark and the tests count them)
        self._read_at: datetime | None = None
        self._versions: dict[tuple[int, str], int] = {}
        db.on_write.append(self._local_write)

    def _local_write(self, tables: frozenset[str]) -> None:
        """Read the versions again at the next use when this process writes a watched table."""
        if not tables.isdisjoint(WATCHED):
            self._read_at = None

    async def stamp(self, names: tuple[CacheName, ...]) -> Stamp:
        """Return the versions of ``names`` in every community, reading them if stale.

        A process serves one or a few communities, so one read of the small table covers all;
        a change in any community reloads what the stamp covers.
        """
        now = self.clock.now()
        read_at = self._read_at
        if read_at is None or not timedelta(0) <= now - read_at < self.staleness:
            async with self.db.read() as conn:
                rows = (await conn.execute(select(cache_versions))).all()
            self.reads += 1
            self._versions = {(row.community_id, row.name): int(row.version) for row in rows}
            self._read_at = now
        wanted = {name.value for name in names}
        return tuple(
            sorted(
                (community, name, version)
                for (community, name), version in self._versions.items()
                if name in wanted
            )
        )


class VersionedCache(Generic[K, V]):
    """Values by key, each kept with the version stamp it was loaded under (LRU-bounded)."""

    def __init__(self, versions: Versions, names: tuple[CacheName, ...], *, size: int) -> None:
        self.versions = versions
        self.names = names
        self.size = size
        self._entries: OrderedDict[K, tuple[Stamp, V]] = OrderedDict()

    async def get(
        self,
        key: K,
        load: Callable[[], Awaitable[V]],
        *,
        update: Callable[[V], Awaitable[V]] | None = None,
    ) -> V:
        """Return the value for ``key``, loading it when absent or when its data changed.

        With ``update``, a value whose data changed is brought up to date from the one kept
        (``update(kept)``) instead of loaded again.
        """
        # The stamp is taken before loading: a change racing the load costs one more load later.
        stamp = await self.versions.stamp(self.names)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == stamp:
            self._entries.move_to_end(key)
            return entry[1]
        value = await (load() if entry is None or update is None else update(entry[1]))
        self._entries[key] = (stamp, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def forget(self, key: K) -> None:
        """Drop ``key``'s value."""
        self._entries.pop(key, None)
