"""``POST /telegram/webhook`` against hostile requests: 403 without the secret, 400 for junk.

The adapter runs against the Telegram stand-in: an update taken is handled (and claimed, so a
second copy of it is not) before the webhook answers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Bot, Update

from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram._adapter import parse_update
from bot.runtime import build
from bot.web.app import build_app
from tests.conftest import make_config
from tests.telegram_api import TelegramServer
from tests.web._http import raw_post

TOKEN = "424242:AAwebhook-test-token"
SECRET = "s3cret-Token_1"
UPDATE = {
    "update_id": 10,
    "message": {
        "message_id": 1,
        "date": 1_790_000_000,
        "chat": {"id": 600, "type": "private", "first_name": "Bob"},
        "from": {"id": 600, "is_bot": False, "first_name": "Bob"},
        "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
    },
}


def deep(levels: int) -> bytes:
    """Return a JSON object nested ``levels`` deep, the innermost holding an update id."""
    return b'{"a":' * levels + b'{"update_id": 1}' + b"}" * levels


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[tuple[TelegramServer, int]]:
    """Serve the web app with the Telegram webhook route; return the stand-in and the port."""
    async with TelegramServer(token=TOKEN) as tg:
        tg.add_user(600, "Bob")
        tg.add_chat(600, "private")
        config = make_config(
            tmp_path,
            web={"enabled": True},
            telegram={
                "token": TOKEN,
                "base_url": tg.base_url,
                "mode": "webhook",
                "webhook_url": "https://bot.example.org/telegram/webhook",
                "webhook_secret": SECRET,
            },
        )
        cohort = await build(config)
        adapter = TelegramAdapter(cohort, config.telegram)
        try:
            await adapter.start()
            async with TestServer(build_app(cohort, adapter.web_routes())) as server:
                assert server.port is not None
                yield tg, server.port
        finally:
            await adapter.stop()
            await cohort.db.close()


async def post(port: int, secret: bytes | None, body: bytes) -> int:
    """Post ``body`` to the webhook with ``secret`` as the header's raw bytes; return the status."""
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    return await raw_post(port, "/telegram/webhook", headers, body)


@pytest.mark.parametrize(
    ("secret", "body", "status"),
    [
        (b"\xff\xfe\xfd", json.dumps(UPDATE).encode(), 403),  # not UTF-8
        (SECRET.encode() + b"\xff", json.dumps(UPDATE).encode(), 403),
        (b"s3cret-Token_2", json.dumps(UPDATE).encode(), 403),
        (b"", json.dumps(UPDATE).encode(), 403),
        (None, json.dumps(UPDATE).encode(), 403),
        (SECRET.encode(), b"[" * 100_000 + b"]" * 100_000, 400),  # nested too deep
        (SECRET.encode(), deep(5_000), 400),
        (SECRET.encode(), b"not json", 400),
        (SECRET.encode(), b"\xff\xfe{}", 400),  # not UTF-8
        (SECRET.encode(), b"[1, 2]", 400),
        (SECRET.encode(), b'{"no": "update"}', 400),
        (SECRET.encode(), b'{"update_id": "10"}', 400),
        (SECRET.encode(), b'{"update_id": true}', 400),
        (SECRET.encode(), b'{"update_id": 10, "message": "hello"}', 400),
        (SECRET.encode(), b'{"update_id": 10, "message": {"chat": 5}}', 400),
        (SECRET.encode(), json.dumps(UPDATE).encode(), 200),
    ],
    ids=[
        "secret-not-utf8",
        "secret-plus-a-byte",
        "wrong-secret",
        "empty-secret",
        "no-secret",
        "deep-arrays",
        "deep-objects",
        "not-json",
        "body-not-utf8",
        "an-array",
        "no-update-id",
        "string-update-id",
        "boolean-update-id",
        "message-not-an-object",
        "message-without-fields",
        "an-update",
    ],
)
async def test_the_webhook_answers_403_or_400_never_500(
    webhook: tuple[TelegramServer, int], secret: bytes | None, body: bytes, status: int
) -> None:
    tg, port = webhook
    assert await post(port, secret, body) == status
    assert len(tg.sent(600)) == (1 if status == 200 else 0)  # /help answered once handled


async def test_an_update_that_comes_again_is_handled_once(
    webhook: tuple[TelegramServer, int],
) -> None:
    tg, port = webhook
    body = json.dumps(UPDATE).encode()
    assert [await post(port, SECRET.encode(), body) for _ in range(3)] == [200, 200, 200]
    assert len(tg.sent(600)) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
message_keys = st.sampled_from(
    ["message_id", "date", "chat", "from", "text", "reply_to_message", "entities", "photo", "id"]
)
update_like = st.fixed_dictionaries(
    {"update_id": st.integers()},
    optional={
        key: st.dictionaries(message_keys, json_values, max_size=6) | json_values
        for key in ("message", "edited_message", "callback_query", "chat_member")
    },
)


@pytest.mark.backend_free
@settings(max_examples=300)
@given(data=update_like | json_values)
def test_any_json_is_an_update_or_refused(data: Any) -> None:
    update = parse_update(json.dumps(data).encode(), BOT)
    assert update is None or isinstance(update, Update)
    if update is not None:
        assert update.update_id == data["update_id"]


BOT = Bot(TOKEN)  # never initialised: parsing needs no network
