"""What the web server grants a client: time for the headers, time and room for the body."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bot.core.config import WebConfig

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # bytes; a larger body gets 413


def server_options(config: WebConfig) -> dict[str, Any]:
    """Return the aiohttp server settings that bound a slow or idle client.

    aiohttp closes a connection that has not finished a request's headers within its keep-alive
    timeout, counted from connecting or from the previous response: ``header_timeout`` is that
    bound. After ``read_body_in_time`` refuses a body, aiohttp drains the rest for at most
    ``lingering_time`` (so the client sees the 408) and closes.
    """
    return {"keepalive_timeout": config.header_timeout, "lingering_time": config.body_timeout}


def body_deadline(seconds: float) -> Middleware:
    """Return a middleware that reads a request's body within ``seconds``, or answers 408."""

    @web.middleware
    async def read_body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.can_read_body:
            try:
                async with asyncio.timeout(seconds):
                    await request.read()  # kept: the handler's read() returns it at once
            except TimeoutError:
                resource = request.match_info.route.resource
                log.warning(
                    "web: %s %s from %s: the body took longer than %ss; refused",
                    request.method,
                    resource.canonical if resource is not None else "?",  # a pattern: no tokens
                    request.remote,
                    seconds,
                )
                raise web.HTTPRequestTimeout(
                    text="the request body took too long", headers={"Connection": "close"}
                ) from None
        return await handler(request)

    return read_body_in_time
