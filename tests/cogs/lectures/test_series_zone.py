"""A series keeps the wall clock of the zone named when it was scheduled, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.store.tables import lecture_occurrences, lectures
from bot.web.app import build_app
from tests.cogs.lectures._helpers import BERLIN, expand, say

NEW_YORK = ZoneInfo("America/New_York")
# Before the US change (2027-03-14), between it and the EU change (2027-03-28), after both.
SESSIONS = ["2027-03-06", "2027-03-13", "2027-03-20", "2027-03-27", "2027-04-03", "2027-04-10"]


async def starts(cohort: Cohort) -> list[datetime]:
    """Return the occurrences' starts, in order."""
    async with cohort.db.read() as conn:
        query = select(lecture_occurrences.c.start_at).order_by(lecture_occurrences.c.id)
        return list((await conn.execute(query)).scalars().all())


@pytest.mark.parametrize(
    ("when", "zone"),
    [
        ("2027-03-06 09:00 America/New_York", NEW_YORK),
        ("2027-03-06T09:00 America/New_York", NEW_YORK),
        # No zone written: the organizer's (here the community's, Berlin).
        ("2027-03-06 09:00", BERLIN),
    ],
)
async def test_a_series_recurs_on_the_wall_clock_of_the_zone_it_names(
    cohort: Cohort, console: ConsoleAdapter, when: str, zone: ZoneInfo
) -> None:
    text = await say(console, f'/lecture schedule "Office hours" "{when}" repeat:"weekly for 6"')
    assert "Scheduled Office hours" in text
    walls = [s.astimezone(zone) for s in await starts(cohort)]
    assert [f"{w:%Y-%m-%d %H:%M}" for w in walls] == [f"{day} 09:00" for day in SESSIONS]
    async with cohort.db.read() as conn:
        assert await conn.scalar(select(lectures.c.timezone)) == zone.key


async def test_the_calendar_feed_gives_the_series_in_its_own_zone(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(
        console,
        '/lecture schedule "Office hours" "2027-03-06 09:00 America/New_York" repeat:"weekly x6"',
        '/lecture schedule Berlin "2027-03-06 09:00" repeat:"weekly for 6"',
    )
    async with TestClient(TestServer(build_app(cohort))) as client:
        body = await (await client.get("/calendar/demo.ics")).text()
    calendar = icalendar.Calendar.from_ical(body)
    zones = {str(v["TZID"]): v.to_tz(lookup_tzid=False) for v in calendar.walk("VTIMEZONE")}
    assert set(zones) == {"America/New_York", "Europe/Berlin"}
    assert "DTSTART;TZID=America/New_York:20270306T090000" in body
    (new_york,) = [e for e in calendar.walk("VEVENT") if str(e["SUMMARY"]) == "Office hours"]
    instants = expand(calendar, zones["America/New_York"])[str(new_york["UID"])]
    expected = {datetime.fromisoformat(f"{d} 09:00").replace(tzinfo=NEW_YORK) for d in SESSIONS}
    assert instants == {e.astimezone(UTC) for e in expected}
    assert set(await starts(cohort)) >= instants
