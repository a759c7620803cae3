"""A member's export by single-use link: ``GET /privacy/<community>/<token>``.

The link is made by ``/privacy export`` when a private message cannot carry the file; the
token is spent on the first request and only its hash is stored. An unknown, used or expired
link answers 404, the same for each, so that a guess learns nothing.
"""

from __future__ import annotations

from aiohttp import web

from bot.cogs import privacy
from bot.core.cohort import Cohort

COMMUNITY = r"{community:[a-z0-9][a-z0-9-]{0,31}}"
TOKEN = r"{token:[A-Za-z0-9_-]{32,64}}"


def privacy_routes(cohort: Cohort) -> list[web.RouteDef]:
    """Return the download route of ``cohort``'s exports."""

    async def download(request: web.Request) -> web.Response:
        packed = await privacy.download(
            cohort, request.match_info["community"], request.match_info["token"]
        )
        if packed is None:
            raise web.HTTPNotFound(text="no such download, or it was used or has expired")
        return web.Response(
            body=packed.data,
            content_type=packed.mime,
            headers={
                "Content-Disposition": f'attachment; filename="{packed.filename}"',
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return [web.get(f"/privacy/{COMMUNITY}/{TOKEN}", download)]
