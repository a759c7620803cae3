"""The lecture messages on Telegram (``_render``): counts edited in place, reminders in DMs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.telegram import TelegramAdapter
from bot.cogs.lectures._rules import Kind
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.runtime import build
from tests.cogs.lectures._helpers import at, sweeper
from tests.conftest import make_config
from tests.telegram_api import TelegramServer

TOKEN = "123456:TEST-token"
GROUP = -1001234567890
OLGA, BOB = 500, 600  # an organizer, and a member who started the bot


@pytest.fixture
async def tg() -> AsyncIterator[TelegramServer]:
    """Start the Bot API stand-in with the community's group, Olga and Bob."""
    async with TelegramServer(token=TOKEN) as server:
        server.add_chat(GROUP, "supergroup", title="Demo")
        for user_id, name in ((OLGA, "Olga"), (BOB, "Bob")):
            server.add_user(user_id, name, username=name.lower(), language_code="en")
            server.add_member(GROUP, user_id)
            server.add_chat(user_id, "private")
        yield server


@pytest.fixture
async def tg_bot(tmp_path: Path, tg: TelegramServer, clock: ManualClock) -> AsyncIterator[Cohort]:
    """Return a bot on the manual clock whose Telegram adapter polls the stand-in."""
    config = make_config(
        tmp_path,
        telegram={"token": TOKEN, "base_url": tg.base_url, "messages_per_minute_per_group": 1000},
        community={"lectures": {"announce_channels": [f"telegram:{GROUP}"]}},
    )
    cohort = await build(config, clock=clock)
    adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
    cohort.platforms[PlatformName.TELEGRAM] = adapter
    await adapter.start()
    try:
        yield cohort
    finally:
        await adapter.stop()
        await cohort.dispatcher.drain()
        await cohort.db.close()


async def test_on_telegram_counts_are_edited_in_place_and_reminders_reach_dms(
    tg_bot: Cohort, tg: TelegramServer, clock: ManualClock
) -> None:
    tg.user_says(GROUP, OLGA, '/lecture schedule "Intro to Rust" "2026-11-22 19:30"')
    announced = await tg.wait_for(
        lambda: next((m for m in tg.sent(GROUP) if "Intro to Rust" in m["text"]), None)
    )
    assert "Sun 2026-11-22 19:30 (Europe/Berlin) · 18:30 UTC" in announced["text"]
    going = tg.buttons(GROUP, announced["message_id"])[0]
    assert going["text"] == "✅ Going"
    query = tg.press(GROUP, BOB, announced["message_id"], going["callback_data"])
    await tg.wait_for(lambda: query in tg.answered_callbacks)
    assert tg.answered_callbacks[query]["text"] == "You are going to Intro to Rust."
    edited = tg.message(GROUP, announced["message_id"])
    assert edited is not None and "✅ 1 going" in edited["text"]
    assert len([m for m in tg.sent(GROUP) if "Intro to Rust" in m["text"]]) == 1  # no new post
    clock.advance(at("2026-11-22 18:30") - clock.now())
    result = await sweeper(tg_bot)()
    assert [kind for kind, _ in result.sent] == [Kind.REMINDER]
    dm = [m["text"] for m in tg.sent(BOB)]
    assert any("starts in 1 hour" in text for text in dm), dm
    assert any("starts in 1 hour" in m["text"] for m in tg.sent(GROUP))
    assert all("starts in" not in m["text"] for m in tg.sent(OLGA))  # Olga did not answer
