"""The dashboard in a real browser: Debian's chromium, driven by Playwright.

Signs in through a link from /dashboard, opens every page over weeks of history typed through
the console, checks that each chart was drawn (canvas present, pixels painted), that no script
failed and no request failed, switches to Chinese, and saves a screenshot of each page to
``tests/artifacts/dashboard/``. Without the browser the test skips, except under CI=true,
where it fails: CI installs it (``make browser``).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot import demo
from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock, SystemClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.demo._history import HISTORY_IDS, play_history
from bot.runtime import build
from bot.web.app import build_app
from bot.web.dashboard._views import NAVIGATION
from tests.web.dashboard.conftest import BOB, OLGA, IssueLink, run

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "dashboard"
WAIT_MS = 60_000  # a loaded machine: generous, and never an assertion on time


def _browser_or_skip() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is missing (make browser)")


@dataclass
class Watch:
    """What went wrong in the browser: console errors, page errors, failed requests."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on(
            "requestfailed",
            lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"),
        )
        page.on(
            "response",
            lambda r: (
                self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
            ),
        )


@pytest.fixture
async def history(cohort: Cohort, clock: ManualClock) -> ConsoleAdapter:
    """Type four weeks of chat into the demo community; return the console."""
    console = ConsoleAdapter(
        cohort, cohort.communities["demo"], user="olga", out=io.StringIO(), first_id=HISTORY_IDS
    )
    cohort.platforms[PlatformName.CONSOLE] = console
    await play_history(console, clock, 28, organizer="olga")
    return console


@pytest.fixture
async def site(cohort: Cohort, history: ConsoleAdapter) -> AsyncIterator[str]:
    """Serve the web app on a loopback port; return its base URL."""
    server = TestServer(build_app(cohort), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Launch Debian's chromium headless through Playwright."""
    _browser_or_skip()
    from playwright.async_api import async_playwright  # noqa: PLC0415 - the test's own import

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


DRAWN = """() => Array.from(document.querySelectorAll('canvas')).map(c => {
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) { painted++; } }
  return {id: c.id, drawn: c.dataset.drawn === '1', painted: painted, width: c.width};
})"""


async def _open(page: Any, url: str) -> list[dict[str, Any]]:
    answer = await page.goto(url, wait_until="load", timeout=WAIT_MS)
    assert answer is not None and answer.status == 200, url
    await page.wait_for_function(
        "() => Array.from(document.querySelectorAll('canvas')).every(c => c.dataset.drawn)",
        timeout=WAIT_MS,
    )
    canvases: list[dict[str, Any]] = await page.evaluate(DRAWN)
    return canvases


@pytest.mark.slow
async def test_an_organizer_signs_in_and_sees_every_page_drawn(
    browser: Any, site: str, cohort: Cohort, issue_link: IssueLink
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    link = site + await issue_link(OLGA)

    await page.goto(link, wait_until="load", timeout=WAIT_MS)
    await page.click("#signin", timeout=WAIT_MS)
    await page.wait_for_url(site + "/dashboard/", timeout=WAIT_MS)

    for locale in ("en", "zh_CN"):
        if locale == "zh_CN":  # the language form, as a person would
            await page.click("#lang-zh_CN", timeout=WAIT_MS)
            await page.wait_for_load_state("load", timeout=WAIT_MS)
            assert await page.get_attribute("html", "lang") == "zh-CN"
            assert "概览" in await page.inner_text("nav")
        for slug in NAVIGATION:
            path = "/dashboard/" if slug == "overview" else f"/dashboard/{slug}"
            canvases = await _open(page, site + path)
            if slug != "members":
                assert canvases, slug  # every figure page has charts
            for canvas in canvases:
                assert canvas["drawn"] and canvas["painted"] > 0, (slug, canvas)
            await page.screenshot(path=str(ARTIFACTS / f"{locale}-{slug}.png"), full_page=True)
        first = await page.query_selector("#table-members a")
        assert first is not None  # the members list links to a member's page
        await page.goto(site + "/dashboard/members", wait_until="load", timeout=WAIT_MS)
        await page.click("#table-members a", timeout=WAIT_MS)
        await page.wait_for_load_state("load", timeout=WAIT_MS)
        for canvas in await _open(page, page.url):
            assert canvas["drawn"] and canvas["painted"] > 0, ("member", canvas)
        await page.screenshot(path=str(ARTIFACTS / f"{locale}-member.png"), full_page=True)

    assert watch.problems == []
    again = await page.goto(link, wait_until="load", timeout=WAIT_MS)  # the link is used up
    assert again is not None and again.status == 410
    await context.close()


async def test_a_member_and_a_stale_link_are_turned_away(
    browser: Any, site: str, cohort: Cohort, issue_link: IssueLink, clock: ManualClock
) -> None:
    (reply,) = await run(cohort, BOB, "/dashboard")  # not an organizer: no link at all
    assert "/dashboard/signin/" not in reply.text
    context = await browser.new_context()
    page = await context.new_page()
    closed = await page.goto(site + "/dashboard/", wait_until="load", timeout=WAIT_MS)
    assert closed is not None and closed.status == 401
    link = site + await issue_link(OLGA)
    clock.advance(timedelta(minutes=11))
    stale = await page.goto(link, wait_until="load", timeout=WAIT_MS)
    assert stale is not None and stale.status == 410
    assert "expired" in await page.inner_text("body")
    await context.close()


@pytest.mark.slow
@pytest.mark.backend_free  # the demo's own SQLite file, on either run
async def test_the_demo_dashboard_has_charts_on_every_page(browser: Any, tmp_path: Path) -> None:
    """Sign in to ``cohort demo``'s community; its screenshots are the README's (docs/)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    config = await demo.prepare(tmp_path / "demo")
    cohort = await build(config, clock=SystemClock())
    console = ConsoleAdapter(cohort, cohort.communities["demo"], user="alice", out=io.StringIO())
    cohort.platforms[PlatformName.CONSOLE] = console
    server = TestServer(build_app(cohort), host="127.0.0.1")
    await server.start_server()
    try:
        site = str(server.make_url("")).rstrip("/")
        await console.handle_line("/dashboard")
        found = re.search(r"(/dashboard/signin/[A-Za-z0-9_-]+)", console.out.getvalue())
        assert found
        context = await browser.new_context(viewport={"width": 1200, "height": 800})
        page = await context.new_page()
        watch = Watch()
        watch.attach(page)
        await page.goto(site + found.group(1), wait_until="load", timeout=WAIT_MS)
        await page.click("#signin", timeout=WAIT_MS)
        await page.wait_for_url(site + "/dashboard/", timeout=WAIT_MS)
        for slug in NAVIGATION:
            path = "/dashboard/" if slug == "overview" else f"/dashboard/{slug}"
            for canvas in await _open(page, site + path):
                assert canvas["drawn"] and canvas["painted"] > 0, (slug, canvas)
            await page.screenshot(path=str(ARTIFACTS / f"demo-{slug}.png"), full_page=True)
        await page.click("#lang-zh_CN", timeout=WAIT_MS)
        await page.wait_for_load_state("load", timeout=WAIT_MS)
        await _open(page, site + "/dashboard/activity")
        await page.screenshot(path=str(ARTIFACTS / "demo-activity.zh_CN.png"), full_page=True)
        assert watch.problems == []
        await context.close()
    finally:
        await server.close()
        await cohort.db.close()
