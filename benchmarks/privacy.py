"""Privacy figures: erasing (and exporting) a member with a long history.

Builds a SQLite file (WAL, migrated) with ``--others`` members sharing ``--background``
messages and ledger rows, then gives one member ``--messages`` logged messages and
``--ledger`` points-ledger rows (with their balance and period totals, purchases and an RSVP)
and times, through the real code:

- ``Privacy.erase`` of that member: every holding of every cog in one transaction, the message
  day counts folded in, purchases anonymised (goal: under 2 s for 100,000 messages and 10,000
  ledger rows);
- ``Privacy.export`` of the same member beforehand (no goal; printed for scale).

The anchor, measured in the same run on a copy of the same member's rows: plain ``sqlite3``
deleting them (``message_log`` and ``points_ledger`` by member, one transaction, foreign keys
on): the floor any erase stands on. It is measured twice: with SQLite's default page cache
(2 MiB), and with the page cache Cohort gives an erasure (``bot.store.db.BULK_CACHE_KIB``), the
like-for-like floor. Each figure is the median of ``--runs`` runs.
Run: ``.venv/bin/python -m benchmarks.privacy [--messages 100000] [--ledger 10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.clock import ManualClock
from bot.core.config import parse_config
from bot.core.privacy import Requester
from bot.runtime import build
from bot.store.db import BULK_CACHE_KIB

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GOAL_S = 2.0
STAMP = "%Y-%m-%d %H:%M:%S.%f"


def load_member(path: Path, member_id: int, messages: int, ledger: int, seed: int) -> None:
    """Give ``member_id`` (created here) an account, messages, ledger rows and a purchase."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    now = NOW.strftime(STAMP)
    conn.execute(
        "INSERT INTO members (id, community_id, created_at) VALUES (?, 1, ?)", (member_id, now)
    )
    conn.execute(
        "INSERT INTO accounts (id, community_id, member_id, platform, platform_user_id, username,"
        " username_key, display_name, created_at, last_seen_at)"
        " VALUES (?, 1, ?, 'telegram', ?, ?, ?, 'Member', ?, ?)",
        (member_id, member_id, str(member_id), f"u{member_id}", f"u{member_id}", now, now),
    )
    conn.executemany(
        "INSERT INTO message_log (community_id, member_id, account_id, platform, channel_id,"
        " message_id, text, posted_at) VALUES (1, ?, ?, 'telegram', ?, ?, ?, ?)",
        (
            (
                member_id,
                member_id,
                f"-100{rng.randrange(20)}",
                f"{member_id}-{i}",
                f"message {i} about sourdough, knitting and rust lifetimes",
                (NOW - timedelta(minutes=rng.randrange(525_600))).strftime(STAMP),
            )
            for i in range(messages)
        ),
    )
    conn.executemany(
        "INSERT INTO points_ledger (community_id, member_id, delta, reason, source_ref,"
        " created_at) VALUES (1, ?, ?, 'message', ?, ?)",
        ((member_id, rng.randrange(1, 10), f"{member_id}:{i}", now) for i in range(ledger)),
    )
    conn.execute(
        "INSERT INTO points_balances (community_id, member_id, balance, level) VALUES (1, ?, ?, 3)",
        (member_id, ledger * 5),
    )
    conn.executemany(
        "INSERT INTO points_period_totals (community_id, period, member_id, total)"
        " VALUES (1, ?, ?, 50)",
        ((f"w2026-{w:02d}", member_id) for w in range(1, 48)),
    )
    conn.execute(
        "INSERT INTO purchases (community_id, member_id, offer_id, source, source_ref,"
        " amount_minor, currency, purchased_at) VALUES (1, ?, 'pro', 'stripe', ?, 4900, 'eur', ?)",
        (member_id, f"cs_{member_id}", now),
    )
    conn.commit()
    conn.close()


def raw_delete(path: Path, member_id: int, cache_kib: int | None = None) -> float:
    """Time plain sqlite3 deleting the member's messages and ledger rows in one transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    if cache_kib is not None:
        conn.execute(f"PRAGMA cache_size=-{cache_kib}")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM message_log WHERE member_id = ?", (member_id,))
    conn.execute("DELETE FROM points_ledger WHERE member_id = ?", (member_id,))
    conn.execute("COMMIT")
    took = time.perf_counter() - started
    conn.close()
    return took


async def main(messages: int, ledger: int, others: int, background: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = parse_config(
            {"web": {"enabled": False}, "communities": [{"id": "bench", "name": "Bench"}]},
            source="bench",
            base_dir=Path(folder),
            env={},
        )
        cohort = await build(config, clock=ManualClock(NOW))
        path = Path(folder) / "cohort.db"
        assert path.exists(), path
        per_other = max(1, background // max(1, others))
        for n in range(others):
            load_member(path, 1_000_000 + n, per_other, per_other // 10, seed=n)
        community = cohort.communities["bench"].id
        erase, export, raw, raw_cached = [], [], [], []
        for run in range(runs):
            victim, twin, twin_cached = 10 + 3 * run, 11 + 3 * run, 12 + 3 * run
            for member in (victim, twin, twin_cached):
                load_member(path, member, messages, ledger, seed=run)
            started = time.perf_counter()
            document = await cohort.privacy.export(victim)
            export.append(time.perf_counter() - started)
            assert len(document["data"]["message_log.member_id"]) == messages
            started = time.perf_counter()
            report = await cohort.privacy.erase(community, victim, Requester.SELF)
            erase.append(time.perf_counter() - started)
            assert report.counts["message_log.member_id"] == messages
            raw.append(raw_delete(path, twin))
            raw_cached.append(raw_delete(path, twin_cached, BULK_CACHE_KIB))
        await cohort.db.close()
    load = os.getloadavg()
    print(
        f"privacy benchmark: {messages:,} messages and {ledger:,} ledger rows for the member, "
        f"{others:,} other members with {background:,} messages; median of {runs} runs; "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    verdict = "met" if statistics.median(erase) < GOAL_S else "MISSED"
    print(
        f"erase of the member: goal < {GOAL_S:.1f} s, measured {statistics.median(erase):.2f} s "
        f"({verdict}); runs {', '.join(f'{t:.2f}' for t in erase)}"
    )
    for name, times in (
        ("SQLite's default 2 MiB page cache", raw),
        (f"the erasure's {BULK_CACHE_KIB // 1024} MiB page cache", raw_cached),
    ):
        print(
            f"anchor, plain sqlite3 deleting the same messages and ledger rows with {name}: "
            f"{statistics.median(times):.2f} s (erase / anchor = "
            f"{statistics.median(erase) / statistics.median(times):.2f}x); "
            f"runs {', '.join(f'{t:.2f}' for t in times)}"
        )
    print(f"export of the member (JSON document, no goal): {statistics.median(export):.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--ledger", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=200)
    parser.add_argument("--background", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.ledger, args.others, args.background, args.runs))
