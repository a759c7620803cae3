"""What the lectures tests share: Berlin wall-clock times, the gold tier, typing commands."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar
from dateutil.rrule import rrulestr
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.store.tables import lecture_occurrences
from tests.conftest import output

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GOLD = {"id": "gold", "kind": "tier", "name": "Gold", "price_monthly": "price_gold"}


def at(text: str, tz: ZoneInfo = BERLIN) -> datetime:
    """Return a Berlin wall-clock time as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


def sweeper(cohort: Cohort):  # type: ignore[no-untyped-def]
    """Return the lectures sweep the runtime would run every few seconds."""
    return next(job.run for job in cohort.jobs if job.id == "lectures.due")


async def say(console: ConsoleAdapter, *lines: str, user: str = "olga") -> str:
    """Type lines as ``user`` and return what the console printed."""
    console.user = user
    for line in lines:
        await console.handle_line(line)
    return output(console)


SCHEDULE = '/lecture schedule "Intro to Rust" "2026-11-22 19:30" speaker:Ferris'
SERIES = '/lecture schedule Weekly "2026-11-24 19:30" repeat:"weekly for 4"'


async def checkin_code(cohort: Cohort, occurrence_id: int = 1) -> str:
    async with cohort.db.read() as conn:
        code = await conn.scalar(
            select(lecture_occurrences.c.checkin_code).where(
                lecture_occurrences.c.id == occurrence_id
            )
        )
    assert code is not None
    return str(code)


def expand(calendar: icalendar.Calendar, tz: object) -> dict[str, set[datetime]]:
    """Return each event's instants (UTC) as a calendar program computes them from the feed."""
    found: dict[str, set[datetime]] = {}
    masters = [e for e in calendar.walk("VEVENT") if "RECURRENCE-ID" not in e]
    overrides = [e for e in calendar.walk("VEVENT") if "RECURRENCE-ID" in e]

    def local(prop: object) -> datetime:
        # Read the wall-clock value and place it with the feed's own VTIMEZONE.
        raw = prop.to_ical().decode()  # type: ignore[attr-defined]
        return datetime.strptime(raw, "%Y%m%dT%H%M%S").replace(tzinfo=tz)  # type: ignore[arg-type]

    for event in masters:
        start = local(event["DTSTART"])
        uid = str(event["UID"])
        if "RRULE" not in event:
            found[uid] = {start.astimezone(UTC)}
            continue
        rule = event["RRULE"].to_ical().decode()
        instants = set(rrulestr(rule, dtstart=start.replace(tzinfo=None)))
        exdates = event.get("EXDATE", [])
        for exdate in exdates if isinstance(exdates, list) else [exdates]:
            for item in exdate.to_ical().decode().split(","):
                wall = datetime.strptime(item, "%Y%m%dT%H%M%S")  # noqa: DTZ007 - a wall time
                instants.discard(wall)
        for override in (o for o in overrides if str(o["UID"]) == uid):
            original = local(override["RECURRENCE-ID"]).replace(tzinfo=None)
            instants.discard(original)
            instants.add(local(override["DTSTART"]).replace(tzinfo=None))
        found[uid] = {i.replace(tzinfo=tz).astimezone(UTC) for i in instants}  # type: ignore[arg-type]
    return found
