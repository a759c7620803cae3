"""The Discord stand-in itself, spoken to in raw HTTP and websocket frames (no discord.py)."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.discord_api import BOT_ID, DEFAULT_TOKEN, FORUM, INTENT_MEMBERS, DiscordServer

pytestmark = pytest.mark.backend_free

GUILD, GENERAL, FORUM_ID = 100, 200, 201
ALICE, BOB = 10, 11
LOW, HIGH = 300, 301
AUTH = {"Authorization": f"Bot {DEFAULT_TOKEN}"}
INTENTS = (1 << 0) | (1 << 1) | (1 << 9) | (1 << 15)


@pytest.fixture
async def dc() -> AsyncIterator[DiscordServer]:
    """Start the stand-in with a guild, two channels, two roles and two people."""
    async with DiscordServer() as server:
        server.add_user(ALICE, "Alice")
        server.add_user(BOB, "Bob")
        server.add_guild(GUILD, owner_id=ALICE, bot_role_position=2)
        server.add_channel(GUILD, GENERAL, "general")
        server.add_channel(GUILD, FORUM_ID, "questions", type=FORUM, tags=("sql",))
        server.add_role(GUILD, LOW, "Pro", 1)
        server.add_role(GUILD, HIGH, "Staff", 3)
        server.add_member(GUILD, ALICE)
        server.add_member(GUILD, BOB)
        yield server


@pytest.fixture
async def http(dc: DiscordServer) -> AsyncIterator[aiohttp.ClientSession]:
    """Return an HTTP session with the bot's token."""
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{dc.port}", headers=AUTH) as s:
        yield s


async def call(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None
) -> tuple[int, Any, Any]:
    """Make a REST call; return status, JSON body (None when empty) and headers."""
    async with http.request(method, f"/api/v10{path}", json=body) as response:
        text = await response.text()
        return response.status, (json.loads(text) if text else None), response.headers


async def test_discord_error_shapes(dc: DiscordServer, http: aiohttp.ClientSession) -> None:
    cases = [
        ("PUT", f"/guilds/{GUILD}/members/99/roles/{LOW}", None, 404, 10007),
        ("PUT", f"/guilds/{GUILD}/members/{BOB}/roles/999", None, 404, 10011),
        ("PUT", f"/guilds/{GUILD}/members/{BOB}/roles/{HIGH}", None, 403, 50013),
        ("POST", f"/channels/{GENERAL}/messages", {"content": ""}, 400, 50006),
        ("POST", f"/channels/{GENERAL}/messages", {"content": "x" * 2001}, 400, 50035),
        ("GET", "/channels/12345", None, 404, 10003),
    ]
    for method, path, body, status, code in cases:
        got_status, data, _ = await call(http, method, path, body)
        assert (got_status, data["code"]) == (status, code), path


async def test_roles_follow_the_hierarchy(dc: DiscordServer, http: aiohttp.ClientSession) -> None:
    status, _, _ = await call(http, "PUT", f"/guilds/{GUILD}/members/{BOB}/roles/{LOW}")
    assert status == 204
    assert dc.guilds[GUILD].members[BOB]["roles"] == [str(LOW)]
    # A role at the bot's own position loses the tie when its id is lower (older is higher).
    dc.add_role(GUILD, 1, "Old", 2)
    status, data, _ = await call(http, "PUT", f"/guilds/{GUILD}/members/{BOB}/roles/1")
    assert (status, data["code"]) == (403, 50013)


async def test_dms_open_but_refuse_messages_when_closed(
    dc: DiscordServer, http: aiohttp.ClientSession
) -> None:
    dc.close_dms(BOB)
    status, channel, _ = await call(http, "POST", "/users/@me/channels", {"recipient_id": BOB})
    assert status == 200 and channel["type"] == 1
    status, data, _ = await call(
        http, "POST", f"/channels/{channel['id']}/messages", {"content": "hi"}
    )
    assert (status, data["code"]) == (403, 50007)


async def test_rate_limits_send_discords_headers_and_429s(
    dc: DiscordServer, http: aiohttp.ClientSession
) -> None:
    dc.limit("create_message", 1, 10.0)
    status, _, headers = await call(http, "POST", f"/channels/{GENERAL}/messages", {"content": "a"})
    assert status == 200
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("1", "0")
    assert "X-RateLimit-Bucket" in headers
    status, data, headers = await call(
        http, "POST", f"/channels/{GENERAL}/messages", {"content": "b"}
    )
    assert status == 429
    assert data["retry_after"] > 0 and data["global"] is False
    assert headers["Via"] and headers["X-RateLimit-Scope"] == "user"
    dc.fail_next("get_roles", status=503)
    status, _, _ = await call(http, "GET", f"/guilds/{GUILD}/roles")
    assert status == 503


async def test_a_forum_post_takes_a_message_and_known_tags(
    dc: DiscordServer, http: aiohttp.ClientSession
) -> None:
    body = {"name": "Joins?", "message": {"content": "How?"}, "applied_tags": ["1"]}
    status, data, _ = await call(http, "POST", f"/channels/{FORUM_ID}/threads", body)
    assert (status, data["code"]) == (400, 50035)
    body["applied_tags"] = [dc.tag_id(FORUM_ID, "sql")]
    status, thread, _ = await call(http, "POST", f"/channels/{FORUM_ID}/threads", body)
    assert status == 200
    assert thread["message"]["id"] == thread["id"]  # a post's first message has its id
    path = f"/channels/{thread['id']}"
    status, edited, _ = await call(http, "PATCH", path, {"archived": True, "locked": True})
    assert edited["thread_metadata"]["locked"] is True


async def test_commands_are_checked_and_keep_their_ids(
    dc: DiscordServer, http: aiohttp.ClientSession
) -> None:
    path = f"/applications/{BOT_ID}/guilds/{GUILD}/commands"
    bad = [{"name": "Help", "description": "x"}]
    status, data, _ = await call(http, "PUT", path, bad)
    assert (status, data["code"]) == (400, 50035)
    good = [{"name": "help", "description": "List", "description_localizations": {"zh-CN": "列"}}]
    _, first, _ = await call(http, "PUT", path, good)
    _, second, _ = await call(http, "PUT", path, good)
    assert first[0]["id"] == second[0]["id"]
    assert dc.command_puts[GUILD] == 2


async def gateway(
    dc: DiscordServer, *, compress: bool = True
) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse, Any]:
    """Open a gateway connection; return the session, socket and a frame reader."""
    session = aiohttp.ClientSession()
    query = "?v=10&encoding=json" + ("&compress=zlib-stream" if compress else "")
    ws = await session.ws_connect(dc.gateway_url + query)
    inflate = zlib.decompressobj()

    async def read() -> dict[str, Any]:
        message = await ws.receive(timeout=5)
        if message.type is aiohttp.WSMsgType.BINARY:
            return dict(json.loads(inflate.decompress(message.data)))
        if message.type is aiohttp.WSMsgType.TEXT:
            return dict(json.loads(message.data))
        return {"closed": ws.close_code}

    return session, ws, read


async def test_identify_ready_heartbeat_and_resume(dc: DiscordServer) -> None:
    session, ws, read = await gateway(dc)
    try:
        hello = await read()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await ws.send_json({"op": 2, "d": {"token": DEFAULT_TOKEN, "intents": INTENTS}})
        ready = await read()
        assert (ready["t"], ready["s"]) == ("READY", 1)
        guild = await read()
        assert guild["t"] == "GUILD_CREATE"
        assert {c["id"] for c in guild["d"]["channels"]} == {str(GENERAL), str(FORUM_ID)}
        await ws.send_json({"op": 1, "d": 2})
        assert (await read())["op"] == 11
        session_id = ready["d"]["session_id"]
        await dc.disconnect()
        assert (await read())["closed"] == 4000
    finally:
        await ws.close()
        await session.close()
    dc.user_says(GENERAL, ALICE, "missed")
    session, ws, read = await gateway(dc, compress=False)
    try:
        await read()
        resume = {"token": DEFAULT_TOKEN, "session_id": session_id, "seq": 2}
        await ws.send_json({"op": 6, "d": resume})
        missed, resumed = await read(), await read()
        assert (missed["t"], missed["s"], missed["d"]["content"]) == ("MESSAGE_CREATE", 3, "missed")
        assert resumed["t"] == "RESUMED"
    finally:
        await ws.close()
        await session.close()


@pytest.mark.parametrize(
    ("token", "intents", "code"),
    [("wrong", INTENTS, 4004), (DEFAULT_TOKEN, INTENTS, 4014)],
)
async def test_identify_refusals(dc: DiscordServer, token: str, intents: int, code: int) -> None:
    dc.allowed_intents = INTENT_MEMBERS  # message content not switched on
    session, ws, read = await gateway(dc)
    try:
        await read()
        await ws.send_json({"op": 2, "d": {"token": token, "intents": intents}})
        assert (await read())["closed"] == code
    finally:
        await ws.close()
        await session.close()


async def test_interactions_are_answered_once_and_in_time(
    dc: DiscordServer, http: aiohttp.ClientSession
) -> None:
    path = f"/applications/{BOT_ID}/guilds/{GUILD}/commands"
    await call(http, "PUT", path, [{"name": "ping", "description": "Ping"}])
    first = dc.interactions[dc.run_command(GUILD, GENERAL, BOB, "ping")]
    callback = f"/interactions/{first.id}/{first.token}/callback"
    status, _, _ = await call(http, "POST", callback, {"type": 5, "data": {"flags": 64}})
    assert status == 204
    status, data, _ = await call(http, "POST", callback, {"type": 4, "data": {"content": "x"}})
    assert (status, data["code"]) == (400, 40060)
    webhook = f"/webhooks/{BOT_ID}/{first.token}"
    status, filled, _ = await call(http, "POST", webhook, {"content": "done"})
    assert filled["id"] == str(first.original_id) and filled["flags"] == 64  # the placeholder
    _, extra, _ = await call(http, "POST", webhook, {"content": "more"})
    assert extra["id"] != filled["id"] and extra["flags"] == 0
    dc.interaction_timeout = 0.0
    late = dc.interactions[dc.run_command(GUILD, GENERAL, BOB, "ping")]
    status, data, _ = await call(
        http,
        "POST",
        f"/interactions/{late.id}/{late.token}/callback",
        {"type": 4, "data": {"content": "too late"}},
    )
    assert (status, data["code"]) == (404, 10062)
    assert dc.late_answers == [late.id]


async def test_the_client_side_checks_of_run_command(
    dc: DiscordServer, http: aiohttp.ClientSession
) -> None:
    command = {
        "name": "give",
        "description": "Give",
        "options": [
            {"type": 6, "name": "member", "description": "Who", "required": True},
            {"type": 4, "name": "amount", "description": "N", "min_value": 1, "max_value": 9},
        ],
    }
    await call(http, "PUT", f"/applications/{BOT_ID}/guilds/{GUILD}/commands", [command])
    with pytest.raises(ValueError, match="above"):
        dc.run_command(GUILD, GENERAL, ALICE, "give", {"member": BOB, "amount": 10})
    with pytest.raises(ValueError, match="required"):
        dc.run_command(GUILD, GENERAL, ALICE, "give", {"amount": 1})
    interaction = dc.run_command(GUILD, GENERAL, ALICE, "give", {"member": BOB, "amount": 3})
    data = dc.interactions[interaction].data
    assert data["options"] == [
        {"name": "member", "type": 6, "value": str(BOB)},
        {"name": "amount", "type": 4, "value": 3},
    ]
    assert str(BOB) in data["resolved"]["members"]


async def test_a_guild_message_carries_the_partial_member_a_dm_or_webhook_none(
    dc: DiscordServer,
) -> None:
    dc.change_roles(dc.guild(GUILD), BOB, add=(LOW,))
    session, ws, read = await gateway(dc)
    try:
        await read()
        intents = INTENTS | (1 << 12)  # direct messages too
        await ws.send_json({"op": 2, "d": {"token": DEFAULT_TOKEN, "intents": intents}})
        await read(), await read()  # READY, GUILD_CREATE
        dc.user_says(GENERAL, BOB, f"hi <@{ALICE}>")
        dm = int(dc.dm_channel(BOB)["id"])
        dc.user_says(dm, BOB, "psst")
        dc.post(GENERAL, ALICE, {"content": "hooked"}, [], webhook_id=900)
        in_guild, in_dm, hooked = (await read())["d"], (await read())["d"], (await read())["d"]
    finally:
        await ws.close()
        await session.close()
    member = in_guild["member"]
    assert "user" not in member  # partial: the author is in "author"
    assert member["roles"] == [str(LOW)] and member["joined_at"] and member["flags"] == 0
    assert in_guild["author"]["id"] == str(BOB)
    assert [m["id"] for m in in_guild["mentions"]] == [str(ALICE)]
    assert in_guild["mentions"][0]["member"]["roles"] == []
    assert in_dm["content"] == "psst"
    assert "member" not in in_dm and "guild_id" not in in_dm
    assert hooked["content"] == "hooked" and "member" not in hooked  # a webhook's message
