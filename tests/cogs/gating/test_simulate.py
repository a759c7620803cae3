"""Gating ``_simulate``: ``cohort stripe simulate``, signed synthetic events posted to the app."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cogs.gating import BadSignature
from bot.cogs.gating._simulate import SimulateError, simulate
from bot.cogs.gating._stripe import sign as gating_sign
from bot.cogs.gating._stripe import verify
from bot.core.config import StripeMode
from tests import _postgres
from tests.cogs.gating._world import DAY, NOW, World
from tests.conftest import make_config
from tests.stripe_api import DEFAULT_SECRET

# --- cohort stripe simulate: signed synthetic events posted to the live web app ----------------


def test_the_simulators_signature_passes_the_stripe_librarys_check() -> None:
    event = {"id": "evt_1", "object": "event", "type": "x", "created": 1, "data": {}}
    payload = json.dumps(event).encode()
    header = gating_sign(payload, DEFAULT_SECRET, int(NOW.timestamp()))
    assert verify(payload, header, DEFAULT_SECRET, now=NOW, tolerance=DAY) == event
    with pytest.raises(BadSignature):
        verify(payload, header, "whsec_other", now=NOW, tolerance=DAY)


async def test_simulated_events_take_a_member_in_and_back_out(w: World) -> None:
    await w.say("/help", "bob")  # the bot has seen bob
    url = str(w.web.make_url("/stripe/webhook"))

    async def simulated(kind: str, offer: str) -> list[tuple[str, int]]:
        sent = await simulate(
            w.cohort.config, kind, member="console:bob", offer_id=offer, now=w.clock.now(), url=url
        )
        await w.gating.run_due()
        return sent

    assert await simulated("checkout.session.completed", "python") == [
        ("checkout.session.completed", 200)
    ]
    assert await w.holds("bob") == {"python"}
    assert "(access to python granted to bob)" in w.read()
    assert await simulated("charge.refunded", "python") == [("charge.refunded", 200)]
    assert await w.holds("bob") == set()
    assert await simulated("checkout.session.completed", "pro") == [
        ("customer.subscription.created", 200),
        ("checkout.session.completed", 200),
    ]
    assert await w.holds("bob") == {"pro"}
    assert await w.count("stripe_events", status="pending") == 0  # nothing asked Stripe
    await simulated("invoice.payment_failed", "pro")
    assert "did not go through" in w.read()
    await simulated("customer.subscription.deleted", "pro")
    assert await w.holds("bob") == set()
    assert "(access to lounge taken from bob)" in w.read()


@pytest.mark.parametrize(
    ("kind", "member", "offer", "overrides", "message"),
    [
        ("checkout.session.completed", "console:bob", "python", {"mode": "live"}, "test mode"),
        ("checkout.session.completed", "console:bob", "nope", {}, "no offer 'nope'"),
        ("checkout.session.completed", "console:zed", "python", {}, "no account console:zed"),
        ("checkout.session.completed", "bob", "python", {}, "platform:user_id"),
        ("customer.subscription.deleted", "console:bob", "pro", {}, "no subscription to pro"),
        ("charge.refunded", "console:bob", "python", {}, "no unrefunded payment"),
        ("invoice.paid", "console:bob", "pro", {}, "unknown event type"),
    ],
)
async def test_a_simulation_that_cannot_be_made_says_why_and_posts_nothing(
    w: World, kind: str, member: str, offer: str, overrides: dict[str, Any], message: str
) -> None:
    await w.say("/help", "bob")
    config = w.cohort.config
    if overrides:
        config = dataclasses.replace(
            config, stripe=dataclasses.replace(config.stripe, mode=StripeMode.LIVE)
        )
    url = str(w.web.make_url("/stripe/webhook"))
    with pytest.raises(SimulateError, match=message):
        await simulate(config, kind, member=member, offer_id=offer, now=w.clock.now(), url=url)
    assert await w.count("stripe_events") == 0


async def test_a_simulation_against_a_database_never_set_up_says_so(tmp_path: Path) -> None:
    python = {"id": "python", "kind": "course", "name": "Python 101", "price_once": "price_py"}
    config = make_config(
        tmp_path,
        stripe={"webhook_secret": DEFAULT_SECRET},
        community={"offers": [python]},
        database={"url": _postgres.database_url(tmp_path, migrated=False)},
    )
    with pytest.raises(SimulateError, match="has the bot run"):
        await simulate(
            config, "checkout.session.completed", member="console:bob", offer_id="python", now=NOW
        )


async def test_cohort_stripe_simulate_posts_to_the_running_bot(w: World, tmp_path: Path) -> None:
    await w.say("/help", "bob")
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[database]
url = "{_postgres.database_url(tmp_path)}"

[stripe]
webhook_secret = "{DEFAULT_SECRET}"

[[communities]]
id = "demo"
name = "Demo Community"

[[communities.offers]]
id = "python"
kind = "course"
name = "Python 101"
price_once = "price_py"
""",
        encoding="utf-8",
    )
    url = str(w.web.make_url("/stripe/webhook"))
    w.clock.advance(datetime.now(UTC) - w.clock.now())  # the CLI signs with the wall clock
    args = ["checkout.session.completed", "--member", "console:bob", "--offer", "python"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "stripe",
        "simulate",
        *args,
        "--url",
        url,
        "--config",
        str(config),
        cwd=tmp_path,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "checkout.session.completed: 200"
    await w.gating.run_due()
    assert await w.holds("bob") == {"python"}
