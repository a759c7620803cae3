"""Scale-out figures: message ingest with 1, 2 and 3 processes; leaderboard p99 on both backends.

Each process is a real ``python`` process that builds the bot on the shared database and
posts ``--messages`` chat messages (the message log, points, the Q&A watch: the path every
chat message takes) through the dispatcher, from ``--senders`` concurrent senders. Printed per
backend and process count: messages per second overall (first message to last, start-ups
left out), the ratio to one process, and CPU seconds per 1,000 messages (the processes' user
and system time while posting; with fewer cores than processes the ratio is capped by the
cores, CPU per message is not). The anchor, measured in the same run, is the same on SQLite:
one writer at a time.

The leaderboard part loads ``--members`` members and ``--entries`` ledger entries (with the
balances and week/month/season totals derived from them, as ``benchmarks.points`` does) into
each backend, in bulk (``executemany`` on SQLite, ``COPY`` on PostgreSQL), and types
``/leaderboard week`` and ``/leaderboard all`` into the console adapter (the query the points
cog runs, first page and later ones): p50 and p99 per backend side by side, SQLite the anchor.

Run: ``.ci/with-postgres .venv/bin/python -m benchmarks.scale [--messages 2000]
[--members 100000] [--entries 5000000] [--part ingest|leaderboard|all]``
(without ``COHORT_TEST_POSTGRES`` only the SQLite figures are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy.engine import make_url

from benchmarks.foundation import percentile
from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.cogs.points._ledger import Period, period_key
from bot.core.clock import ManualClock, SystemClock
from bot.core.config import LevelCurve, parse_config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.runtime import build
from bot.store.db import Database

PROCESSES = (1, 2, 3)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # the leaderboard's "now" (a Saturday)
REASONS = ["message"] * 8 + ["kudos", "answer", "attendance"]
BOARDS = ("/leaderboard week", "/leaderboard all")


def _config(url: str, folder: Path) -> object:
    return parse_config(
        {
            "database": {"url": url},
            "web": {"enabled": False},
            "communities": [{"id": "bench", "name": "Bench", "admins": ["console:alice"]}],
        },
        source="bench",
        base_dir=folder,
        env={},
    )


async def worker(url: str, folder: Path, index: int, messages: int, senders: int) -> None:
    """Post ``messages`` messages as one process; print its CPU seconds as JSON."""
    cohort = await build(_config(url, folder), clock=SystemClock())  # type: ignore[arg-type]
    community = cohort.communities["bench"]
    channel = ChannelRef(PlatformName.CONSOLE, "general")
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.time()  # after the start-up: only the posting is measured
    try:

        async def sender(number: int) -> None:
            caller = Caller(PlatformName.CONSOLE, f"p{index}s{number}", f"Member {number}")
            for n in range(number, messages, senders):
                await cohort.dispatcher.message_posted(
                    community,
                    caller,
                    channel,
                    f"p{index}m{n}",
                    f"message {n} from process {index} about pandas and calculus",
                    datetime.now(UTC),
                )

        await asyncio.gather(*(sender(i) for i in range(senders)))
        ended = time.time()
    finally:
        await cohort.db.close()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(json.dumps({"cpu": cpu, "start": started, "end": ended}))


async def _fresh_postgres(server: str, name: str) -> str:
    url = make_url(server)
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(drivername="postgresql+asyncpg", database=name).render_as_string(False)


async def fresh_database(server: str | None, folder: Path, name: str) -> str:
    """Return the URL of an empty database: bench.db in ``folder``, or ``name`` on ``server``."""
    if server is None:
        return f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    return await _fresh_postgres(server, name)


async def run_round(url: str, folder: Path, processes: int, messages: int, senders: int) -> dict:
    """Start ``processes`` workers on ``url`` at once; return the wall time and their CPU."""
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.close()
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.scale",
            "--worker",
            url,
            str(folder),
            str(index),
            str(messages),
            str(senders),
            stdout=asyncio.subprocess.PIPE,
        )
        for index in range(processes)
    ]
    outputs = [await child.communicate() for child in children]
    if any(child.returncode for child in children):
        raise RuntimeError("a worker failed")
    figures = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    # From the first process's first message to the last one's last (start-ups left out).
    wall = max(f["end"] for f in figures) - min(f["start"] for f in figures)
    cpu = sum(f["cpu"] for f in figures)
    return {"wall": wall, "cpu": cpu, "messages": processes * messages}


def backends() -> list[tuple[str, str | None]]:
    """Return SQLite and, when ``COHORT_TEST_POSTGRES`` names a server, PostgreSQL with it."""
    server = os.environ.get("COHORT_TEST_POSTGRES")
    return [("sqlite", None)] + ([("postgresql", server)] if server else [])


async def ingest(messages: int, senders: int) -> None:
    """Print the ingest figures for SQLite and, when a server is given, PostgreSQL."""
    load = os.getloadavg()
    print(f"message ingest, {messages} messages per process, {senders} senders each")
    print(f"cores: {os.cpu_count()}, load average at start: {load[0]:.1f} {load[1]:.1f}")
    print("goal: PostgreSQL grows with processes (up to the cores); SQLite (anchor) does not")
    for backend, server_url in backends():
        base = None
        for processes in PROCESSES:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                url = await fresh_database(server_url, folder, f"bench_scale_{processes}")
                got = await run_round(url, folder, processes, messages, senders)
            rate = got["messages"] / got["wall"]
            base = base or rate
            print(
                f"{backend:10} {processes} process(es): {rate:8.0f} messages/s   "
                f"x{rate / base:4.2f} of one   "
                f"{1000 * got['cpu'] / got['messages']:6.2f} CPU s per 1,000 messages"
            )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


class Board:
    """The rows of a big community's points, made once, written to each backend alike."""

    def __init__(self, members: int, entries: int, seed: int = 1) -> None:
        self.members = members
        self.entries = entries
        self.seed = seed
        self.balances: dict[int, int] = {}
        self.totals: dict[tuple[str, int], int] = {}

    def ledger(self) -> Iterator[tuple[int, int, int, str, str, datetime]]:
        """Yield the ledger rows, summing balances and period totals on the way."""
        rng = random.Random(self.seed)
        self.balances.clear()
        self.totals.clear()
        # A few very active members and a long tail, as in real communities.
        weights = [1.0 / (rank**0.8) for rank in range(1, self.members + 1)]
        chosen = rng.choices(range(1, self.members + 1), weights=weights, k=self.entries)
        utc = ZoneInfo("UTC")
        for n, member in enumerate(chosen):
            at = NOW - timedelta(seconds=rng.randrange(90 * 86_400))
            delta = rng.randint(15, 25)
            self.balances[member] = self.balances.get(member, 0) + delta
            for period in (Period.WEEK, Period.MONTH):
                key = (period_key(period, at, utc) or "", member)
                self.totals[key] = self.totals.get(key, 0) + delta
            self.totals[("s1", member)] = self.totals.get(("s1", member), 0) + delta
            yield 1, member, delta, REASONS[n % len(REASONS)], f"bench:{n}", at

    def balance_rows(self) -> Iterator[tuple[int, int, int, datetime, int]]:
        """Yield the balances (after ``ledger`` ran)."""
        for member, balance in self.balances.items():
            level = points.progress(balance, LevelCurve.MEE6, 0).level
            yield 1, member, balance, NOW, level

    def total_rows(self) -> Iterator[tuple[int, str, int, int]]:
        """Yield the period totals (after ``ledger`` ran)."""
        for (period, member), total in self.totals.items():
            yield 1, period, member, total


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(path: Path, board: Board) -> None:
    """Fill a migrated SQLite file the fast way (one transaction, executemany)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    stamp = _stamp(NOW)
    conn.execute(
        "INSERT INTO communities (id, slug, name, created_at) VALUES (1, 'bench', 'Bench', ?)",
        (stamp,),
    )
    members = range(1, board.members + 1)
    conn.executemany(
        "INSERT INTO members (id, community_id, created_at) VALUES (?, 1, ?)",
        ((m, stamp) for m in members),
    )
    conn.executemany(
        "INSERT INTO accounts (id, community_id, member_id, platform, platform_user_id, username,"
        " username_key, display_name, created_at, last_seen_at)"
        " VALUES (?, 1, ?, 'console', ?, ?, ?, ?, ?, ?)",
        ((m, m, f"user{m}", f"user{m}", f"user{m}", f"User {m}", stamp, stamp) for m in members),
    )
    conn.executemany(
        "INSERT INTO points_ledger (community_id, member_id, delta, reason, source_ref,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        ((*row[:5], _stamp(row[5])) for row in board.ledger()),
    )
    conn.executemany(
        "INSERT INTO points_balances (community_id, member_id, balance, last_active_at, level)"
        " VALUES (?, ?, ?, ?, ?)",
        ((c, m, b, _stamp(at), level) for c, m, b, at, level in board.balance_rows()),
    )
    conn.executemany(
        "INSERT INTO points_period_totals (community_id, period, member_id, total)"
        " VALUES (?, ?, ?, ?)",
        board.total_rows(),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def load_postgres(url: str, board: Board) -> None:
    """Fill a migrated PostgreSQL database the fast way (``COPY``, one transaction)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn)
    members = range(1, board.members + 1)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO communities (id, slug, name, created_at) "
                "VALUES (1, 'bench', 'Bench', $1)",
                NOW,
            )
            await conn.copy_records_to_table(
                "members",
                records=((m, 1, NOW) for m in members),
                columns=["id", "community_id", "created_at"],
            )
            await conn.copy_records_to_table(
                "accounts",
                records=(
                    (m, 1, m, "console", f"user{m}", f"user{m}", f"user{m}", f"User {m}", NOW, NOW)
                    for m in members
                ),
                columns=[
                    "id",
                    "community_id",
                    "member_id",
                    "platform",
                    "platform_user_id",
                    "username",
                    "username_key",
                    "display_name",
                    "created_at",
                    "last_seen_at",
                ],
            )
            await conn.copy_records_to_table(
                "points_ledger",
                records=board.ledger(),
                columns=[
                    "community_id",
                    "member_id",
                    "delta",
                    "reason",
                    "source_ref",
                    "created_at",
                ],
            )
            await conn.copy_records_to_table(
                "points_balances",
                records=board.balance_rows(),
                columns=["community_id", "member_id", "balance", "last_active_at", "level"],
            )
            await conn.copy_records_to_table(
                "points_period_totals",
                records=board.total_rows(),
                columns=["community_id", "period", "member_id", "total"],
            )
        for table in ("communities", "members", "accounts", "points_ledger"):
            await conn.execute(  # what the app inserts next gets a fresh id
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def board_latency(url: str, folder: Path) -> dict[str, list[float]]:
    """Type each leaderboard (first page, then later ones); return the latencies in ms."""
    config = parse_config(
        {
            "database": {"url": url},
            "web": {"enabled": False},
            "communities": [
                {"id": "bench", "name": "Bench", "timezone": "UTC", "admins": ["console:user1"]}
            ],
        },
        source="bench",
        base_dir=folder,
        env={},
    )
    cohort = await build(config, clock=ManualClock(NOW))
    community = cohort.communities["bench"]
    console = ConsoleAdapter(cohort, community, user="user1", out=io.StringIO())
    cohort.platforms[PlatformName.CONSOLE] = console
    figures: dict[str, list[float]] = {}
    try:
        for board in BOARDS:
            lines = [board] * 20 + [f"{board} {page}" for page in range(2, 182)]
            for line in lines[:10]:
                await console.handle_line(line)  # warm up
            samples = []
            for line in lines:
                console.out = io.StringIO()
                before = time.perf_counter_ns()
                await console.handle_line(line)
                samples.append((time.perf_counter_ns() - before) / 1e6)
            figures[board] = samples
    finally:
        await cohort.db.close()
    return figures


async def leaderboards(members: int, entries: int) -> None:
    """Print leaderboard p50/p99 on SQLite (the anchor) and PostgreSQL, side by side."""
    print(f"leaderboard at {members:,} members and {entries:,} ledger entries")
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}")
    print("goal: p99 under 150 ms on both; PostgreSQL within 2x of SQLite (the anchor)")
    board = Board(members, entries)
    results: dict[str, dict[str, list[float]]] = {}
    for backend, server_url in backends():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            url = await fresh_database(server_url, folder, "bench_scale_board")
            db = Database(url)
            try:
                await db.upgrade()
            finally:
                await db.close()
            started = time.perf_counter()
            if server_url is None:
                load_sqlite(folder / "bench.db", board)
            else:
                await load_postgres(url, board)
            print(
                f"{backend:10} loaded in {time.perf_counter() - started:.0f} s "
                f"(load average {os.getloadavg()[0]:.1f})"
            )
            results[backend] = await board_latency(url, folder)
    anchor = results["sqlite"]
    for line in BOARDS:
        for backend, figures in results.items():
            samples = figures[line]
            p99 = percentile(samples, 0.99)
            print(
                f"{line:<20} {backend:10} p50 {statistics.median(samples):7.2f} ms   "
                f"p99 {p99:7.2f} ms   x{p99 / percentile(anchor[line], 0.99):5.2f} of SQLite   "
                f"({len(samples)} runs)"
            )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


async def main(part: str, messages: int, senders: int, members: int, entries: int) -> None:
    """Run the parts asked for."""
    if part in {"ingest", "all"}:
        await ingest(messages, senders)
    if part in {"leaderboard", "all"}:
        await leaderboards(members, entries)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, folder, index, count, senders = sys.argv[2:7]
        asyncio.run(worker(url, Path(folder), int(index), int(count), int(senders)))
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--part", choices=("ingest", "leaderboard", "all"), default="all")
        parser.add_argument("--messages", type=int, default=2000)
        parser.add_argument("--senders", type=int, default=8)
        parser.add_argument("--members", type=int, default=100_000)
        parser.add_argument("--entries", type=int, default=5_000_000)
        args = parser.parse_args()
        asyncio.run(main(args.part, args.messages, args.senders, args.members, args.entries))
