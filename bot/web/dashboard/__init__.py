"""The organizers' dashboard: server-rendered pages under ``/dashboard`` with Chart.js charts.

Handlers read only through cog APIs (``bot.cogs.dashboard`` for sign-in, ``bot.cogs.analytics``
for the figures); templates are autoescaped; the only JavaScript draws the charts.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.cogs import analytics, dashboard
from bot.core.cohort import Cohort
from bot.web.dashboard import _auth as auth
from bot.web.dashboard import _views as views
from bot.web.dashboard._keys import ANALYTICS, AUTH, COHORT

HERE = Path(__file__).parent
TOKEN = "{token:" + dashboard.TOKEN_PATTERN + "}"


def dashboard_app(cohort: Cohort) -> web.Application:
    """Return the dashboard as an application to mount at ``/dashboard``."""
    app = web.Application(middlewares=[auth.security_headers, auth.require_session])
    app[COHORT] = cohort
    app[AUTH] = dashboard.auth(cohort)
    app[ANALYTICS] = analytics.service_of(cohort)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_get(f"/signin/{TOKEN}", auth.signin_form)
    app.router.add_post("/signin", auth.signin)
    app.router.add_post("/logout", auth.logout)
    app.router.add_get("/signed-out", auth.signed_out)
    app.router.add_post("/lang", auth.set_language)
    app.router.add_static("/static/", HERE / "static")
    app.router.add_get("/", views.page)
    app.router.add_get("/members", views.members)
    app.router.add_get(r"/members/{member_id:[1-9][0-9]{0,17}}", views.member)
    app.router.add_get(r"/{page:[a-z]{1,20}}/csv/{table:[a-z0-9-]{1,40}}", views.download)
    app.router.add_get(r"/{page:[a-z]{1,20}}", views.page)
    return app
