"""Gating ``_grants``: grants and revokes, counted per source (rule 9); the holders of an offer."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.tables import gating_audit
from tests.cogs.gating._world import World

# --- rule 9: grants are counted per source ------------------------------------------------------


async def test_losing_one_offer_keeps_what_another_still_owes(w: World) -> None:
    await w.buy("bob", "vip")  # lounge + vip
    printed = await w.say("/grant @bob pro 30", "olga")  # lounge, a Discord role, a chat
    assert "now has Pro until" in printed
    pro_session = await w.buy("carol", "pro")
    w.read()
    vip_sub = w.subscription_of(next(iter(w.stripe.sessions)))
    await w.deliver(w.stripe.delete(vip_sub))
    printed = w.read()
    assert "(access to vip taken from bob)" in printed
    assert "lounge taken" not in printed
    assert await w.holds("bob") == {"pro"}
    assert "(access to lounge taken from bob)" in await w.say("/revoke @bob pro", "olga")
    assert await w.holds("carol") == {"pro"}
    assert pro_session


async def test_grant_and_revoke_are_recorded_with_who_did_it(w: World) -> None:
    await w.say("/whoami", "carol")
    assert "organizers" in (await w.say("/grant @carol pro", "bob")).lower()
    await w.say("/whoami", "bob")
    printed = await w.say("/grant @bob python", "olga")
    assert "now has Python 101 for good" in printed
    assert "(access to python granted to bob)" in printed
    olga = await w.member("olga")
    async with w.cohort.db.read() as conn:
        audit = (await conn.execute(select(gating_audit))).all()
    assert [(a.action, a.actor_id) for a in audit] == [("grant", olga)]
    assert "has no manual grant" in await w.say("/revoke @bob pro", "olga")
    assert "no longer has" in await w.say("/revoke @bob python", "olga")
    assert await w.count("gating_audit", action="revoke", actor_id=olga) == 1
    assert await w.count("purchases", source="manual") == 1


async def test_two_grants_of_an_offer_list_the_member_once_with_the_later_end(w: World) -> None:
    await w.say("/whoami", "bob")
    await w.say("/grant @bob pro 30", "olga")
    await w.say("/grant @bob pro", "olga")
    listed = await w.say("/members pro", "olga")
    assert listed.count("Bob —") == 1
    assert "until" not in listed  # the grant for good outlasts the 30 days
    held = await w.say("/membership", "bob")
    assert held.count("Pro —") == 1 and "until" not in held
    await w.say("/grant @bob python 10", "olga")
    await w.say("/grant @bob python 40", "olga")
    held = await w.say("/membership", "bob")
    assert held.count("Python 101 —") == 1
    assert "until 2026-12-31" in held  # 40 days from 2026-11-21, not 10
    assert await w.holds("bob") == {"pro", "python"}


async def test_grant_and_revoke_answer_the_organizer_privately_and_dm_the_member(
    w: World,
) -> None:
    await w.say("/whoami", "bob")
    printed = await w.say("/grant @bob pro", "olga")
    assert "(only you can see this) [#general] cohort:\n  Bob now has Pro for good." in printed
    assert "[#dm-bob] cohort:\n  Olga gave you Pro in Demo Community, for good." in printed
    assert "could not tell" not in printed
    # A shorter second grant changes nothing the member holds: the reply says so.
    printed = await w.say("/grant @bob pro 30", "olga")
    assert "Bob now has Pro for good." in printed and "until" not in printed
    printed = await w.say("/revoke @bob pro", "olga")
    assert "(only you can see this) [#general] cohort:\n  Bob no longer has Pro." in printed
    assert "[#dm-bob] cohort:\n  Olga ended your Pro in Demo Community." in printed


async def test_members_pages_through_the_holders_of_an_offer(w: World) -> None:
    for index in range(12):
        await w.say("/whoami", f"m{index:02d}")
        await w.say(f"/grant @m{index:02d} python", "olga")
    first = await w.say("/members python", "olga")
    assert first.count("given by an organizer") == 10
    assert "Next page" in first
    second = await w.say("/members python 2", "olga")
    assert second.count("given by an organizer") == 2
    assert "There is no page 4" in await w.say("/members python 4", "olga")
    assert "Only organizers" in await w.say("/members python", "bob")
