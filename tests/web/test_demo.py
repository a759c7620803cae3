"""Demo mode's checkout and billing pages: escaped, in the buyer's language, forms signed."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.cogs.gating import DemoGateway, Gating
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.runtime import build
from bot.web.app import build_app
from tests.conftest import START, make_config

OFFER = {
    "id": "pro",
    "kind": "tier",
    "name": "Pro <script>alert(1)</script>",
    "price_monthly": "price_pro",
}


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Cohort]:
    config = make_config(
        tmp_path,
        demo={"enabled": True},
        web={"enabled": True, "port": 9},  # nothing listens: the events cannot be delivered
        stripe={"webhook_secret": "whsec_demo"},
        community={"offers": [OFFER]},
    )
    cohort = await build(config, clock=ManualClock(START))
    yield cohort
    await cohort.db.close()


@pytest.fixture
async def client(demo: Cohort) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(build_app(demo))) as client:
        yield client  # type: ignore[misc]


def gateway(cohort: Cohort) -> DemoGateway:
    assert isinstance(cohort.entitlements, Gating)
    assert isinstance(cohort.entitlements.gateway, DemoGateway)
    return cohort.entitlements.gateway


async def open_checkout(cohort: Cohort, locale: str = "en") -> str:
    link = await gateway(cohort).create_checkout(
        price_id="price_pro",
        subscription=True,
        ref="co_1",
        customer_id=None,
        trial_days=0,
        locale=locale,
        metadata={},
    )
    return link.url.removeprefix(gateway(cohort).base_url)


async def test_the_checkout_page_escapes_and_speaks_the_buyers_language(
    demo: Cohort, client: TestClient[object, object]
) -> None:
    page = await client.get(await open_checkout(demo))
    text = await page.text()
    assert page.status == 200 and page.content_type == "text/html"
    assert "<script>" not in text and "Pro &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "19.00 USD" in text and ">Pay</button>" in text and ">Cancel</button>" in text
    page = await client.get(await open_checkout(demo, "zh_CN"))
    text = await page.text()
    assert '<html lang="zh-CN">' in text and ">付款</button>" in text and ">取消</button>" in text


async def test_a_form_without_its_token_is_refused(
    demo: Cohort, client: TestClient[object, object]
) -> None:
    path = await open_checkout(demo)
    for form in ({"action": "pay"}, {"action": "pay", "token": "0" * 64}):
        refused = await client.post(path, data=form)
        assert refused.status == 403
    assert gateway(demo).sessions[path.rsplit("/", 1)[1]]["status"] == "open"


async def test_cancel_closes_the_checkout(demo: Cohort, client: TestClient[object, object]) -> None:
    path = await open_checkout(demo)
    token = gateway(demo).token(path.rsplit("/", 1)[1])
    done = await client.post(path, data={"action": "cancel", "token": token})
    assert done.status == 200 and "Cancelled: nothing was charged." in await done.text()
    again = await client.post(path, data={"action": "pay", "token": token})
    assert again.status == 409
    assert (await client.get(path)).status == 409
    assert (await client.get("/demo/checkout/cs_demo_unknown")).status == 404


async def test_a_payment_the_bot_does_not_take_is_said_and_logged(
    demo: Cohort, client: TestClient[object, object], caplog: pytest.LogCaptureFixture
) -> None:
    path = await open_checkout(demo)
    token = gateway(demo).token(path.rsplit("/", 1)[1])
    with caplog.at_level(logging.ERROR, "bot.web.demo"):
        done = await client.post(path, data={"action": "pay", "token": token})
    assert done.status == 502
    assert "The bot did not take the payment" in await done.text()
    assert "could not post to http://127.0.0.1:9/stripe/webhook" in caplog.text
    assert "whsec_demo" not in caplog.text


async def test_billing_refunds_only_the_customers_own_payments(
    demo: Cohort, client: TestClient[object, object]
) -> None:
    empty = await client.get("/demo/billing/cus_nobody")
    assert "There are no payments yet." in await empty.text()
    demo_gateway = gateway(demo)
    mine = await demo_gateway.create_checkout(
        price_id="price_pro",
        subscription=True,
        ref="co_2",
        customer_id="cus_mine",
        trial_days=0,
        locale="en",
        metadata={},
    )
    demo_gateway.pay(mine.session_id)
    [payment] = demo_gateway.payments_of("cus_mine")
    page = await (await client.get("/demo/billing/cus_mine")).text()
    assert re.search(r"Pro &lt;script&gt;.*, 19\.00 USD, 2026-11-21", page)
    form = {"charge": payment.charge_id, "token": demo_gateway.token(payment.charge_id)}
    assert (await client.post("/demo/billing/cus_other", data=form)).status == 403
    assert not demo_gateway.payments_of("cus_mine")[0].refunded


async def test_the_pages_exist_only_in_demo_mode(tmp_path: Path) -> None:
    cohort = await build(make_config(tmp_path, web={"enabled": True}), clock=ManualClock(START))
    try:
        async with TestClient(TestServer(build_app(cohort))) as client:
            assert (await client.get("/demo/checkout/cs_demo_1")).status == 404
    finally:
        await cohort.db.close()
