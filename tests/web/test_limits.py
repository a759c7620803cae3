"""The web server against slow and greedy clients: bounded header time, body time, body size."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from bot.core.cohort import Cohort
from bot.runtime import build, start_web
from bot.web.limits import MAX_BODY
from tests.conftest import make_config
from tests.web.test_app import free_port

BOUND = 0.5  # seconds: the configured header and body timeouts
GENEROUS = 10  # seconds: what the tests wait before calling a connection held forever

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[int]:
    """Serve the web app, as ``cohort run`` does, with half-second bounds; return its port."""
    port = free_port()
    config = make_config(
        tmp_path,
        web={
            "enabled": True,
            "host": "127.0.0.1",
            "port": port,
            "header_timeout": BOUND,
            "body_timeout": BOUND,
        },
    )
    cohort: Cohort = await build(config)
    runner = await start_web(cohort)
    assert isinstance(runner, web.AppRunner)
    try:
        yield port
    finally:
        await runner.cleanup()
        await cohort.db.close()


async def closed_within(reader: asyncio.StreamReader, limit: float) -> bytes:
    """Read until the server closes the connection; fail if it holds it past ``limit``."""
    try:
        return await asyncio.wait_for(reader.read(), limit)
    except TimeoutError:
        raise AssertionError(f"the server still holds the connection after {limit}s") from None


async def nothing(stream: Stream) -> None:
    """Connect and say nothing."""
    return None


async def half_a_header(stream: Stream) -> None:
    """Send half a request's headers and stop."""
    stream[1].write(b"POST /stripe/webhook HTTP/1.1\r\nHost: bot.example.org\r\nContent-Ty")
    await stream[1].drain()


async def a_trickle(stream: Stream) -> asyncio.Task[None]:
    """Send a header a byte at a time, five bytes per bound, never finishing it."""
    writer = stream[1]
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot.example.org\r\nX-Slow: ")

    async def drip() -> None:
        while not writer.is_closing():
            await asyncio.sleep(BOUND / 5)
            writer.write(b"x")

    return asyncio.create_task(drip())


async def a_request_then_half_a_header(stream: Stream) -> None:
    """Finish one request on a kept-alive connection, then stall in the next one's headers."""
    reader, writer = stream
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot.example.org\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    length = next(
        int(line.partition(b":")[2])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    writer.write(b"GET /healthz HTTP/1.1\r\nHo")
    await writer.drain()


@pytest.mark.parametrize(
    "stall",
    [nothing, half_a_header, a_trickle, a_request_then_half_a_header],
    ids=["silent", "half-a-header", "trickle", "second-request"],
)
async def test_a_client_that_never_finishes_its_headers_is_disconnected(
    server: int, stall: Callable[[Stream], Awaitable[asyncio.Task[None] | None]]
) -> None:
    stream = await asyncio.open_connection("127.0.0.1", server)
    dripping = await stall(stream)
    try:
        rest = await closed_within(stream[0], GENEROUS)
    finally:
        if dripping is not None:
            dripping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dripping
        stream[1].close()
    assert rest == b""  # closed without an answer


async def test_a_body_that_never_arrives_gets_408_and_the_connection_closes(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    try:
        writer.write(
            b"POST /stripe/webhook HTTP/1.1\r\nHost: bot.example.org\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id": '
        )
        await writer.drain()
        answer = await closed_within(reader, GENEROUS)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request body took too long" in answer


async def test_a_body_over_a_mebibyte_gets_413(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    try:
        writer.write(
            b"POST /stripe/webhook HTTP/1.1\r\nHost: bot.example.org\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1)
        )
        writer.write(b"x" * (MAX_BODY + 1))
        await writer.drain()
        answer = await closed_within(reader, GENEROUS)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413 ")
