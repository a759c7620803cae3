"""The lecture calendar feed: ``GET /calendar/<community>.ics`` and a member's private one."""

from __future__ import annotations

from aiohttp import web

from bot.cogs import lectures
from bot.core.cohort import Cohort

COMMUNITY = r"{community:[a-z0-9][a-z0-9-]{0,31}}"
TOKEN = r"{token:[A-Za-z0-9_-]{16,64}}"


def calendar_routes(cohort: Cohort) -> list[web.RouteDef]:
    """Return the routes of the public and the private calendar feeds of ``cohort``."""

    async def public(request: web.Request) -> web.Response:
        return await _serve(cohort, request.match_info["community"], None)

    async def private(request: web.Request) -> web.Response:
        return await _serve(cohort, request.match_info["community"], request.match_info["token"])

    return [
        web.get(f"/calendar/{COMMUNITY}.ics", public),
        web.get(f"/calendar/{COMMUNITY}/{TOKEN}.ics", private),
    ]


async def _serve(cohort: Cohort, slug: str, token: str | None) -> web.Response:
    text = await lectures.feed(cohort, slug, token=token)
    if text is None:
        raise web.HTTPNotFound(text="no such calendar")
    return web.Response(
        body=text.encode(),
        content_type="text/calendar",
        charset="utf-8",
        headers={"Cache-Control": "private, max-age=300" if token else "public, max-age=300"},
    )
