"""Signing in to the dashboard: one-time links, the session cookie, CSRF, who gets in."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.cogs import dashboard
from bot.cogs.dashboard._rules import hash_token
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import dashboard_links, dashboard_sessions
from tests.conftest import START, make_config
from tests.web.dashboard.conftest import ALICE, BOB, OLGA, IssueLink, run

Client = TestClient[web.Request, web.Application]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')
LINK_PATH = re.compile(r"/dashboard/signin/[A-Za-z0-9_-]+")


async def open_link(client: Client, path: str) -> tuple[str, str]:
    """Open a sign-in link's page; return its token and CSRF fields."""
    page = await client.get(path)
    assert page.status == 200, await page.text()
    html = await page.text()
    token, csrf = TOKEN.search(html), CSRF.search(html)
    assert token and csrf
    return token.group(1), csrf.group(1)


async def sign_in(client: Client, path: str) -> web.StreamResponse:
    """Open the link and press the sign-in button; return the answer (not followed)."""
    token, csrf = await open_link(client, path)
    return await client.post(
        "/dashboard/signin", data={"token": token, "csrf": csrf}, allow_redirects=False
    )


async def page_csrf(client: Client, path: str = "/dashboard/growth") -> str:
    """Return the CSRF token of the forms on a signed-in page."""
    page = await client.get(path)
    assert page.status == 200, await page.text()
    found = CSRF.search(await page.text())
    assert found
    return found.group(1)


async def test_the_link_is_private_and_only_its_hash_is_stored(
    cohort: Cohort, issue_link: IssueLink
) -> None:
    (reply,) = await run(cohort, OLGA, "/dashboard")
    assert reply.ephemeral
    assert "http://127.0.0.1:8080/dashboard/signin/" in reply.text
    assert reply.buttons == ()  # no public_url: chat apps refuse buttons to a bare address
    token = reply.text.split("/dashboard/signin/")[1].split()[0]
    async with cohort.db.read() as conn:
        stored = (await conn.execute(select(dashboard_links.c.token_hash))).scalars().all()
    assert stored == [hash_token(token)]
    assert token not in str(stored)


async def test_a_member_cannot_ask_for_a_link(cohort: Cohort, console: object) -> None:
    (reply,) = await run(cohort, BOB, "/dashboard")
    assert "/dashboard/signin/" not in reply.text
    async with cohort.db.read() as conn:
        assert (await conn.execute(select(dashboard_links))).first() is None


async def test_opening_the_link_does_not_use_it_up(client: Client, issue_link: IssueLink) -> None:
    path = await issue_link(OLGA)
    await open_link(client, path)  # a chat app's link preview
    await open_link(client, path)  # the person
    answer = await sign_in(client, path)
    assert answer.status == 303
    assert answer.headers["Location"] == "/dashboard/"


async def test_the_session_cookie_is_httponly_strict_and_scoped(
    client: Client, issue_link: IssueLink, cohort: Cohort
) -> None:
    answer = await sign_in(client, await issue_link(OLGA))
    session = _cookies(answer)["cohort_dashboard"]
    assert session["httponly"] is True
    assert session["samesite"] == "Strict"
    assert session["path"] == "/dashboard"
    assert session["secure"] == ""  # http://127.0.0.1: a Secure cookie would never come back
    assert int(session["max-age"]) == 12 * 3600
    async with cohort.db.read() as conn:
        stored = (await conn.execute(select(dashboard_sessions.c.token_hash))).scalars().all()
    assert stored == [hash_token(session.value)]


async def test_the_cookies_are_secure_behind_https(client: Client, cohort: Cohort) -> None:
    object.__setattr__(cohort.config.web, "public_url", "https://cohort.example.org")
    (reply,) = await run(cohort, OLGA, "/dashboard")
    assert "https://cohort.example.org/dashboard/signin/" in reply.text
    assert reply.buttons and reply.buttons[0].url is not None
    assert reply.buttons[0].url in reply.text
    path = LINK_PATH.search(reply.text)
    assert path
    form = await client.get(path.group(0))
    signin_cookie = _cookies(form)["cohort_dashboard_signin"]
    assert signin_cookie["secure"] is True and signin_cookie["samesite"] == "Strict"
    html = await form.text()
    token, csrf = TOKEN.search(html), CSRF.search(html)
    assert token and csrf
    answer = await client.post(
        "/dashboard/signin",
        data={"token": token.group(1), "csrf": csrf.group(1)},
        cookies={"cohort_dashboard_signin": signin_cookie.value},  # the browser, over https
        allow_redirects=False,
    )
    assert answer.status == 303
    session = _cookies(answer)["cohort_dashboard"]
    assert session["secure"] is True and session["httponly"] is True


def _cookies(answer: web.StreamResponse) -> SimpleCookie:
    cookies = SimpleCookie()
    for header in answer.headers.getall("Set-Cookie"):
        cookies.load(header)
    return cookies


async def test_a_used_link_is_refused(client: Client, issue_link: IssueLink) -> None:
    path = await issue_link(OLGA)
    token, csrf = await open_link(client, path)
    first = await client.post("/dashboard/signin", data={"token": token, "csrf": csrf})
    assert first.status == 200
    again = await client.get(path)
    assert again.status == 410
    assert "already used" in await again.text()
    replay = await client.post(  # the same form sent again, its sign-in cookie with it
        "/dashboard/signin",
        data={"token": token, "csrf": csrf},
        cookies={"cohort_dashboard_signin": csrf},
        allow_redirects=False,
    )
    assert replay.status == 410


async def test_an_expired_link_is_refused(
    client: Client, issue_link: IssueLink, clock: ManualClock
) -> None:
    path = await issue_link(OLGA)
    token, csrf = await open_link(client, path)
    clock.advance(timedelta(minutes=10))  # exactly the TTL: expired
    answer = await client.post("/dashboard/signin", data={"token": token, "csrf": csrf})
    assert answer.status == 410
    assert "expired" in await answer.text()


async def test_an_unknown_link_is_refused(client: Client) -> None:
    answer = await client.get("/dashboard/signin/" + "A" * 43)
    assert answer.status == 404
    assert "not valid" in await answer.text()


async def test_a_new_link_voids_the_earlier_one(client: Client, issue_link: IssueLink) -> None:
    first = await issue_link(OLGA)
    await issue_link(OLGA)
    assert (await client.get(first)).status == 404


async def test_someone_no_longer_an_organizer_is_refused(
    client: Client, issue_link: IssueLink, cohort: Cohort
) -> None:
    path = await issue_link(OLGA)
    community = cohort.communities["demo"].config
    object.__setattr__(community, "organizers", ())
    answer = await sign_in(client, path)
    assert answer.status == 403
    assert "Only the organizers" in await answer.text()


async def test_a_session_ends_when_the_organizer_is_demoted(
    client: Client, issue_link: IssueLink, cohort: Cohort
) -> None:
    await sign_in(client, await issue_link(OLGA))
    assert (await client.get("/dashboard/growth")).status == 200
    object.__setattr__(cohort.communities["demo"].config, "organizers", ())
    assert (await client.get("/dashboard/growth")).status == 401


async def test_an_admin_gets_in(client: Client, issue_link: IssueLink) -> None:
    await sign_in(client, await issue_link(ALICE))
    assert (await client.get("/dashboard/growth")).status == 200


async def test_the_example_configs_dashboard_is_served(client: Client) -> None:
    moved = await client.get("/dashboard", allow_redirects=False)
    assert moved.status == 308 and moved.headers["Location"] == "/dashboard/"
    assert (await client.get("/dashboard/")).status == 401  # there, behind a sign-in


async def test_pages_need_a_session(client: Client) -> None:
    answer = await client.get("/dashboard/growth")
    assert answer.status == 401
    assert "/dashboard" in await answer.text()


async def test_the_session_expires(
    client: Client, issue_link: IssueLink, clock: ManualClock
) -> None:
    await sign_in(client, await issue_link(OLGA))
    clock.advance(timedelta(hours=12))
    assert (await client.get("/dashboard/growth")).status == 401


async def test_sign_in_needs_the_forms_csrf_token(client: Client, issue_link: IssueLink) -> None:
    path = await issue_link(OLGA)
    token, _csrf = await open_link(client, path)
    forged = await client.post("/dashboard/signin", data={"token": token, "csrf": "x" * 32})
    assert forged.status == 403
    client.session.cookie_jar.clear()  # another site's form: no sign-in cookie
    no_cookie = await client.post("/dashboard/signin", data={"token": token, "csrf": "x"})
    assert no_cookie.status == 403
    assert (await client.get(path)).status == 200  # the link is still good


async def test_logout_needs_csrf_and_ends_the_session(
    client: Client, issue_link: IssueLink, cohort: Cohort
) -> None:
    await sign_in(client, await issue_link(OLGA))
    csrf = await page_csrf(client)
    forged = await client.post("/dashboard/logout", data={"csrf": "forged"})
    assert forged.status == 403
    assert (await client.get("/dashboard/growth")).status == 200
    answer = await client.post("/dashboard/logout", data={"csrf": csrf}, allow_redirects=False)
    assert answer.status == 303 and answer.headers["Location"] == "/dashboard/signed-out"
    async with cohort.db.read() as conn:
        assert (await conn.execute(select(dashboard_sessions))).first() is None
    assert (await client.get("/dashboard/growth")).status == 401


async def test_the_language_form_switches_to_chinese(client: Client, issue_link: IssueLink) -> None:
    await sign_in(client, await issue_link(OLGA))
    csrf = await page_csrf(client)
    answer = await client.post(
        "/dashboard/lang",
        data={"csrf": csrf, "locale": "zh_CN", "next": "/dashboard/growth?from=2026-11-01"},
        allow_redirects=False,
    )
    assert answer.headers["Location"] == "/dashboard/growth?from=2026-11-01"
    page = await client.get("/dashboard/growth")
    assert "增长" in await page.text()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/other"])
async def test_the_language_form_goes_back_only_to_the_dashboard(
    client: Client, issue_link: IssueLink, target: str
) -> None:
    await sign_in(client, await issue_link(OLGA))
    csrf = await page_csrf(client)
    answer = await client.post(
        "/dashboard/lang",
        data={"csrf": csrf, "locale": "en", "next": target},
        allow_redirects=False,
    )
    assert answer.headers["Location"] == "/dashboard/"


async def test_every_answer_carries_the_security_headers(
    client: Client, issue_link: IssueLink
) -> None:
    path = await issue_link(OLGA)
    for answer in (await client.get(path), await client.get("/dashboard/growth")):
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Frame-Options"] == "DENY"


async def test_expired_links_and_sessions_are_purged(
    cohort: Cohort, client: Client, issue_link: IssueLink, clock: ManualClock
) -> None:
    await sign_in(client, await issue_link(OLGA))
    await issue_link(OLGA)
    clock.advance(timedelta(hours=13))
    assert await dashboard.auth(cohort).purge() == 3  # the used link, the fresh one, the session


async def test_pages_follow_the_language_of_the_organizers_platform(
    client: Client, cohort: Cohort
) -> None:
    tina = Caller(PlatformName.TELEGRAM, "500", "Tina", username="tina", locale="zh-hans")
    (reply,) = await run(cohort, tina, "/dashboard")
    assert "仪表盘" in reply.title  # the link itself is in her language
    path = reply.text.split("http://127.0.0.1:8080")[1].split()[0]
    await sign_in(client, path)
    html = await (await client.get("/dashboard/growth")).text()
    assert '<html lang="zh-CN">' in html


@pytest.mark.parametrize("token", ["", "short", "A" * 44, "\u00e9" * 43, "A" * 42 + "\x00"])
async def test_a_malformed_token_in_the_form_is_refused(
    client: Client, issue_link: IssueLink, token: str
) -> None:
    _token, csrf = await open_link(client, await issue_link(OLGA))
    answer = await client.post("/dashboard/signin", data={"token": token, "csrf": csrf})
    assert answer.status == 404
    assert "not valid" in await answer.text()


async def test_without_the_web_app_there_is_no_link(tmp_path: Path) -> None:
    bot = await build(make_config(tmp_path, web={"enabled": False}), clock=ManualClock(START))
    try:
        bot.platforms[PlatformName.CONSOLE] = ConsoleAdapter(
            bot, bot.communities["demo"], user="olga", out=io.StringIO()
        )
        (reply,) = await run(bot, OLGA, "/dashboard")
        assert "web app is not running" in reply.text
        async with bot.db.read() as conn:
            assert (await conn.execute(select(dashboard_links))).first() is None
    finally:
        await bot.db.close()
