"""Lecture figures: scheduling throughput, start-up, and how late deliveries fire.

Schedules ``--lectures`` one-off lectures (default 10,000) through the lecture service, each
with three reminders (24h, 1h, 10m), spread over a week that starts a day ahead; each is
announced at once. Then it restarts the bot on the same SQLite file and times start-up plus the
first sweep, and walks the manual clock through the week the way the runtime's 10-second sweep
would (ticks that find nothing are skipped, since they do nothing), recording how late each
reminder and "starting now" fired by the clock, and how long each sweep took.
Posts go to a counting stand-in platform, so the figures are Cohort's, not a chat API's.
Run: ``.venv/bin/python -m benchmarks.lectures [--lectures 10000]``.

``--real-time`` measures lateness on the wall clock instead: ``--lectures`` (default 200)
two-session lectures whose first sessions start within ``--window`` seconds (after the time it
takes to schedule them), with a reminder before the first session and the second session
announced when the first ends. Their announcements, reminders and "starting now" posts are
fired first by the old 10-second sweep grid alone, then, on a fresh file, by the alarm
(``lectures.alarm``): both in the same run, so the two compare on the same load.
``--spacing`` (default 11 s, longer than the grid) sets the reminder's lead and the sessions'
length.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from benchmarks.foundation import percentile
from bot.cogs.lectures import SWEEP_EVERY, Kind, LectureService, NewLecture, SweepResult
from bot.core.clock import Clock, ManualClock, SystemClock
from bot.core.cohort import Cohort
from bot.core.config import Config, parse_config
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef
from bot.core.replies import Reply
from bot.runtime import build
from bot.store.tables import lecture_deliveries, lecture_occurrences

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class CountingPlatform:
    """Stands in for a chat platform: counts what it is asked to post, edit and DM."""

    name = PlatformName.CONSOLE

    def __init__(self) -> None:
        self.sent = 0
        self.edited = 0
        self.dms = 0

    async def send(self, channel: ChannelRef, reply: Reply) -> MessageRef:
        """Count a post."""
        self.sent += 1
        return MessageRef(channel, str(self.sent))

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Count an edit."""
        self.edited += 1

    async def direct_message(self, user_id: str, reply: Reply) -> MessageRef:
        """Count a DM."""
        self.dms += 1
        return MessageRef(ChannelRef(self.name, f"dm-{user_id}"), str(self.dms))


def make_config(folder: Path, *, reminders: list[str] | None = None) -> Config:
    """Return a config on a fresh SQLite file, announcing in one console channel."""
    lectures: dict[str, object] = {"announce_channels": ["console:general"]}
    if reminders is not None:
        lectures["reminders"] = reminders
    return parse_config(
        {
            "web": {"enabled": False},
            "communities": [
                {"id": "bench", "name": "Bench", "timezone": "Europe/Berlin", "lectures": lectures}
            ],
        },
        source="bench.toml",
        base_dir=folder,
        env={},
    )


async def open_bot(config: Config, clock: Clock) -> tuple[Cohort, LectureService]:
    """Build the bot and return it with its lecture service (the sweep job's owner)."""
    cohort = await build(config, clock=clock)
    cohort.platforms[PlatformName.CONSOLE] = CountingPlatform()  # type: ignore[assignment]
    job = next(j for j in cohort.jobs if j.id == "lectures.due")
    service = job.run.__self__  # type: ignore[attr-defined]
    assert isinstance(service, LectureService)
    return cohort, service


async def main(count: int) -> None:
    """Run the benchmark and print its figures."""
    rng = random.Random(8)
    folder = Path(tempfile.mkdtemp(prefix="cohort-lectures-"))
    config = make_config(folder)
    clock = ManualClock(NOW)
    cohort, service = await open_bot(config, clock)
    community = cohort.communities["bench"]
    week = 7 * 24 * 60
    started = time.perf_counter()
    for index in range(count):
        start = NOW + timedelta(days=1, hours=1, seconds=rng.randrange(week * 60))
        await service.schedule(
            NewLecture(
                community_id=community.id,
                title=f"Lecture {index}",
                starts=(start,),
                rrule=None,
                timezone="Europe/Berlin",
                duration=timedelta(hours=1),
                speaker=None,
                link="https://meet.example/x",
                tier=None,
                capacity=None,
                origin=None,
                created_by=None,
            )
        )
    scheduling = time.perf_counter() - started
    await cohort.db.close()

    started = time.perf_counter()
    cohort, service = await open_bot(config, clock)
    first = await service.sweep()
    startup = time.perf_counter() - started
    assert not first.sent

    late: list[float] = []
    sweep_ms: list[float] = []
    kinds = {kind: 0 for kind in Kind}
    tick = NOW
    while True:
        async with cohort.db.read() as conn:
            due = await conn.scalar(select(func.min(lecture_occurrences.c.next_due_at)))
        if due is None:
            break
        # The runtime sweeps on a 10-second grid; skip the ticks that would find nothing.
        steps = -(-(due - tick) // SWEEP_EVERY)
        tick += steps * SWEEP_EVERY
        clock.advance(tick - clock.now())
        began = time.perf_counter()
        result = await service.sweep()
        sweep_ms.append((time.perf_counter() - began) * 1000)
        for kind, lateness in result.sent:
            kinds[kind] += 1
            late.append(lateness.total_seconds())
    async with cohort.db.read() as conn:
        claimed = await conn.scalar(select(func.count()).select_from(lecture_deliveries))
    await cohort.db.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"lectures: {count:,}, deliveries claimed: {claimed:,}")
    print(f"schedule + announce: {scheduling:.1f} s ({count / scheduling:,.0f} lectures/s)")
    print(f"restart (migrate, load cogs, first sweep) with {count:,} scheduled: {startup:.2f} s")
    fired = ", ".join(f"{kind.value} {n:,}" for kind, n in kinds.items())
    print(f"fired: {fired}")
    print(
        f"lateness by the clock (10 s sweep): p50 {percentile(late, 0.5):.1f} s, "
        f"p99 {percentile(late, 0.99):.1f} s, max {max(late):.1f} s"
    )
    print(
        f"sweep duration ({len(sweep_ms):,} sweeps that found work): "
        f"p50 {percentile(sweep_ms, 0.5):.1f} ms, p99 {percentile(sweep_ms, 0.99):.1f} ms, "
        f"max {max(sweep_ms):.1f} ms"
    )
    print(f"peak memory (RSS): {peak:.0f} MiB")


def lecture(community_id: int, index: int, start: datetime) -> NewLecture:
    """Return a one-hour lecture starting at ``start``."""
    return NewLecture(
        community_id=community_id,
        title=f"Lecture {index}",
        starts=(start,),
        rrule=None,
        timezone="Europe/Berlin",
        duration=timedelta(hours=1),
        speaker=None,
        link="https://meet.example/x",
        tier=None,
        capacity=None,
        origin=None,
        created_by=None,
    )


def compressed(config: Config, remind: timedelta) -> Config:
    """Return ``config`` with one reminder ``remind`` before each start.

    The config refuses a reminder under a minute; the benchmark sets it directly, so that a run
    stays short. The code that plans and sends it is the same.
    """
    communities = tuple(
        replace(c, lectures=replace(c.lectures, reminders=(remind,))) for c in config.communities
    )
    return replace(config, communities=communities)


async def real_time_lateness(
    count: int,
    window: float,
    *,
    alarm: bool,
    scheduled: list[float],
    spacing: int = 11,
    lead: float | None = None,
    grid: timedelta = SWEEP_EVERY,
) -> dict[Kind, list[float]]:
    """Schedule ``count`` two-session lectures within ``window`` s; return lateness by kind.

    Each lecture's first session starts within ``window`` s (after a lead long enough to
    schedule them all) with a reminder ``spacing`` s before it; it lasts ``spacing`` s, and the
    second session, announced when the first ends, starts a second after that (too soon for
    a reminder of its own). The announcements measured are the second sessions'; the first
    sessions' are sent while scheduling. With ``alarm`` the lectures alarm fires them; without
    it, a sweep every ``grid`` on the wall clock's grid, as the runtime's scheduler did before.
    ``spacing`` (whole seconds, as lectures store them) must exceed ``grid``: a reminder or
    "starting now" the grid fires after the start or the end would be skipped, not late.
    """
    rng = random.Random(8)
    folder = Path(tempfile.mkdtemp(prefix="cohort-lectures-rt-"))
    config = compressed(make_config(folder), timedelta(seconds=spacing))
    cohort, service = await open_bot(config, SystemClock())
    community = cohort.communities["bench"]
    late: dict[Kind, list[float]] = {kind: [] for kind in Kind}
    expected = {Kind.ANNOUNCE: count, Kind.REMINDER: count, Kind.START: 2 * count}
    everything = asyncio.Event()
    # Scheduling takes a while (5-20/s under load): the first reminders stay ahead of it.
    ahead = 3.0 + count / 5 if lead is None else lead
    began = datetime.now(UTC)
    first = began + timedelta(seconds=ahead + spacing)

    def note(result: SweepResult) -> None:
        for kind, when in result.sent:
            if kind is Kind.ANNOUNCE and datetime.now(UTC) < first:
                continue  # a first session's, sent as it was scheduled: not a timed delivery
            late[kind].append(when.total_seconds())
        if all(len(late[kind]) >= n for kind, n in expected.items()):
            everything.set()

    service.swept.append(note)
    ticking: asyncio.Task[None] | None = None
    if alarm:
        await service.start()
    else:

        async def sweep_on_the_grid() -> None:
            period = grid.total_seconds()
            while True:
                await asyncio.sleep(period - time.time() % period)
                await service.sweep()

        ticking = asyncio.create_task(sweep_on_the_grid())
    for index in range(count):
        start = first + timedelta(seconds=rng.uniform(0, window))
        new = lecture(community.id, index, start)
        await service.schedule(
            replace(
                new,
                starts=(start, start + timedelta(seconds=spacing + 1)),
                duration=timedelta(seconds=spacing),
            )
        )
    scheduled.append((datetime.now(UTC) - began).total_seconds())
    give_up = ahead + 2 * spacing + 1 + window + 2 * grid.total_seconds()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(everything.wait(), give_up)
    if ticking is not None:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
    await cohort.stop()
    await cohort.db.close()
    return late


LABELS = {Kind.ANNOUNCE: "announcements", Kind.REMINDER: "reminders", Kind.START: "starting now"}


async def real_time(
    count: int,
    window: float,
    *,
    spacing: int = 11,
    lead: float | None = None,
    grid: timedelta = SWEEP_EVERY,
) -> None:
    """Print real-time lateness of each kind of delivery: the sweep grid, then the alarm."""
    ahead = 3.0 + count / 5 if lead is None else lead
    grid_name = f"{grid.total_seconds():g} s sweep grid (before)"
    for name, alarm in ((grid_name, False), ("alarm (after)", True)):
        load = os.getloadavg()[0]
        scheduled: list[float] = []
        late = await real_time_lateness(
            count,
            window,
            alarm=alarm,
            scheduled=scheduled,
            spacing=spacing,
            lead=lead,
            grid=grid,
        )
        print(
            f"real-time lateness, {name}: load average {load:.1f}, "
            f"scheduling took {scheduled[0]:.1f} s of the {ahead:.1f} s lead"
        )
        for kind in (Kind.ANNOUNCE, Kind.REMINDER, Kind.START):
            ms = [x * 1000 for x in late[kind]]
            wanted = 2 * count if kind is Kind.START else count
            print(f"  {LABELS[kind]}, {name}: {len(ms)}/{wanted} fired, {spread(ms)}")


def spread(ms: list[float]) -> str:
    """Return p50, p99 and the latest of ``ms`` and the goal, as one line's end."""
    if not ms:
        return "none fired (goal p99 <= 1000 ms)"
    return (
        f"p50 {percentile(ms, 0.5):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms, "
        f"max {max(ms):.0f} ms (goal p99 <= 1000 ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lectures", type=int, default=None)
    parser.add_argument("--real-time", action="store_true")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--spacing", type=int, default=11)
    args = parser.parse_args()
    if args.real_time:
        asyncio.run(real_time(args.lectures or 200, args.window, spacing=args.spacing))
    else:
        asyncio.run(main(args.lectures or 10_000))
