"""Revenue from what the gating cog stores: subscriptions, their paid invoices, course sales.

A subscription's paid invoice (a ``purchases`` row tied to it through ``stripe_payments``)
counts toward MRR from when it was paid for one billing period: the length of the
subscription's current period (``period_end - period_start``; 31 days when unknown). A yearly
period (over 40 days) counts a twelfth of the amount per month. Nothing counts after a refund
of that invoice, or after the subscription ended (canceled, unpaid or expired).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any, Final, TypeVar, cast

from sqlalchemy import ColumnElement, DateTime, Select, String, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._figures import CurrencyRevenue, OfferRevenue, Revenue
from bot.cogs.analytics._pages import fetch
from bot.store.tables import access_sources, purchases, stripe_payments

LOOKBACK = timedelta(days=400)  # long enough for a yearly invoice to still count
DEFAULT_PERIOD = timedelta(days=31)
ENDED = ("canceled", "unpaid", "incomplete_expired")
SUBSCRIPTION = "subscription"
PAYMENT = "payment"
MEMO_SIZE = 8  # figures a kept ledger remembers (a few ranges' MRR and paying members)
T = TypeVar("T")


# A kept ledger holds tens of thousands of rows as long as the process runs: each row is a
# plain tuple of atoms (ints, strings, dates, None), which the garbage collector stops tracking
# the first time it sees one, so its full collections never walk them (a named tuple, a
# subclass, stays tracked: 33,000 of them made each full collection 50 ms at full size;
# docs/design-notes.md, Analytics). Their fields are read by position, named below.
# A subscription source as revenue sees it: id, member, offer, status, period, created, ended.
Sub = tuple[int, int, str, str, timedelta, datetime, datetime | None]
# A purchase with money, an invoice of a subscription or a one-time payment: id, member,
# offer, source, kind, amount, currency, paid, refunded, disputed, ref.
Paid = tuple[int, int, str, int | None, str | None, int, str, datetime, datetime | None, bool, str]

# The fields both hold.
ID: Final = 0
MEMBER: Final = 1
OFFER: Final = 2
# A subscription's.
STATUS: Final = 3
PERIOD: Final = 4
CREATED_AT: Final = 5
ENDED_AT: Final = 6
# A payment's.
SOURCE: Final = 3  # its access source's id, None if unknown
KIND: Final = 4  # the source's kind: "subscription", "payment", or None if unknown
AMOUNT: Final = 5
CURRENCY: Final = 6
PAID_AT: Final = 7
REFUNDED_AT: Final = 8
DISPUTED: Final = 9
REF: Final = 10  # the invoice or Checkout session (``purchases.source_ref``)
paid_at = itemgetter(PAID_AT)  # the ledger's bisection key


Link = tuple[int | None, bool]  # a purchase's source through its PaymentIntents, and disputed
UNLINKED: Link = (None, False)


MemoKey = tuple[str, int, int, datetime]


@dataclass(frozen=True, slots=True)
class Ledger:
    """The subscriptions and payments revenue is computed from (payments in time order).

    A window of a ledger shares its memo: figures already computed, by what they are, the
    window's place in the whole ledger and their instant. A kept ledger (the dashboard's,
    ``/stats``'s) thus computes each once until a change makes a new ledger
    (``_ledger.refresh``), which remembers nothing yet.
    """

    subs: dict[int, Sub]
    paid: list[Paid]
    offset: int = 0  # where ``paid`` starts in the ledger this window was cut from
    memo: OrderedDict[MemoKey, Any] = field(default_factory=OrderedDict, compare=False, repr=False)

    def window(self, since: datetime, until: datetime) -> Ledger:
        """Return what a range ``[since, until)`` reads: payments from ``since - LOOKBACK``."""
        first = bisect_left(self.paid, since - LOOKBACK, key=paid_at)
        last = bisect_left(self.paid, until, key=paid_at)
        return Ledger(self.subs, self.paid[first:last], self.offset + first, self.memo)

    def remembered(self, what: str, at: datetime, compute: Callable[[Ledger, datetime], T]) -> T:
        """Return ``compute(self, at)``, computed once for this window and instant."""
        key = (what, self.offset, self.offset + len(self.paid), at)
        if key in self.memo:
            self.memo.move_to_end(key)
            return cast(T, self.memo[key])
        value = compute(self, at)
        self.memo[key] = value
        while len(self.memo) > MEMO_SIZE:
            self.memo.popitem(last=False)
        return value


def _stored(conn: AsyncConnection, column: ColumnElement[datetime]) -> ColumnElement[Any]:
    """Return a timestamp column as the driver reads it, without the column type's processing.

    SQLite gives the text ``UTCDateTime`` wrote (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), which
    ``_instant`` reads; asyncpg gives an aware datetime in UTC.
    """
    if conn.dialect.name == "sqlite":
        return type_coerce(column, String())
    return type_coerce(column, DateTime(timezone=True))


def _from_sqlite(value: str) -> datetime:
    """Read SQLite's stored text as an aware UTC datetime (0.2 µs; SQLAlchemy's path 1.5 µs)."""
    return datetime.fromisoformat(value + "+00:00")


def _from_asyncpg(value: datetime) -> datetime:
    """Return asyncpg's aware datetime in UTC."""
    return value.astimezone(UTC)


def reader(conn: AsyncConnection) -> Callable[[Any], datetime]:
    """Return how a ``_stored`` timestamp that is not NULL is read on this connection."""
    return _from_sqlite if conn.dialect.name == "sqlite" else _from_asyncpg


def source_query(conn: AsyncConnection, community_id: int) -> Select[Any]:
    """Return the query of a community's access sources as ``sub_of`` reads them."""
    s = access_sources.c
    return select(
        s.id,
        s.kind,
        s.member_id,
        s.offer_id,
        s.status,
        _stored(conn, s.period_start),
        _stored(conn, s.period_end),
        _stored(conn, s.ends_at),
        _stored(conn, s.created_at),
        _stored(conn, s.updated_at),
    ).where(s.community_id == community_id)


def sub_of(row: Sequence[Any], instant: Callable[[Any], datetime]) -> Sub:
    """Return the subscription a ``source_query`` row of kind "subscription" holds."""
    sid, _kind, member_id, offer_id, status, start, end, ends, created, updated = row
    period = DEFAULT_PERIOD
    if start is not None and end is not None:
        period = instant(end) - instant(start)
    ended = None
    if status in ENDED:
        ended = instant(ends if ends is not None else updated)
    return (sid, member_id, offer_id, status, period, instant(created), ended)


def intent_query(community_id: int) -> Select[Any]:
    """Return the query of a community's Stripe payments (PaymentIntents) in id order."""
    sp = stripe_payments.c
    return (
        select(sp.id, sp.purchase_ref, sp.source_id, sp.dispute_id)
        .where(sp.community_id == community_id)
        .order_by(sp.id)
    )


def purchase_query(conn: AsyncConnection, community_id: int) -> Select[Any]:
    """Return the query of a community's purchases as ``paid_of`` reads them."""
    p = purchases.c
    return select(
        p.id,
        p.member_id,
        p.offer_id,
        p.source_ref,
        p.amount_minor,
        p.currency,
        _stored(conn, p.purchased_at),
        _stored(conn, p.refunded_at),
    ).where(p.community_id == community_id)


def counted(query: Select[Any]) -> Select[Any]:
    """Return ``purchase_query`` narrowed to the purchases revenue counts: Stripe's, with money."""
    p = purchases.c
    return query.where(p.source == "stripe", p.amount_minor.is_not(None), p.currency.is_not(None))


def paid_of(
    row: Sequence[Any],
    link: Link,
    kinds: Mapping[int, str],
    instant: Callable[[Any], datetime],
) -> Paid:
    """Return the payment a ``counted`` purchase row holds, tied to its source by ``link``.

    The row may hold more columns after ``purchase_query``'s.
    """
    source_id, disputed = link
    refunded = row[7]
    return (
        row[0],
        row[1],
        row[2],
        source_id,
        kinds.get(source_id) if source_id is not None else None,
        int(row[4]),
        str(row[5]),
        instant(row[6]),
        None if refunded is None else instant(refunded),
        disputed,
        row[3],
    )


def relinked(paid: Paid, link: Link, kinds: Mapping[int, str]) -> Paid:
    """Return ``paid`` tied to its source by ``link`` instead."""
    source_id, disputed = link
    kind = kinds.get(source_id) if source_id is not None else None
    return (*paid[:SOURCE], source_id, kind, *paid[AMOUNT:DISPUTED], disputed, paid[REF])


async def load(conn: AsyncConnection, community_id: int, earliest: datetime | None) -> Ledger:
    """Read the subscriptions, and the payments from ``earliest`` on (all of them if None).

    Only the columns revenue reads, timestamps as the driver gives them (no type processing),
    rows as tuples: 20,000 payments and 13,000 subscriptions in tens of milliseconds.
    """
    instant = reader(conn)
    subs: dict[int, Sub] = {}
    kinds: dict[int, str] = {}
    kinds_read = access_sources.c.kind.in_((SUBSCRIPTION, PAYMENT))
    for row in await fetch(conn, source_query(conn, community_id).where(kinds_read)):
        kinds[row[0]] = row[1]
        if row[1] == SUBSCRIPTION:
            subs[row[0]] = sub_of(row, instant)
    links: dict[str, Link] = {}
    intents = intent_query(community_id)
    if earliest is not None:
        intents = intents.where(stripe_payments.c.paid_at >= int(earliest.timestamp()))
    for _id, ref, source_id, dispute in await fetch(conn, intents):
        known = links.get(ref)
        links[ref] = (source_id, dispute is not None or (known is not None and known[1]))
    bought = counted(purchase_query(conn, community_id))
    if earliest is not None:
        bought = bought.where(purchases.c.purchased_at >= earliest)
    order = (purchases.c.purchased_at, purchases.c.id)
    return Ledger(
        subs,
        [
            paid_of(row, links.get(row[3], UNLINKED), kinds, instant)
            for row in await fetch(conn, bought.order_by(*order))
        ],
    )


def mrr_at(ledger: Ledger, at: datetime) -> dict[int, tuple[str, int]]:
    """Return each subscription's monthly amount at ``at``: (currency, minor units)."""
    return dict(ledger.remembered("mrr", at, _mrr_at))


def _mrr_at(ledger: Ledger, at: datetime) -> dict[int, tuple[str, int]]:
    found: dict[int, tuple[str, int]] = {}
    latest: dict[int, Paid] = {}
    for paid in ledger.paid:
        if paid[KIND] != SUBSCRIPTION or paid[SOURCE] is None or paid[PAID_AT] > at:
            continue
        known = latest.get(paid[SOURCE])
        if known is None or paid[PAID_AT] > known[PAID_AT]:
            latest[paid[SOURCE]] = paid
    for source_id, paid in latest.items():
        sub = ledger.subs[source_id]
        if paid[REFUNDED_AT] is not None and paid[REFUNDED_AT] <= at:
            continue
        if sub[ENDED_AT] is not None and sub[ENDED_AT] <= at:
            continue
        if at >= paid[PAID_AT] + sub[PERIOD]:
            continue
        found[source_id] = (paid[CURRENCY], rules.monthly(paid[AMOUNT], sub[PERIOD]))
    return found


def paying_members(ledger: Ledger, at: datetime) -> set[int]:
    """Return the members with a subscription paid up at ``at`` or a kept one-time purchase."""
    return set(ledger.remembered("paying", at, _paying_members))


def _paying_members(ledger: Ledger, at: datetime) -> frozenset[int]:
    members = {ledger.subs[sid][MEMBER] for sid in mrr_at(ledger, at)}
    for paid in ledger.paid:
        if paid[KIND] == SUBSCRIPTION or paid[PAID_AT] > at:
            continue
        if paid[REFUNDED_AT] is None or paid[REFUNDED_AT] > at:
            members.add(paid[MEMBER])
    return frozenset(members)


def _is_trial(sub: Sub, first_paid: datetime | None) -> bool:
    """Say whether a subscription began with a trial: trialing now, or paid a day or more late."""
    if sub[STATUS] == "trialing":
        return True
    return first_paid is not None and first_paid - sub[CREATED_AT] >= timedelta(days=1)


def mrr_per_currency(ledger: Ledger, since: datetime, until: datetime) -> list[tuple[str, int]]:
    """Return the MRR at the end of ``[since, until)`` of each currency the revenue page lists.

    The currencies are those of subscriptions paying at either end and of payments in the
    range, as ``revenue`` lists them, without its movements, trials and offers (the overview).
    """
    before = mrr_at(ledger, since - timedelta(microseconds=1))
    after = mrr_at(ledger, until - timedelta(microseconds=1))
    mrr: dict[str, int] = defaultdict(int)
    for currency, amount in after.values():
        mrr[currency] += amount
    currencies = (
        {c for c, _ in before.values()}
        | mrr.keys()
        | {p[CURRENCY] for p in ledger.paid if since <= p[PAID_AT] < until}
    )
    return [(c, mrr.get(c, 0)) for c in sorted(currencies)]


def revenue(ledger: Ledger, start: date, end: date, since: datetime, until: datetime) -> Revenue:
    """Compute the revenue page over ``[since, until)``."""
    before = mrr_at(ledger, since - timedelta(microseconds=1))
    after = mrr_at(ledger, until - timedelta(microseconds=1))
    currencies = sorted(
        {c for c, _ in [*before.values(), *after.values()]}
        | {p[CURRENCY] for p in ledger.paid if since <= p[PAID_AT] < until}
    )
    per: dict[str, dict[str, int]] = {c: defaultdict(int) for c in currencies}
    churned_subs = 0
    for sid in before.keys() | after.keys():
        currency, old = before.get(sid, (after.get(sid, ("", 0))[0], 0))
        new = after.get(sid, (currency, 0))[1]
        figures = per[currency]
        figures["mrr_start"] += old
        figures["mrr"] += new
        if old == 0:
            figures["new"] += new
        elif new == 0:
            figures["churned"] += old
            churned_subs += 1
        elif new > old:
            figures["expansion"] += new - old
        else:
            figures["contraction"] += old - new
    first_paid: dict[int, datetime] = {}
    offers: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    refunds = disputes = course_sales = 0
    for paid in ledger.paid:
        if paid[SOURCE] is not None and paid[KIND] == SUBSCRIPTION:
            known = first_paid.get(paid[SOURCE])
            if known is None or paid[PAID_AT] < known:
                first_paid[paid[SOURCE]] = paid[PAID_AT]
        if not since <= paid[PAID_AT] < until:
            continue
        figures = per[paid[CURRENCY]]
        figures["collected"] += paid[AMOUNT]
        line = offers[(paid[OFFER], paid[CURRENCY])]
        line[0] += 1
        line[1] += paid[AMOUNT]
        if paid[REFUNDED_AT] is not None:
            refunds += 1
            figures["refunded"] += paid[AMOUNT]
            line[2] += paid[AMOUNT]
        if paid[DISPUTED]:
            disputes += 1
        if paid[KIND] == PAYMENT:
            course_sales += 1
            figures["course_sales"] += paid[AMOUNT]
    trials = [
        sub
        for sub in ledger.subs.values()
        if since <= sub[CREATED_AT] < until and _is_trial(sub, first_paid.get(sub[ID]))
    ]
    converted = sum(1 for sub in trials if sub[ID] in first_paid)
    rows = []
    for currency in currencies:
        f = per[currency]
        rows.append(
            CurrencyRevenue(
                currency=currency,
                mrr_start=f["mrr_start"],
                mrr=f["mrr"],
                arr=f["mrr"] * 12,
                new_mrr=f["new"],
                expansion_mrr=f["expansion"],
                contraction_mrr=f["contraction"],
                churned_mrr=f["churned"],
                revenue_churn_rate=rules.ratio(f["churned"] + f["contraction"], f["mrr_start"]),
                collected=f["collected"],
                refunded=f["refunded"],
                course_sales=f["course_sales"],
            )
        )
    return Revenue(
        start=start,
        end=end,
        currencies=tuple(rows),
        subscribers_start=len(before),
        subscribers=len(after),
        churned_subscribers=churned_subs,
        logo_churn_rate=rules.ratio(churned_subs, len(before)),
        trials_started=len(trials),
        trials_converted=converted,
        trial_conversion_rate=rules.ratio(converted, len(trials)),
        refunds=refunds,
        disputes=disputes,
        course_sales=course_sales,
        offers=tuple(
            OfferRevenue(offer, currency, n, amount, refunded)
            for (offer, currency), (n, amount, refunded) in sorted(offers.items())
        ),
    )
