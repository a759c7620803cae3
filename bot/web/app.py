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
from bot.web.dashboard import dashboard_app
from bot.web.demo import demo_routes
from bot.web.limits import MAX_BODY, body_deadline
from bot.web.privacy import privacy_routes
from bot.web.stripe_webhook import PATH as STRIPE_PATH
from bot.web.stripe_webhook import stripe_webhook


async def healthz(request: web.Request) -> web.Response:
    """Report the database, every supervised task and each platform's last event.

    200 with ``"status": "ok"`` when the database answers and every task runs; 503 with
    ``"status": "unavailable"`` when the database is down or a task is retrying or given up.
    """
    cohort = request.app[COHORT_KEY]
    supervisor = cohort.supervisor
    try:
        async with cohort.db.read() as conn:
            await conn.execute(text("SELECT 1"))
        database = "ok"
    except (SQLAlchemyError, OSError):
        database = "down"
    healthy = database == "ok" and supervisor.healthy
    seen = supervisor.last_event
    return web.json_response(
        {
            "status": "ok" if healthy else "unavailable",
            "version": __version__,
            "database": database,
            "platforms": {
                p.value: {
                    "last_event": moment.isoformat() if (moment := seen.get(p.value)) else None
                }
                for p in sorted(cohort.platforms)
            },
            "tasks": supervisor.report(),
            "communities": sorted(cohort.communities),
        },
        status=200 if healthy else 503,
    )


def build_app(cohort: Cohort, routes: Sequence[web.RouteDef] = ()) -> web.Application:
    """Return the web application for ``cohort``, with the adapters' ``routes`` (webhooks)."""
    app = web.Application(
        client_max_size=MAX_BODY, middlewares=[body_deadline(cohort.config.web.body_timeout)]
    )
    app[COHORT_KEY] = cohort
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(calendar_routes(cohort))
    app.router.add_routes(privacy_routes(cohort))
    app.router.add_post(STRIPE_PATH, stripe_webhook)
    if cohort.config.demo.enabled:
        app.router.add_routes(demo_routes())
    app.router.add_routes(routes)
    if cohort.registry.get("dashboard") is not None:  # the dashboard cog is loaded
        app.router.add_get("/dashboard", _to_dashboard)
        app.add_subapp("/dashboard", dashboard_app(cohort))
    return app


async def _to_dashboard(request: web.Request) -> web.StreamResponse:
    """Send ``/dashboard`` to ``/dashboard/``."""
    raise web.HTTPPermanentRedirect("/dashboard/")
