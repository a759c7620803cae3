"""Gating ``_billing``: /billing's portal link."""

from __future__ import annotations

from tests.cogs.gating._world import World


async def test_billing_gives_a_portal_link_for_the_members_customer(w: World) -> None:
    assert "no billing account yet" in await w.say("/billing", "bob")
    await w.buy("bob", "pro")
    printed = await w.say("/billing", "bob")
    assert "Manage billing" in printed
    (portal,) = w.stripe.portal_sessions
    assert portal["url"] in printed
    assert portal["customer"] == w.stripe.sessions[next(iter(w.stripe.sessions))]["customer"]
