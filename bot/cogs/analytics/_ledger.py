"""A community's revenue ledger kept in memory: read whole once, then brought up to date.

After a change the kept ledger reads only the rows changed since its last read: each access
source, Stripe payment and purchase carries a mark of its last change (``ledger_mark``,
migration ``0034_ledger_marks``: on SQLite the community's next number in that table, on
PostgreSQL the writing transaction's id). Before reading rows, a read notes where the next one
starts: past the highest mark on SQLite, which has one writer at a time; on PostgreSQL at the
oldest transaction still running (``pg_snapshot_xmin``), so that a transaction committing after
the read, whatever its id, is read the next time. A row read twice is folded twice, the same.

A deleted row leaves no mark, so the delete triggers log it (``ledger_deletions``, migration
``0036_ledger_deletions``: its table and id, marked as a change of that row; on SQLite a
table's rows and its deletions share one numbering) and a refresh drops the rows deleted since
its last read, first, then takes the changed ones (SQLite may give a deleted id to the next
row). A ledger is read whole again only where the log cannot say: an access source whose kind
changed (a kind is part of what each of its payments counts as); the log pruned at or past
where its next read starts (the keeper prunes rows older than a horizon and keeps the highest
mark pruned, ``ledger_pruned``, migration ``0037_ledger_prunes``, ``_prune.py``: a ledger read
before that deletion may have missed it); or the community's ``ledger_deleted`` cache version
bumped (nothing in the bot bumps it since 0036: the lever for a log pruned by hand, which
makes every process read whole once).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _revenue as revenue_of
from bot.cogs.analytics._pages import fetch, fetch_plain
from bot.cogs.analytics._revenue import PAYMENT, SUBSCRIPTION, UNLINKED, Ledger, Link, Paid, Sub
from bot.core.versions import CacheName
from bot.store.tables import (
    access_sources,
    cache_versions,
    ledger_deletions,
    ledger_pruned,
    purchases,
    stripe_payments,
)

Intent = tuple[str, int, bool]  # a Stripe payment: its invoice, its source, disputed
Marks = tuple[int, int, int]  # where the next read starts: sources, payments, purchases
TABLES = (access_sources, stripe_payments, purchases)
KINDS = (SUBSCRIPTION, PAYMENT)
# The ledger's order, as ``_revenue.load`` reads it.
ORDER = itemgetter(revenue_of.PAID_AT, revenue_of.ID)
INSERTED = 64  # up to this many payments put in one by one; more, and the whole list is sorted
# PostgreSQL's oldest transaction still running: every transaction below it has ended.
OLDEST_RUNNING: ColumnElement[Any] = literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
)


@dataclass(frozen=True, slots=True)
class Kept:
    """A kept ledger and what bringing it up to date needs (never changed: each read makes one)."""

    community_id: int
    ledger: Ledger
    kinds: Mapping[int, str]  # access source id -> kind, of those revenue counts (``KINDS``)
    intents: Mapping[int, Intent]  # Stripe payment id -> what it says
    refs: Mapping[str, tuple[int, ...]]  # invoice -> its Stripe payments' ids, in id order
    links: Mapping[str, Link]  # invoice -> its source and whether disputed
    bought: Mapping[int, Paid]  # purchase id -> the payment, of those revenue counts
    by_ref: Mapping[str, int]  # invoice -> its purchase's id
    marks: Marks  # where the next read starts
    deleted: int  # the community's ``ledger_deleted`` version when read


async def _where(conn: AsyncConnection, community_id: int) -> tuple[int, Marks]:
    """Return the deletions version and where the next read starts, before reading any row."""
    v = cache_versions.c
    deleted = (
        select(v.version)
        .where(v.community_id == community_id, v.name == CacheName.LEDGER_DELETED.value)
        .scalar_subquery()
    )
    marks: list[ColumnElement[Any]]
    if conn.dialect.name == "sqlite":  # past the table's highest mark, its deletions' included
        d = ledger_deletions.c
        marks = [
            func.max(
                func.coalesce(
                    select(func.max(t.c.ledger_mark))
                    .where(t.c.community_id == community_id)
                    .scalar_subquery(),
                    0,
                ),
                func.coalesce(
                    select(func.max(d.ledger_mark))
                    .where(d.community_id == community_id, d.tbl == t.name)
                    .scalar_subquery(),
                    0,
                ),
            )
            + 1
            for t in TABLES
        ]
    else:
        marks = [OLDEST_RUNNING] * len(TABLES)
    row = (await conn.execute(select(func.coalesce(deleted, 0), *marks))).one()
    return int(row[0]), (int(row[1]), int(row[2]), int(row[3]))


async def read(conn: AsyncConnection, community_id: int) -> Kept:
    """Read a community's whole ledger: the sources revenue counts, the purchases with money.

    The Stripe payments are read before the access sources they point to, so that every
    source a payment read names is read too (on PostgreSQL each statement sees what committed
    before it); so does ``refresh``.
    """
    deleted, marks = await _where(conn, community_id)
    p = purchases.c
    intent_rows = await fetch_plain(conn, revenue_of.intent_query(community_id))
    bought_read = revenue_of.counted(revenue_of.purchase_query(conn, community_id))
    bought_rows = await fetch_plain(conn, bought_read.order_by(p.purchased_at, p.id))
    sources_read = revenue_of.source_query(conn, community_id)
    source_rows = await fetch_plain(conn, sources_read.where(access_sources.c.kind.in_(KINDS)))
    instant = revenue_of.reader(conn)
    kinds: dict[int, str] = {}
    subs: dict[int, Sub] = {}
    for row in source_rows:
        kinds[row[0]] = row[1]
        if row[1] == SUBSCRIPTION:
            subs[row[0]] = revenue_of.sub_of(row, instant)
    intents: dict[int, Intent] = {}
    refs: dict[str, tuple[int, ...]] = {}
    links: dict[str, Link] = {}
    for iid, ref, source_id, dispute in intent_rows:  # in id order: the last names the source
        intents[iid] = (ref, source_id, dispute is not None)
        refs[ref] = (*refs.get(ref, ()), iid)
        known = links.get(ref)
        links[ref] = (source_id, dispute is not None or (known is not None and known[1]))
    paid = [
        revenue_of.paid_of(row, links.get(row[3], UNLINKED), kinds, instant) for row in bought_rows
    ]
    bought = {x[revenue_of.ID]: x for x in paid}
    by_ref = {x[revenue_of.REF]: x[revenue_of.ID] for x in paid}
    ledger = Ledger(subs, paid)
    return Kept(community_id, ledger, kinds, intents, refs, links, bought, by_ref, marks, deleted)


async def refresh(conn: AsyncConnection, kept: Kept) -> Kept:
    """Return ``kept`` brought up to date by the rows changed since it was read.

    The rows deleted since are dropped first. Read whole again when an access source's kind
    changed, when the log was pruned at or past where this read starts (read after the log, so
    that a prune committing between the two is seen), or when the ``ledger_deleted`` version
    says the deletion log cannot tell.
    """
    community_id, since = kept.community_id, kept.marks
    deleted, marks = await _where(conn, community_id)
    if deleted != kept.deleted:
        return await read(conn, community_id)
    sp, p, s, d = stripe_payments.c, purchases.c, access_sources.c, ledger_deletions.c
    since_each = (
        and_(d.tbl == t.name, d.ledger_mark >= at) for t, at in zip(TABLES, since, strict=True)
    )
    gone_rows = await fetch(
        conn, select(d.tbl, d.row_id).where(d.community_id == community_id, or_(*since_each))
    )
    lp = ledger_pruned.c
    pruned = await fetch(
        conn, select(lp.tbl, lp.ledger_mark).where(lp.community_id == community_id)
    )
    starts = {t.name: at for t, at in zip(TABLES, since, strict=True)}
    if any(tbl in starts and mark >= starts[tbl] for tbl, mark in pruned):
        return await read(conn, community_id)  # a deletion it needs may have been pruned
    intent_rows = await fetch(
        conn, revenue_of.intent_query(community_id).where(sp.ledger_mark >= since[1])
    )
    bought_read = revenue_of.purchase_query(conn, community_id).add_columns(p.source)
    bought_rows = await fetch(conn, bought_read.where(p.ledger_mark >= since[2]))
    sources_read = revenue_of.source_query(conn, community_id)
    source_rows = await fetch(conn, sources_read.where(s.ledger_mark >= since[0]))
    instant = revenue_of.reader(conn)
    kinds = dict(kept.kinds)
    subs = dict(kept.ledger.subs)
    intents = dict(kept.intents)
    refs = dict(kept.refs)
    touched: set[str] = set()
    bought = dict(kept.bought)
    by_ref = dict(kept.by_ref)
    gone: set[int] = set()
    moved = False  # whether a subscription changed
    for table, row_id in gone_rows:  # each deletion again on PostgreSQL: a no-op
        if table == access_sources.name:
            kinds.pop(row_id, None)
            moved = subs.pop(row_id, None) is not None or moved
        elif table == stripe_payments.name:
            known_intent = intents.pop(row_id, None)
            if known_intent is not None:
                was = known_intent[0]
                refs[was] = tuple(i for i in refs[was] if i != row_id)
                touched.add(was)
        elif (dropped := bought.pop(row_id, None)) is not None:
            gone.add(row_id)
            if by_ref.get(dropped[revenue_of.REF]) == row_id:
                del by_ref[dropped[revenue_of.REF]]
    for row in source_rows:
        known = kinds.get(row[0])
        if known is not None and known != row[1]:
            return await read(conn, community_id)  # a kind is part of a source's identity
        if row[1] in KINDS:
            kinds[row[0]] = row[1]
            if row[1] == SUBSCRIPTION:
                sub = revenue_of.sub_of(row, instant)
                moved = moved or subs.get(row[0]) != sub
                subs[row[0]] = sub
    for iid, ref, source_id, dispute in intent_rows:
        old = intents.get(iid)
        if old is None or old[0] != ref:
            if old is not None:
                refs[old[0]] = tuple(i for i in refs[old[0]] if i != iid)
                touched.add(old[0])
            refs[ref] = tuple(sorted((*refs.get(ref, ()), iid)))
        intents[iid] = (ref, source_id, dispute is not None)
        touched.add(ref)
    links = dict(kept.links)
    for ref in touched:
        ids = refs.get(ref, ())
        if len(ids) == 1:
            links[ref] = intents[ids[0]][1:]
        elif ids:
            links[ref] = (intents[ids[-1]][1], any(intents[i][2] for i in ids))
        else:
            refs.pop(ref, None)
            links.pop(ref, None)
    new: dict[int, Paid] = {}
    for row in bought_rows:
        pid, source = row[0], row[-1]
        paid = None
        if source == "stripe" and row[4] is not None and row[5] is not None:
            paid = revenue_of.paid_of(row, links.get(row[3], UNLINKED), kinds, instant)
        old_paid = bought.get(pid)
        if paid == old_paid:  # read again unchanged (a row written since the oldest running)
            continue
        if old_paid is not None:
            gone.add(pid)
            del bought[pid]
            if by_ref.get(old_paid[revenue_of.REF]) == pid:  # another may have taken it since
                del by_ref[old_paid[revenue_of.REF]]
        if paid is not None:
            bought[pid] = new[pid] = paid
            by_ref[paid[revenue_of.REF]] = pid
    for ref in touched:
        pid = by_ref.get(ref)
        if pid is None or pid in new:
            continue
        old_paid = bought[pid]
        relinked = revenue_of.relinked(old_paid, links.get(ref, UNLINKED), kinds)
        if relinked != old_paid:
            gone.add(pid)
            bought[pid] = new[pid] = relinked
    ledger = kept.ledger  # nothing revenue reads changed: the figures it remembers still hold
    if moved or gone or new:
        ledger = Ledger(subs, _merged(kept.ledger.paid, gone, list(new.values())))
    return Kept(community_id, ledger, kinds, intents, refs, links, bought, by_ref, marks, deleted)


def _merged(paid: Sequence[Paid], gone: set[int], new: list[Paid]) -> list[Paid]:
    """Return the payments in the ledger's order without those ``gone``, with those ``new``."""
    merged = [kept for kept in paid if kept[revenue_of.ID] not in gone] if gone else list(paid)
    if len(new) > INSERTED:
        merged.extend(new)
        merged.sort(key=ORDER)
    else:
        for one in new:
            insort(merged, one, key=ORDER)
    return merged
