"""Keys of the values the web application holds for its handlers."""

from __future__ import annotations

from aiohttp import web

from bot.core.cohort import Cohort

COHORT_KEY = web.AppKey("cohort", Cohort)
