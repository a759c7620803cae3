"""A loopback Stripe API stand-in over the account in ``_account``, and its webhook deliveries.

The real ``stripe`` client talks to it over HTTP (``StripeClient(base_addresses=...)``). It is
as strict as Stripe where Cohort could go wrong: it answers only the API version it
serialises for (``Stripe-Version``), leaves includable fields out unless expanded and refuses
``expand`` paths it does not know (``_objects``), dates its answers with its own clock (the
``Date`` header) and pages lists newest first. Tests arrange prices, act as a buyer and as
Stripe (``_account``), then sign the events exactly as Stripe signs them and post them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from dataclasses import dataclass, field
from email.utils import formatdate
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

from tests.stripe_api._account import Account
from tests.stripe_api._form import decode, truthy
from tests.stripe_api._objects import API_VERSION, render, render_list

DEFAULT_KEY = "sk_test_standin"
DEFAULT_SECRET = "whsec_standin"


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Return a ``Stripe-Signature`` header for ``payload``, as Stripe computes it."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Failure:
    """An error the next calls of a path answer with."""

    status: int
    times: int
    retry: bool = False


@dataclass
class StripeServer(Account):
    """Stripe's API on 127.0.0.1 with an in-memory account behind it."""

    api_key: str = DEFAULT_KEY
    webhook_secret: str = DEFAULT_SECRET
    portal_sessions: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    versions: list[str | None] = field(default_factory=list)  # Stripe-Version of each request
    failures: dict[str, Failure] = field(default_factory=dict)
    port: int = 0
    _runner: web.AppRunner | None = None

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return the address to give the ``stripe`` client as its API base."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.port = sock.getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(
        self, path: str, status: int = 500, *, times: int = 1, retry: bool = False
    ) -> None:
        """Make the next ``times`` requests under ``path`` (like ``/v1/subscriptions``) fail."""
        self.failures[path] = Failure(status, times, retry)

    # --- HTTP -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        response = await self._answer(request)
        response.headers["Date"] = formatdate(self.clock(), usegmt=True)
        response.headers["Stripe-Version"] = API_VERSION
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        version = request.headers.get("Stripe-Version")
        self.versions.append(version)
        if version != API_VERSION:
            # Stripe would answer in that version's shapes; the stand-in knows only one.
            return _error(400, "invalid_request_error", f"Invalid Stripe API version: {version}")
        if request.method == "POST":
            params = decode((await request.post()).items())  # type: ignore[arg-type]
        else:
            params = decode(request.query.items())
        self.requests.append((request.method, request.path, params))
        for prefix, failure in list(self.failures.items()):
            if request.path.startswith(prefix) and failure.times > 0:
                failure.times -= 1
                response = _error(failure.status, "api_error", "the stand-in was told to fail")
                response.headers["Stripe-Should-Retry"] = "true" if failure.retry else "false"
                return response
        parts = request.path.strip("/").split("/")[1:]
        route = (request.method, *parts)
        expand = params.pop("expand", None) or []
        try:
            body = self._route(route, params, list(expand))
        except KeyError as exc:
            return _error(404, "invalid_request_error", f"No such object: {exc}")
        except ValueError as exc:  # BadExpand too
            return _error(400, "invalid_request_error", str(exc))
        return web.json_response(body)

    def _route(
        self, route: tuple[str, ...], params: dict[str, Any], expand: list[str]
    ) -> dict[str, Any]:
        one = self._one
        match route:
            case ("POST", "checkout", "sessions"):
                return one(self.create_session(params, self.base_url), expand)
            case ("GET", "checkout", "sessions", session_id):
                return one(self.sessions[session_id], expand)
            case ("POST", "billing_portal", "sessions"):
                return self._portal(params)
            case ("GET", "subscriptions", subscription_id):
                return one(self.subscriptions[subscription_id], expand)
            case ("GET", "subscriptions"):
                found = list(self.subscriptions.values())
                if params.get("status", "all") != "all":
                    found = [s for s in found if s["status"] == params["status"]]
                return self._page("/v1/subscriptions", found[::-1], params, expand)
            case ("GET", "customers", customer_id):
                return one(self.customers[customer_id], expand)
            case ("GET", "invoices", invoice_id):
                return one(self.invoices[invoice_id], expand)
            case ("GET", "invoice_payments"):
                return self._page(
                    "/v1/invoice_payments", self._invoice_payments(params), params, expand
                )
            case ("GET", "charges", charge_id):
                return one(self.charges[charge_id], expand)
            case ("GET", "refunds"):
                found = _filtered(list(self.refunds.values()), params)
                return self._page("/v1/refunds", found[::-1], params, expand)
            case ("GET", "disputes"):
                found = _filtered(list(self.disputes.values()), params)
                return self._page("/v1/disputes", found[::-1], params, expand)
            case ("GET", "events"):
                return self._page("/v1/events", self._events(params), params, expand)
        raise KeyError("/".join(route[1:]))

    def _one(self, obj: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        return render(obj, expand, self.lookup)

    def _page(
        self, url: str, items: list[dict[str, Any]], params: dict[str, Any], expand: list[str]
    ) -> dict[str, Any]:
        limit = int(params.get("limit", 10))
        if not 1 <= limit <= 100:
            raise ValueError("limit must be between 1 and 100")
        after = params.get("starting_after")
        if after:
            ids = [item["id"] for item in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        return render_list(url, items[:limit], len(items) > limit, expand, self.lookup)

    def _portal(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer", "")
        if customer not in self.customers:
            raise KeyError(customer)
        portal = {
            "id": self._id("bps"),
            "object": "billing_portal.session",
            "customer": customer,
            "return_url": params.get("return_url"),
            "url": f"{self.base_url}/portal/{customer}",
            "livemode": self.livemode,
        }
        self.portal_sessions.append(portal)
        return portal

    def _invoice_payments(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        found = list(self.invoice_payments.values())[::-1]
        if "invoice" in params:
            found = [p for p in found if p["invoice"] == params["invoice"]]
        payment = params.get("payment")
        if payment is not None:
            if not isinstance(payment, dict) or payment.get("type") != "payment_intent":
                raise ValueError("payment[type]: must be one of payment_intent, payment_record")
            wanted = payment.get("payment_intent")
            found = [p for p in found if p["payment"].get("payment_intent") == wanted]
        if "status" in params:
            found = [p for p in found if p["status"] == params["status"]]
        return found

    def _events(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        found = [d.event for d in reversed(self.events)]
        if "delivery_success" in params:
            wanted = truthy(params["delivery_success"])
            delivered = {d.event["id"]: d.delivered for d in self.events}
            found = [e for e in found if delivered[e["id"]] == wanted]
        return _filtered(found, params)

    # --- webhooks ---------------------------------------------------------------------------

    def signed(
        self, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, str]:
        """Return the body and ``Stripe-Signature`` header Stripe would send for ``event``."""
        body = json.dumps(event, indent=2).encode()
        stamp = self.clock() if timestamp is None else timestamp
        return body, sign(body, secret or self.webhook_secret, stamp)

    async def deliver(self, session: aiohttp.ClientSession, url: str, event: dict[str, Any]) -> int:
        """Post ``event`` to the webhook as Stripe does; remember whether it got a 2xx."""
        body, header = self.signed(event)
        async with session.post(
            url,
            data=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"},
        ) as response:
            await response.read()
            ok = 200 <= response.status < 300
        if ok:
            self.mark_delivered(event["id"])
        return response.status

    def mark_delivered(self, event_id: str) -> None:
        """Remember that an event reached the bot (Stripe's ``delivery_success``)."""
        for delivery in self.events:
            if delivery.event["id"] == event_id:
                delivery.delivered = True


def _filtered(items: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply the list filters Stripe offers on ``created`` and on the ids an object names."""
    for name in ("charge", "payment_intent"):
        if name in params:
            items = [item for item in items if item.get(name) == params[name]]
    created = params.get("created")
    if isinstance(created, dict):
        bounds = {k: int(v) for k, v in created.items()}
        items = [
            item
            for item in items
            if item["created"] >= bounds.get("gte", item["created"])
            and item["created"] > bounds.get("gt", item["created"] - 1)
            and item["created"] <= bounds.get("lte", item["created"])
            and item["created"] < bounds.get("lt", item["created"] + 1)
        ]
    elif created is not None:
        items = [item for item in items if item["created"] == int(created)]
    return items


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)
