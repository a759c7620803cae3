"""Demo mode's Checkout and billing pages: pay, cancel and refund without a Stripe account.

``GET /demo/checkout/<session>`` shows what is being bought with Pay and Cancel buttons;
``GET /demo/billing/<customer>`` lists a customer's payments with a Refund button each. The
forms carry a token signed for that object (no other site can post them), and what they do
is sent as signed Stripe events to this app's own ``/stripe/webhook``, through the same
verification and inbox as Stripe's. Pages are in the buyer's language, with every value
escaped; they need no JavaScript.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from aiohttp import web

from bot.cogs.gating import DemoError, DemoGateway, Gating
from bot.cogs.gating._demo import BILLING_PATH, CHECKOUT_PATH
from bot.cogs.gating._simulate import Event, SimulateError, post, webhook_url
from bot.core.cohort import Cohort
from bot.web._keys import COHORT_KEY

log = logging.getLogger(__name__)

Translate = Callable[..., str]


def demo_routes() -> list[web.RouteDef]:
    """Return the demo pages' routes (added only in demo mode)."""
    return [
        web.get(CHECKOUT_PATH + "{session}", checkout_page),
        web.post(CHECKOUT_PATH + "{session}", checkout_submit),
        web.get(BILLING_PATH + "{customer}", billing_page),
        web.post(BILLING_PATH + "{customer}", billing_submit),
    ]


def _gateway(request: web.Request) -> tuple[Cohort, DemoGateway]:
    cohort = request.app[COHORT_KEY]
    service = cohort.entitlements
    if not isinstance(service, Gating) or not isinstance(service.gateway, DemoGateway):
        raise web.HTTPNotFound(text="not in demo mode")
    return cohort, service.gateway


def _translator(cohort: Cohort, locale: str) -> Translate:
    language = "zh_CN" if locale.startswith("zh") else "en"

    def t(key: str, /, **params: object) -> str:
        return html.escape(cohort.i18n.plain(language, f"gating.demo.{key}", **params))

    return t


def _page(t: Translate, body: str, *, status: int = 200) -> web.Response:
    document = (
        f'<!doctype html><html lang="{t("lang")}"><head><meta charset="utf-8">'
        f"<title>{t('title')}</title></head><body><h1>{t('title')}</h1>{body}"
        f"<p><small>{t('footer')}</small></p></body></html>"
    )
    return web.Response(text=document, content_type="text/html", status=status)


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


async def checkout_page(request: web.Request) -> web.Response:
    """Show an open demo Checkout with its Pay and Cancel buttons."""
    cohort, gateway = _gateway(request)
    session_id = request.match_info["session"]
    session = gateway.sessions.get(session_id)
    t = _translator(cohort, session["locale"] if session else "en")
    if session is None:
        return _page(t, f"<p>{t('unknown')}</p>", status=404)
    if session["status"] != "open":
        return _page(t, f"<p>{t('closed')}</p>", status=409)
    name = gateway.names.get(session["price"], session["price"])
    plan = t("monthly") if session["mode"] == "subscription" else t("once")
    token = html.escape(gateway.token(session_id))
    body = (
        f"<p>{t('buying', offer=name, plan=plan)}</p>"
        f"<p><strong>{html.escape(_money(session['amount_total'], session['currency']))}"
        f"</strong> {t('pretend')}</p>"
        f'<form method="post"><input type="hidden" name="token" value="{token}">'
        f'<button name="action" value="pay">{t("pay")}</button> '
        f'<button name="action" value="cancel">{t("cancel")}</button></form>'
    )
    return _page(t, body)


async def checkout_submit(request: web.Request) -> web.Response:
    """Pay or cancel a demo Checkout, and send the bot what Stripe would."""
    cohort, gateway = _gateway(request)
    session_id = request.match_info["session"]
    session = gateway.sessions.get(session_id)
    t = _translator(cohort, session["locale"] if session else "en")
    form = await request.post()
    if not gateway.check(session_id, str(form.get("token", ""))):
        return _page(t, f"<p>{t('forbidden')}</p>", status=403)
    try:
        if form.get("action") == "cancel":
            gateway.cancel(session_id)
            return _page(t, f"<p>{t('cancelled')}</p>")
        events = gateway.pay(session_id)
    except DemoError as exc:
        log.info("demo: checkout refused: %s", exc)
        return _page(t, f"<p>{t('closed')}</p>", status=409)
    return await _send(cohort, t, events, t("paid"))


async def billing_page(request: web.Request) -> web.Response:
    """List a demo customer's payments, each with a Refund button."""
    cohort, gateway = _gateway(request)
    customer = request.match_info["customer"]
    t = _translator(cohort, gateway.locale_of(customer))
    payments = gateway.payments_of(customer)
    if not payments:
        return _page(t, f"<p>{t('no_payments')}</p>")
    rows = []
    for payment in payments:
        what = t(
            "payment",
            offer=payment.offer_name,
            amount=_money(payment.amount, payment.currency),
            date=payment.created.date().isoformat(),
        )
        if payment.refunded:
            action = t("refunded")
        else:
            token = html.escape(gateway.token(payment.charge_id))
            charge = html.escape(payment.charge_id)
            action = (
                f'<form method="post"><input type="hidden" name="charge" value="{charge}">'
                f'<input type="hidden" name="token" value="{token}">'
                f"<button>{t('refund')}</button></form>"
            )
        rows.append(f"<li>{what} {action}</li>")
    return _page(t, f"<p>{t('payments')}</p><ul>{''.join(rows)}</ul>")


async def billing_submit(request: web.Request) -> web.Response:
    """Refund one payment of a demo customer, and send the bot ``charge.refunded``."""
    cohort, gateway = _gateway(request)
    customer = request.match_info["customer"]
    t = _translator(cohort, gateway.locale_of(customer))
    form = await request.post()
    charge = str(form.get("charge", ""))
    mine = {p.charge_id for p in gateway.payments_of(customer)}
    if charge not in mine or not gateway.check(charge, str(form.get("token", ""))):
        return _page(t, f"<p>{t('forbidden')}</p>", status=403)
    try:
        events = gateway.refund(charge)
    except DemoError as exc:
        log.info("demo: refund refused: %s", exc)
        return _page(t, f"<p>{t('refunded')}</p>", status=409)
    return await _send(cohort, t, events, t("refund_done"))


async def _send(cohort: Cohort, t: Translate, events: list[Event], done: str) -> web.Response:
    """Post ``events`` to this app's own webhook, signed as Stripe signs them."""
    secret = cohort.config.stripe.webhook_secret
    assert secret is not None  # the config refuses demo mode without one
    try:
        sent = await post(webhook_url(cohort.config), secret.reveal(), events, cohort.clock.now())
    except SimulateError as exc:
        log.error("demo: %s", exc)
        return _page(t, f"<p>{t('not_sent')}</p>", status=502)
    refused = [kind for kind, status in sent if status != 200]
    if refused:
        log.error("demo: the webhook refused %s", ", ".join(refused))
        return _page(t, f"<p>{t('not_sent')}</p>", status=502)
    return _page(t, f"<p>{done}</p><p>{t('back')}</p>")
