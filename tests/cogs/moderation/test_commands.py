"""The moderators' commands on the console: cases, hierarchy, DMs, the mod log, expiry."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.cogs.moderation import Expiries
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import moderation_cases
from tests.conftest import START, make_config, output

MODERATION = {
    "log_channels": ["console:mod-log"],
    "escalation": [
        {"warnings": 2, "action": "mute", "duration": "1h"},
        {"warnings": 3, "action": "kick"},
    ],
}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return a config with Mia a moderator, a mod-log channel and a short escalation."""
    return make_config(
        tmp_path, community={"moderators": ["console:mia"], "moderation": MODERATION}
    )


@pytest.fixture
async def seen(cohort: Cohort, console: ConsoleAdapter) -> ConsoleAdapter:
    """Return the console once Bob, Carol, Mia and Olga have each run a command."""
    for user in ("bob", "carol", "mia", "olga"):
        await run(console, user, "/whoami")
    return console


async def run(console: ConsoleAdapter, user: str, *lines: str) -> str:
    """Type ``lines`` into the console as ``user`` and return what it printed."""
    console.user = user
    output(console)
    for line in lines:
        await console.handle_line(line)
    return output(console)


async def cases(cohort: Cohort) -> list[tuple[int, str, str, str]]:
    """Return every case as (number, action, source, state)."""
    c = moderation_cases.c
    async with cohort.db.read() as conn:
        rows = (
            await conn.execute(select(c.number, c.action, c.source, c.state).order_by(c.number))
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_a_warning_is_a_case_dm_and_mod_log_line(
    cohort: Cohort, seen: ConsoleAdapter
) -> None:
    said = await run(seen, "mia", "/warn @bob stop spamming links")
    assert "#1 ⚠️ Bob warned by Mia: stop spamming links" in said
    assert "You were warned in Demo Community: stop spamming links" in said  # the DM
    assert "Appeal" not in said  # no appeal channel, no appeal button
    assert "[mod-log]" in said or "mod-log" in said
    assert await cases(cohort) == [(1, "warn", "moderator", "done")]


@pytest.mark.parametrize(
    ("actor", "target", "refused"),
    [
        ("bob", "carol", "Only moderators may run /warn."),
        ("mia", "mia", "You cannot moderate yourself."),
        ("mia", "olga", "Olga is staff of your rank or higher"),
        ("olga", "alice", "Alice is staff of your rank or higher"),
        ("olga", "mia", None),
        ("alice", "olga", None),
    ],
)
async def test_nobody_acts_on_an_equal_or_higher_role(
    cohort: Cohort, seen: ConsoleAdapter, actor: str, target: str, refused: str | None
) -> None:
    await run(seen, "alice", "/whoami")
    said = await run(seen, actor, f"/warn @{target} rude")
    if refused is None:
        assert "warned by" in said
        assert len(await cases(cohort)) == 1
    else:
        assert refused in said.replace("**", "")
        assert await cases(cohort) == []


async def test_mute_is_lifted_on_schedule_once_across_a_restart(
    tmp_path: Path, config: Config, clock: ManualClock
) -> None:
    first = await build(config, clock=clock)
    console = ConsoleAdapter(first, first.communities["demo"], user="mia", out=io.StringIO())
    first.platforms[PlatformName.CONSOLE] = console
    for user in ("bob", "mia"):
        await run(console, user, "/whoami")
    said = await run(console, "mia", "/mute @bob 2h flooding")
    assert "#1 🔇 Bob muted for 2 hours by Mia: flooding" in said
    assert "bob" in console.muted
    await first.db.close()

    clock.advance(timedelta(hours=2))
    second = await build(config, clock=clock)
    try:
        console2 = ConsoleAdapter(second, second.communities["demo"], user="mia", out=io.StringIO())
        second.platforms[PlatformName.CONSOLE] = console2
        console2.muted["bob"] = START + timedelta(hours=2)
        service = _service(second)
        assert await service.sweep() == 1
        assert await service.sweep() == 0  # once
        assert "bob" not in console2.muted
        printed = output(console2)
        assert "You may talk again in Demo Community." in printed
        assert await cases(second) == [
            (1, "mute", "moderator", "done"),
            (2, "unmute", "expiry", "done"),
        ]
    finally:
        await second.db.close()


def _service(cohort: Cohort) -> Expiries:
    job = next(j for j in cohort.jobs if j.id == "moderation.expiry")
    service = getattr(job.run, "__self__", None)
    assert isinstance(service, Expiries)
    return service


async def test_warnings_escalate_and_expire(
    cohort: Cohort, seen: ConsoleAdapter, clock: ManualClock
) -> None:
    await run(seen, "mia", "/warn @bob one")
    clock.advance(timedelta(days=31))  # the first warning has expired
    said = await run(seen, "mia", "/warn @bob two")
    assert "muted" not in said
    said = await run(seen, "mia", "/warn @bob three")
    assert "Bob muted for 1 hour by Mia: 2 warnings (escalation)" in said
    assert "bob" in seen.muted
    said = await run(seen, "mia", "/warn @bob four")
    assert "Bob kicked by Mia: 3 warnings (escalation)" in said
    assert [c[1:3] for c in await cases(cohort)] == [
        ("warn", "moderator"),
        ("warn", "moderator"),
        ("warn", "moderator"),
        ("mute", "escalation"),
        ("warn", "moderator"),
        ("kick", "escalation"),
    ]


async def test_manual_unmute_cancels_the_scheduled_one(
    cohort: Cohort, seen: ConsoleAdapter, clock: ManualClock
) -> None:
    await run(seen, "mia", "/mute @bob 1h noise")
    said = await run(seen, "mia", "/unmute @bob")
    assert "Bob unmuted by Mia" in said
    clock.advance(timedelta(hours=2))
    assert await _service(cohort).sweep() == 0
    assert [c[1] for c in await cases(cohort)] == ["mute", "unmute"]


async def test_kick_ban_unban_modlog_and_case(cohort: Cohort, seen: ConsoleAdapter) -> None:
    await run(seen, "olga", "/kick @bob off topic", "/ban @bob 1 spam again", "/unban @bob")
    assert "bob" not in seen.banned
    said = await run(seen, "mia", "/modlog @bob")
    assert "Moderation history of Bob" in said
    for line in ("#1 👢", "#2 ⛔", "#3 ✅"):
        assert line in said
    said = await run(seen, "mia", "/case 2 spam links in three channels")
    assert "Case #2: reason changed." in said
    assert "Bob banned by Olga: spam links in three channels" in said
    said = await run(seen, "mia", "/case 99")
    assert "There is no case #99." in said


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("/mute @bob 30s too short", "A mute lasts from 1 minute to 28 days"),
        ("/mute @bob 29d too long", "A mute lasts from 1 minute to 28 days"),
        ("/ban @bob 8 spam", "delete_days"),
        ("/slowmode 21601", "seconds"),
        ("/purge 0", "count"),
        ("/purge 101", "count"),
    ],
)
async def test_out_of_range_input_is_refused(
    cohort: Cohort, seen: ConsoleAdapter, line: str, error: str
) -> None:
    said = await run(seen, "mia", line)
    assert error in said
    assert await cases(cohort) == []


async def test_purge_deletes_the_latest_messages_of_one_member(
    cohort: Cohort, seen: ConsoleAdapter
) -> None:
    await run(seen, "bob", "spam 1", "spam 2", "spam 3")
    await run(seen, "carol", "a real question")
    said = await run(seen, "mia", "/purge 10 @bob")
    assert "(3 messages deleted)" in said
    assert "Case #1: deleted 3 messages." in said
    said = await run(seen, "mia", "/purge 10 @bob")
    assert "Case #2: deleted 0 messages." in said


async def test_slowmode_is_enforced_by_the_bot_on_the_console(
    cohort: Cohort, seen: ConsoleAdapter, clock: ManualClock
) -> None:
    said = await run(seen, "mia", "/slowmode 60")
    assert "slowmode here is now 1 minute; I delete messages sent sooner" in said
    said = await run(seen, "bob", "first", "second")
    assert said.count("deleted") == 1
    clock.advance(timedelta(seconds=60))
    said = await run(seen, "bob", "third")
    assert "deleted" not in said
    said = await run(seen, "mia", "fast", "faster")  # staff are exempt
    assert "deleted" not in said
    said = await run(seen, "mia", "/slowmode 0")
    assert "slowmode here is off" in said


@pytest.mark.parametrize(
    ("user", "lang", "listed", "hidden"),
    [
        ("mia", "en", "/warn", None),
        ("mia", "zh", "/warn", None),
        ("bob", "en", None, "/warn"),
    ],
)
async def test_help_lists_the_commands_to_moderators_in_both_languages(
    seen: ConsoleAdapter, user: str, lang: str, listed: str | None, hidden: str | None
) -> None:
    said = await run(seen, user, f"/lang {lang}", "/help")
    if listed is not None:
        assert listed in said
        assert ("警告成员" if lang == "zh" else "Warn a member") in said
    if hidden is not None:
        assert hidden not in said
