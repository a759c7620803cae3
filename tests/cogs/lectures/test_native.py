"""Lectures' native Discord events follow their sessions: real discord.py against the stand-in."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.adapters.discord import DiscordAdapter
from bot.cogs.lectures import Changes, LectureService, Scope
from bot.cogs.lectures._native import EventState, retry_after
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.core.ports import ScheduledEvent
from bot.runtime import build
from bot.store.tables import lecture_native_events
from tests.cogs.lectures._helpers import GOLD, SERIES, at
from tests.conftest import make_config, output
from tests.discord_api import DEFAULT_TOKEN, DiscordServer

GUILD = 111111111111111111  # the test config's guild
GENERAL = 222000000000000001
OLGA, BOB = 300000000000000001, 300000000000000002


def iso(moment: datetime) -> str:
    """Return an instant as the stand-in stores it (what discord.py sends)."""
    return moment.astimezone(UTC).isoformat()


@pytest.fixture
async def dc(clock: ManualClock) -> AsyncIterator[DiscordServer]:
    """Start the stand-in on the tests' clock, with one guild, a channel and two people."""
    async with DiscordServer(clock=lambda: clock.now().timestamp()) as server:
        server.add_user(OLGA, "Olga")
        server.add_user(BOB, "Bob")
        server.add_guild(GUILD, "Demo", owner_id=OLGA)
        server.add_channel(GUILD, GENERAL, "general")
        for user_id in (OLGA, BOB):
            server.add_member(GUILD, user_id)
        yield server


@pytest.fixture
async def bot(tmp_path: Path, dc: DiscordServer, clock: ManualClock) -> AsyncIterator[Cohort]:
    """Return a bot with a console and a Discord adapter; lectures announce on Discord."""
    config = make_config(
        tmp_path,
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base, "defer_after": 0.3},
        community={
            "organizers": ["console:olga", f"discord:{OLGA}"],
            "lectures": {"announce_channels": [f"discord:{GENERAL}"]},
            "offers": [GOLD],
        },
    )
    cohort = await build(config, clock=clock)
    console = ConsoleAdapter(
        cohort, cohort.communities["demo"], user="olga", out=io.StringIO(), echo=True
    )
    cohort.platforms[PlatformName.CONSOLE] = console
    adapter = DiscordAdapter(
        cohort, cohort.config.discord, guild_ready_timeout=0.05, retry_delay=0.05
    )
    cohort.platforms[PlatformName.DISCORD] = adapter
    try:
        await adapter.start()
        yield cohort
    finally:
        await adapter.stop()
        await cohort.dispatcher.drain()
        await cohort.db.close()


def console_of(cohort: Cohort) -> ConsoleAdapter:
    """Return the bot's console."""
    console = cohort.platforms[PlatformName.CONSOLE]
    assert isinstance(console, ConsoleAdapter)
    return console


async def say(cohort: Cohort, *lines: str) -> str:
    """Type lines as the organizer Olga on the console and return what it printed."""
    console = console_of(cohort)
    for line in lines:
        await console.handle_line(line)
    return output(console)


def service_of(cohort: Cohort) -> LectureService:
    """Return the lectures service the sweep job runs."""
    job = next(job for job in cohort.jobs if job.id == "lectures.due")
    service = getattr(job.run, "__self__", None)
    assert isinstance(service, LectureService)
    return service


async def rows(cohort: Cohort) -> dict[int, Any]:
    """Return the native event rows by occurrence id."""
    async with cohort.db.read() as conn:
        found = (await conn.execute(select(lecture_native_events))).all()
    return {row.occurrence_id: row for row in found}


def events(dc: DiscordServer) -> dict[str, dict[str, Any]]:
    """Return the guild's scheduled events by id."""
    return {str(k): v for k, v in dc.guilds[GUILD].events.items()}


async def answer(dc: DiscordServer, interaction: int) -> str:
    """Wait for an interaction's answer and return its text, without Markdown's stars."""
    messages = await dc.answered(interaction)
    return "\n".join(m.get("content") or "" for m in messages).replace("**", "")


async def advance_to(cohort: Cohort, clock: ManualClock, moment: datetime) -> None:
    """Move the clock to ``moment`` and run the lectures sweep, as the scheduler would."""
    clock.advance(moment - clock.now())
    await service_of(cohort).sweep()


async def test_slash_commands_create_move_and_cancel_the_discord_event(
    bot: Cohort, dc: DiscordServer
) -> None:
    schedule = dc.run_command(
        GUILD,
        GENERAL,
        OLGA,
        "lecture schedule",
        {"title": "Intro to Rust", "when": "2026-11-22 19:30", "speaker": "Ferris"},
    )
    assert "Scheduled Intro to Rust" in (await answer(dc, schedule))
    row = (await rows(bot))[1]
    assert (row.state, row.attempts, row.next_attempt_at) == ("active", 0, None)
    event = events(dc)[row.event_id]
    assert (event["name"], event["description"]) == ("Intro to Rust", "Ferris")
    assert event["scheduled_start_time"] == iso(at("2026-11-22 19:30"))
    assert event["entity_metadata"] == {"location": "Demo Community"}

    move = dc.run_command(
        GUILD, GENERAL, OLGA, "lecture move", {"id": 1, "when": "2026-11-23 18:00"}
    )
    assert "Moved Intro to Rust" in (await answer(dc, move))
    event = events(dc)[row.event_id]
    assert event["scheduled_start_time"] == iso(at("2026-11-23 18:00"))
    assert event["scheduled_end_time"] == iso(at("2026-11-23 19:00"))
    assert len(dc.called("edit_event")) == 1

    looked = len(dc.called("get_event"))
    edit = dc.run_command(GUILD, GENERAL, OLGA, "lecture edit", {"id": 1, "capacity": 10})
    await answer(dc, edit)
    # Nothing the event shows changed: no call at all.
    assert (len(dc.called("get_event")), len(dc.called("edit_event"))) == (looked, 1)

    cancel = dc.run_command(GUILD, GENERAL, OLGA, "lecture cancel", {"id": 1})
    assert "Cancelled" in (await answer(dc, cancel))
    assert events(dc) == {}
    row = (await rows(bot))[1]
    assert (row.state, row.event_id, row.next_attempt_at) == ("gone", None, None)


async def test_title_speaker_and_duration_edits_reach_the_event(
    bot: Cohort, dc: DiscordServer
) -> None:
    await say(bot, '/lecture schedule Rust "2026-11-22 19:30" link:https://meet.example/r')
    event_id = (await rows(bot))[1].event_id
    assert events(dc)[event_id]["entity_metadata"] == {"location": "https://meet.example/r"}
    await say(bot, "/lecture edit 1 title:Rust2 speaker:Ada duration:90m")
    event = events(dc)[event_id]
    assert (event["name"], event["description"]) == ("Rust2", "Ada")
    assert event["scheduled_start_time"] == iso(at("2026-11-22 19:30"))
    assert event["scheduled_end_time"] == iso(at("2026-11-22 21:00"))
    # A paid lecture's link is never shown in the guild.
    await say(bot, "/lecture edit 1 tier:gold scope:series")
    assert events(dc)[event_id]["entity_metadata"] == {"location": "Demo Community"}


async def test_an_event_a_moderator_deleted_is_gone_not_a_failure(
    bot: Cohort, dc: DiscordServer
) -> None:
    await say(bot, SERIES)
    await say(bot, '/lecture schedule Solo "2026-11-22 19:30"')
    series_event, solo_event = (await rows(bot))[1].event_id, (await rows(bot))[5].event_id
    # Moderators delete both in Discord; the bot is not told (no scheduled-event intent).
    dc.guilds[GUILD].events.clear()
    text = await say(bot, '/lecture move 1 "2026-11-25 19:30"')
    assert "Moved Weekly" in text and "went wrong" not in text
    text = await say(bot, "/lecture cancel 5")
    assert "Cancelled Solo" in text and "went wrong" not in text
    found = await rows(bot)
    for occurrence_id in (1, 5):
        row = found[occurrence_id]
        assert (row.state, row.event_id, row.attempts, row.last_error) == ("gone", None, 0, None)
        assert row.next_attempt_at is None
    assert events(dc) == {}  # and nothing was made again
    assert {p["event_id"] for p in dc.called("get_event")} == {series_event, solo_event}
    assert dc.called("delete_event") == []  # the delete found it gone already
    await say(bot, '/lecture move 1 "2026-11-26 19:30"')
    assert len(dc.called("create_event")) == 2
    assert events(dc) == {}


async def test_series_changes_touch_every_future_event_and_not_past_ones(
    bot: Cohort, dc: DiscordServer, clock: ManualClock
) -> None:
    await say(bot, SERIES)  # #1 to #4, weekly from Tue 2026-11-24 19:30
    # #2 moves past the time #3 is announced, so #2 and #3 both have an event at once.
    await say(bot, '/lecture move 2 "2026-12-03 19:30"')
    await advance_to(bot, clock, at("2026-11-24 20:30"))  # #1 is over; #2 is announced
    await advance_to(bot, clock, at("2026-12-01 20:30"))  # #3 is announced
    found = await rows(bot)
    assert sorted(found) == [1, 2, 3]
    past, second, third = (found[i].event_id for i in (1, 2, 3))
    assert events(dc)[second]["scheduled_start_time"] == iso(at("2026-12-03 19:30"))
    before = dict(events(dc)[past])

    await say(bot, "/lecture edit 2 title:Renamed scope:series")
    assert [events(dc)[e]["name"] for e in (second, third)] == ["Renamed", "Renamed"]
    await say(bot, '/lecture move 2 "2026-12-03 18:00" scope:series')
    assert events(dc)[second]["scheduled_start_time"] == iso(at("2026-12-03 18:00"))
    assert events(dc)[third]["scheduled_start_time"] == iso(at("2026-12-08 18:00"))
    assert {p["event_id"] for p in dc.called("edit_event")} == {second, third}
    await say(bot, "/lecture cancel 2 scope:series")
    assert set(events(dc)) == {past}
    assert events(dc)[past] == before  # the past session's event is untouched
    found = await rows(bot)
    assert [found[i].state for i in (1, 2, 3)] == ["active", "gone", "gone"]
    # #4 had no event yet and gets none: it is cancelled before its announcement.
    await advance_to(bot, clock, at("2026-12-15 21:00"))
    assert 4 not in await rows(bot)


async def test_platform_errors_are_retried_by_the_sweep_and_the_table_stays_true(
    bot: Cohort, dc: DiscordServer, clock: ManualClock
) -> None:
    dc.fail_next("create_event", status=403, code=50013, message="Missing Permissions")
    await say(bot, '/lecture schedule Rust "2026-11-22 19:30"')
    row = (await rows(bot))[1]
    assert (row.state, row.event_id, row.attempts) == ("pending", None, 1)
    assert "50013" in row.last_error and events(dc) == {}
    await advance_to(bot, clock, row.next_attempt_at)  # a moderator granted the permission
    row = (await rows(bot))[1]
    assert (row.state, row.attempts, row.next_attempt_at) == ("active", 0, None)
    assert set(events(dc)) == {row.event_id}

    dc.fail_next("edit_event", status=403, code=50013, message="Missing Permissions")
    text = await say(bot, '/lecture move 1 "2026-11-22 20:00"')
    assert "Moved Rust" in text  # the organizer's move stands; the event follows later
    row = (await rows(bot))[1]
    assert (row.state, row.attempts, row.next_attempt_at) == (
        "active",
        1,
        clock.now() + retry_after(1),
    )
    assert events(dc)[row.event_id]["scheduled_start_time"] == iso(at("2026-11-22 19:30"))
    clock.advance(timedelta(seconds=10))
    await service_of(bot).sweep()  # not yet due again
    assert events(dc)[row.event_id]["scheduled_start_time"] == iso(at("2026-11-22 19:30"))
    await advance_to(bot, clock, row.next_attempt_at)
    assert events(dc)[row.event_id]["scheduled_start_time"] == iso(at("2026-11-22 20:00"))

    dc.fail_next("delete_event", status=403, code=50013, message="Missing Permissions")
    await say(bot, "/lecture cancel 1")
    row = (await rows(bot))[1]
    # The delete failed, so the event exists and the table says so.
    assert (row.state, row.event_id in events(dc), row.attempts) == ("active", True, 1)
    await advance_to(bot, clock, row.next_attempt_at)
    row = (await rows(bot))[1]
    assert (row.state, row.event_id, events(dc)) == ("gone", None, {})


async def test_a_change_while_the_platform_answers_is_applied_after_it(
    bot: Cohort, dc: DiscordServer
) -> None:
    await say(bot, '/lecture schedule Rust "2026-11-22 19:30"')
    event_id = (await rows(bot))[1].event_id
    adapter = bot.platforms[PlatformName.DISCORD]
    assert isinstance(adapter, DiscordAdapter)
    service = service_of(bot)
    community = bot.communities["demo"]
    edit = adapter.edit_scheduled_event
    moved_meanwhile = False

    async def slow_edit(space_id: str, event: str, wanted: ScheduledEvent) -> None:
        """Let a second move land while the first one's edit is on its way (another process)."""
        nonlocal moved_meanwhile
        if not moved_meanwhile:
            moved_meanwhile = True
            await service.move(community, 1, at("2026-11-22 21:00"), Scope.THIS)
        await edit(space_id, event, wanted)

    adapter.edit_scheduled_event = slow_edit  # type: ignore[method-assign]
    await service.move(community, 1, at("2026-11-22 20:00"), Scope.THIS)
    assert events(dc)[event_id]["scheduled_start_time"] == iso(at("2026-11-22 21:00"))
    row = (await rows(bot))[1]
    assert (row.state, row.next_attempt_at) == (EventState.ACTIVE.value, None)


async def test_two_bots_on_one_database_never_both_change_an_event(
    bot: Cohort, dc: DiscordServer, clock: ManualClock
) -> None:
    two = await build(bot.config, clock=clock)
    try:
        # The second bot acts on Discord through the same connection (one adapter per process).
        two.platforms[PlatformName.DISCORD] = bot.platforms[PlatformName.DISCORD]
        await say(bot, '/lecture schedule Rust "2026-11-22 19:30"')
        dc.fail_next("edit_event", status=403, code=50013, message="Missing Permissions")
        await say(bot, '/lecture move 1 "2026-11-22 20:00"')
        row = (await rows(bot))[1]
        assert row.attempts == 1
        clock.advance(row.next_attempt_at - clock.now())
        calls = len(dc.called("get_event")), len(dc.called("edit_event"))
        sweeps = (service_of(b).sweep() for b in (bot, two, bot, two))
        await asyncio.gather(*sweeps)
        # One bot looked the event up and changed it; the others passed the leased row by.
        assert (len(dc.called("get_event")), len(dc.called("edit_event"))) == (
            calls[0] + 1,
            calls[1] + 1,
        )
        assert events(dc)[row.event_id]["scheduled_start_time"] == iso(at("2026-11-22 20:00"))
        row = (await rows(bot))[1]
        assert (row.state, row.attempts, row.next_attempt_at) == ("active", 0, None)
    finally:
        await two.db.close()


async def test_a_change_while_the_event_is_being_made_never_makes_a_second_one(
    bot: Cohort, dc: DiscordServer, clock: ManualClock
) -> None:
    dc.fail_next("create_event", status=403, code=50013, message="Missing Permissions")
    await say(bot, '/lecture schedule Rust "2026-11-22 19:30"')
    row = (await rows(bot))[1]
    assert (row.state, row.event_id) == ("pending", None)
    adapter = bot.platforms[PlatformName.DISCORD]
    assert isinstance(adapter, DiscordAdapter)
    service = service_of(bot)
    create = adapter.create_scheduled_event
    renamed_meanwhile = False

    async def slow_create(space_id: str, wanted: ScheduledEvent) -> str:
        """Let an edit (and its own sync) land while the retried create is on its way."""
        nonlocal renamed_meanwhile
        made = await create(space_id, wanted)
        if not renamed_meanwhile:
            renamed_meanwhile = True
            await service.edit(bot.communities["demo"], 1, Changes(title="Renamed"), Scope.THIS)
        return made

    adapter.create_scheduled_event = slow_create  # type: ignore[method-assign]
    await advance_to(bot, clock, row.next_attempt_at)
    # The edit's sync passed the row by (the sweep held it); the sweep then renamed the event.
    assert [e["name"] for e in events(dc).values()] == ["Renamed"]
    assert len(dc.called("create_event")) == 2  # the refused one, and the one that made it
    row = (await rows(bot))[1]
    assert (row.state, row.next_attempt_at, row.claimed_by) == ("active", None, None)
