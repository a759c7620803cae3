"""Paid access on Telegram: real python-telegram-bot and the real stripe client, both stand-ins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.adapters.telegram import TelegramAdapter
from bot.cogs.gating import Gating
from bot.cogs.gating._access import AccessState
from bot.core.clock import SystemClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import gating_access
from bot.web.app import build_app
from tests.cogs.gating._world import GROUP, PAID_CHAT, add_prices, gating_config
from tests.stripe_api import StripeServer
from tests.telegram_api import TelegramServer

TOKEN = "123456:TEST-token"
OLGA, BOB, SAM = 500, 600, 700  # an organizer; a buyer; someone who never paid


@dataclass
class TelegramWorld:
    """The bot on Telegram, its web app and Stripe, with the real wall clock."""

    cohort: Cohort
    tg: TelegramServer
    stripe: StripeServer
    web: TestClient[Any, Any]

    @property
    def gating(self) -> Gating:
        assert isinstance(self.cohort.entitlements, Gating)
        return self.cohort.entitlements

    async def deliver(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            body, header = self.stripe.signed(event)
            response = await self.web.post(
                "/stripe/webhook", data=body, headers={"Stripe-Signature": header}
            )
            assert response.status == 200
        await self.gating.run_due()

    def dm(self, user_id: int, fragment: str) -> list[dict[str, Any]]:
        return [m for m in self.tg.sent(user_id) if fragment in m["text"]]

    def status(self, user_id: int) -> str:
        return str(self.tg.status(int(PAID_CHAT), user_id))

    async def recorded(self, user_id: int) -> str | None:
        """Return the access state the bot recorded for a user in the paid chat."""
        async with self.cohort.db.read() as conn:
            state = await conn.scalar(
                select(gating_access.c.state).where(
                    gating_access.c.user_id == str(user_id),
                    gating_access.c.space_id == PAID_CHAT,
                )
            )
        return None if state is None else str(state)

    async def settle(self, check: Any) -> None:
        """Run the gating worker until ``check()`` holds (updates arrive asynchronously)."""

        async def ready() -> bool:
            await self.gating.run_due()
            return bool(check())

        await self.tg.wait_for(ready)


@pytest.fixture
async def tw(tmp_path: Path) -> AsyncIterator[TelegramWorld]:
    async with TelegramServer(token=TOKEN) as tg, StripeServer() as stripe:
        add_prices(stripe)
        tg.add_chat(int(GROUP), "supergroup", title="Demo")
        tg.add_chat(int(PAID_CHAT), "supergroup", title="Pro lounge")
        for user_id, name in ((OLGA, "Olga"), (BOB, "Bob"), (SAM, "Sam")):
            tg.add_user(user_id, name, username=name.lower(), language_code="en")
            tg.add_member(int(GROUP), user_id)
        tg.add_chat(BOB, "private")
        tg.add_chat(SAM, "private")
        config = gating_config(
            tmp_path,
            stripe,
            telegram={
                "token": TOKEN,
                "base_url": tg.base_url,
                "messages_per_minute_per_group": 1000,
                "messages_per_second": 1000,
            },
            community={"gating": {"admin_channel": f"telegram:{GROUP}"}},
        )
        cohort = await build(config, clock=SystemClock())
        adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
        cohort.platforms[PlatformName.TELEGRAM] = adapter
        await adapter.start()
        try:
            async with TestClient(TestServer(build_app(cohort))) as web:
                yield TelegramWorld(cohort, tg, stripe, web)
        finally:
            await adapter.stop()
            await cohort.dispatcher.drain()
            await cohort.stop()
            await cohort.db.close()


async def _bob_pays(tw: TelegramWorld) -> str:
    tw.tg.user_says(BOB, BOB, "/join pro")
    await tw.tg.wait_for(lambda: tw.dm(BOB, "payment link"))
    (asked,) = tw.dm(BOB, "payment link")
    pay_url = asked["reply_markup"]["inline_keyboard"][0][0]["url"]
    session = next(iter(tw.stripe.sessions))
    assert pay_url == tw.stripe.sessions[session]["url"]
    await tw.deliver(tw.stripe.pay(session))
    await tw.tg.wait_for(lambda: tw.dm(BOB, "Welcome to"))
    return session


def _invite(tw: TelegramWorld, user_id: int) -> str:
    welcome = tw.dm(user_id, "Welcome to")[-1]
    return str(welcome["reply_markup"]["inline_keyboard"][0][0]["url"])


async def test_a_buyer_is_invited_and_let_in_a_stranger_is_kept_out(tw: TelegramWorld) -> None:
    session = await _bob_pays(tw)
    link = _invite(tw, BOB)
    details = tw.tg.invite_links[link]
    assert details["chat_id"] == int(PAID_CHAT)
    assert details["creates_join_request"] is True  # approved for entitled people only
    assert details["expire_date"]  # and short-lived
    # Bob asks to join through his link: approved.
    tw.tg.request_join(int(PAID_CHAT), BOB, invite_link=link)
    await tw.settle(lambda: tw.status(BOB) == "member")
    # Sam got hold of the link: declined.
    tw.tg.request_join(int(PAID_CHAT), SAM, invite_link=link)
    await tw.settle(lambda: tw.tg.join_requests[(int(PAID_CHAT), SAM)]["status"] == "declined")
    assert tw.status(SAM) == "left"
    # Sam gets in some other way (an old plain link): removed, without a lasting ban.
    tw.tg.user_joins(int(PAID_CHAT), SAM)
    await tw.settle(lambda: tw.status(SAM) == "left")
    ban = [c for c in tw.tg.called("banChatMember") if c["user_id"] == SAM]
    unban = [c for c in tw.tg.called("unbanChatMember") if c["user_id"] == SAM]
    assert ban and unban and unban[-1]["only_if_banned"] is True
    # Bob is never touched, and one grant made one invite.
    assert tw.status(BOB) == "member"
    assert len(tw.dm(BOB, "Welcome to")) == 1
    # A refund takes Bob out, and he may come back later.
    sub_id = str(tw.stripe.sessions[session]["subscription"])
    await tw.deliver(tw.stripe.refund(tw.stripe.intent_of(sub_id)))
    await tw.settle(lambda: tw.status(BOB) == "left")
    assert (int(PAID_CHAT), BOB) not in tw.tg.bans


async def test_an_entitled_member_who_leaves_can_come_back(tw: TelegramWorld) -> None:
    await _bob_pays(tw)
    tw.tg.request_join(int(PAID_CHAT), BOB, invite_link=_invite(tw, BOB))
    await tw.settle(lambda: tw.status(BOB) == "member")
    tw.tg.user_leaves(int(PAID_CHAT), BOB)

    async def left() -> bool:  # the bot has taken the leave in, not only the stand-in
        return await tw.recorded(BOB) == AccessState.LEFT.value

    await tw.tg.wait_for(left)
    tw.tg.user_says(BOB, BOB, "/membership")
    await tw.tg.wait_for(lambda: tw.dm(BOB, "fresh invite links"))
    await tw.settle(lambda: len(tw.dm(BOB, "Welcome to")) == 2)
    tw.tg.request_join(int(PAID_CHAT), BOB, invite_link=_invite(tw, BOB))
    await tw.settle(lambda: tw.status(BOB) == "member")


async def test_the_check_reports_missing_rights_in_a_gated_chat(tw: TelegramWorld) -> None:
    tw.tg.bot_status(int(PAID_CHAT), "member")
    tw.tg.user_says(OLGA, OLGA, "/gating check")
    await tw.tg.wait_for(lambda: tw.dm(OLGA, "Gating check"))
    (report,) = tw.dm(OLGA, "Gating check")
    assert f"telegram {PAID_CHAT}: the bot is not an administrator" in report["text"]
