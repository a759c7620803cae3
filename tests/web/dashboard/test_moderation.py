"""The Activity page's moderation chart: stacked actions per day, its cards, table and CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import insert

from bot.cogs.analytics import Moderation, ModerationDay
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.store.tables import moderation_cases
from bot.web.dashboard import _pages as pages
from bot.web.dashboard._format import Formatter
from bot.web.dashboard._model import ChartKind
from tests.web.dashboard.conftest import OLGA, IssueLink
from tests.web.dashboard.test_auth import sign_in
from tests.web.dashboard.test_pages_build import D1, D2, NEW_YORK

Client = TestClient[web.Request, web.Application]
COUNTS = ("warn", "mute", "unmute", "kick", "ban", "unban", "purge", "slowmode", "delete")
ENGLISH_COLUMNS = (
    "Warnings",
    "Mutes",
    "Kicks",
    "Bans",
    "Unmutes",
    "Unbans",
    "Purges",
    "Slowmode",
    "Messages removed by automod",
)
ZERO = dict.fromkeys((*COUNTS, "done", "people", "automod", "automatic", "failed"), 0)


def day(on: date, **counts: int) -> ModerationDay:
    return ModerationDay(on, **{**ZERO, **counts})


@pytest.fixture(params=["en", "zh_CN"])
def fmt(cohort: Cohort, request: pytest.FixtureRequest) -> Formatter:
    return Formatter(cohort.i18n, request.param, NEW_YORK)


def test_moderation_stacks_each_action_per_day(fmt: Formatter) -> None:
    fig = Moderation(
        D1,
        D2,
        (
            day(D1, warn=2, ban=1, done=3, people=1, automod=2, failed=1),
            day(D2, mute=1, delete=4, done=5, automod=4, automatic=1),
        ),
        day(
            D1, warn=2, ban=1, mute=1, delete=4, done=8, people=1, automod=6, automatic=1, failed=1
        ),
    )
    cards, chart = pages.moderation(fig, fmt)
    assert chart.id == "moderation"
    assert chart.kind is ChartKind.STACKED
    assert chart.labels == ("2026-11-01", "2026-11-02")
    values = {s.name: s.values for s in chart.series}
    assert values[fmt.label("col.warn")] == (2.0, 0.0)
    assert values[fmt.label("col.ban")] == (1.0, 0.0)
    assert values[fmt.label("col.mute")] == (0.0, 1.0)
    assert values[fmt.label("col.delete")] == (0.0, 4.0)
    assert len(values) == len(COUNTS)
    shown = {c.label: (c.value, c.note) for c in cards}
    assert shown[fmt.label("card.moderation")] == (
        "8",
        fmt.label("card.moderation_note", people=1, automod=6, automatic=1),
    )
    assert shown[fmt.label("card.moderation_bans")][0] == "2 / 1 / 0 / 1"
    assert shown[fmt.label("card.moderation_failed")][0] == "1"


async def test_the_activity_page_draws_moderation_and_downloads_it_as_csv(
    client: Client, issue_link: IssueLink, cohort: Cohort, clock: ManualClock
) -> None:
    community = cohort.communities["demo"]
    olga = (await cohort.identity.resolve(community.id, OLGA)).member_id
    now = clock.now()
    async with cohort.db.write() as conn:
        for number, (action, state) in enumerate(
            [("warn", "done"), ("warn", "done"), ("ban", "failed"), ("kick", "done")], start=1
        ):
            await conn.execute(
                insert(moderation_cases).values(
                    community_id=community.id,
                    number=number,
                    action=action,
                    source="moderator",
                    member_id=olga,
                    moderator_id=olga,
                    reason="test",
                    created_at=now - timedelta(minutes=number),
                    state=state,
                )
            )
    await sign_in(client, await issue_link(OLGA))
    html = await (await client.get("/dashboard/activity")).text()
    assert '<canvas id="chart-moderation"' in html
    assert "Moderation actions per day" in html
    answer = await client.get("/dashboard/activity/csv/moderation")
    assert answer.status == 200
    rows = list(csv.reader(io.StringIO((await answer.read()).decode("utf-8-sig"))))
    assert rows[0] == ["Day", *ENGLISH_COLUMNS]
    today = now.astimezone(community.tz).date().isoformat()
    assert rows[-1][:5] == [today, "2", "0", "1", "0"]  # warn, mute, kick, ban (refused)
