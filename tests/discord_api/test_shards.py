"""The stand-in's sharding, spoken in raw websocket frames: routing by guild, 4010 and 4011."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.discord_api import DEFAULT_TOKEN, DiscordServer
from tests.discord_api._gateway import shard_of
from tests.discord_api.test_server import AUTH, INTENTS, gateway

pytestmark = pytest.mark.backend_free

# Snowflakes whose shard of two is 0 and 1: (id >> 22) % 2.
EVEN, ODD = 1000 << 22, 1001 << 22
EVEN_CHANNEL, ODD_CHANNEL = EVEN + 1, ODD + 1
ALICE = 10


@pytest.fixture
async def dc() -> AsyncIterator[DiscordServer]:
    """Start the stand-in with one guild on each of two shards, Alice in both."""
    async with DiscordServer() as server:
        server.add_user(ALICE, "Alice")
        for guild, channel in ((EVEN, EVEN_CHANNEL), (ODD, ODD_CHANNEL)):
            server.add_guild(guild, owner_id=ALICE)
            server.add_channel(guild, channel, "general")
            server.add_member(guild, ALICE)
        yield server


@pytest.mark.parametrize(
    ("guild_id", "count", "shard"),
    [
        (EVEN, 2, 0),
        (ODD, 2, 1),
        (ODD, 1, 0),
        (9959106386 << 22, 16, 2),
        ((7 << 22) + 4194303, 4, 3),
    ],
)
def test_the_shard_of_a_guild_is_discords_formula(guild_id: int, count: int, shard: int) -> None:
    assert shard_of(guild_id, count) == shard


async def identify(dc: DiscordServer, shard: object) -> tuple[Any, Any, Any]:
    """Open a connection and IDENTIFY as ``shard``; return the session, socket and reader."""
    session, ws, read = await gateway(dc)
    await read()  # HELLO
    intents = INTENTS | (1 << 12)  # and direct messages
    identify = {"token": DEFAULT_TOKEN, "intents": intents, "shard": shard}
    await ws.send_json({"op": 2, "d": identify})
    return session, ws, read


async def test_each_shard_gets_its_guilds_and_dms_go_to_shard_0(dc: DiscordServer) -> None:
    sockets = []
    readers = []
    try:
        frames: dict[int, list[dict[str, Any]]] = {}
        for shard_id in (0, 1):
            session, ws, read = await identify(dc, [shard_id, 2])
            sockets.append((session, ws))
            readers.append(read)
            ready = await read()
            assert ready["d"]["shard"] == [shard_id, 2]
            guild = EVEN if shard_id == 0 else ODD
            assert [g["id"] for g in ready["d"]["guilds"]] == [str(guild)]
            created = await read()
            assert (created["t"], created["d"]["id"]) == ("GUILD_CREATE", str(guild))
            frames[shard_id] = []
        dc.user_says(ODD_CHANNEL, ALICE, "odd")
        dc.user_says(EVEN_CHANNEL, ALICE, "even")
        dm = int(dc.dm_channel(ALICE)["id"])
        dc.user_says(dm, ALICE, "private")
        for shard_id, read in enumerate(readers):
            expected = ["even", "private"] if shard_id == 0 else ["odd"]
            assert [await next_message(read) for _ in expected] == expected
        assert dc.gateway.identifies == 2
        assert {s.shard for s in dc.gateway.sessions.values()} == {(0, 2), (1, 2)}
    finally:
        for session, ws in sockets:
            await ws.close()
            await session.close()


async def next_message(read: Any) -> str:
    """Read frames until a MESSAGE_CREATE; return its content."""
    while True:
        frame = await read()
        if frame.get("t") == "MESSAGE_CREATE":
            return str(frame["d"]["content"])


@pytest.mark.parametrize(
    "shard",
    [[2, 2], [-1, 2], [0, 0], [1], [0, 1, 2], "0,1", [True, 2], [0, 2.0]],
    ids=["id-equal-count", "negative", "count-0", "one-number", "three", "text", "bool", "float"],
)
async def test_an_invalid_shard_is_closed_with_4010(dc: DiscordServer, shard: object) -> None:
    session, ws, read = await identify(dc, shard)
    try:
        assert (await read())["closed"] == 4010
    finally:
        await ws.close()
        await session.close()
    assert dc.gateway.identifies == 0


@pytest.mark.parametrize(
    ("shard", "limit", "code"),
    [([0, 1], 1, 4011), ([0, 2], 1, None), ([0, 1], 2, None)],
    ids=["two-guilds-one-shard", "one-guild-each", "exactly-the-limit"],
)
async def test_sharding_is_required_past_the_guild_limit(
    dc: DiscordServer, shard: list[int], limit: int, code: int | None
) -> None:
    dc.gateway.guilds_per_shard = limit
    session, ws, read = await identify(dc, shard)
    try:
        frame = await read()
        assert frame.get("closed") == code
        if code is None:
            assert frame["t"] == "READY"
    finally:
        await ws.close()
        await session.close()


async def test_gateway_bot_recommends_shards_and_tells_the_identify_concurrency(
    dc: DiscordServer,
) -> None:
    dc.max_concurrency = 16
    dc.guilds_per_recommended_shard = 1  # two guilds: two shards
    async with (
        aiohttp.ClientSession(base_url=f"http://127.0.0.1:{dc.port}", headers=AUTH) as http,
        http.get("/api/v10/gateway/bot") as response,
    ):
        body = await response.json()
    assert body["url"] == dc.gateway_url
    assert body["shards"] == 2
    assert body["session_start_limit"]["max_concurrency"] == 16
