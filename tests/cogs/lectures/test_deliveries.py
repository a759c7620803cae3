"""Deliveries (``_deliveries``): each message once, across restarts; leased, so a process that
dies loses nothing and a live one is never doubled.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.cogs.lectures import Kind, LectureService, Rsvp
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.commands import Role
from bot.core.config import Config
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef
from bot.core.replies import Reply
from bot.runtime import build
from bot.store.lease import CLAIMANT_LENGTH, claimant_id
from bot.store.tables import lecture_deliveries, lecture_delivery_messages
from tests.cogs.lectures._helpers import SCHEDULE, at, say, sweeper
from tests.conftest import make_config, output

TALKS = ("Talk A", "Talk B", "Talk C")
BOUND = 5.0  # seconds: the longest any wait below may take


@dataclass(frozen=True)
class Posted:
    """One message the platform took: where, and its first line."""

    where: str
    text: str


@dataclass
class Stall:
    """The message after which the platform stops answering, until ``go`` is set."""

    at: int
    stalled: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def reached(self) -> None:
        """Wait (a bounded time) until a sweep is stuck here."""
        await asyncio.wait_for(self.stalled.wait(), BOUND)


class Platform(ConsoleAdapter):
    """A console that records what it took in a list shared by several bots (one platform).

    At a ``stall``, the platform takes the message and then stops answering: the sweep that
    sent it hangs there, as in a process whose claim runs out meanwhile, or that dies there.
    """

    def __init__(self, cohort: Cohort, posted: list[Posted]) -> None:
        super().__init__(cohort, cohort.communities["demo"], user="olga", out=io.StringIO())
        self.posted = posted
        self.taken = 0
        self.stalls: list[Stall] = []

    def stall(self, at: int) -> Stall:
        """Stop answering after the ``at``-th message this platform takes."""
        self.stalls.append(Stall(at))
        return self.stalls[-1]

    async def send(self, channel: ChannelRef, reply: Reply) -> MessageRef:
        """Post, then perhaps stall."""
        ref = await super().send(channel, reply)
        await self._took(channel.channel_id, reply)
        return ref

    async def direct_message(self, user_id: str, reply: Reply) -> MessageRef:
        """Message privately, then perhaps stall."""
        ref = await super().direct_message(user_id, reply)
        await self._took(f"dm-{user_id}", reply)
        return ref

    async def _took(self, where: str, reply: Reply) -> None:
        self.posted.append(Posted(where, reply.text.splitlines()[0]))
        self.taken += 1
        number = self.taken
        for stall in self.stalls:
            if stall.at == number:
                stall.stalled.set()
                await stall.go.wait()


def service_of(cohort: Cohort) -> LectureService:
    """Return the lectures service the sweep job runs."""
    job = next(job for job in cohort.jobs if job.id == "lectures.due")
    service = getattr(job.run, "__self__", None)
    assert isinstance(service, LectureService)
    return service


@pytest.fixture
async def bots(config: Config, clock: ManualClock) -> AsyncIterator[tuple[Cohort, Cohort]]:
    """Return two bots on one database (two processes), three talks, Bob and Carol going."""
    one = await build(config, clock=clock)
    two = await build(config, clock=clock)
    try:
        console = ConsoleAdapter(one, one.communities["demo"], user="olga", out=io.StringIO())
        one.platforms[PlatformName.CONSOLE] = console
        for minute, title in zip((30, 35, 40), TALKS, strict=True):
            await console.handle_line(f'/lecture schedule "{title}" "2026-11-22 19:{minute}"')
        community = one.communities["demo"]
        for name in ("bob", "carol"):
            member = await one.identity.resolve(community.id, console.caller(name))
            for occurrence_id in (1, 2, 3):
                await service_of(one).rsvp(
                    community,
                    occurrence_id,
                    member.member_id,
                    Role.MEMBER,
                    PlatformName.CONSOLE,
                    Rsvp.GOING,
                )
        yield one, two
    finally:
        await one.db.close()
        await two.db.close()


def count(posted: list[Posted], where: str, title: str) -> int:
    """Return how many reminders for ``title`` went to ``where``."""
    return sum(1 for p in posted if p.where == where and f"{title}** starts in" in p.text)


@pytest.mark.parametrize("taker", ["another process", "a later sweep of the same process"])
async def test_a_claimant_that_stops_answering_is_taken_over_once_its_lease_runs_out(
    bots: tuple[Cohort, Cohort], clock: ManualClock, caplog: pytest.LogCaptureFixture, taker: str
) -> None:
    one, other = bots
    posted: list[Posted] = []
    stuck = Platform(one, posted)
    one.platforms[PlatformName.CONSOLE] = stuck
    hang = stuck.stall(2)  # Talk A is posted, then Bob's DM is taken and the answer hangs
    if taker == "another process":
        two = other
        two.platforms[PlatformName.CONSOLE] = Platform(two, posted)
        second_hang = two.platforms[PlatformName.CONSOLE].stall(1)  # type: ignore[attr-defined]
    else:
        two, second_hang = one, stuck.stall(3)
    # The 1h reminders of all three are due (the 24h ones are too late by now: skipped).
    clock.advance(at("2026-11-22 18:40") - clock.now())
    first = asyncio.create_task(service_of(one).sweep())
    await hang.reached()

    # While the first sweep holds its claims, another sends nothing.
    assert (await service_of(two).sweep()).sent == []
    assert len(posted) == 2

    # Its lease runs out (it is stuck, or dead): the next sweep takes every claim over. It
    # sends Bob's DM of Talk A again (never confirmed), and its own answer hangs there too.
    clock.advance(one.config.work.lease + timedelta(seconds=1))
    second = asyncio.create_task(service_of(two).sweep())
    await second_hang.reached()

    # The first sweep's platform answers at last: its claims are gone, it sends no more.
    caplog.set_level("WARNING", logger="bot.cogs.lectures")
    hang.go.set()
    assert (await asyncio.wait_for(first, BOUND)).sent == []
    assert any("took over the reminder" in r.getMessage() for r in caplog.records)
    assert len(posted) == 3
    second_hang.go.set()
    result = await asyncio.wait_for(second, BOUND)
    assert [kind for kind, _ in result.sent] == [Kind.REMINDER] * 3

    for title in TALKS:
        assert count(posted, "general", title) == 1  # Talk A's post was recorded: not again
        assert count(posted, "dm-carol", title) == 1
    # Bob's DM of Talk A was taken by the platform but never confirmed: the one duplicate.
    assert [count(posted, "dm-bob", title) for title in TALKS] == [2, 1, 1]
    assert len(posted) == 3 * 3 + 1
    async with two.db.read() as conn:
        rows = (
            await conn.execute(
                select(lecture_deliveries.c.status, lecture_deliveries.c.claimed_by).where(
                    lecture_deliveries.c.kind == Kind.REMINDER.value,
                    lecture_deliveries.c.offset_s == 3600,
                )
            )
        ).all()
    assert [r.status for r in rows] == ["sent"] * 3
    assert all(r.claimed_by.startswith(service_of(two).lease.claimant + "/") for r in rows)


async def test_a_live_claimant_renews_its_claims_while_a_batch_runs_long(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config(tmp_path, work={"lease": "1s"})
    posted: list[Posted] = []
    one, two = await build(config, clock=clock), await build(config, clock=clock)
    try:
        stuck = Platform(one, posted)
        one.platforms[PlatformName.CONSOLE] = stuck
        two.platforms[PlatformName.CONSOLE] = Platform(two, posted)
        for title in TALKS[:2]:
            await stuck.handle_line(f'/lecture schedule "{title}" "2026-11-22 19:30"')
        posted.clear()
        hang = stuck.stall(stuck.taken + 1)  # the next message: the first reminder
        clock.advance(at("2026-11-22 18:30") - clock.now())
        first = asyncio.create_task(service_of(one).sweep())
        await hang.reached()
        clock.advance(timedelta(seconds=5))  # five leases' worth: only renewing keeps them

        async def renewed() -> bool:
            async with one.db.read() as conn:
                until = await conn.scalar(
                    select(lecture_deliveries.c.lease_until).where(
                        lecture_deliveries.c.status == "sending"
                    )
                )
            return until is not None and until > clock.now()

        for _ in range(int(BOUND / 0.05)):  # the renewal runs every third of a second
            if await renewed():
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the first bot never renewed its claims")
        assert (await service_of(two).sweep()).sent == []
        hang.go.set()
        result = await asyncio.wait_for(first, BOUND)
        assert [kind for kind, _ in result.sent] == [Kind.REMINDER] * 2
        assert [p.text for p in posted] == [
            "⏰ **Talk A** starts in 1 hour.",
            "⏰ **Talk B** starts in 1 hour.",
        ]
    finally:
        await one.db.close()
        await two.db.close()


async def test_a_stopping_bot_frees_the_claims_it_will_not_send(
    bots: tuple[Cohort, Cohort], clock: ManualClock
) -> None:
    one, two = bots
    posted: list[Posted] = []
    stuck = Platform(one, posted)
    hang = stuck.stall(1)
    one.platforms[PlatformName.CONSOLE] = stuck
    two.platforms[PlatformName.CONSOLE] = Platform(two, posted)
    clock.advance(at("2026-11-22 18:40") - clock.now())
    service = service_of(one)
    first = asyncio.create_task(service.sweep())
    await hang.reached()
    stopping = asyncio.create_task(service.stop())
    hang.go.set()
    await asyncio.wait_for(stopping, BOUND)
    # The delivery in hand is finished; the other two are free at once, without a lease wait.
    assert [kind for kind, _ in (await asyncio.wait_for(first, BOUND)).sent] == [Kind.REMINDER]
    assert [kind for kind, _ in (await service_of(two).sweep()).sent] == [Kind.REMINDER] * 2
    for title in TALKS:
        for where in ("general", "dm-bob", "dm-carol"):
            assert count(posted, where, title) == 1


async def test_claims_left_sending_before_leases_existed_are_taken_over_after_the_upgrade(
    bots: tuple[Cohort, Cohort], clock: ManualClock
) -> None:
    one, two = bots
    posted: list[Posted] = []
    clock.advance(at("2026-11-22 18:40") - clock.now())
    service = service_of(one)
    # What the old code left behind when it died mid-batch: rows claimed, never confirmed.
    async with one.db.write() as conn:
        assert await service.deliveries._plan_due(conn, clock.now()) == 3
    await one.db.close()
    await two.db.downgrade("0013")
    await two.db.upgrade()
    again = await build(one.config, clock=clock)
    try:
        again.platforms[PlatformName.CONSOLE] = Platform(again, posted)
        result = await service_of(again).sweep()
        assert [kind for kind, _ in result.sent] == [Kind.REMINDER] * 3
        assert result.skipped == 3  # the 24h ones, too late by now
        assert len(posted) == 9
        async with again.db.read() as conn:
            left = await conn.scalar(
                select(lecture_deliveries.c.id).where(lecture_deliveries.c.status == "sending")
            )
            recorded = (await conn.execute(select(lecture_delivery_messages.c.target))).all()
        assert left is None
        assert sorted({r.target.split(":")[0] for r in recorded}) == ["dm", "post"]
    finally:
        await again.db.close()


def test_claimant_ids_differ_between_processes_and_fit_the_column() -> None:
    first, second = claimant_id(), claimant_id()
    assert first != second
    assert len(first) <= CLAIMANT_LENGTH
    host, pid, _ = first.rsplit(":", 2)
    assert host and pid.isdigit()


async def test_reminders_go_out_once_each_with_dms_to_those_going(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    sweep = sweeper(cohort)
    await say(console, SCHEDULE)
    await say(console, "/press 1", user="bob")  # going
    await say(console, "/lecture reminders off", "/press 1", user="carol")  # going, no DMs
    for moment, expected in (
        (at("2026-11-21 19:30"), "starts in 1 day"),
        (at("2026-11-22 18:30"), "starts in 1 hour"),
        (at("2026-11-22 19:20"), "starts in 10 minutes"),
        (at("2026-11-22 19:30"), "is starting now"),
    ):
        clock.advance(moment - clock.now())
        result = await sweep()
        assert len(result.sent) == 1 and result.sent[0][1] == timedelta(0)
        text = output(console)
        assert text.count(expected) == 2, text  # the channel, and Bob's DM
        assert "[#dm-bob]" in text and "#dm-carol" not in text
        assert (await sweep()).sent == []  # nothing twice
    assert "Your check-in code" in text
    async with cohort.db.read() as conn:
        states = (await conn.execute(select(lecture_deliveries.c.status))).scalars().all()
    assert states == ["sent"] * 5


async def test_a_restart_sends_a_missed_reminder_within_grace_and_skips_the_rest(
    config: Config, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    first = await build(config, clock=clock)
    console = _console(first)
    await say(console, SCHEDULE)
    await first.db.close()  # the bot goes down before the 24h reminder...
    clock.advance(at("2026-11-22 18:40") - clock.now())  # ...and comes back 10m after the 1h one
    second = await build(config, clock=clock)
    try:
        console = _console(second)
        caplog.set_level("INFO", logger="bot.cogs.lectures")
        result = await sweeper(second)()
        assert [(kind, late) for kind, late in result.sent] == [
            (Kind.REMINDER, timedelta(minutes=10))
        ]
        assert result.skipped == 1
        assert "starts in 1 hour" in output(console)
        assert any("skipped the reminder (1d before)" in r.getMessage() for r in caplog.records)
        clock.advance(timedelta(minutes=40))
        assert [kind for kind, _ in (await sweeper(second)()).sent] == [Kind.REMINDER]
        clock.advance(timedelta(minutes=10))
        assert [kind for kind, _ in (await sweeper(second)()).sent] == [Kind.START]
    finally:
        await second.db.close()
    # A third start finds nothing left to send.
    third = await build(config, clock=clock)
    try:
        _console(third)
        assert (await sweeper(third)()).sent == []
    finally:
        await third.db.close()


async def test_two_schedulers_on_one_database_never_both_send(
    config: Config, clock: ManualClock
) -> None:
    one = await build(config, clock=clock)
    two = await build(config, clock=clock)
    try:
        console_one, console_two = _console(one), _console(two)
        for hour in (18, 19):
            await say(console_one, f'/lecture schedule "Talk {hour}" "2026-11-22 {hour}:30"')
        output(console_one)
        totals = []
        for moment in (
            "2026-11-21 18:30",
            "2026-11-21 19:30",
            "2026-11-22 17:30",
            "2026-11-22 18:20",
            "2026-11-22 18:30",
            "2026-11-22 19:20",
            "2026-11-22 19:30",
        ):
            clock.advance(at(moment) - clock.now())
            # Both bots sweep at the same moment, twice each, concurrently.
            results = await asyncio.gather(*(sweeper(b)() for b in (one, two, one, two)))
            totals.append(sum(len(r.sent) for r in results))
        assert totals == [1, 1, 1, 1, 2, 1, 1]
        posted = output(console_one) + output(console_two)
        assert posted.count("starts in") == 6
        assert posted.count("is starting now") == 2
        async with one.db.read() as conn:
            count = await conn.scalar(select(func.count()).select_from(lecture_deliveries))
        assert count == 10
    finally:
        await one.db.close()
        await two.db.close()


def _console(cohort: Cohort) -> ConsoleAdapter:
    adapter = ConsoleAdapter(
        cohort, cohort.communities["demo"], user="olga", out=io.StringIO(), echo=True
    )
    cohort.platforms[PlatformName.CONSOLE] = adapter
    return adapter
