"""Communities the config no longer has, whose gating rows remain: skipped, reported once.

An organizer may take a community out of the config while its access sources, queued platform
calls, lapses and Stripe events remain; it may come back. The worker's reads name the loaded
communities (``loaded_ids``), so those rows are neither touched nor deleted, and the rest of
the bot runs on. An event that turns out to be such a community's (its checkout reference
says so, or, for a refund or a dispute, its payment or buyer) is kept pending with that
community named (``Orphaned``), its tries not counted.

``survey`` counts what waits, per community, on the worker's first pass and whenever a pass
met a community not reported yet; each community is logged once per process (not on every
pass), and ``/healthz`` shows the counts under the worker (``gating.worker``). The first pass
of a process makes due at once the kept events of a community that is loaded again
(``rearm``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import ColumnElement, Table, func, select, update

from bot.cogs.gating._access import loaded_ids
from bot.cogs.gating._outcomes import EventStatus
from bot.core.cohort import Cohort
from bot.store.tables import access_sources, gating_access, stripe_events

log = logging.getLogger(__name__)


def _counted() -> tuple[tuple[str, Table, ColumnElement[bool] | None], ...]:
    """Return what is counted for a community not loaded: a name, a table, which rows."""
    return (
        ("sources", access_sources, None),  # subscriptions, payments, grants
        (
            "lapses",
            access_sources,
            access_sources.c.entitled.is_(True) & access_sources.c.access_until.is_not(None),
        ),
        ("calls", gating_access, gating_access.c.next_attempt_at.is_not(None)),
        ("events", stripe_events, stripe_events.c.status == EventStatus.PENDING.value),
    )


class Orphans:
    """What waits for communities the config does not load, counted and logged once each."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        self.waiting: dict[int, dict[str, int]] = {}  # at the last survey: id → kind → rows
        self._reported: set[int] = set()
        self._met: set[int] = set()  # met by a pass since the last survey
        self._surveyed = False
        self._rearmed = False

    def note(self, community_id: int) -> None:
        """Remember that a pass met rows of ``community_id``, which is not loaded.

        The next survey counts again (a kept event is met once an hour at most); it logs only
        communities not reported yet.
        """
        self._met.add(community_id)

    async def rearm(self, now: datetime) -> None:
        """Make due at once the kept events of loaded communities (once, on the first pass).

        They were kept by a process whose config lacked their community, which is back.
        """
        if self._rearmed:
            return
        self._rearmed = True
        loaded = loaded_ids(self.cohort)
        if not loaded:
            return
        async with self.cohort.db.write() as conn:
            await conn.execute(
                update(stripe_events)
                .where(
                    stripe_events.c.status == EventStatus.PENDING.value,
                    stripe_events.c.community_id.in_(loaded),
                    stripe_events.c.next_attempt_at > now,
                )
                .values(next_attempt_at=now)
            )

    async def survey(self) -> None:
        """Count the rows of communities not loaded; log each community the first time.

        Runs at the end of the first pass (once its events have said whose they are), and
        after any later pass that met such rows; otherwise does nothing.
        """
        if self._surveyed and not self._met:
            return
        self._surveyed = True
        self._met.clear()
        loaded = loaded_ids(self.cohort)
        counts: dict[int, dict[str, int]] = {}
        async with self.cohort.db.read() as conn:
            for kind, table, which in _counted():
                query = (
                    select(table.c.community_id, func.count())
                    .where(table.c.community_id.is_not(None), table.c.community_id.not_in(loaded))
                    .group_by(table.c.community_id)
                )
                if which is not None:
                    query = query.where(which)
                for community_id, rows in (await conn.execute(query)).all():
                    counts.setdefault(int(community_id), {})[kind] = int(rows)
        self.waiting = counts
        for community_id, kinds in sorted(counts.items()):
            if community_id in self._reported:
                continue
            self._reported.add(community_id)
            log.warning(
                "gating: community id %s is not in the config; its %s rows wait untouched "
                "(%s sources, %s lapses, %s platform calls, %s Stripe events) until it is back",
                community_id,
                sum(n for kind, n in kinds.items() if kind != "lapses"),
                kinds.get("sources", 0),
                kinds.get("lapses", 0),
                kinds.get("calls", 0),
                kinds.get("events", 0),
            )

    def details(self) -> dict[str, object]:
        """Describe what waits for communities not loaded, for ``/healthz``."""
        return {
            "unknown_communities": {
                str(community_id): kinds for community_id, kinds in sorted(self.waiting.items())
            }
        }
