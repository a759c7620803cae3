"""Changing lectures (``_service``): a session or a whole series cancelled, moved, edited."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.cogs.lectures._rules import Kind
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.store.tables import lecture_occurrences
from tests.cogs.lectures._helpers import BERLIN, SCHEDULE, SERIES, at, say, sweeper


async def test_a_series_with_one_cancelled_and_one_moved_session(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    sweep = sweeper(cohort)
    text = await say(console, SERIES)
    assert "4 sessions, #1 to #4" in text
    await say(console, "/lectures", "/press 1", user="bob")  # bob goes to #1
    # Only the first session is announced; each next one when the one before ends.
    assert text.count("== 📅 Weekly ==") == 1
    await say(console, "/lectures", user="bob")
    text = await say(console, "/lecture cancel 2")
    assert "Cancelled Weekly (1 session)" in text
    text = await say(console, '/lecture move 3 "2026-12-09 18:00"')
    assert "Moved Weekly to Wed 2026-12-09 18:00" in text
    sent: list[tuple[datetime, Kind]] = []
    while True:  # jump from one due time to the next, as the sweep would find them
        async with cohort.db.read() as conn:
            due = await conn.scalar(select(func.min(lecture_occurrences.c.next_due_at)))
        if due is None:
            break
        clock.advance(due - clock.now())
        for kind, late in (await sweep()).sent:
            assert late == timedelta(0)
            sent.append((clock.now(), kind))
    starts = [moment for moment, kind in sent if kind is Kind.START]
    assert starts == [at("2026-11-24 19:30"), at("2026-12-09 18:00"), at("2026-12-15 19:30")]
    announcements = [moment for moment, kind in sent if kind is Kind.ANNOUNCE]
    # Each next session is announced when the one before it was planned to end (#2's slot
    # even though it is cancelled, #3's original slot though it moved).
    assert announcements == [at("2026-12-01 20:30"), at("2026-12-08 20:30")]
    reminders = [moment for moment, kind in sent if kind is Kind.REMINDER]
    assert at("2026-12-01 18:30") not in reminders  # the cancelled session is silent
    # The moved session is reminded for its new time (24h, 1h, 10m before), not its old one.
    assert {at("2026-12-08 18:00"), at("2026-12-09 17:00"), at("2026-12-09 17:50")} <= set(
        reminders
    )
    assert at("2026-12-07 19:30") not in reminders and at("2026-12-08 18:30") not in reminders


async def test_moving_the_rest_of_a_series_keeps_the_wall_clock_and_tells_rsvps(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(console, SERIES)
    await say(console, "/press 1", user="bob")
    text = await say(console, '/lecture move 1 "2026-11-24 18:00" scope:series')
    assert "(4 sessions)" in text
    assert "[#dm-bob] cohort:" in text and "moved from Tue 2026-11-24 19:30" in text
    async with cohort.db.read() as conn:
        starts = (
            (await conn.execute(select(lecture_occurrences.c.start_at).order_by("id")))
            .scalars()
            .all()
        )
    assert [s.astimezone(BERLIN).strftime("%m-%d %H:%M") for s in starts] == [
        "11-24 18:00",
        "12-01 18:00",
        "12-08 18:00",
        "12-15 18:00",
    ]
    text = await say(console, "/lecture edit 2 title:Renamed speaker:Ada scope:series")
    assert "Updated Renamed (3 sessions)" in text
    text = await say(console, "/lecture cancel 3 scope:series")
    assert "(2 sessions)" in text
    listed = await say(console, "/lectures", user="bob")
    assert "#1 Weekly" in listed and "#2 Renamed" in listed and "#3" not in listed


@pytest.mark.slow
async def test_a_cancelled_lecture_tells_those_who_answered_and_edits_its_post(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await say(console, SCHEDULE)
    await say(console, "/press 2", user="bob")
    text = await say(console, "/lecture cancel 1")
    assert "(message 1 edited)" in text and "Cancelled" in text
    assert "[#dm-bob] cohort:" in text and "is cancelled" in text
    clock.advance(at("2026-11-22 19:30") - clock.now())
    assert (await sweeper(cohort)()).sent == []
    assert "already cancelled" in await say(console, "/lecture cancel 1")
