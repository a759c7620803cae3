"""The stand-in delivers to a webhook as Telegram does: secret header, retries, a chat in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram import Bot

from tests.telegram_api import BOT_ID, TelegramServer
from tests.telegram_api._webhook import chat_of

pytestmark = pytest.mark.backend_free

TOKEN = f"{BOT_ID}:AAtest-token"
SECRET = "hook-secret_1"
GROUP, OTHER = -1001000000002, -1001000000003
ALICE, BOB = 501, 502


class Receiver:
    """Two loopback webhook endpoints that record what reaches them and answer as told."""

    def __init__(self) -> None:
        self.got: list[tuple[str, int, str | None, dict[str, Any]]] = []
        self.answers: list[int] = []  # statuses to answer first, in order; then 200
        self.delay = 0.0

    def app(self, name: str) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            body = json.loads(await request.read())
            secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
            status = self.answers.pop(0) if self.answers else 200
            self.got.append((name, status, secret, body))
            await asyncio.sleep(self.delay)
            return web.Response(status=status, text="ok")

        app = web.Application()
        app.router.add_post("/telegram/webhook", handle)
        return app


@pytest.fixture
async def hooked() -> AsyncIterator[tuple[TelegramServer, Receiver, Bot]]:
    """Return the stand-in with a webhook set and two addresses behind it, and a bot."""
    receiver = Receiver()
    async with (
        TelegramServer(token=TOKEN) as tg,
        TestServer(receiver.app("a")) as a,
        TestServer(receiver.app("b")) as b,
    ):
        tg.webhook_sender.retry_delay = 0.01
        tg.webhook_sender.targets = [str(s.make_url("/telegram/webhook")) for s in (a, b)]
        for chat in (GROUP, OTHER):
            tg.add_chat(chat, "supergroup", title=str(chat))
        for user, name in ((ALICE, "Alice"), (BOB, "Bob")):
            tg.add_user(user, name)
            for chat in (GROUP, OTHER):
                tg.add_member(chat, user)
        bot = Bot(TOKEN, base_url=tg.base_url)
        async with bot:
            yield tg, receiver, bot


async def test_nothing_is_posted_until_a_webhook_is_set(
    hooked: tuple[TelegramServer, Receiver, Bot],
) -> None:
    tg, receiver, bot = hooked
    tg.user_says(GROUP, ALICE, "hello")
    await asyncio.sleep(0.1)
    assert receiver.got == [] and len(tg.pending_updates) == 1
    await bot.set_webhook("https://bot.example.org/telegram/webhook", secret_token=SECRET)
    await tg.wait_for(lambda: not tg.pending_updates)
    ((_, status, secret, body),) = receiver.got
    assert (status, secret, body["message"]["text"]) == (200, SECRET, "hello")


async def test_a_failed_post_is_sent_again_and_told_in_the_webhook_info(
    hooked: tuple[TelegramServer, Receiver, Bot],
) -> None:
    tg, receiver, bot = hooked
    receiver.answers = [503, 500]
    await bot.set_webhook("https://bot.example.org/telegram/webhook", secret_token=SECRET)
    tg.user_says(GROUP, ALICE, "hello")
    await tg.wait_for(lambda: not tg.pending_updates)
    assert [(name, status) for name, status, _, _ in receiver.got] == [
        ("a", 503),
        ("b", 500),
        ("a", 200),
    ]  # the same update, to each address in turn
    assert len({body["update_id"] for *_, body in receiver.got}) == 1
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 0
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"


async def test_an_answer_that_comes_too_late_brings_the_update_again(
    hooked: tuple[TelegramServer, Receiver, Bot],
) -> None:
    tg, receiver, bot = hooked
    await bot.set_webhook("https://bot.example.org/telegram/webhook", secret_token=SECRET)
    tg.user_says(GROUP, ALICE, "hello")
    tg.webhook_sender.lose_answer(tg.pending_updates[0]["update_id"])
    await tg.wait_for(lambda: not tg.pending_updates)
    assert [(name, status) for name, status, _, _ in receiver.got] == [("a", 200), ("b", 200)]
    assert (await bot.get_webhook_info()).last_error_message == "Read timeout expired"


async def test_a_chat_waits_for_its_previous_update_while_other_chats_go_on(
    hooked: tuple[TelegramServer, Receiver, Bot],
) -> None:
    tg, receiver, bot = hooked
    receiver.delay = 0.05
    await bot.set_webhook("https://bot.example.org/telegram/webhook", secret_token=SECRET)
    for n in range(6):
        tg.user_says(GROUP, ALICE, f"group {n}")
        tg.user_says(OTHER, BOB, f"other {n}")
    await tg.wait_for(lambda: not tg.pending_updates, 10)
    for chat in (GROUP, OTHER):
        texts = [body["message"]["text"] for *_, body in receiver.got if chat_of(body) == chat]
        prefix = "group" if chat == GROUP else "other"
        assert texts == [f"{prefix} {n}" for n in range(6)]
    first = [chat_of(body) for *_, body in receiver.got[:2]]
    assert sorted(first) == sorted([GROUP, OTHER])  # the two chats went side by side


async def test_updates_the_bot_did_not_ask_for_are_not_sent(
    hooked: tuple[TelegramServer, Receiver, Bot],
) -> None:
    tg, receiver, bot = hooked
    tg.user_says(GROUP, ALICE, "hello")
    await bot.set_webhook(
        "https://bot.example.org/telegram/webhook",
        secret_token=SECRET,
        allowed_updates=["callback_query"],
    )
    await tg.wait_for(lambda: not tg.pending_updates)
    assert receiver.got == []


@pytest.mark.parametrize(
    ("update", "chat"),
    [
        ({"update_id": 1, "message": {"chat": {"id": GROUP}, "from": {"id": ALICE}}}, GROUP),
        ({"update_id": 1, "callback_query": {"from": {"id": ALICE}}}, ALICE),
        (
            {"update_id": 1, "callback_query": {"message": {"chat": {"id": GROUP}}}},
            GROUP,
        ),
        ({"update_id": 1, "chat_member": {"chat": {"id": OTHER}, "from": {"id": BOB}}}, OTHER),
        ({"update_id": 1, "message_reaction": {"chat": {"id": GROUP}}}, GROUP),
    ],
    ids=["message", "inline-press", "message-press", "membership", "reaction"],
)
def test_the_chat_of_an_update(update: dict[str, Any], chat: int) -> None:
    assert chat_of(update) == chat
