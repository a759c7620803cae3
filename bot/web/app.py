"""Build the aiohttp application that runs beside the chat adapters."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot import __version__
from bot.core.cohort import Cohort
from bot.web._keys import COHORT_KEY
from bot.web.calendar import calendar_routes
from bot.web.limits import MAX_BODY, body_deadline
from bot.web.stripe_webhook import PATH as STRIPE_PATH
from bot.web.stripe_webhook import stripe_webhook


async def healthz(request: web.Request) -> web.Response:
    """Answer 200 when the database answers, 503 when it does not."""
    cohort = request.app[COHORT_KEY]
    try:
        async with cohort.db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    return web.json_response(
        {
            "status": "ok",
            "version": __version__,
            "database": "ok",
            "platforms": sorted(p.value for p in cohort.platforms),
            "communities": sorted(cohort.communities),
        }
    )


def build_app(cohort: Cohort, routes: Sequence[web.RouteDef] = ()) -> web.Application:
    """Return the web application for ``cohort``, with the adapters' ``routes`` (webhooks)."""
    app = web.Application(
        client_max_size=MAX_BODY, middlewares=[body_deadline(cohort.config.web.body_timeout)]
    )
    app[COHORT_KEY] = cohort
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(calendar_routes(cohort))
    app.router.add_post(STRIPE_PATH, stripe_webhook)
    app.router.add_routes(routes)
    return app
