"""The Stripe gateway: the only module of Cohort that imports ``stripe``.

Everything it returns is plain data (dicts, strings), so the rest of the gating cog never
sees a Stripe object. Every request asks for ``API_VERSION``, the version whose shapes
``_events`` reads (and the one the webhook endpoint must be set to), whatever version a newer
``stripe`` library would pick. What it reads is dated by Stripe's own clock (the ``Date`` of
the answer), so that a read can be ordered against events. Webhook signatures are checked by
the library on the raw body; the timestamp window (too old *and* too far ahead) is checked
here against the injected clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from bot.core.clock import Clock
from bot.core.config import StripeConfig

log = logging.getLogger(__name__)

# The Stripe API version Cohort speaks, in its requests and (set on the endpoint) its webhooks.
API_VERSION = "2026-10-28.endive"
MAX_LIST_PAGES = 200  # 100 objects a page: a reconciliation pass reads at most 20,000
# When Stripe's answer has no usable Date, a read is taken to be this much older than our
# clock says, to allow for the two clocks' skew.
CLOCK_SKEW = 60


class BadSignature(Exception):
    """A webhook request that is not a genuine, fresh Stripe delivery."""


class StripeUnavailable(Exception):
    """Stripe could not be asked (network, an error status, a bad key): not an answer."""


@dataclass(frozen=True, slots=True)
class Read:
    """One object read from Stripe (None: Stripe has none), with when Stripe answered."""

    obj: dict[str, Any] | None
    as_of: int  # Stripe's clock at the answer, epoch seconds


@dataclass(frozen=True, slots=True)
class Listing:
    """Every object of a list, and when Stripe answered its first page."""

    items: list[dict[str, Any]]
    as_of: int


@dataclass(frozen=True, slots=True)
class CheckoutLink:
    """A Checkout Session created for one member."""

    session_id: str
    url: str
    livemode: bool


def verify(
    payload: bytes, header: str | None, secret: str, *, now: datetime, tolerance: timedelta
) -> dict[str, Any]:
    """Return the event in ``payload`` if ``header`` signs it with ``secret`` within ``tolerance``.

    Raise BadSignature for a missing or malformed header, a signature that does not match (a
    tampered body or another secret), a timestamp older than ``tolerance`` or further ahead of
    ``now`` than it, and a body that is not a Stripe event.
    """
    if not header:
        raise BadSignature("no Stripe-Signature header")
    import stripe  # noqa: PLC0415 (loaded when Stripe is first used: a lean start)

    try:
        # The library's own check of the HMAC over "t.body"; the window is ours (below), so
        # that it uses the same clock as everything else and refuses the future too.
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    except stripe.SignatureVerificationError as exc:
        raise BadSignature(str(exc).splitlines()[0][:200]) from None
    except UnicodeDecodeError:
        raise BadSignature("the body is not UTF-8") from None
    stamp = _timestamp(header)
    age = now.timestamp() - stamp
    if age > tolerance.total_seconds():
        raise BadSignature(f"timestamp {stamp} is {age:.0f}s old")
    if -age > tolerance.total_seconds():
        raise BadSignature(f"timestamp {stamp} is {-age:.0f}s in the future")
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadSignature("the body is not JSON") from None
    if (
        not isinstance(event, dict)
        or event.get("object") != "event"
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("created"), int)
        or not isinstance(event.get("data"), dict)
    ):
        raise BadSignature("the body is not a Stripe event")
    return event


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Return the ``Stripe-Signature`` header Stripe would send with ``payload``."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _timestamp(header: str) -> int:
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    raise BadSignature("no timestamp in the header")  # pragma: no cover - the library checks it


class Gateway(Protocol):
    """What the gating service asks of Stripe: the real gateway below, or demo mode's."""

    async def close(self) -> None:
        """Release what the gateway holds open."""

    async def create_checkout(
        self,
        *,
        price_id: str,
        subscription: bool,
        ref: str,
        customer_id: str | None,
        trial_days: int,
        locale: str,
        metadata: Mapping[str, str],
    ) -> CheckoutLink:
        """Create a Checkout Session for one price, tied to ``ref``."""

    async def create_portal(self, customer_id: str) -> str:
        """Return a billing-portal link for ``customer_id``."""

    async def subscription(self, subscription_id: str) -> Read:
        """Return a subscription as it is now."""

    async def invoice(self, invoice_id: str) -> Read:
        """Return an invoice with its payments."""

    async def invoice_payment(self, intent: str) -> Read:
        """Return the paid InvoicePayment of a PaymentIntent, its invoice expanded, if any."""

    async def charge(self, charge_id: str) -> Read:
        """Return a charge."""

    async def subscriptions(self) -> Listing:
        """Return every subscription, newest first."""

    async def refunds(self, since: datetime) -> Listing:
        """Return the refunds made since ``since``, each with its charge, newest first."""

    async def disputes(self) -> Listing:
        """Return every dispute, newest first."""

    async def undelivered_events(self, since: datetime) -> list[dict[str, Any]]:
        """Return the events since ``since`` that could not be delivered."""


class StripeGateway:
    """Ask Stripe for Checkout and portal sessions, and read objects back for reconciliation."""

    def __init__(self, config: StripeConfig, clock: Clock) -> None:
        if not config.secret_key:
            raise ValueError("the Stripe gateway needs a secret key")
        import stripe  # noqa: PLC0415 (loaded when Stripe is first used: a lean start)

        self.config = config
        self.clock = clock
        self._http = stripe.AIOHTTPClient(timeout=20)
        addresses: dict[str, str] = {}
        if config.api_base:
            addresses = {"api": config.api_base.rstrip("/")}
        self._client = stripe.StripeClient(
            config.secret_key.reveal(),
            base_addresses=addresses,  # type: ignore[arg-type]
            http_client=self._http,
            max_network_retries=2,
            stripe_version=API_VERSION,
        )
        self._used = False

    async def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._used:
            await self._http.close_async()  # type: ignore[no-untyped-call]  # untyped in the SDK

    async def _call(self, what: str, run: Any) -> Any:
        import stripe  # noqa: PLC0415 (loaded with the gateway; a lookup in sys.modules)

        self._used = True
        try:
            return await run
        except stripe.StripeError as exc:
            log.warning("stripe: %s failed: %s", what, exc.user_message or exc)
            raise StripeUnavailable(f"{what}: {type(exc).__name__}") from exc

    async def create_checkout(
        self,
        *,
        price_id: str,
        subscription: bool,
        ref: str,
        customer_id: str | None,
        trial_days: int,
        locale: str,
        metadata: Mapping[str, str],
    ) -> CheckoutLink:
        """Create a Checkout Session for one price, tied to ``ref`` (never to an email)."""
        params: dict[str, Any] = {
            "mode": "subscription" if subscription else "payment",
            "line_items": [{"price": price_id, "quantity": 1}],
            "client_reference_id": ref,
            "success_url": self.config.success_url,
            "cancel_url": self.config.cancel_url,
            "allow_promotion_codes": True,
            "metadata": dict(metadata),
            "locale": "zh" if locale.startswith("zh") else "en",
        }
        if customer_id:
            params["customer"] = customer_id
        elif not subscription:
            params["customer_creation"] = "always"
        if subscription:
            params["subscription_data"] = {"metadata": dict(metadata)}
            if trial_days:
                params["subscription_data"]["trial_period_days"] = trial_days
        else:
            params["payment_intent_data"] = {"metadata": dict(metadata)}
        session = await self._call(
            "checkout.sessions.create",
            self._client.v1.checkout.sessions.create_async(params),  # type: ignore[arg-type]
        )
        return CheckoutLink(session.id, session.url or "", bool(session.livemode))

    async def create_portal(self, customer_id: str) -> str:
        """Return a billing-portal link for ``customer_id``."""
        session = await self._call(
            "billing_portal.sessions.create",
            self._client.v1.billing_portal.sessions.create_async(
                {"customer": customer_id, "return_url": self.config.portal_return_url}
            ),
        )
        return str(session.url)

    async def subscription(self, subscription_id: str) -> Read:
        """Return a subscription as Stripe has it now."""
        found = await self._call(
            "subscriptions.retrieve",
            self._client.v1.subscriptions.retrieve_async(subscription_id),
        )
        return Read(dict(found.to_dict()), self._as_of(found))

    async def invoice(self, invoice_id: str) -> Read:
        """Return an invoice with its payments (an includable field, left out of events)."""
        found = await self._call(
            "invoices.retrieve",
            self._client.v1.invoices.retrieve_async(invoice_id, {"expand": ["payments"]}),
        )
        return Read(dict(found.to_dict()), self._as_of(found))

    async def invoice_payment(self, intent: str) -> Read:
        """Return the paid InvoicePayment of a PaymentIntent, its invoice expanded, if any.

        None when the PaymentIntent paid no invoice (a one-time Checkout, or not a payment of
        a subscription at all).
        """
        page = await self._call(
            "invoice_payments.list",
            self._client.v1.invoice_payments.list_async(
                {
                    "payment": {"type": "payment_intent", "payment_intent": intent},
                    "expand": ["data.invoice"],
                    "limit": 10,
                }
            ),
        )
        paid = [
            p for p in (dict(item.to_dict()) for item in page.data) if p.get("status") == "paid"
        ]
        return Read(paid[0] if paid else None, self._as_of(page))

    async def charge(self, charge_id: str) -> Read:
        """Return a charge (what leads from a dispute without a PaymentIntent to the payment)."""
        found = await self._call(
            "charges.retrieve", self._client.v1.charges.retrieve_async(charge_id)
        )
        return Read(dict(found.to_dict()), self._as_of(found))

    async def subscriptions(self) -> Listing:
        """Return every subscription, whatever its status, newest first."""
        return await self._list(
            "subscriptions.list",
            lambda after: self._client.v1.subscriptions.list_async(
                _page({"status": "all"}, after)  # type: ignore[arg-type]
            ),
        )

    async def refunds(self, since: datetime) -> Listing:
        """Return the refunds made since ``since``, each with its charge, newest first."""
        return await self._list(
            "refunds.list",
            lambda after: self._client.v1.refunds.list_async(
                _page(  # type: ignore[arg-type]
                    {"created": {"gte": int(since.timestamp())}, "expand": ["data.charge"]}, after
                )
            ),
        )

    async def disputes(self) -> Listing:
        """Return every dispute, newest first (one stays open for months)."""
        return await self._list(
            "disputes.list",
            lambda after: self._client.v1.disputes.list_async(_page({}, after)),  # type: ignore[arg-type]
        )

    async def undelivered_events(self, since: datetime) -> list[dict[str, Any]]:
        """Return the events since ``since`` that Stripe could not deliver to us."""
        listing = await self._list(
            "events.list",
            lambda after: self._client.v1.events.list_async(
                _page(  # type: ignore[arg-type]
                    {"delivery_success": False, "created": {"gte": int(since.timestamp())}},
                    after,
                )
            ),
        )
        return listing.items

    async def _list(self, what: str, fetch: Any) -> Listing:
        found: list[dict[str, Any]] = []
        after: str | None = None
        as_of: int | None = None
        for _page_number in range(MAX_LIST_PAGES):
            page = await self._call(what, fetch(after))
            if as_of is None:
                as_of = self._as_of(page)
            items = [dict(item.to_dict()) for item in page.data]
            found += items
            if not page.has_more or not items:
                return Listing(found, as_of)
            after = items[-1]["id"]
        log.warning("stripe: %s stopped after %s pages", what, MAX_LIST_PAGES)
        return Listing(found, as_of if as_of is not None else self._as_of(None))

    def _as_of(self, answer: Any) -> int:
        """Return Stripe's clock at ``answer`` (its Date header), or ours less the skew."""
        response = getattr(answer, "last_response", None)
        date = response.headers.get("Date") if response is not None else None
        if date:
            try:
                return int(parsedate_to_datetime(date).timestamp())
            except (TypeError, ValueError):
                log.warning("stripe: an answer with an unreadable Date header: %r", date[:64])
        return int(self.clock.now().timestamp()) - CLOCK_SKEW


def _page(params: dict[str, Any], after: str | None) -> dict[str, Any]:
    page = {**params, "limit": 100}
    if after:
        page["starting_after"] = after
    return page
