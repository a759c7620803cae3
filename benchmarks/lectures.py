"""Lecture figures: scheduling throughput, start-up, and how late deliveries fire.

Schedules ``--lectures`` one-off lectures (default 10,000) through the lecture service, each
with three reminders (24h, 1h, 10m), spread over a week that starts a day ahead; each is
announced at once. Then it restarts the bot on the same SQLite file and times start-up plus the
first sweep, and walks the manual clock through the week the way the runtime's 10-second sweep
would (ticks that find nothing are skipped, since they do nothing), recording how late each
reminder and "starting now" fired by the clock, and how long each sweep took.
Posts go to a counting stand-in platform, so the figures are Cohort's, not a chat API's.
Run: ``.venv/bin/python -m benchmarks.lectures [--lectures 10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from benchmarks.foundation import percentile
from bot.cogs.lectures import SWEEP_EVERY, Kind, LectureService, NewLecture
from bot.core.clock import ManualClock
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


def make_config(folder: Path) -> Config:
    """Return a config on a fresh SQLite file, announcing in one console channel."""
    return parse_config(
        {
            "web": {"enabled": False},
            "communities": [
                {
                    "id": "bench",
                    "name": "Bench",
                    "timezone": "Europe/Berlin",
                    "lectures": {"announce_channels": ["console:general"]},
                }
            ],
        },
        source="bench.toml",
        base_dir=folder,
        env={},
    )


async def open_bot(config: Config, clock: ManualClock) -> tuple[Cohort, LectureService]:
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lectures", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.lectures))
