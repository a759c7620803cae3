"""Sign-in through a chat link, the session cookie, CSRF checks and the security headers."""

from __future__ import annotations

import logging
import re
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.cogs.dashboard import TOKEN_PATTERN, Refusal, SignedIn
from bot.cogs.dashboard._rules import same_secret
from bot.web.dashboard._keys import AUTH, COHORT, LOCALE, VIEWER
from bot.web.dashboard._render import PREFIX, page_locale, render

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(TOKEN_PATTERN)
SESSION_COOKIE = "cohort_dashboard"
SIGNIN_COOKIE = "cohort_dashboard_signin"  # the CSRF token of the sign-in form
# Pages anyone may open: the sign-in form, the static files, the "signed out" page.
PUBLIC_PREFIXES = (f"{PREFIX}/signin", f"{PREFIX}/static/", f"{PREFIX}/signed-out")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATUS_OF = {
    Refusal.UNKNOWN: 404,
    Refusal.USED: 410,
    Refusal.EXPIRED: 410,
    Refusal.NOT_ORGANIZER: 403,
}


def _secure(request: web.Request) -> bool:
    return request.app[COHORT].config.web.base_url.startswith("https://")


def see_other(location: str) -> web.Response:
    """Return a 303 to ``location`` (a response, so that cookies can go with it)."""
    return web.Response(status=303, headers={"Location": location})


def message(request: web.Request, key: str, status: int) -> web.Response:
    """Return a short page that says ``key`` in the page's language."""
    return render(request, "message.html", {"message_key": key}, status)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Add the CSP and the other headers to every answer; keep pages out of caches."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        _add_headers(request, response)
        raise
    _add_headers(request, response)
    return response


def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"  # a sign-in link never leaks to another site
    if not request.path.startswith(f"{PREFIX}/static/"):
        headers["Cache-Control"] = "no-store"


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let only a signed-in organizer or admin past, and check the CSRF token of every POST."""
    request[LOCALE] = page_locale(request)
    if request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    viewer = await request.app[AUTH].viewer(token) if token else None
    if viewer is None:
        response = message(request, "dashboard.web.signed_out_hint", 401)
        if token:
            response.del_cookie(SESSION_COOKIE, path=PREFIX)
        return response
    request[VIEWER] = viewer
    request[LOCALE] = viewer.locale
    if request.method == "POST":
        form = await request.post()
        given = form.get("csrf")
        if not isinstance(given, str) or not same_secret(given, viewer.csrf):
            log.warning("dashboard: %s %s without a valid CSRF token", request.method, request.path)
            return message(request, "dashboard.web.csrf_failed", 403)
    return await handler(request)


async def signin_form(request: web.Request) -> web.StreamResponse:
    """Show the sign-in button for a link (a GET never uses the link up: chat apps preview)."""
    token = request.match_info["token"]
    refusal = await request.app[AUTH].check_link(token)
    if refusal is not None:
        return message(request, f"dashboard.web.refused_{refusal.value}", STATUS_OF[refusal])
    csrf = secrets.token_urlsafe(24)
    response = render(request, "signin.html", {"token": token, "csrf": csrf})
    response.set_cookie(
        SIGNIN_COOKIE,
        csrf,
        path=f"{PREFIX}/signin",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
        max_age=int(request.app[COHORT].config.web.dashboard_link_ttl.total_seconds()),
    )
    return response


async def signin(request: web.Request) -> web.StreamResponse:
    """Trade a link for a session cookie, and go to the overview."""
    form = await request.post()
    token, given = form.get("token"), form.get("csrf")
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not (isinstance(given, str) and expected and same_secret(given, expected)):
        log.warning("dashboard: sign-in POST without a valid CSRF token")
        return message(request, "dashboard.web.csrf_failed", 403)
    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        return message(request, "dashboard.web.refused_unknown", 404)
    outcome = await request.app[AUTH].sign_in(token)
    if not isinstance(outcome, SignedIn):
        return message(request, f"dashboard.web.refused_{outcome.value}", STATUS_OF[outcome])
    response = see_other(f"{PREFIX}/")
    response.set_cookie(
        SESSION_COOKIE,
        outcome.token,
        path=PREFIX,
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
        max_age=outcome.max_age,
    )
    response.del_cookie(SIGNIN_COOKIE, path=f"{PREFIX}/signin")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (the CSRF check ran in the middleware) and say so."""
    await request.app[AUTH].sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = see_other(f"{PREFIX}/signed-out")
    response.del_cookie(SESSION_COOKIE, path=PREFIX)
    return response


async def signed_out(request: web.Request) -> web.StreamResponse:
    """Say the browser is signed out and how to come back."""
    return message(request, "dashboard.web.signed_out", 200)


async def set_language(request: web.Request) -> web.StreamResponse:
    """Show the dashboard in the language the form names, then go back to the page."""
    form = await request.post()
    locale, back = form.get("locale"), form.get("next")
    if not isinstance(locale, str) or not await request.app[AUTH].set_locale(
        request[VIEWER], locale
    ):
        return message(request, "dashboard.web.bad_language", 400)
    target = back if isinstance(back, str) and _own_path(back) else f"{PREFIX}/"
    return see_other(target)


def _own_path(path: str) -> bool:
    """Say whether ``path`` is a dashboard page of this site (no open redirect)."""
    return path.startswith(f"{PREFIX}/") and not path.startswith("//") and "\\" not in path
