"""Points figures on a big community: award throughput, /leaderboard and /points latency.

Builds a SQLite file with ``--members`` members and ``--entries`` ledger entries (bulk
loaded, with balances, levels and week/month/season totals derived from them), then measures
through the real code: awards per second with 50 concurrent writers, and the end-to-end
latency of ``/leaderboard`` (week, month, season, all) and ``/points`` typed into the
console adapter.
Run: ``.venv/bin/python -m benchmarks.points [--members 100000] [--entries 5000000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.foundation import percentile
from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.cogs.points._ledger import Period, period_key
from bot.core.clock import ManualClock
from bot.core.config import LevelCurve, parse_config
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.db import Database

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
REASONS = ["message"] * 8 + ["kudos", "answer", "attendance"]


async def create_schema(path: Path) -> None:
    """Create the tables through the migrations."""
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.upgrade()
    await db.close()


def bulk_load(path: Path, members: int, entries: int, seed: int = 1) -> None:
    """Fill the database the fast way (one transaction, executemany)."""
    rng = random.Random(seed)
    tz = ZoneInfo("UTC")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.000000")
    conn.execute(
        "INSERT INTO communities (id, slug, name, created_at) VALUES (1, 'bench', 'Bench', ?)",
        (stamp,),
    )
    conn.executemany(
        "INSERT INTO members (id, community_id, created_at) VALUES (?, 1, ?)",
        ((m, stamp) for m in range(1, members + 1)),
    )
    conn.executemany(
        "INSERT INTO accounts (id, community_id, member_id, platform, platform_user_id, username,"
        " username_key, display_name, created_at, last_seen_at)"
        " VALUES (?, 1, ?, 'console', ?, ?, ?, ?, ?, ?)",
        (
            (m, m, f"user{m}", f"user{m}", f"user{m}", f"User {m}", stamp, stamp)
            for m in range(1, members + 1)
        ),
    )
    balances: dict[int, int] = {}
    totals: dict[tuple[str, int], int] = {}
    # A few very active members and a long tail, as in real communities.
    weights = [1.0 / (rank**0.8) for rank in range(1, members + 1)]
    chosen = rng.choices(range(1, members + 1), weights=weights, k=entries)

    def rows() -> Iterator[tuple[int, int, int, str, str, str]]:
        for n, member in enumerate(chosen):
            at = NOW - timedelta(seconds=rng.randrange(90 * 86_400))
            delta = rng.randint(15, 25)
            balances[member] = balances.get(member, 0) + delta
            for period in (Period.WEEK, Period.MONTH):
                key = (period_key(period, at, tz) or "", member)
                totals[key] = totals.get(key, 0) + delta
            totals[("s1", member)] = totals.get(("s1", member), 0) + delta  # the first season
            yield (
                1,
                member,
                delta,
                REASONS[n % len(REASONS)],
                f"bench:{n}",
                at.strftime("%Y-%m-%d %H:%M:%S.%f"),
            )

    conn.executemany(
        "INSERT INTO points_ledger (community_id, member_id, delta, reason, source_ref,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        rows(),
    )
    conn.executemany(
        "INSERT INTO points_balances (community_id, member_id, balance, last_active_at, level)"
        " VALUES (1, ?, ?, ?, ?)",
        ((m, b, stamp, points.progress(b, LevelCurve.MEE6, 0).level) for m, b in balances.items()),
    )
    conn.executemany(
        "INSERT INTO points_period_totals (community_id, period, member_id, total)"
        " VALUES (1, ?, ?, ?)",
        ((period, m, t) for (period, m), t in totals.items()),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def measure(path: Path, members: int) -> None:
    """Run the timed parts against the loaded database."""
    config = parse_config(
        {
            "database": {"url": f"sqlite+aiosqlite:///{path}"},
            "web": {"enabled": False},
            "communities": [
                {"id": "bench", "name": "Bench", "timezone": "UTC", "admins": ["console:user1"]}
            ],
        },
        source="bench",
        base_dir=path.parent,
        env={},
    )
    clock = ManualClock(NOW)
    cohort = await build(config, clock=clock)
    community = cohort.communities["bench"]
    console = ConsoleAdapter(cohort, community, user="user1", out=io.StringIO())
    cohort.platforms[PlatformName.CONSOLE] = console
    rng = random.Random(2)
    try:
        count = 5_000
        started = time.perf_counter()

        async def writer(index: int) -> None:
            for n in range(index, count, 50):
                member = rng.randrange(1, members + 1)
                await points.award(
                    cohort.db, community, member, 10, points.Reason.ATTENDANCE, f"w:{n}", at=NOW
                )

        await asyncio.gather(*(writer(i) for i in range(50)))
        elapsed = time.perf_counter() - started
        print(f"awards, 50 concurrent writers: {count / elapsed:.0f} awards/s")

        lines = (
            "/leaderboard week",
            "/leaderboard month",
            "/leaderboard season",
            "/leaderboard all",
        )
        for line in lines:
            await timed(console, [line] * 20 + [f"{line} {p}" for p in range(2, 182)], line)
        users = [f"/points @user{rng.randrange(1, members + 1)}" for _ in range(200)]
        await timed(console, users, "/points @member")
    finally:
        await cohort.db.close()


async def timed(console: ConsoleAdapter, lines: list[str], label: str) -> None:
    """Type ``lines`` one after another and print the latency figures."""
    for line in lines[:10]:
        await console.handle_line(line)  # warm up
    samples = []
    for line in lines:
        console.out = io.StringIO()
        before = time.perf_counter_ns()
        await console.handle_line(line)
        samples.append((time.perf_counter_ns() - before) / 1e6)
    print(
        f"{label:<20} p50 {statistics.median(samples):6.2f} ms   "
        f"p99 {percentile(samples, 0.99):6.2f} ms   ({len(samples)} runs)"
    )


async def main(members: int, entries: int) -> None:
    """Load, then measure."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "points.db"
        await create_schema(path)
        started = time.perf_counter()
        bulk_load(path, members, entries)
        size = path.stat().st_size / 2**20
        print(
            f"loaded {members:,} members and {entries:,} ledger entries in "
            f"{time.perf_counter() - started:.0f} s ({size:.0f} MiB)"
        )
        await measure(path, members)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=5_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.members, args.entries))
