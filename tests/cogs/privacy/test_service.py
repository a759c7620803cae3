"""Confirmed erasures: two presses at once erase once; a request outlives no member."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.cogs.privacy._rules import requester_key
from bot.cogs.privacy._service import PrivacyService
from bot.core.cohort import Cohort
from bot.core.errors import UserError
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.privacy import Requester
from bot.store.tables import privacy_erasures

BOB = Caller(PlatformName.TELEGRAM, "4242", "Bob")
ME = requester_key("telegram", "4242")


async def test_two_presses_at_once_erase_once(cohort: Cohort) -> None:
    community = cohort.communities["demo"]
    service = PrivacyService(cohort)
    bob = (await cohort.identity.resolve(community.id, BOB)).member_id
    request = await service.request(community, bob, Requester.SELF, ME)
    outcomes = await asyncio.gather(
        service.confirm(community, request, ME),
        service.confirm(community, request, ME),
        return_exceptions=True,
    )
    errors = [o for o in outcomes if isinstance(o, UserError)]
    assert len(errors) == 1 and errors[0].key == "privacy.forget.done"
    async with cohort.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(privacy_erasures)) == 1


async def test_a_request_for_a_member_erased_meanwhile_is_done(cohort: Cohort) -> None:
    community = cohort.communities["demo"]
    service = PrivacyService(cohort)
    bob = (await cohort.identity.resolve(community.id, BOB)).member_id
    mine = await service.request(community, bob, Requester.SELF, ME)
    organizers = await service.request(community, bob, Requester.ORGANIZER, "someone")
    await service.confirm(community, organizers, "someone")
    with pytest.raises(UserError) as refused:
        await service.confirm(community, mine, ME)
    assert refused.value.key == "privacy.forget.done"
