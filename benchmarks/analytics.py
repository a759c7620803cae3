"""Analytics figures: what the rollups cost per message, and how fast each page answers.

Part 1, ingestion: blocks of ``--messages`` messages posted through the real dispatcher
(identity, the message log's group commit, every cog's listener) by 1 and by 50 concurrent
senders into one bot, with the analytics rollups and without them (the message log's hook that
notes messages as pending taken off and put back between blocks), in ``--rounds`` pairs of
blocks, the order alternating from pair to pair. The rollups are folded off the message's
transaction by the bot's supervised fold (running during the blocks, as in the bot), and a
block with them ends only when the fold has caught up: its last messages are in the rollups,
and the fold's time and CPU count in the block. Each pair gives a slowdown (1 - with /
without), measured a fraction of a second apart on the same file, so the machine's load and
the file's size fall on both alike; the figure is the median of the pairs' slowdowns, printed
with its quartiles, beside the slowdown of the fastest block of each kind (the least
disturbed), and the same for the CPU time a message (the whole process's). A fresh
bot per run of a few thousand messages, as before 2026-12-07, swung by 25 points between runs
of the same code with 50 senders (its one WAL checkpoint more or less, a descheduling).

Part 2, pages: a SQLite file bulk loaded with what a year of a big community leaves in the
tables the pages read (``--members`` members with presence, rollups of ``--page-messages``
messages over 365 days and 20 channels, ``--purchases`` purchases with their subscriptions,
questions, a lecture a week), then p50/p99 of every ``Analytics`` page over the last 30 days
(and the overview over 365 days), the revenue ledger kept in memory as the dashboard keeps it
(and the revenue page once more reading it per request; once more after a change: a new
invoice, a refund, a cancellation or a dispute written, untimed, before each call, so each call
brings the kept ledger up to date; once more after a deletion: a purchase, a payment or an
access source deleted, untimed, before each call; and as a process's first call: a new service
on its own ``Ledgers`` each call, its ledger read by the keeper as the bot starts, untimed, that
read timed apart); the day's kept member sums are made
first by the scheduled job's sweep, timed apart, and the first call of each page, which
reads the ledger, is shown apart. The pages never read
the message log, so it is left empty.
Run: ``.venv/bin/python -m benchmarks.analytics [--messages 2000] [--rounds 15] [--no-pages]``.
With ``--db PATH`` the loaded file is kept there and a later run with the same path reuses it
(the sizes are then the file's; its kept ranges are dropped first, so the sweep makes them
again); ``--only overview,members`` times only the pages whose names start so.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import delete, insert, update

from benchmarks.foundation import close_bot, open_bot, percentile
from bot.cogs.analytics import Analytics, Folder, MemberSort, Segment, folder_of
from bot.cogs.analytics._keeper import Ledgers
from bot.cogs.analytics._ranges import sweep
from bot.cogs.analytics._rollup import Recorder
from bot.core.clock import ManualClock
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.core.versions import Versions
from bot.store.db import Database
from bot.store.tables import access_sources, purchases, stripe_payments

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/New_York")
CHANNELS = 20
GOAL_SLOWDOWN = 0.10
GOAL_P99_MS = 150.0


# --- part 1: ingestion with and without the rollups ------------------------------------------


async def ingest_pairs(
    count: int, senders: int, pairs: int
) -> list[dict[bool, tuple[float, float]]]:
    """Post blocks of ``count`` messages from ``senders`` members with and without the rollups.

    Return each pair's blocks: rollups on (True) or off (False), each block's messages a second
    and CPU seconds a message (the whole process's).
    """
    with tempfile.TemporaryDirectory() as folder:
        cohort = await open_bot(Path(folder))
        group = cohort.dispatcher.messages
        hooks, forms = list(group.after_insert), dict(group.raw_forms)
        fold = folder_of(cohort)
        assert fold is not None
        await fold.start(cohort.supervisor)
        community = cohort.communities["bench"]
        channels = [ChannelRef(PlatformName.CONSOLE, f"c{n}") for n in range(CHANNELS)]
        callers = [
            Caller(PlatformName.CONSOLE, f"member{i}", f"Member {i}") for i in range(senders)
        ]
        for caller in callers:
            await cohort.identity.resolve(community.id, caller)
        blocks = 0

        async def block(rollups: bool) -> tuple[float, float]:
            nonlocal blocks
            blocks += 1
            group.after_insert[:] = hooks if rollups else []
            group.raw_forms = forms if rollups else {}

            async def sender(index: int) -> None:
                for n in range(index, count, senders):
                    await cohort.dispatcher.message_posted(
                        community,
                        callers[index],
                        channels[n % CHANNELS],
                        f"m{blocks}-{n}",
                        f"message number {n} about pandas and calculus",
                        datetime.now(UTC),
                    )

            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(sender(i) for i in range(senders)))
            await fold.catch_up()  # the block's messages are all in the rollups
            return count / (time.perf_counter() - started), (time.process_time() - cpu) / count

        await block(True)  # warm up: first messages, points awards, presence rows
        await block(False)
        found: list[dict[bool, tuple[float, float]]] = []
        for n in range(pairs):
            order = (False, True) if n % 2 == 0 else (True, False)
            found.append({rollups: await block(rollups) for rollups in order})
        await fold.stop()
        await close_bot(cohort)
    return found


def quartiles(values: list[float]) -> str:
    """Return the median of ``values`` with its quartiles, as percentages."""
    if len(values) < 2:
        return f"{values[0]:.1%}"
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return f"{q2:.1%} (quartiles {q1:.1%} to {q3:.1%})"


async def bench_ingestion(count: int, rounds: int) -> None:
    """Print the slowdown the rollups cost ingestion, with 1 and with 50 senders.

    Two estimates: the median of the pairs' slowdowns (with quartiles), and the slowdown of
    the fastest block of each kind (other people's load only ever slows a block down, so the
    fastest is the least disturbed); the same for the CPU time a message.
    """
    for senders in (1, 50):
        found = await ingest_pairs(count, senders, rounds)
        slowdowns = [1 - pair[True][0] / pair[False][0] for pair in found]
        more_cpu = [pair[True][1] / pair[False][1] - 1 for pair in found]
        fastest = {on: max(pair[on][0] for pair in found) for on in (True, False)}
        least = {on: min(pair[on][1] for pair in found) for on in (True, False)}
        print(
            f"ingestion, {senders:>2} sender(s), {rounds} pairs of {count}-message blocks: "
            f"slowdown with analytics {quartiles(slowdowns)}, fastest blocks "
            f"{fastest[True]:.0f} against {fastest[False]:.0f} msg/s: "
            f"{1 - fastest[True] / fastest[False]:.1%}; CPU a message {quartiles(more_cpu)} "
            f"more, least {least[True] * 1e6:.1f} against {least[False] * 1e6:.1f} us: "
            f"{least[True] / least[False] - 1:+.1%} (goal <= {GOAL_SLOWDOWN:.0%}; "
            f"load average {os.getloadavg()[0]:.1f})"
        )


# --- part 2: page latency on a year of a big community ---------------------------------------


def stamp(at: datetime) -> str:
    """Write an instant as the store keeps it in SQLite."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def bulk_load(path: Path, members: int, messages: int, purchases: int, seed: int = 1) -> None:
    """Fill the tables the pages read, the fast way."""
    rng = np.random.default_rng(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    year_ago = NOW - timedelta(days=365)
    conn.execute(
        "INSERT INTO communities (id, slug, name, created_at) VALUES (1, 'bench', 'Bench', ?)",
        (stamp(year_ago),),
    )
    joined = year_ago + timedelta(days=1) * rng.uniform(0, 365, members)
    conn.executemany(
        "INSERT INTO members (id, community_id, created_at) VALUES (?, 1, ?)",
        ((m + 1, stamp(joined[m])) for m in range(members)),
    )
    platforms = np.where(rng.random(members) < 0.5, "discord", "telegram")
    conn.executemany(
        "INSERT INTO accounts (id, community_id, member_id, platform, platform_user_id, username,"
        " username_key, display_name, created_at, last_seen_at)"
        " VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                m + 1,
                m + 1,
                str(platforms[m]),
                f"u{m}",
                f"user{m}",
                f"user{m}",
                f"User {m}",
                stamp(joined[m]),
                stamp(joined[m]),
            )
            for m in range(members)
        ),
    )
    left = rng.random(members) < 0.15
    conn.executemany(
        "INSERT INTO analytics_presence (account_id, community_id, member_id, platform,"
        " joined_at, left_at) VALUES (?, 1, ?, ?, ?, ?)",
        (
            (
                m + 1,
                m + 1,
                str(platforms[m]),
                stamp(joined[m]),
                stamp(min(NOW, joined[m] + timedelta(days=30))) if left[m] else None,
            )
            for m in range(members)
        ),
    )
    # Messages: a few very active members and a long tail; days uniform over the year.
    weights = 1.0 / np.arange(1, members + 1) ** 0.8
    who = rng.choice(members, size=messages, p=weights / weights.sum())
    hour = rng.integers(0, 365 * 24, size=messages)
    channel = rng.integers(0, CHANNELS, size=messages)
    thread = rng.random(messages) < 0.2
    start_hour = year_ago.replace(minute=0, second=0, microsecond=0)
    keys, counts = np.unique(hour * CHANNELS + channel, return_counts=True)
    hour_rows = len(keys)
    conn.executemany(
        "INSERT INTO analytics_hours (community_id, hour, platform, channel_id, messages,"
        " reactions) VALUES (1, ?, 'discord', ?, ?, 0)",
        (
            (stamp(start_hour + timedelta(hours=int(k // CHANNELS))), f"c{k % CHANNELS}", int(n))
            for k, n in zip(keys, counts, strict=True)
        ),
    )
    first_day = (year_ago.astimezone(ZONE)).date()
    day = hour // 24
    keys, counts = np.unique(who * 400 + day, return_counts=True)
    threads = np.bincount(np.searchsorted(keys, who * 400 + day), weights=thread)
    conn.executemany(
        "INSERT INTO analytics_member_days (community_id, member_id, day, messages,"
        " thread_messages, reactions) VALUES (1, ?, ?, ?, ?, 0)",
        (
            (
                int(k // 400) + 1,
                (first_day + timedelta(days=int(k % 400))).isoformat(),
                int(n),
                int(t),
            )
            for k, n, t in zip(keys, counts, threads, strict=True)
        ),
    )
    member_days = len(keys)
    # The totals the hook keeps beside the member days: what ``analytics rebuild`` counts.
    conn.execute(
        "INSERT INTO analytics_days (community_id, day, messages, thread_messages, reactions,"
        " active) SELECT community_id, day, SUM(messages), SUM(thread_messages), SUM(reactions),"
        " COUNT(*) FROM analytics_member_days GROUP BY community_id, day"
    )
    conn.execute(
        "INSERT INTO analytics_member_totals (community_id, member_id, first_day, last_day)"
        " SELECT community_id, member_id, MIN(day), MAX(day)"
        " FROM analytics_member_days GROUP BY community_id, member_id"
    )
    # Each member's stay, as presence events (and ``analytics rebuild``) keep it: local days.
    conn.executemany(
        "INSERT INTO analytics_member_totals (community_id, member_id, joined_ordinal,"
        " left_ordinal) VALUES (1, ?, ?, ?)"
        " ON CONFLICT (community_id, member_id) DO UPDATE SET"
        " joined_ordinal = excluded.joined_ordinal, left_ordinal = excluded.left_ordinal",
        (
            (
                m + 1,
                joined[m].astimezone(ZONE).date().toordinal(),
                min(NOW, joined[m] + timedelta(days=30)).astimezone(ZONE).date().toordinal()
                if left[m]
                else None,
            )
            for m in range(members)
        ),
    )
    # Purchases: a third are course sales, the rest monthly or yearly subscription invoices.
    buyers = rng.choice(members, size=purchases)
    paid = year_ago + timedelta(days=1) * rng.uniform(0, 365, purchases)
    for n in range(purchases):
        member = int(buyers[n]) + 1
        source_id = n + 1
        course = n % 3 == 0
        yearly = n % 7 == 0
        period = timedelta(days=365 if yearly else 30)
        conn.execute(
            "INSERT INTO access_sources (id, community_id, member_id, offer_id, kind, ref,"
            " status, cancel_at_period_end, period_start, period_end, refunded, disputed,"
            " version, entitled, created_at, updated_at)"
            " VALUES (?, 1, ?, ?, ?, ?, ?, 0, ?, ?, 0, 0, 1, 1, ?, ?)",
            (
                source_id,
                member,
                "course" if course else "pro",
                "payment" if course else "subscription",
                f"src{n}",
                "paid" if course else ("canceled" if n % 5 == 0 else "active"),
                stamp(paid[n]),
                stamp(paid[n] + period),
                stamp(paid[n]),
                stamp(paid[n]),
            ),
        )
        amount = 5000 if course else (24000 if yearly else 2000)
        conn.execute(
            "INSERT INTO purchases (community_id, member_id, offer_id, source, source_ref,"
            " amount_minor, currency, purchased_at, refunded_at)"
            " VALUES (1, ?, ?, 'stripe', ?, ?, 'usd', ?, ?)",
            (
                member,
                "course" if course else "pro",
                f"in{n}",
                amount,
                stamp(paid[n]),
                stamp(paid[n] + timedelta(days=2)) if n % 50 == 0 else None,
            ),
        )
        conn.execute(
            "INSERT INTO stripe_payments (community_id, payment_intent, source_id, purchase_ref,"
            " paid_at, refunded, dispute_id) VALUES (1, ?, ?, ?, ?, 0, ?)",
            (
                f"pi{n}",
                source_id,
                f"in{n}",
                int(paid[n].timestamp()),
                f"dp{n}" if n % 200 == 0 else None,
            ),
        )
    asked = year_ago + timedelta(days=1) * rng.uniform(0, 365, members // 20)
    conn.executemany(
        "INSERT INTO qa_questions (community_id, asker_id, platform, channel_id, title, body,"
        " state, created_at, active_at, first_answer_at, solved_at)"
        " VALUES (1, ?, 'discord', 'help', 'q', 'q', ?, ?, ?, ?, ?)",
        (
            (
                int(rng.integers(1, members + 1)),
                "solved" if n % 2 else "open",
                stamp(at),
                stamp(at),
                stamp(at + timedelta(hours=1 + n % 9)) if n % 3 else None,
                stamp(at + timedelta(hours=5 + n % 20)) if n % 2 else None,
            )
            for n, at in enumerate(asked)
        ),
    )
    conn.commit()
    conn.close()
    print(
        f"loaded: {members} members, {messages} messages as {member_days} member-days and "
        f"{hour_rows} hour rows, {purchases} purchases, {len(asked)} questions"
    )


def _ms(since_ns: int) -> float:
    return (time.perf_counter_ns() - since_ns) / 1e6


class Changes:
    """Change what the revenue ledger reads, as the gating cog does, one change a call."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.made = 0

    async def __call__(self) -> None:
        """Make the next change: a new invoice, a refund, a cancellation or a dispute."""
        n, self.made = self.made, self.made + 1
        at = NOW - timedelta(minutes=n + 1)
        async with self.db.write() as conn:
            if n % 4 == 0:  # a new invoice of a monthly subscription (source 2, invoice in1)
                ref = f"bench-in{n}"
                await conn.execute(
                    insert(purchases).values(
                        community_id=1,
                        member_id=1,
                        offer_id="pro",
                        source="stripe",
                        source_ref=ref,
                        amount_minor=2000,
                        currency="usd",
                        purchased_at=at,
                    )
                )
                await conn.execute(
                    insert(stripe_payments).values(
                        community_id=1,
                        payment_intent=f"bench-pi{n}",
                        source_id=2,
                        purchase_ref=ref,
                        paid_at=int(at.timestamp()),
                        refunded=False,
                    )
                )
            elif n % 4 == 1:
                await conn.execute(
                    update(purchases)
                    .where(purchases.c.community_id == 1, purchases.c.source_ref == f"in{n}")
                    .values(refunded_at=at)
                )
            elif n % 4 == 2:
                await conn.execute(
                    update(access_sources)
                    .where(access_sources.c.community_id == 1, access_sources.c.ref == f"src{n}")
                    .values(status="canceled", ends_at=at, updated_at=at)
                )
            else:
                await conn.execute(
                    update(stripe_payments)
                    .where(
                        stripe_payments.c.community_id == 1,
                        stripe_payments.c.payment_intent == f"pi{n}",
                    )
                    .values(dispute_id=f"bench-dp{n}", dispute_status="needs_response")
                )


class Deletions:
    """Delete what the revenue ledger reads, one row a call (as an operator or a cascade does)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.made = 0

    async def __call__(self) -> None:
        """Delete the next row: a purchase, a payment, or an access source and its payment."""
        n, self.made = 5_000 + self.made, self.made + 1
        async with self.db.write() as conn:
            if n % 3 == 0:
                table, column, ref = purchases, purchases.c.source_ref, f"in{n}"
            elif n % 3 == 1:
                table, column, ref = stripe_payments, stripe_payments.c.payment_intent, f"pi{n}"
            else:
                table, column, ref = access_sources, access_sources.c.ref, f"src{n}"
            await conn.execute(delete(table).where(table.c.community_id == 1, column == ref))


class FirstCalls:
    """A new process's services, one a call: its ledger read as the bot starts, then the page."""

    def __init__(self, db: Database, clock: ManualClock, current: Callable[[], Awaitable[object]]):
        self.db = db
        self.clock = clock
        self.current = current
        self.service: Analytics | None = None
        self.reads: list[float] = []  # each start's whole read (off the request path), ms

    async def start(self) -> None:
        """Start a new process's service and read its ledger as its keeper does (timed apart)."""
        ledgers = Ledgers(Versions(self.db, self.clock, staleness=timedelta(seconds=1)))
        self.service = Analytics(
            self.db, self.clock, ledgers=ledgers, zones={1: ZONE}, current=self.current
        )
        before = time.perf_counter_ns()
        await ledgers.keep(self.db, [1])
        self.reads.append(_ms(before))

    async def call(self, month: date, end: date) -> object:
        """The new process's first revenue page."""
        assert self.service is not None
        return await self.service.revenue(1, month, end, ZONE)


def forget_ranges(path: Path) -> None:
    """Drop the member sums a reused file kept from an earlier run."""
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM analytics_range_members")
    conn.execute("DELETE FROM analytics_ranges")
    conn.commit()
    conn.close()


async def time_pages(path: Path, runs: int, only: tuple[str, ...] = ()) -> None:
    """Print p50/p99 of every page (of those whose names start with one of ``only``)."""
    db = Database(f"sqlite+aiosqlite:///{path}")
    clock = ManualClock(NOW)
    # As the dashboard, /stats and the weekly report hold it: the revenue ledger kept in memory
    # (read once, at the warm-up), the community's zone known; ``uncached`` reads the ledger
    # per request, as each of them does once after a purchase, a payment or an access change.
    # Each page first folds what messages are pending, as the bot's do (none here: one read).
    current = Folder(db, Recorder({1: ZONE})).current
    service = Analytics(
        db,
        clock,
        ledgers=Ledgers(Versions(db, clock, staleness=timedelta(seconds=1))),
        zones={1: ZONE},
        current=current,
    )
    uncached = Analytics(db, clock, current=current)
    # The ledger read after a change: a service keeping it, one change made (untimed) before
    # each call, as on a community where people buy every few minutes.
    changing = Analytics(
        db,
        clock,
        ledgers=Ledgers(Versions(db, clock, staleness=timedelta(seconds=1))),
        zones={1: ZONE},
        current=current,
    )
    change = Changes(db)
    deleting = Analytics(
        db,
        clock,
        ledgers=Ledgers(Versions(db, clock, staleness=timedelta(seconds=1))),
        zones={1: ZONE},
        current=current,
    )
    deletion = Deletions(db)
    first_calls = FirstCalls(db, clock, current)
    # What is done, untimed, before each timed call of a page.
    before_each: dict[str, Callable[[], Awaitable[None]]] = {
        "revenue after a change": change,
        "revenue after a deletion": deletion,
        "revenue, first call": first_calls.start,
    }
    end = NOW.astimezone(ZONE).date()
    month = end - timedelta(days=29)
    year = end - timedelta(days=364)
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("overview 30d", lambda: service.overview(1, month, end, ZONE)),
        ("overview 365d", lambda: service.overview(1, year, end, ZONE)),
        ("growth 30d", lambda: service.growth(1, month, end, ZONE)),
        ("activity 30d", lambda: service.activity(1, month, end, ZONE)),
        ("retention 12w", lambda: service.retention(1, end - timedelta(weeks=12), end, ZONE)),
        ("engagement 30d", lambda: service.engagement(1, month, end, ZONE)),
        ("qa 30d", lambda: service.qa(1, month, end, ZONE)),
        ("lectures 30d", lambda: service.lectures(1, month, end, ZONE)),
        ("revenue 30d", lambda: service.revenue(1, month, end, ZONE)),
        ("revenue uncached", lambda: uncached.revenue(1, month, end, ZONE)),
        ("revenue after a change", lambda: changing.revenue(1, month, end, ZONE)),
        ("revenue after a deletion", lambda: deleting.revenue(1, month, end, ZONE)),
        ("revenue, first call", lambda: first_calls.call(month, end)),
        ("recommender 30d", lambda: service.recommender(1, month, end, ZONE)),
        ("member 30d", lambda: service.member(1, 1, month, end, ZONE)),
        (
            "members 30d",
            lambda: service.members(
                1, month, end, ZONE, sort=MemberSort.ENGAGEMENT, segment=Segment.ALL
            ),
        ),
        ("members search", lambda: service.members(1, month, end, ZONE, search="user42")),
    ]
    if only:
        calls = [(name, call) for name, call in calls if name.startswith(only)]
    gc.freeze()  # as ``cohort run`` does once started (bot/runtime.py)
    try:
        # The scheduled job (``analytics.ranges``) makes the day's kept range after the local
        # midnight, off the request path; timed apart, before the pages' first calls.
        before = time.perf_counter_ns()
        await sweep(db, clock, {1: ZONE})
        print(f"kept range made by the sweep (off the request path) {_ms(before):8.1f} ms")
        for name, call in calls:
            prepare = before_each.get(name)
            if prepare is not None:
                await prepare()
            before = time.perf_counter_ns()
            await call()  # warm the connection and the statement cache (and make what is kept)
            first = (time.perf_counter_ns() - before) / 1e6
            samples = []
            for _ in range(runs):
                if prepare is not None:
                    await prepare()
                before = time.perf_counter_ns()
                await call()
                samples.append((time.perf_counter_ns() - before) / 1e6)
            p99 = percentile(samples, 0.99)
            verdict = "ok" if p99 <= GOAL_P99_MS else "over"
            print(
                f"page {name:<24} first {first:8.1f} ms   p50 {statistics.median(samples):8.1f} ms"
                f"   p99 {p99:8.1f} ms"
                f"   (goal p99 <= {GOAL_P99_MS:.0f} ms: {verdict})"
            )
        if first_calls.reads:
            reads = first_calls.reads
            print(
                f"ledger read whole as a process starts (off the request path): "
                f"p50 {statistics.median(reads):8.1f} ms   p99 {percentile(reads, 0.99):8.1f} ms"
            )
    finally:
        await db.close()


async def main(args: argparse.Namespace) -> None:
    """Run both parts and print their figures."""
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    if args.rounds:
        await bench_ingestion(args.messages, args.rounds)
    if args.no_pages:
        return
    only = tuple(name for name in args.only.split(",") if name)
    with tempfile.TemporaryDirectory() as folder:
        path = args.db or Path(folder) / "cohort.db"
        reuse = path.exists()
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.upgrade()
        await db.close()
        if reuse:
            forget_ranges(path)
            print(f"reusing {path}")
        else:
            started = time.perf_counter()
            bulk_load(path, args.members, args.page_messages, args.purchases)
            print(f"bulk load took {time.perf_counter() - started:.0f} s")
        await time_pages(path, args.runs, only)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2_000, help="messages a block")
    parser.add_argument(
        "--rounds", type=int, default=20, help="pairs of blocks; 0 skips the ingestion part"
    )
    parser.add_argument("--no-pages", action="store_true", help="skip the pages part")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--page-messages", type=int, default=5_000_000)
    parser.add_argument("--purchases", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--db", type=Path, help="keep the loaded file here; reuse it if there")
    parser.add_argument("--only", default="", help="comma-separated page name prefixes")
    asyncio.run(main(parser.parse_args()))
