"""Raw HTTP for tests: header bytes as given, which aiohttp's client would refuse to send."""

from __future__ import annotations

import asyncio


async def raw_post(port: int, path: str, headers: dict[str, bytes], body: bytes) -> int:
    """POST ``body`` to ``path`` on 127.0.0.1 with ``headers`` byte for byte; return the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = b"POST %s HTTP/1.1\r\nHost: bot.example.org\r\nConnection: close\r\n" % path.encode()
        for name, value in headers.items():
            head += name.encode() + b": " + value + b"\r\n"
        head += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        writer.write(head + body)
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1])
