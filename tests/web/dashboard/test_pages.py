"""Dashboard pages over HTTP: every page answers, CSV downloads, members' filters, escaping."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.cogs.analytics import Analytics
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.web.dashboard._views import NAVIGATION
from tests.web.dashboard.conftest import HERE, OLGA, IssueLink
from tests.web.dashboard.test_auth import sign_in

Client = TestClient[web.Request, web.Application]
MALLORY = Caller(PlatformName.TELEGRAM, "666", '<script>alert("x")</script>', username="=cmd")


@pytest.fixture
async def signed_in(
    client: Client, issue_link: IssueLink, cohort: Cohort, clock: ManualClock
) -> Client:
    """Post a few messages (one by a hostile name) and sign Olga in."""
    community = cohort.communities["demo"]
    for n, caller in enumerate((OLGA, MALLORY, MALLORY)):
        await cohort.dispatcher.message_posted(
            community, caller, HERE, f"m{n}", "hello", clock.now()
        )
        clock.advance(timedelta(hours=1))
    await cohort.dispatcher.drain()
    await sign_in(client, await issue_link(OLGA))
    return client


@pytest.mark.parametrize("slug", NAVIGATION)
async def test_every_page_answers_with_its_charts_and_tables(signed_in: Client, slug: str) -> None:
    answer = await signed_in.get("/dashboard/" if slug == "overview" else f"/dashboard/{slug}")
    assert answer.status == 200
    html = await answer.text()
    assert 'aria-current="page"' in html
    assert "<table" in html  # every chart has its table fallback; the members list is one
    if slug != "members":
        assert "data-chart=" in html
    assert "<script>alert" not in html  # names are escaped


async def test_a_chart_downloads_as_csv(signed_in: Client) -> None:
    answer = await signed_in.get("/dashboard/activity/csv/top-contributors?from=2026-11-01")
    assert answer.status == 200
    assert answer.content_type == "text/csv"
    assert (
        'filename="activity-top-contributors-2026-11-01-' in answer.headers["Content-Disposition"]
    )
    body = (await answer.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["Member", "Messages", "Reactions"]
    assert sorted(r[1] for r in rows[1:]) == ["1", "2"]


async def test_the_members_csv_keeps_a_name_from_becoming_a_formula(signed_in: Client) -> None:
    html = await (await signed_in.get("/dashboard/members?q=script&sort=name")).text()
    found = re.search(r'href="(/dashboard/members/csv/members\?[^"]+)"', html)
    assert found and "q=script" in found.group(1) and "sort=name" in found.group(1)
    answer = await signed_in.get(found.group(1).replace("&amp;", "&"))
    rows = list(csv.reader(io.StringIO((await answer.read()).decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ['<script>alert("x")</script>']


@pytest.mark.parametrize(
    "path", ["/dashboard/activity/csv/nothing", "/dashboard/nothing/csv/x", "/dashboard/nothing"]
)
async def test_unknown_pages_and_downloads_are_not_found(signed_in: Client, path: str) -> None:
    assert (await signed_in.get(path)).status == 404


async def test_members_search_sort_and_segment(signed_in: Client) -> None:
    html = await (await signed_in.get("/dashboard/members?q=olga&sort=name&segment=all")).text()
    assert ">Olga</a>" in html and "alert" not in html
    everyone = await (await signed_in.get("/dashboard/members?sort=messages")).text()
    assert everyone.index("alert") < everyone.index(">Olga</a>")  # two messages before one


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sort=loudest", "Unknown order"),
        ("segment=vip", "Unknown segment"),
        ("q=" + "x" * 101, "at most 100"),
        ("from=2026-02-30", "YYYY-MM-DD"),
        ("from=2026-11-09&to=2026-11-08", "ends before it starts"),
        ("page=-1", "Page 1 of 1"),
    ],
)
async def test_bad_filters_are_named_and_fall_back(
    signed_in: Client, query: str, message: str
) -> None:
    answer = await signed_in.get(f"/dashboard/members?{query}")
    assert answer.status == 200
    assert message in await answer.text()


async def test_a_members_page_links_to_their_own_page(signed_in: Client) -> None:
    html = await (await signed_in.get("/dashboard/members?q=olga")).text()
    found = re.search(r'href="(/dashboard/members/[0-9]+\?[^"]+)"', html)
    assert found
    member = await signed_in.get(found.group(1).replace("&amp;", "&"))
    assert member.status == 200
    page = await member.text()
    assert "<h1>Olga</h1>" in page
    for table in ("accounts", "purchases", "attendance", "questions"):
        assert f'id="table-{table}"' in page


async def test_an_unknown_member_is_not_found(signed_in: Client) -> None:
    assert (await signed_in.get("/dashboard/members/999999")).status == 404


async def test_pages_follow_the_organizers_language(signed_in: Client, cohort: Cohort) -> None:
    olga = await cohort.identity.resolve(cohort.communities["demo"].id, OLGA)
    await cohort.identity.set_locale(olga.member_id, "zh_CN")
    html = await (await signed_in.get("/dashboard/growth")).text()
    assert '<html lang="zh-CN">' in html and "增长" in html


async def test_the_engagement_page_asks_its_scores_and_the_reach_at_once(
    signed_in: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two independent reads, each on its own pooled connection: asked one after the other,
    # the page cost their sum (about 95 + 47 ms at 100,000 members).
    asking: set[str] = set()
    together: list[set[str]] = []

    def watched(name: str) -> Any:
        original = getattr(Analytics, name)

        async def call(self: Analytics, *args: Any) -> Any:
            asking.add(name)
            await asyncio.sleep(0)  # let whatever is asked beside it start
            together.append(set(asking))
            try:
                return await original(self, *args)
            finally:
                asking.discard(name)

        return call

    for name in ("engagement", "recommender"):
        monkeypatch.setattr(Analytics, name, watched(name))
    answer = await signed_in.get("/dashboard/engagement")
    assert answer.status == 200
    assert {"engagement", "recommender"} in together
