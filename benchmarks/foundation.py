"""Foundation figures: console command dispatch latency and message-log ingestion throughput.

Run: ``make bench`` or ``.venv/bin/python -m benchmarks.foundation [--commands N] [--messages N]``.
Each part runs on a fresh SQLite file in a temporary folder (WAL, as in production). Ingestion is
printed beside its anchor measured in the same run: plain ``sqlite3`` inserting the same rows into
the same migrated ``message_log`` table (same indexes, WAL, ``synchronous=NORMAL``, foreign keys
on) in batches of 500, one transaction a batch: the raw limit Cohort's group commit works toward.
A second anchor writes the same rows in batches of 50: with 50 senders, each waiting for its
message to be committed before it sends the next, no transaction can hold more than 50 rows,
so that is the bound for plain ``sqlite3`` under the same constraint. The anchors and the
50-sender ingestion run alternately ``--repeat`` times (3); medians are printed, each ingestion
run compared with the anchor measured just before it, with the load average. The CPU time a
message takes on the event loop's thread and on the others (the database thread) is printed
too: load stretches wall-clock figures far more than it does CPU time. The ingestion runs the
whole bot, the analytics rollups included: their supervised fold runs during it, and a run
ends when the fold has caught up with its messages.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.console import ConsoleAdapter
from bot.cogs.analytics import folder_of
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
    cohort = await build(config, clock=SystemClock())
    cohort.watch_store()  # the WAL's checkpointer, as ``Cohort.start`` runs it when serving
    return cohort


async def close_bot(cohort: Cohort) -> None:
    """Stop the bot's supervised tasks and close its database."""
    await cohort.supervisor.close()
    await cohort.db.close()


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
        await close_bot(cohort)
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

        # The analytics rollups are folded off the message's transaction by a supervised
        # fold: it runs during the ingest, and the ingest ends when it has caught up.
        rollups = folder_of(cohort)
        if rollups is not None:
            await rollups.start(cohort.supervisor)
        batches, hops = cohort.dispatcher.messages.batches, cohort.db.hops or 0
        started = time.perf_counter()
        main_cpu, all_cpu = time.thread_time(), time.process_time()
        await asyncio.gather(*(sender(i) for i in range(senders)))
        if rollups is not None:
            await rollups.catch_up()
        main_cpu = time.thread_time() - main_cpu  # the event loop's thread
        all_cpu = time.process_time() - all_cpu  # every thread: the rest is SQLite's
        elapsed = time.perf_counter() - started
        batches = cohort.dispatcher.messages.batches - batches
        hops = (cohort.db.hops or 0) - hops
        checkpointer = cohort.db.checkpointer
        if rollups is not None:
            await rollups.stop()
        await close_bot(cohort)
    return {
        "messages": count,
        "senders": senders,
        "per_second": count / elapsed,
        "median_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "rows_per_batch": count / max(1, batches),
        "hops_per_message": hops / count,
        "main_cpu_us": main_cpu / count * 1e6,
        "other_cpu_us": (all_cpu - main_cpu) / count * 1e6,
        "checkpoints": checkpointer.checkpoints if checkpointer else 0,
        "wal_mib": checkpointer.largest_wal / 2**20 if checkpointer else 0,
    }


async def bench_raw_sqlite(count: int, senders: int, batch: int = RAW_BATCH) -> dict[str, float]:
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
        await close_bot(cohort)
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
        for start in range(0, count, batch):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO message_log (community_id, member_id, account_id, platform,"
                " channel_id, message_id, text, posted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows[start : start + batch],
            )
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
    return {"rows": count, "per_second": count / elapsed}


def load() -> str:
    """Return the one-minute load average, for the figures it stretches."""
    return f"{os.getloadavg()[0]:.1f}"


async def main(commands: int, messages: int, repeat: int = 3) -> None:
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
    raws: list[dict[str, float]] = []
    smalls: list[dict[str, float]] = []
    runs: list[dict[str, float]] = []
    loads: list[str] = []
    for _ in range(repeat):  # anchors and ingestion alternate: each ratio is of one moment
        raws.append(await bench_raw_sqlite(messages * 4, 50))
        smalls.append(await bench_raw_sqlite(messages * 4, 50, batch=50))
        runs.append(await bench_ingestion(messages, 50))
        runs[-1]["share"] = runs[-1]["per_second"] / raws[-1]["per_second"]
        loads.append(load())

    def median(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    anchor = median(raws, "per_second")
    print(
        f"anchor, plain sqlite3 (batches of {RAW_BATCH}): {raws[0]['rows']:.0f} rows, "
        f"{anchor:.0f} rows/s (median of {repeat}; load average {', '.join(loads)})"
    )
    bound = [
        small["per_second"] / raw["per_second"] for small, raw in zip(smalls, raws, strict=True)
    ]
    print(
        f"anchor, plain sqlite3 (batches of 50, as many as 50 senders can fill): "
        f"{median(smalls, 'per_second'):.0f} rows/s ({statistics.median(bound):.1%} of the "
        f"batches of {RAW_BATCH})"
    )
    single = await bench_ingestion(messages, 1)
    print(
        f"message ingestion,  1 sender(s): {single['messages']:.0f} messages, "
        f"{single['per_second']:.0f} msg/s, median {single['median_ms']:.2f} ms, "
        f"p99 {single['p99_ms']:.2f} ms; database thread hops a message "
        f"{single['hops_per_message']:.2f} (load average {load()})"
    )
    shares = ", ".join(f"{run['share']:.1%}" for run in runs)
    print(
        f"message ingestion, 50 sender(s): {messages} messages, "
        f"{median(runs, 'per_second'):.0f} msg/s ({median(runs, 'share'):.1%} of the anchor; "
        f"goal with 50 senders >= 25%), median {median(runs, 'median_ms'):.2f} ms, "
        f"p99 {median(runs, 'p99_ms'):.2f} ms; rows a batch {median(runs, 'rows_per_batch'):.1f}, "
        f"database thread hops a message {median(runs, 'hops_per_message'):.3f} "
        f"(median of {repeat}: {shares}); CPU a message: event loop's thread "
        f"{median(runs, 'main_cpu_us'):.1f} us, the others (SQLite's) "
        f"{median(runs, 'other_cpu_us'):.1f} us; WAL checkpoints off the commit path "
        f"{median(runs, 'checkpoints'):.0f}, largest WAL {median(runs, 'wal_mib'):.1f} MiB"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.commands, args.messages, args.repeat))
