"""Gating ``_reconcile``: reconciliation (rule 11) and what ``/gating check`` reports."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.cogs.gating import _inbox
from bot.cogs.gating._access import AccessState
from bot.core.platforms import PlatformName
from bot.core.ports import PlatformError, PlatformErrorReason
from tests.cogs.gating._world import DANA, PRO_ROLE, RolePlatform, World, access_rows, discord_buys

# --- rule 11: reconciliation -------------------------------------------------------------------


async def test_reconciliation_fixes_missed_events_and_replays_undelivered_ones(w: World) -> None:
    bob = await w.buy("bob", "pro")
    carol = await w.buy("carol", "pro")
    w.read()
    w.clock.advance(timedelta(minutes=5))
    w.stripe.delete(w.subscription_of(bob))  # Stripe sent it; it never arrived
    for event in w.stripe.cancel_at_period_end(w.subscription_of(carol)):
        assert event["id"]  # never delivered either
    await w.say("/join python", "dave")
    w.stripe.pay(list(w.stripe.sessions)[-1])  # a course bought, its webhook lost
    assert await w.holds("bob") == {"pro"}
    printed = await w.say("/gating check", "olga")
    assert "Stripe subscriptions read: 2" in printed
    assert "fixed: 2" in printed
    assert "undelivered events replayed: 3" in printed
    assert "active → canceled" in printed
    assert "(access to lounge taken from bob)" in printed
    assert "(access to python granted to dave)" in printed
    assert await w.holds("bob") == set()
    assert await w.holds("carol") == {"pro"}
    assert "cancelled, ends at period end" in await w.say("/membership", "carol")
    assert await w.holds("dave") == {"python"}
    again = await w.say("/gating check", "olga")
    assert "fixed: 0" in again and "replayed: 0" in again


async def test_stripe_down_during_reconciliation_takes_nothing_away(w: World) -> None:
    await w.buy("bob", "pro")
    w.stripe.fail_next("/v1/subscriptions", 500, times=5)
    printed = await w.say("/gating check", "olga")
    assert "Stripe could not be read" in printed
    assert await w.holds("bob") == {"pro"}
    assert "taken from" not in printed
    assert "lounge" not in await w.say("/gating check", "bob")  # members may not run it


async def test_a_revocation_refused_for_good_is_retried_by_the_check(w: World) -> None:
    discord = RolePlatform(w)
    discord.members.add(DANA.user_id)
    w.cohort.platforms[PlatformName.DISCORD] = discord
    session = await discord_buys(w)
    discord.failures = [PlatformError(PlatformErrorReason.FORBIDDEN, "50013 Missing Permissions")]
    await w.deliver(w.stripe.delete(w.subscription_of(session)))
    assert await access_rows(w) == [(PRO_ROLE, False, AccessState.FAILED.value, 1)]
    assert "Could not take access away" in w.read()
    await w.say("/gating check", "olga")
    assert [c[0] for c in discord.calls] == ["grant", "revoke", "revoke"]
    assert await access_rows(w) == [(PRO_ROLE, False, AccessState.NONE.value, 0)]


async def test_the_check_finds_refunds_and_disputes_whose_events_were_given_up(
    w: World,
) -> None:
    bob = w.subscription_of(await w.buy("bob", "pro"))
    carol = w.subscription_of(await w.buy("carol", "pro"))
    # Stripe cannot be asked about payments for as long as the events try: the renewals'
    # invoice.paid, a refund and a dispute (without a PaymentIntent) are all given up.
    for path in ("/v1/invoices", "/v1/invoice_payments", "/v1/charges"):
        w.stripe.fail_next(path, 503, times=10_000)
    w.clock.advance(timedelta(days=30))
    events = w.stripe.renew(bob) + w.stripe.renew(carol)
    w.clock.advance(timedelta(days=1))
    events += w.stripe.refund(w.stripe.intent_of(bob))
    events += w.stripe.dispute(w.stripe.intent_of(carol), names_intent=False)[1]
    await w.deliver(events)
    for _ in range(_inbox.EVENT_ATTEMPTS):
        w.clock.advance(timedelta(hours=2))
        await w.gating.run_due()
    assert await w.count("stripe_events", status="failed") == 4
    assert await w.holds("bob") == await w.holds("carol") == {"pro"}
    w.stripe.failures.clear()
    w.read()
    printed = await w.say("/gating check", "olga")
    assert "refunded in full" in printed
    assert "dispute - → needs_response" in printed
    assert "fixed: 2" in printed
    assert await w.holds("bob") == await w.holds("carol") == set()
    again = await w.say("/gating check", "olga")
    assert "fixed: 0" in again and "refunded" not in again and "dispute" not in again


async def test_the_check_asks_stripe_nothing_about_refunds_to_strangers(w: World) -> None:
    """Another product of the same Stripe account, refunded: no member of ours bought it."""
    session = w.stripe.create_session(
        {
            "mode": "payment",
            "line_items": [{"price": "price_py", "quantity": "1"}],
            "success_url": "https://example.com/ok",
        },
        w.stripe.base_url,
    )
    w.stripe.pay(session["id"])
    w.stripe.refund(w.stripe.intent_of(session["id"]))
    w.stripe.requests.clear()
    printed = await w.say("/gating check", "olga")
    assert "fixed: 0" in printed
    assert not [p for _m, p, _params in w.stripe.requests if p.startswith("/v1/invoice_payments")]


# --- 5. /gating check reports what it changed, and counts the access it changed ---------------


async def test_the_check_reports_only_what_it_changed_and_counts_the_access_it_changed(
    w: World,
) -> None:
    bob = await w.buy("bob", "pro")
    carol = await w.buy("carol", "pro")
    w.read()
    w.clock.advance(timedelta(minutes=5))
    w.stripe.delete(w.subscription_of(bob))  # events Stripe sent that never arrived
    w.stripe.cancel_at_period_end(w.subscription_of(carol))
    await w.say("/join python", "dave")
    w.stripe.pay(list(w.stripe.sessions)[-1])
    printed = await w.say("/gating check", "olga")
    assert "active → canceled" in printed
    assert "now cancels at the end of its period" in printed
    assert "active → active" not in printed and "active -> active" not in printed
    changes = len(re.findall(r"\(access to \w+ (?:granted to|taken from) \w+\)", printed))
    assert changes == 2  # lounge taken from bob; python granted to dave
    assert f"access changes: {changes}" in printed
    again = await w.say("/gating check", "olga")
    assert "fixed: 0" in again and "access changes: 0" in again and "•" not in again
