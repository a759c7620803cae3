"""The rows a batch of events will look up by Stripe id, read in a few statements up front."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating import _events as ev
from bot.cogs.gating._rules import SourceKind
from bot.store.tables import access_sources, checkout_refs, stripe_customers, stripe_payments

_CUSTOMER = (
    select(stripe_customers)
    .where(
        stripe_customers.c.community_id.in_(bindparam("b_communities", expanding=True)),
        stripe_customers.c.customer_id == bindparam("b_customer"),
    )
    .order_by(stripe_customers.c.id)
)

Key = tuple[str, Any]  # (what, its id): ("source", (kind, ref)), ("ref", ref), ...


class Lookups:
    """Rows by the ids a batch's events name, loaded before the batch is applied.

    Active only inside the batch's write transaction, where no other writer can change them.
    Every write the apply path makes to one of these tables forgets the rows it touches, so
    the next lookup reads them again; a key that is not held reads the database as before.
    """

    def __init__(self) -> None:
        self.active = False
        self._rows: dict[Key, Row[Any] | None] = {}
        self._source_keys: dict[int, Key] = {}  # source id -> its ("source", (kind, ref))

    def get(self, key: Key) -> tuple[bool, Row[Any] | None]:
        """Return whether ``key`` is held, and its row (None: known to be absent)."""
        if not self.active or key not in self._rows:
            return False, None
        return True, self._rows[key]

    def forget(self, key: Key) -> None:
        """Drop ``key`` (a write changed it)."""
        self._rows.pop(key, None)

    def forget_source(self, source_id: int) -> None:
        """Drop a source by its id, under every key it is held by."""
        self._rows.pop(("source_id", source_id), None)
        key = self._source_keys.pop(source_id, None)
        if key is not None:
            self._rows.pop(key, None)

    async def customer(
        self, conn: AsyncConnection, communities: list[int], customer_id: str
    ) -> Row[Any] | None:
        """Return the ``stripe_customers`` row of a Stripe customer, held or read."""
        held, row = self.get(("customer", customer_id))
        if held:
            return row
        found = await conn.execute(
            _CUSTOMER, {"b_communities": communities, "b_customer": customer_id}
        )
        return found.first()

    def clear(self) -> None:
        """Forget everything and stop answering (the batch is over)."""
        self.active = False
        self._rows.clear()
        self._source_keys.clear()

    async def load(
        self, conn: AsyncConnection, communities: list[int], events: Iterable[dict[str, Any]]
    ) -> None:
        """Read what ``events`` will look up, in five statements at most, and start answering."""
        self.clear()
        wanted = _wanted(events)
        sources = {k for k in wanted if k[0] == "source"}
        if sources:
            by_kind: dict[str, list[str]] = {}
            for _, (kind, ref) in sources:
                by_kind.setdefault(kind, []).append(ref)
            found = await conn.execute(
                select(access_sources).where(
                    access_sources.c.community_id.in_(communities),
                    or_(
                        *(
                            and_(access_sources.c.kind == kind, access_sources.c.ref.in_(refs))
                            for kind, refs in by_kind.items()
                        )
                    ),
                )
            )
            self._hold_sources(found.all())
        refs = [k[1] for k in wanted if k[0] == "ref"]
        if refs:
            found = await conn.execute(select(checkout_refs).where(checkout_refs.c.ref.in_(refs)))
            for row in found:
                self._rows[("ref", row.ref)] = row
        customers = [k[1] for k in wanted if k[0] == "customer"]
        if customers:
            found = await conn.execute(
                select(stripe_customers)
                .where(
                    stripe_customers.c.community_id.in_(communities),
                    stripe_customers.c.customer_id.in_(customers),
                )
                .order_by(stripe_customers.c.id)
            )
            for row in found:
                self._rows.setdefault(("customer", row.customer_id), row)
        intents = [k[1] for k in wanted if k[0] == "payment"]
        if intents:
            found = await conn.execute(
                select(stripe_payments).where(
                    stripe_payments.c.community_id.in_(communities),
                    stripe_payments.c.payment_intent.in_(intents),
                )
            )
            payments = found.all()
            for row in payments:
                self._rows[("payment", row.payment_intent)] = row
            ids = sorted({row.source_id for row in payments})
            if ids:
                found = await conn.execute(
                    select(access_sources).where(access_sources.c.id.in_(ids))
                )
                self._hold_sources(found.all())
        for key in wanted:
            self._rows.setdefault(key, None)  # asked for and not there: known to be absent
        self.active = True

    def _hold_sources(self, rows: Iterable[Row[Any]]) -> None:
        for row in rows:
            key: Key = ("source", (row.kind, row.ref))
            self._rows[key] = row
            self._rows[("source_id", row.id)] = row
            self._source_keys[row.id] = key


def _wanted(events: Iterable[dict[str, Any]]) -> set[Key]:
    """Return the keys the apply path will look up for ``events``."""
    wanted: set[Key] = set()

    def source(kind: SourceKind, ref: object) -> None:
        if isinstance(ref, str) and ref:
            wanted.add(("source", (kind.value, ref)))

    for event in events:
        obj = event.get("data", {}).get("object")
        kind = str(event.get("type", ""))
        if not isinstance(obj, dict):
            continue
        for ref in (obj.get("client_reference_id"), ev.metadata(obj).get(ev.REF_KEY)):
            if ref:
                wanted.add(("ref", str(ref)))
        customer = ev.customer_of(obj)
        if customer:
            wanted.add(("customer", customer))
        if kind.startswith("customer.subscription."):
            source(SourceKind.SUBSCRIPTION, obj.get("id"))
        elif kind.startswith("checkout.session."):
            source(SourceKind.SUBSCRIPTION, ev.id_of(obj, "subscription"))
            source(SourceKind.PAYMENT, obj.get("id"))
        elif kind.startswith("invoice."):
            source(SourceKind.SUBSCRIPTION, ev.invoice_subscription(obj))
        elif kind.startswith("charge."):
            intent = ev.payment_intent_of(obj)
            if intent:
                wanted.add(("payment", intent))
    return wanted
