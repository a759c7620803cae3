"""/privacy through real python-telegram-bot against the Bot API stand-in."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters.telegram import TelegramAdapter
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import accounts
from tests.conftest import make_config
from tests.telegram_api import TelegramServer

TOKEN = "123456:TEST-token"
GROUP = -1001234567890
OLGA, BOB, STRANGER = 500, 600, 700  # organizer; member who started the bot; never did


@pytest.fixture
async def tg() -> AsyncIterator[TelegramServer]:
    async with TelegramServer(token=TOKEN) as server:
        server.add_chat(GROUP, "supergroup", title="Demo", is_forum=True)
        for user_id, name, username in (
            (OLGA, "Olga", "olga"),
            (BOB, "Bob", "bob"),
            (STRANGER, "Sam", None),
        ):
            server.add_user(user_id, name, username=username, language_code="en")
            server.add_member(GROUP, user_id)
        server.add_chat(OLGA, "private")
        server.add_chat(BOB, "private")
        yield server


@pytest.fixture
async def bot(tmp_path: Path, tg: TelegramServer) -> AsyncIterator[Cohort]:
    config = make_config(
        tmp_path,
        telegram={
            "token": TOKEN,
            "base_url": tg.base_url,
            "messages_per_minute_per_group": 1000,
            "messages_per_second": 1000,
        },
    )
    cohort = await build(config)
    adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
    cohort.platforms[PlatformName.TELEGRAM] = adapter
    await adapter.start()
    try:
        yield cohort
    finally:
        await adapter.stop()
        await cohort.dispatcher.drain()
        await cohort.db.close()


async def said(tg: TelegramServer, chat_id: int, fragment: str) -> dict[str, Any]:
    await tg.wait_for(lambda: any(fragment in m["text"] for m in tg.sent(chat_id)))
    return next(m for m in tg.sent(chat_id) if fragment in m["text"])


def toast(tg: TelegramServer, query_id: str) -> str:
    """Return what a callback query was answered with (or the message sent after it)."""
    answered = tg.answered_callbacks[query_id].get("text")
    return str(answered) if answered else tg.sent(BOB)[-1]["text"]


async def test_export_arrives_as_a_document_in_private(bot: Cohort, tg: TelegramServer) -> None:
    tg.user_says(GROUP, BOB, "knitting is my thing")
    tg.user_says(GROUP, BOB, "/privacy export")
    await said(tg, BOB, "your data is in your private messages")
    document = next(m for m in tg.sent(BOB) if m["method"] == "sendDocument")
    assert document["document"]["mime_type"] == "application/json"
    data = json.loads(document["document"]["data"])
    assert data["data"]["message_log.member_id"][0]["text"] == "knitting is my thing"
    assert not [m for m in tg.sent(GROUP) if "knitting" in m["text"]]


async def test_export_to_someone_unreachable_leaks_nothing_in_the_group(
    bot: Cohort, tg: TelegramServer
) -> None:
    tg.user_says(GROUP, STRANGER, "secret plans")
    tg.user_says(GROUP, STRANGER, "/privacy export")
    await tg.wait_for(lambda: len(tg.sent(GROUP)) >= 1)
    group = " ".join(m["text"] for m in tg.sent(GROUP))
    assert "secret plans" not in group and "/privacy/" not in group


async def test_forget_with_the_confirm_button(bot: Cohort, tg: TelegramServer) -> None:
    tg.user_says(GROUP, BOB, "hello")
    tg.user_says(BOB, BOB, "/privacy forget")
    message = await said(tg, BOB, "It cannot be undone.")
    [[button]] = message["reply_markup"]["inline_keyboard"]
    assert button["text"] == "Erase for good"
    query_id = tg.press(BOB, BOB, message["message_id"], button["callback_data"])
    await tg.wait_for(lambda: query_id in tg.answered_callbacks)
    assert "everything Cohort held about you is erased" in toast(tg, query_id)
    async with bot.db.read() as conn:
        left = await conn.scalar(
            select(accounts.c.id).where(accounts.c.platform_user_id == str(BOB))
        )
    assert left is None
    again = tg.press(BOB, BOB, message["message_id"], button["callback_data"])
    await tg.wait_for(lambda: again in tg.answered_callbacks)
    assert toast(tg, again) == "This erasure is already done."
