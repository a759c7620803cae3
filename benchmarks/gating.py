"""Gating figures: signed Stripe webhooks posted to the running web app, in a burst, then slowly.

Buyers run /join through the real code (the real ``stripe`` client creating Checkout Sessions
on the loopback stand-in from ``tests/stripe_api``), then the stand-in plays their stories
(checkouts, renewals, failed renewals, cancellations, refunds, trials) into events.

- The burst: ``--events`` webhook deliveries, 10% of them duplicates, all shuffled, posted by
  ``--clients`` concurrent HTTP clients to ``POST /stripe/webhook``.
- Then an ordinary day: other buyers' events one at a time in Stripe's order, ``--rate`` a
  second for ``--seconds``.

Each delivery is signed as Stripe signs it. The worker applies them and grants access through
the console adapter (the platform port). Prints: deliveries accepted per second; when the burst
was all applied; receipt-to-applied latency per event, and receipt of a buyer's first event to
their first grant on the platform (p50/p99), for the burst and for the trickle; peak RSS; and
whether the end state equals an in-order replay of the same events on a copy of the database.
Run: ``.venv/bin/python -m benchmarks.gating [--events 10000] [--clients 20] [--rate 20]
[--seconds 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import math
import random
import resource
import socket
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import or_, select

from benchmarks.foundation import percentile
from bot.adapters.console import ConsoleAdapter
from bot.cogs.gating import Gating
from bot.cogs.gating._access import AccessState
from bot.core.clock import SystemClock
from bot.core.cohort import Cohort
from bot.core.config import Config, parse_config
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget
from bot.runtime import build, start_web
from bot.store.tables import access_sources, gating_access, purchases
from tests.cogs.gating._world import OFFERS, add_prices
from tests.stripe_api import DEFAULT_KEY, DEFAULT_SECRET, StripeServer

PAYING = ("pro", "pro", "pro", "python", "python", "club")


class TimedConsole(ConsoleAdapter):
    """The console port, remembering when each account was first granted something."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_grant: dict[str, float] = {}

    async def grant_access(self, user_id: str, target: AccessTarget) -> None:
        self.first_grant.setdefault(user_id, time.perf_counter())
        self.access.add((user_id, target))

    async def revoke_access(self, user_id: str, target: AccessTarget) -> None:
        self.access.discard((user_id, target))


def config(folder: Path, stripe: StripeServer, port: int, db: str) -> Config:
    """Return a config for the bench: the test offers, Stripe at the stand-in, the web app on."""
    return parse_config(
        {
            "database": {"url": f"sqlite+aiosqlite:///{db}"},
            "web": {"enabled": True, "host": "127.0.0.1", "port": port},
            "stripe": {
                "secret_key": DEFAULT_KEY,
                "webhook_secret": DEFAULT_SECRET,
                "api_base": stripe.base_url,
            },
            "communities": [
                {
                    "id": "demo",
                    "name": "Bench",
                    "telegram_chats": [-1001234567890, -1009876543210],
                    "discord_guilds": [111111111111111111],
                    "offers": OFFERS,
                }
            ],
        },
        source="bench",
        base_dir=folder,
        env={},
    )


def gating(cohort: Cohort) -> Gating:
    """Return the gating service."""
    assert isinstance(cohort.entitlements, Gating)
    return cohort.entitlements


def stories(
    stripe: StripeServer, rng: random.Random, wanted: int, sessions: list[str]
) -> list[dict[str, Any]]:
    """Play each paid session's story; return the events in the order Stripe made them."""
    events: list[dict[str, Any]] = []
    for session_id in sessions:
        if len(events) >= wanted:
            break
        session = stripe.sessions[session_id]
        events += stripe.pay(session_id)
        if session["mode"] == "payment":
            if rng.random() < 0.1:
                events += stripe.refund(stripe.intent_of(session_id))
            continue
        subscription = str(session["subscription"])
        if stripe.subscriptions[subscription]["status"] == "trialing":
            events += stripe.trial_will_end(subscription)
        roll = rng.random()
        if roll < 0.6:
            events += stripe.renew(subscription)
        elif roll < 0.7:
            events += stripe.renew(subscription, paid=False)
        if rng.random() < 0.25:
            events += stripe.cancel_at_period_end(subscription)
    return events[:wanted]


async def end_state(cohort: Cohort) -> tuple[set[tuple[Any, ...]], ...]:
    """Return the sources, purchases and access rows, keyed by things both databases share."""
    async with cohort.db.read() as conn:
        sources = {
            tuple(r)
            for r in await conn.execute(
                select(
                    access_sources.c.ref,
                    access_sources.c.offer_id,
                    access_sources.c.status,
                    access_sources.c.cancel_at_period_end,
                    access_sources.c.refunded,
                    access_sources.c.entitled,
                )
            )
        }
        bought = {
            tuple(r)
            for r in await conn.execute(
                select(purchases.c.source_ref, purchases.c.refunded_at.is_(None))
            )
        }
        # What each account is owed, and anything it holds without being owed it. A row that
        # neither wants nor holds access is no state: whether one is left behind depends on
        # which events shared a batch (access is recomputed once per batch).
        access = {
            tuple(r)
            for r in await conn.execute(
                select(
                    gating_access.c.user_id,
                    gating_access.c.space_id,
                    gating_access.c.desired,
                    gating_access.c.state,
                ).where(
                    or_(
                        gating_access.c.desired.is_(True),
                        gating_access.c.state != AccessState.NONE.value,
                    )
                )
            )
        }
    return sources, bought, access


class Timings:
    """When each event was first posted and applied, and each buyer first granted something."""

    def __init__(self, console: TimedConsole, buyer_of: dict[str, str]) -> None:
        self.console = console
        self.buyer_of = buyer_of  # Stripe customer -> console user
        self.received: dict[str, float] = {}
        self.applied: dict[str, float] = {}
        self._changed = asyncio.Event()

    async def on_applied(self, event_id: str) -> None:
        """Note when an event was applied (the worker's hook)."""
        self.applied[event_id] = time.perf_counter()
        self._changed.set()

    async def until_applied(self, events: list[dict[str, Any]], *, limit: float = 600) -> float:
        """Wait until every event is applied; return when the last one was (perf_counter)."""
        ids = {e["id"] for e in events}
        deadline = time.perf_counter() + limit
        while not ids <= self.applied.keys() and time.perf_counter() < deadline:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 1.0)
        return max((self.applied[i] for i in ids if i in self.applied), default=0.0)

    def latencies(self, events: list[dict[str, Any]]) -> list[float]:
        """Return receipt-to-applied of ``events``, in ms."""
        ids = {e["id"] for e in events}
        return [(self.applied[k] - self.received[k]) * 1000 for k in ids & self.applied.keys()]

    def first_grants(self, events: list[dict[str, Any]]) -> list[float]:
        """Return, per buyer, receipt of their first event to their first grant, in ms."""
        first: dict[str, float] = {}
        for event in events:
            buyer = self.buyer_of.get(str(event["data"]["object"].get("customer")))
            if buyer and event["id"] in self.received:
                first[buyer] = min(first.get(buyer, math.inf), self.received[event["id"]])
        grants = self.console.first_grant
        return [(grants[buyer] - at) * 1000 for buyer, at in first.items() if buyer in grants]


async def join(
    console: TimedConsole, stripe: StripeServer, rng: random.Random, first: int, count: int
) -> list[tuple[str, str]]:
    """Run /join for ``count`` buyers; return each one's session and console user."""
    joined: list[tuple[str, str]] = []
    for index in range(first, first + count):
        console.user = f"buyer{index:05d}"
        await console.handle_line(f"/join {rng.choice(PAYING)}")
        joined.append((list(stripe.sessions)[-1], console.user))
    return joined


async def post(
    http: aiohttp.ClientSession,
    url: str,
    stripe: StripeServer,
    event: dict[str, Any],
    timings: Timings,
) -> int:
    """Sign and post one delivery; return the status."""
    body, header = stripe.signed(event, timestamp=int(time.time()))
    timings.received.setdefault(event["id"], time.perf_counter())
    async with http.post(url, data=body, headers={"Stripe-Signature": header}) as response:
        await response.read()
        return response.status


def spread(name: str, values: list[float]) -> str:
    """Return ``name: p50 …, p99 …`` of values in ms."""
    return (
        f"{name}: p50 {percentile(values, 0.5):,.0f} ms, p99 {percentile(values, 0.99):,.0f} ms"
        f" (mean {statistics.mean(values):,.0f}, n={len(values)})"
    )


async def run(events_wanted: int, clients: int, rate: float, seconds: float, seed: int) -> None:
    """Set up, post a burst, then a steady trickle, wait, replay, compare, print."""
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="cohort-gating-bench-"))
    stamp = iter(range(int(time.time()) - 86_400, 10**12))  # Stripe's clock: a second a step
    async with StripeServer(clock=lambda: next(stamp)) as stripe:
        add_prices(stripe)
        sock_port = _free_port()
        cfg = config(folder, stripe, sock_port, str(folder / "bench.db"))
        cohort = await build(cfg, clock=SystemClock())
        console = TimedConsole(cohort, cohort.communities["demo"], user="x", out=io.StringIO())
        cohort.platforms[PlatformName.CONSOLE] = console
        burst_buyers = max(1, events_wanted * 9 // 10 // 4)
        steady_wanted = int(rate * seconds)
        steady_buyers = steady_wanted // 4 + 1 if steady_wanted else 0
        started = time.perf_counter()
        burst_buyers_of = await join(console, stripe, rng, 0, burst_buyers)
        steady_buyers_of = await join(console, stripe, rng, burst_buyers, steady_buyers)
        joined = time.perf_counter() - started
        print(f"{burst_buyers + steady_buyers} buyers ran /join through Stripe in {joined:.1f} s")
        unique = stories(stripe, rng, events_wanted * 9 // 10, [s for s, _ in burst_buyers_of])
        steady = stories(stripe, rng, steady_wanted, [s for s, _ in steady_buyers_of])
        buyer_of = {  # the customer each paid session made -> its buyer
            str(stripe.sessions[session].get("customer")): user
            for session, user in burst_buyers_of + steady_buyers_of
        }
        deliveries = unique + rng.sample(unique, events_wanted - len(unique))
        rng.shuffle(deliveries)
        with sqlite3.connect(folder / "bench.db") as copy:  # the state before any event
            copy.execute("VACUUM INTO ?", (str(folder / "replay.db"),))
        runner = await start_web(cohort)
        await cohort.start()
        timings = Timings(console, buyer_of)
        gating(cohort).applied_hooks.append(timings.on_applied)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for event in deliveries:
            queue.put_nowait(event)
        statuses: list[int] = []
        url = f"http://127.0.0.1:{sock_port}/stripe/webhook"

        async def client(http: aiohttp.ClientSession) -> None:
            while not queue.empty():
                statuses.append(await post(http, url, stripe, queue.get_nowait(), timings))

        async with aiohttp.ClientSession() as http:
            posting = time.perf_counter()
            await asyncio.gather(*(client(http) for _ in range(clients)))
            posted = time.perf_counter() - posting
            drained = await timings.until_applied(unique) - posting
            # An ordinary day: events one at a time as Stripe makes them, at ``rate`` a second.
            steady_statuses = []
            trickle = time.perf_counter()
            for index, event in enumerate(steady):
                await asyncio.sleep(max(0.0, trickle + index / rate - time.perf_counter()))
                steady_statuses.append(await post(http, url, stripe, event, timings))
            await timings.until_applied(steady)
        await cohort.stop()
        if runner is not None:
            await runner.cleanup()
        live_state = await end_state(cohort)
        await cohort.supervisor.close()  # before the database: else its checkpointer restarts
        await cohort.db.close()

        # The same events, once each, in the order Stripe made them, on the copy.
        replay_cfg = config(folder, stripe, sock_port, str(folder / "replay.db"))
        replay = await build(replay_cfg, clock=SystemClock())
        replay.platforms[PlatformName.CONSOLE] = TimedConsole(
            replay, replay.communities["demo"], user="x", out=io.StringIO()
        )
        for event in unique + steady:
            await gating(replay).store_event(event, json.dumps(event), SystemClock().now())
        replaying = time.perf_counter()
        await gating(replay).run_due()
        replayed = time.perf_counter() - replaying
        replay_state = await end_state(replay)
        await gating(replay).stop()
        await replay.db.close()

    accepted = sum(1 for s in statuses if s == 200)
    print(f"deliveries posted: {len(deliveries)} ({len(unique)} events, the rest duplicates)")
    print(f"accepted: {accepted}/{len(statuses)} in {posted:.1f} s = {accepted / posted:,.0f}/s")
    print(f"all applied after {drained:.1f} s = {len(unique) / drained:,.0f} events/s")
    print(spread("receipt to applied", timings.latencies(unique)))
    grants = timings.first_grants(unique)
    if grants:
        print(spread("receipt of a buyer's first event to their first grant", grants))
    if steady:
        ok = sum(1 for s in steady_statuses if s == 200)
        print(f"steady: {len(steady)} events in Stripe's order at {rate:g}/s ({ok} accepted)")
        print(spread("  receipt to applied", timings.latencies(steady)))
        grants = timings.first_grants(steady)
        if grants:
            print(spread("  receipt of a buyer's first event to their first grant", grants))
    total = len(unique) + len(steady)
    print(
        f"in-order replay, one worker, no HTTP: {total} events in {replayed:.1f} s "
        f"= {total / replayed:,.0f}/s"
    )
    print(f"peak memory (RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    same = live_state == replay_state
    print(f"end state equals the in-order replay: {'yes' if same else 'NO'}")
    if not same:
        for name, a, b in zip(
            ("sources", "purchases", "access"), live_state, replay_state, strict=True
        ):
            print(f"  {name}: {len(a - b)} only live, {len(b - a)} only replay")
        raise SystemExit(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=20.0, help="steady events a second")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady phase (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.clients, args.rate, args.seconds, args.seed))
