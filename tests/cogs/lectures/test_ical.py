"""The calendar feed (``_ical``): valid iCalendar with recurrence and exceptions, private feeds."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import icalendar
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.store.tables import lecture_occurrences
from bot.web.app import build_app
from tests.cogs.lectures._helpers import BERLIN, GOLD, SERIES, at, expand, say
from tests.conftest import make_config


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return the test config, selling a gold tier that lectures may be kept for."""
    return make_config(tmp_path, community={"offers": [GOLD]})


class Gold:
    """Entitlements where every member holds the gold tier."""

    async def tiers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        """Return gold."""
        return frozenset({"gold"})


async def test_the_calendar_feed_is_valid_icalendar_with_recurrence_and_exceptions(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(
        console,
        SERIES + " speaker:Ada",
        "/lecture cancel 2",
        '/lecture move 3 "2026-12-09 18:00"',
        '/lecture schedule "Summer; kickoff, part 1" "2027-07-01 10:00" link:https://x.example/k',
        '/lecture schedule Paid "2026-12-02 19:00" tier:gold',
    )
    async with TestClient(TestServer(build_app(cohort))) as client:
        response = await client.get("/calendar/demo.ics")
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
        body = await response.text()
        assert (await client.get("/calendar/nope.ics")).status == 404
        assert (await client.get("/calendar/demo/" + "x" * 32 + ".ics")).status == 404
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    calendar = icalendar.Calendar.from_ical(body)
    (vtimezone,) = calendar.walk("VTIMEZONE")
    tz = vtimezone.to_tz(lookup_tzid=False)  # the feed's own rules, not the system's
    for probe in ("2026-01-15 12:00", "2026-07-15 12:00", "2027-03-28 01:59", "2027-03-28 03:00"):
        moment = at(probe)
        assert moment.astimezone(tz).utcoffset() == moment.astimezone(BERLIN).utcoffset()
    instants = expand(calendar, tz)
    async with cohort.db.read() as conn:
        rows = (
            await conn.execute(
                select(lecture_occurrences.c.lecture_id, lecture_occurrences.c.start_at).where(
                    lecture_occurrences.c.status == "scheduled"
                )
            )
        ).all()
    expected: dict[str, set[datetime]] = {}
    for lecture_id, start in rows:
        expected.setdefault(f"lecture-{lecture_id}@demo.cohort", set()).add(start)
    del expected["lecture-3@demo.cohort"]  # the paid lecture is not in the public feed
    assert instants == expected
    summaries = {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")}
    assert summaries == {"Weekly", "Summer; kickoff, part 1"}
    assert "SUMMARY:Summer\\; kickoff\\, part 1" in body


async def test_a_private_feed_holds_the_paid_lectures_its_member_may_attend(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(console, '/lecture schedule Paid "2026-12-02 19:00" tier:gold link:https://p.example')
    text = await say(console, "/lecture calendar", user="bob")
    private = next(w for w in text.split() if "/calendar/demo/" in w)
    path = private[private.index("/calendar/") :]
    assert "Paid" not in await say(console, "/lectures", user="bob")
    assert "Lecture #1 is for members of Gold." in await say(console, "/press 1", user="bob")
    async with TestClient(TestServer(build_app(cohort))) as client:
        without = await (await client.get(path)).text()
        cohort.entitlements = Gold()
        with_tier = await (await client.get(path)).text()
    assert "SUMMARY:Paid" not in without
    assert "SUMMARY:Paid" in with_tier and "https://p.example" in with_tier
    assert "#1 Paid" in await say(console, "/lectures", user="bob")
