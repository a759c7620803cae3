"""Foundation figures: console command dispatch latency and message-log ingestion throughput.

Run: ``make bench`` or ``.venv/bin/python -m benchmarks.foundation [--commands N] [--messages N]``.
Each part runs on a fresh SQLite file in a temporary folder (WAL, as in production). Ingestion is
printed beside its anchor measured in the same run: plain ``sqlite3`` inserting the same rows into
the same migrated ``message_log`` table (same indexes, WAL, ``synchronous=NORMAL``, foreign keys
on) in batches of 500, one transaction a batch: the raw limit Cohort's group commit works toward.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import SystemClock
from bot.core.cohort import Cohort
from bot.core.config import parse_config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.runtime import build

RAW_BATCH = 500
COMMANDS = ("/help", "/whoami", "/lang en", "/help link", "/help whoami")


def percentile(samples: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``samples``."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


async def open_bot(folder: Path) -> Cohort:
    """Build a bot on a fresh SQLite file in ``folder``."""
    config = parse_config(
        {
            "web": {"enabled": False},
            "communities": [{"id": "bench", "name": "Bench", "admins": ["console:alice"]}],
        },
        source="bench",
        base_dir=folder,
        env={},
    )
    return await build(config, clock=SystemClock())


async def bench_commands(count: int) -> dict[str, float]:
    """Time ``count`` console commands one after another, as a person would send them."""
    with tempfile.TemporaryDirectory() as folder:
        cohort = await open_bot(Path(folder))
        console = ConsoleAdapter(
            cohort, cohort.communities["bench"], user="alice", out=io.StringIO()
        )
        cohort.platforms[PlatformName.CONSOLE] = console
        for line in COMMANDS * 20:  # warm up caches and the connection pool
            await console.handle_line(line)
        samples: list[float] = []
        reads: list[float] = []  # the commands that change nothing (all but /lang)
        reads_cpu: list[float] = []  # their CPU time (every thread): what load cannot stretch
        versions = cohort.versions.reads
        started = time.perf_counter()
        for i in range(count):
            if i % 1000 == 0:
                console.out = io.StringIO()  # keep the output buffer from growing for ever
            line = COMMANDS[i % len(COMMANDS)]
            before, cpu = time.perf_counter_ns(), time.process_time_ns()
            await console.handle_line(line)
            took = (time.perf_counter_ns() - before) / 1e6
            samples.append(took)
            if not line.startswith("/lang"):
                reads.append(took)
                reads_cpu.append((time.process_time_ns() - cpu) / 1e6)
        elapsed = time.perf_counter() - started
        versions = cohort.versions.reads - versions
        await cohort.db.close()
    return {
        "commands": count,
        "per_second": count / elapsed,
        "median_ms": statistics.median(samples),
        "p99_ms": percentile(samples, 0.99),
        "max_ms": max(samples),
        "reads_median_ms": statistics.median(reads),
        "reads_p99_ms": percentile(reads, 0.99),
        "version_reads": versions,
        "reads_cpu_median_ms": statistics.median(reads_cpu),
        "reads_cpu_p99_ms": percentile(reads_cpu, 0.99),
    }


async def bench_ingestion(count: int, senders: int) -> dict[str, float]:
    """Post ``count`` messages from ``senders`` concurrent members into the message log."""
    with tempfile.TemporaryDirectory() as folder:
        cohort = await open_bot(Path(folder))
        community = cohort.communities["bench"]
        channel = ChannelRef(PlatformName.CONSOLE, "general")
        callers = [
            Caller(PlatformName.CONSOLE, f"member{i}", f"Member {i}") for i in range(senders)
        ]
        for caller in callers:  # members exist already, as in a running community
            await cohort.identity.resolve(community.id, caller)
        latencies: list[float] = []

        async def sender(index: int) -> None:
            caller = callers[index]
            for n in range(index, count, senders):
                before = time.perf_counter_ns()
                await cohort.dispatcher.message_posted(
                    community,
                    caller,
                    channel,
                    f"m{n}",
                    f"message number {n} about pandas and calculus",
                    datetime.now(UTC),
                )
                latencies.append((time.perf_counter_ns() - before) / 1e6)

        started = time.perf_counter()
        await asyncio.gather(*(sender(i) for i in range(senders)))
        elapsed = time.perf_counter() - started
        await cohort.db.close()
    return {
        "messages": count,
        "senders": senders,
        "per_second": count / elapsed,
        "median_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
    }


async def bench_raw_sqlite(count: int, senders: int) -> dict[str, float]:
    """Insert ``count`` message-log rows with plain ``sqlite3``: the anchor for ingestion."""
    with tempfile.TemporaryDirectory() as folder:
        cohort = await open_bot(Path(folder))
        community = cohort.communities["bench"]
        accounts = [
            await cohort.identity.resolve(
                community.id, Caller(PlatformName.CONSOLE, f"member{i}", f"Member {i}")
            )
            for i in range(senders)
        ]
        await cohort.db.close()
        conn = sqlite3.connect(Path(folder) / "cohort.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        rows = [
            (
                community.id,
                accounts[n % senders].member_id,
                accounts[n % senders].id,
                "console",
                "general",
                f"m{n}",
                f"message number {n} about pandas and calculus",
                datetime.now(UTC).isoformat(),
            )
            for n in range(count)
        ]
        started = time.perf_counter()
        for start in range(0, count, RAW_BATCH):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO message_log (community_id, member_id, account_id, platform,"
                " channel_id, message_id, text, posted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows[start : start + RAW_BATCH],
            )
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
    return {"rows": count, "per_second": count / elapsed}


async def main(commands: int, messages: int) -> None:
    """Run every part and print its figures."""
    result = await bench_commands(commands)
    print(
        f"console dispatch: {result['commands']:.0f} commands, {result['per_second']:.0f}/s, "
        f"median {result['median_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms, "
        f"max {result['max_ms']:.1f} ms"
    )
    print(
        f"  of which the commands that change nothing (all but /lang): "
        f"median {result['reads_median_ms']:.3f} ms, p99 {result['reads_p99_ms']:.3f} ms; "
        f"cache version reads {result['version_reads']:.0f} (one after each /lang); "
        f"CPU median {result['reads_cpu_median_ms']:.3f} ms, "
        f"p99 {result['reads_cpu_p99_ms']:.3f} ms"
    )
    raw = await bench_raw_sqlite(messages * 4, 50)
    print(
        f"anchor, plain sqlite3 (batches of {RAW_BATCH}): {raw['rows']:.0f} rows, "
        f"{raw['per_second']:.0f} rows/s"
    )
    for senders in (1, 50):
        result = await bench_ingestion(messages, senders)
        share = result["per_second"] / raw["per_second"]
        print(
            f"message ingestion, {senders:>2} sender(s): {result['messages']:.0f} messages, "
            f"{result['per_second']:.0f} msg/s ({share:.1%} of the anchor; goal with 50 senders"
            f" >= 25%), median {result['median_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=5_000)
    args = parser.parse_args()
    asyncio.run(main(args.commands, args.messages))
