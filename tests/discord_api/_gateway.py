"""The stand-in's gateway: HELLO, IDENTIFY/READY, heartbeats, RESUME and ordered dispatches.

Sharding as Discord does it: IDENTIFY names ``shard: [id, count]`` (``[0, 1]`` when left out);
a guild's events go only to the session of shard ``(guild_id >> 22) % count`` and events
outside any guild (DMs) to shard 0. A shard that does not exist is closed with 4010, a shard
holding more than ``guilds_per_shard`` guilds with 4011 (sharding required).

Transport compression: ``compress=zlib-stream`` (what discord.py asks for unless ``zstandard``
is installed) and no compression are supported; ``zstd-stream`` is refused with close code
4000 and a recorded error. Only ``encoding=json`` is spoken.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import secrets
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tests.discord_api._world import (
    INTENT_DM_MESSAGES,
    INTENT_GUILD_INVITES,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_REACTIONS,
    INTENT_GUILDS,
    INTENT_MEMBERS,
    INTENT_MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
)

if TYPE_CHECKING:
    from tests.discord_api._server import DiscordServer

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, RESUME, RECONNECT = 0, 1, 2, 3, 6, 7
REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11
GUILDS_PER_SHARD = 2500  # Discord's limit: a session past it is closed with 4011

# The intent an event needs; events not listed always go out.
EVENT_INTENTS = {
    "GUILD_CREATE": INTENT_GUILDS,
    "THREAD_CREATE": INTENT_GUILDS,
    "THREAD_UPDATE": INTENT_GUILDS,
    "GUILD_MEMBER_ADD": INTENT_MEMBERS,
    "INVITE_CREATE": INTENT_GUILD_INVITES,
    "INVITE_DELETE": INTENT_GUILD_INVITES,
    "GUILD_MEMBER_REMOVE": INTENT_MEMBERS,
    "GUILD_MEMBER_UPDATE": INTENT_MEMBERS,
    "MESSAGE_REACTION_ADD": INTENT_GUILD_REACTIONS,
    "MESSAGE_REACTION_REMOVE": INTENT_GUILD_REACTIONS,
}


@dataclass
class Session:
    """A gateway session: survives a dropped connection until the bot resumes it."""

    id: str
    intents: int
    shard: tuple[int, int] = (0, 1)  # (id, count)
    seq: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    connection: Connection | None = None


class Connection:
    """One websocket: sends in order, compressed as the client asked."""

    def __init__(
        self, ws: web.WebSocketResponse, compress: str | None, server: DiscordServer
    ) -> None:
        self.ws = ws
        self.server = server
        self.zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self.lock = asyncio.Lock()
        self.sent_seq = 0
        self.wake = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None
        self.dropped = False  # the stand-in closed it (a hiccup), not the bot

    async def send(self, payload: dict[str, Any]) -> None:
        """Send one gateway payload (serialised under the lock: the zlib stream has state)."""
        started = time.thread_time()  # the stand-in's own work, for benchmarks
        data = json.dumps(payload, separators=(",", ":"))
        self.server.cpu_seconds += time.thread_time() - started
        async with self.lock:
            if self.ws.closed:
                return
            if self.zlib is not None:
                started = time.thread_time()
                chunk = self.zlib.compress(data.encode()) + self.zlib.flush(zlib.Z_SYNC_FLUSH)
                self.server.cpu_seconds += time.thread_time() - started
                await self.ws.send_bytes(chunk)
            else:
                await self.ws.send_str(data)


class Gateway:
    """The websocket side of the stand-in."""

    def __init__(self, server: DiscordServer, *, heartbeat_interval: float) -> None:
        self.server = server
        self.heartbeat_interval = heartbeat_interval
        self.sessions: dict[str, Session] = {}
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self.connections: list[Connection] = []
        self.ready = asyncio.Event()  # set on each READY or RESUMED; tests clear it
        self.guilds_per_shard = GUILDS_PER_SHARD  # past this, IDENTIFY is closed with 4011
        self.identified: list[tuple[tuple[int, int], float]] = []  # (shard, loop time) each

    # --- dispatching ------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Queue an event for the session of its guild's shard (DMs: shard 0), in order."""
        guild_id = _guild_of(event, data)
        for session in list(self.sessions.values()):
            shard_id, count = session.shard
            if shard_id == (0 if guild_id is None else shard_of(guild_id, count)):
                self._queue(session, event, data)

    def _queue(self, session: Session, event: str, data: dict[str, Any]) -> None:
        needed = EVENT_INTENTS.get(event)
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            needed = INTENT_GUILD_MESSAGES if data.get("guild_id") else INTENT_DM_MESSAGES
            data = _without_content(data, session.intents, self.server.bot_id)
        if needed is not None and not session.intents & needed:
            return
        session.seq += 1
        session.log.append({"op": DISPATCH, "t": event, "s": session.seq, "d": data})
        if session.connection is not None:
            session.connection.wake.set()

    async def _writer(self, session: Session, connection: Connection) -> None:
        """Send the session's log from where this connection stands, as it grows."""
        while not connection.ws.closed:
            for payload in _after(session.log, connection.sent_seq):
                await connection.send(payload)
                connection.sent_seq = payload["s"]
            if session.connection is not connection:
                return
            connection.wake.clear()
            if _after(session.log, connection.sent_seq):
                continue
            await connection.wake.wait()

    # --- the websocket ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one gateway connection."""
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream") or request.query.get("encoding", "json") != "json":
            self.server.server_errors.append(
                ValueError(f"unsupported gateway options {dict(request.query)}")
            )
            await ws.close(code=4000, message=b"unsupported compression or encoding")
            return ws
        connection = Connection(ws, compress, self.server)
        self.connections.append(connection)
        session: Session | None = None
        try:
            await connection.send(
                {"op": HELLO, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)}}
            )
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(message.data)
                op, data = payload.get("op"), payload.get("d")
                if op == HEARTBEAT:
                    self.heartbeats += 1
                    await connection.send({"op": HEARTBEAT_ACK})
                elif op == IDENTIFY:
                    session = await self._identify(connection, data)
                elif op == RESUME:
                    session = await self._resume(connection, data)
                elif op == REQUEST_MEMBERS and session is not None:
                    self._members_chunk(session, data)
                elif op == PRESENCE:
                    continue
                else:
                    await ws.close(code=4001, message=b"Unknown opcode")
        finally:
            if connection.writer is not None:
                connection.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connection.writer
            self.connections.remove(connection)
            if session is not None and session.connection is connection:
                session.connection = None
                if ws.close_code == 1000 and not connection.dropped:
                    # The bot closed cleanly: the session ends and cannot be resumed.
                    self.sessions.pop(session.id, None)
        return ws

    async def _identify(self, connection: Connection, data: dict[str, Any]) -> Session | None:
        if data.get("token") != self.server.token:
            await connection.ws.close(code=4004, message=b"Authentication failed.")
            return None
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.server.allowed_intents:
            await connection.ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        shard = _shard(data.get("shard", [0, 1]))
        if shard is None:
            await connection.ws.close(code=4010, message=b"Invalid shard.")
            return None
        server = self.server
        guilds = [g for g in server.guilds if shard_of(g, shard[1]) == shard[0]]
        if len(guilds) > self.guilds_per_shard:
            await connection.ws.close(code=4011, message=b"Sharding required.")
            return None
        self.identifies += 1
        self.identified.append((shard, asyncio.get_running_loop().time()))
        for old in [s for s in self.sessions.values() if s.shard == shard]:
            del self.sessions[old.id]  # the bot's new session for this shard replaces the old
        session = Session(id=secrets.token_hex(16), intents=intents, shard=shard)
        self.sessions[session.id] = session
        self._queue(
            session,
            "READY",
            {
                "v": 10,
                "user": dict(server.bot_user),
                "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                "session_id": session.id,
                "resume_gateway_url": server.gateway_url,
                "application": {
                    "id": str(server.application_id),
                    "flags": server.application_flags(),
                },
                "shard": list(shard),
            },
        )
        for guild_id in guilds:
            self._queue(session, "GUILD_CREATE", server.guild_create_json(guild_id))
        self._attach(session, connection, 0)
        self.ready.set()
        return session

    async def _resume(self, connection: Connection, data: dict[str, Any]) -> Session | None:
        session = self.sessions.get(data.get("session_id", ""))
        if session is None or data.get("token") != self.server.token:
            await connection.send({"op": INVALID_SESSION, "d": False})
            return None
        self.resumes += 1
        seq = int(data.get("seq") or 0)
        self._attach(session, connection, seq)
        self._queue(session, "RESUMED", {})
        self.ready.set()
        return session

    def _attach(self, session: Session, connection: Connection, seq: int) -> None:
        session.connection = connection
        connection.sent_seq = seq
        connection.writer = asyncio.create_task(self._writer(session, connection))

    def _members_chunk(self, session: Session, data: dict[str, Any]) -> None:
        guild = self.server.guild(int(data["guild_id"]))
        members = [self.server.member_json(guild, user_id) for user_id in guild.members]
        self._queue(
            session,
            "GUILD_MEMBERS_CHUNK",
            {
                "guild_id": str(guild.id),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
                "nonce": data.get("nonce"),
            },
        )

    async def corrupt(self) -> None:
        """Send every connection a frame it cannot read (a zlib stream broken in transit)."""
        for connection in list(self.connections):
            async with connection.lock:
                if connection.zlib is not None:
                    await connection.ws.send_bytes(b"not zlib\x00\x00\xff\xff")
                else:
                    await connection.ws.send_str("{not json")

    async def disconnect(self, code: int) -> None:
        """Drop every connection as Discord does on a network hiccup; sessions stay resumable."""
        for connection in list(self.connections):
            connection.dropped = True
            await connection.ws.close(code=code, message=b"stand-in disconnect")

    async def close(self) -> None:
        """Close every connection for good."""
        self.sessions.clear()
        await self.disconnect(1001)


def _after(log: list[dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    """Return the payloads of ``log`` (in sequence order) numbered after ``seq``."""
    return log[bisect.bisect_right(log, seq, key=lambda payload: int(payload["s"])) :]


def shard_of(guild_id: int, count: int) -> int:
    """Return the shard that carries a guild's events, as Discord computes it."""
    return (guild_id >> 22) % count


def _shard(raw: object) -> tuple[int, int] | None:
    """Read IDENTIFY's ``shard``: ``[id, count]`` with 0 <= id < count; None if it is not."""
    if not isinstance(raw, list) or len(raw) != 2:
        return None
    shard_id, count = raw
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in raw):
        return None
    if not 0 <= shard_id < count:
        return None
    return shard_id, count


def _guild_of(event: str, data: dict[str, Any]) -> int | None:
    """Return the guild an event belongs to, or None (a DM, or no guild at all)."""
    if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        return int(data["id"])
    guild_id = data.get("guild_id")
    return int(guild_id) if guild_id else None


def _without_content(data: dict[str, Any], intents: int, bot_id: int) -> dict[str, Any]:
    """Blank a message's content as Discord does for a bot without the message content intent."""
    if intents & INTENT_MESSAGE_CONTENT or not data.get("guild_id"):
        return data
    if str(data.get("author", {}).get("id")) == str(bot_id):
        return data
    if any(str(m.get("id")) == str(bot_id) for m in data.get("mentions", [])):
        return data
    return {**data, "content": "", "embeds": [], "attachments": [], "components": []}
