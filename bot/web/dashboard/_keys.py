"""Keys of what the dashboard's application and requests hold for its handlers."""

from __future__ import annotations

from aiohttp import web

from bot.cogs.analytics import Analytics
from bot.cogs.dashboard import DashboardAuth, Viewer
from bot.core.cohort import Cohort

COHORT = web.AppKey("dashboard.cohort", Cohort)
AUTH = web.AppKey("dashboard.auth", DashboardAuth)
ANALYTICS = web.AppKey("dashboard.analytics", Analytics)
VIEWER = web.RequestKey("dashboard.viewer", Viewer)
LOCALE = web.RequestKey("dashboard.locale", str)  # the language of a page before sign-in
