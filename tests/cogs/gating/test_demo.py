"""Demo mode's pretend Stripe account: the objects it keeps, the events it makes, the reads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cogs.gating import _events as ev
from bot.cogs.gating._demo import COURSE_AMOUNT, TIER_AMOUNT, DemoError, DemoGateway, state_path
from bot.core.clock import ManualClock
from tests.conftest import START

pytestmark = pytest.mark.backend_free

NAMES = {"price_tier": "Pro", "price_course": "Python"}


@pytest.fixture
def gateway() -> DemoGateway:
    return DemoGateway(ManualClock(START), base_url="http://127.0.0.1:9000/", names=NAMES)


async def checkout(gateway: DemoGateway, *, tier: bool, customer: str | None = None) -> str:
    link = await gateway.create_checkout(
        price_id="price_tier" if tier else "price_course",
        subscription=tier,
        ref="co_ref1",
        customer_id=customer,
        trial_days=0,
        locale="zh_CN",
        metadata={ev.REF_KEY: "co_ref1", ev.COMMUNITY_KEY: "demo"},
    )
    assert link.url == f"{gateway.base_url}/demo/checkout/{link.session_id}"
    assert link.livemode is False
    return link.session_id


async def test_a_paid_tier_sends_what_stripe_sends_and_reads_back_its_payments(
    gateway: DemoGateway,
) -> None:
    assert gateway.base_url == "http://127.0.0.1:9000"
    session_id = await checkout(gateway, tier=True)
    events = gateway.pay(session_id)
    kinds = [kind for kind, _obj, _created in events]
    assert kinds == ["customer.subscription.created", "checkout.session.completed", "invoice.paid"]
    subscription, session, invoice = (obj for _kind, obj, _created in events)
    assert {created for _k, _o, created in events} == {int(START.timestamp())}
    assert session["client_reference_id"] == "co_ref1"
    assert session["subscription"] == subscription["id"]
    assert session["payment_status"] == "paid"
    assert ev.problem(ev.EventType.CHECKOUT_COMPLETED, session) is None
    snap = ev.subscription(subscription)
    assert snap.status == "active" and snap.price_id == "price_tier"
    assert ev.metadata(subscription)[ev.REF_KEY] == "co_ref1"
    assert not ev.payments_included(invoice)  # an event never carries them
    assert ev.invoice_subscription(invoice) == subscription["id"]
    assert invoice["amount_paid"] == TIER_AMOUNT

    read = await gateway.invoice(invoice["id"])
    assert read.obj is not None and ev.payments_included(read.obj)
    (intent,) = ev.invoice_payment_intents(read.obj)
    paid = await gateway.invoice_payment(intent)
    assert paid.obj is not None and paid.obj["invoice"]["id"] == invoice["id"]
    assert (await gateway.invoice_payment("pi_other")).obj is None
    assert (await gateway.subscription(subscription["id"])).obj == subscription
    assert [s["id"] for s in (await gateway.subscriptions()).items] == [subscription["id"]]
    assert (await gateway.disputes()).items == []
    assert await gateway.undelivered_events(START - timedelta(days=30)) == []


async def test_a_course_is_one_payment_and_its_refund_is_listed(gateway: DemoGateway) -> None:
    session_id = await checkout(gateway, tier=False, customer="cus_known")
    [(kind, session, _created)] = gateway.pay(session_id)
    assert kind == "checkout.session.completed"
    assert session["mode"] == "payment" and session["customer"] == "cus_known"
    intent = ev.payment_intent_of(session)
    [payment] = gateway.payments_of("cus_known")
    assert (payment.offer_name, payment.amount, payment.refunded) == (
        "Python",
        COURSE_AMOUNT,
        False,
    )
    assert gateway.payments_of("cus_other") == []
    assert gateway.locale_of("cus_known") == "zh"

    [(kind, charge, _created)] = gateway.refund(payment.charge_id)
    assert kind == "charge.refunded"
    assert ev.payment_intent_of(charge) == intent and ev.fully_refunded(charge)
    assert gateway.payments_of("cus_known")[0].refunded
    refunds = await gateway.refunds(START - timedelta(days=1))
    [refund] = refunds.items
    assert refund["status"] == "succeeded" and refund["charge"]["id"] == payment.charge_id
    assert (await gateway.refunds(START + timedelta(seconds=1))).items == []
    assert (await gateway.charge(payment.charge_id)).obj == charge


@pytest.mark.parametrize(
    ("before", "message"),
    [
        ("pay", "is complete"),
        ("cancel", "is expired"),
    ],
)
async def test_a_checkout_is_paid_or_cancelled_once(
    gateway: DemoGateway, before: str, message: str
) -> None:
    session_id = await checkout(gateway, tier=True)
    getattr(gateway, before)(session_id)
    with pytest.raises(DemoError, match=message):
        gateway.pay(session_id)
    with pytest.raises(DemoError, match=message):
        gateway.cancel(session_id)


async def test_unknown_objects_and_a_second_refund_are_refused(gateway: DemoGateway) -> None:
    with pytest.raises(DemoError, match="no checkout"):
        gateway.pay("cs_demo_nope")
    with pytest.raises(DemoError, match="no payment"):
        gateway.refund("ch_demo_nope")
    gateway.pay(await checkout(gateway, tier=False, customer="cus_1"))
    charge = gateway.payments_of("cus_1")[0].charge_id
    gateway.refund(charge)
    with pytest.raises(DemoError, match="already refunded"):
        gateway.refund(charge)


def test_a_form_token_is_signed_for_one_object(gateway: DemoGateway) -> None:
    other = DemoGateway(ManualClock(START), base_url="http://x", names={})
    token = gateway.token("cs_demo_1")
    assert gateway.check("cs_demo_1", token)
    assert not gateway.check("cs_demo_2", token)
    assert not gateway.check("cs_demo_1", "")
    assert not other.check("cs_demo_1", token)  # a key of its own, per process


async def test_a_trial_sends_an_unpaid_invoice_and_no_charge(gateway: DemoGateway) -> None:
    link = await gateway.create_checkout(
        price_id="price_tier",
        subscription=True,
        ref="co_t",
        customer_id="cus_t",
        trial_days=7,
        locale="en",
        metadata={},
    )
    events: list[tuple[str, dict[str, Any], int]] = gateway.pay(link.session_id)
    assert events[0][1]["status"] == "trialing"
    assert events[2][1]["amount_paid"] == 0
    assert gateway.payments_of("cus_t") == []


async def test_a_kept_account_outlives_a_restart(tmp_path: Path) -> None:
    state = state_path(f"sqlite+aiosqlite:///{tmp_path}/cohort.db")
    assert state == tmp_path / "cohort.demo-stripe.json"
    first = DemoGateway(ManualClock(START), base_url="http://x", names=NAMES, state=state)
    first.pay(await checkout(first, tier=True, customer="cus_1"))
    open_one = await checkout(first, tier=False)

    again = DemoGateway(ManualClock(START), base_url="http://x", names=NAMES, state=state)
    [payment] = again.payments_of("cus_1")
    assert payment.offer_name == "Pro"
    assert again.sessions[open_one]["status"] == "open"
    assert (await again.subscriptions()).items == (await first.subscriptions()).items
    again.refund(payment.charge_id)
    assert (
        DemoGateway(ManualClock(START), base_url="http://x", names=NAMES, state=state)
        .payments_of("cus_1")[0]
        .refunded
    )
    assert state_path("postgresql+asyncpg://u@h/db") is None


async def test_an_unreadable_account_file_is_logged_and_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "cohort.demo-stripe.json"
    state.write_text("{not json", encoding="utf-8")
    gateway = DemoGateway(ManualClock(START), base_url="http://x", names=NAMES, state=state)
    assert "could not read" in caplog.text
    assert gateway.payments_of("cus_1") == []
