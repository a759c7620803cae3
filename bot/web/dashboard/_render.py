"""Render a dashboard template with the page's language and the translation function."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp_jinja2
from aiohttp import web

from bot.core.i18n import DEFAULT_LOCALE, normalize_locale
from bot.web.dashboard._keys import COHORT, LOCALE

PREFIX = "/dashboard"


def page_locale(request: web.Request) -> str:
    """Return the language of a page shown before sign-in: the browser's first, if we have it."""
    first = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip()
    return normalize_locale(first) or DEFAULT_LOCALE


def render(
    request: web.Request, template: str, context: Mapping[str, object], status: int = 200
) -> web.Response:
    """Render ``template`` with ``t`` (translate into the page's language) and ``locale``."""
    locale = request.get(LOCALE) or page_locale(request)
    i18n = request.app[COHORT].i18n

    def t(key: str, /, **params: object) -> str:
        return i18n.plain(locale, key, **params)

    full = {"t": t, "locale": locale, "prefix": PREFIX, **context}
    return aiohttp_jinja2.render_template(template, request, full, status=status)
