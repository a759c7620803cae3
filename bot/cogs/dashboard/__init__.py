"""The organizers' web dashboard: sign-in links from chat, sessions for the browser.

The web app (``bot/web/dashboard``) signs people in through this module's API:

    from bot.cogs import dashboard
    auth = dashboard.auth(cohort)
    viewer = await auth.viewer(cookie)   # None: signed out, expired, or not an organizer now
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.cogs.dashboard._cog import DashboardCog
from bot.cogs.dashboard._privacy import HOLDINGS as PRIVACY_HOLDINGS
from bot.cogs.dashboard._rules import SIGNIN_PATH, TOKEN_PATTERN, Refusal
from bot.cogs.dashboard._service import DashboardAuth, SignedIn, Viewer
from bot.core.cohort import Cohort

PURGE_EVERY = timedelta(hours=1)
LOCALES = Path(__file__).with_name("locales")

__all__ = [
    "PURGE_EVERY",
    "SIGNIN_PATH",
    "TOKEN_PATTERN",
    "DashboardAuth",
    "Refusal",
    "SignedIn",
    "Viewer",
    "auth",
    "setup",
]


def auth(cohort: Cohort) -> DashboardAuth:
    """Return the dashboard's sign-in service for ``cohort``."""
    return DashboardAuth(cohort)


def setup(cohort: Cohort) -> None:
    """Register /dashboard, its translations (the web pages' too) and the purge job."""
    cohort.i18n.load_dir(LOCALES)
    cohort.privacy.declare(*PRIVACY_HOLDINGS)
    service = DashboardAuth(cohort)
    cog = DashboardCog(service)
    for spec in cog.commands():
        cohort.command(spec)
    cohort.every("dashboard.purge", PURGE_EVERY, service.purge)
