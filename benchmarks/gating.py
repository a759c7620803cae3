"""Gating figures: signed Stripe webhooks posted to the running web app by concurrent clients.

Buyers run /join through the real code (the real ``stripe`` client creating Checkout Sessions
on the loopback stand-in from ``tests/stripe_api``), then the stand-in plays their stories
(checkouts, renewals, failed renewals, cancellations, refunds, trials) into ``--events``
webhook deliveries: 10% of them duplicates, all shuffled, posted by ``--clients`` concurrent
HTTP clients to ``POST /stripe/webhook``, each signed as Stripe signs them. The worker applies
them and grants access through the console adapter (the platform port).

Prints: deliveries accepted per second; receipt-to-applied latency per event, and receipt of a
buyer's first event to their first grant on the platform (p50/p99); peak RSS; and whether the
end state equals an in-order replay of the same events on a copy of the database.
Run: ``.venv/bin/python -m benchmarks.gating [--events 10000] [--clients 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
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
from tests.cogs.gating_world import OFFERS, add_prices
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


def stories(stripe: StripeServer, rng: random.Random, wanted: int) -> list[dict[str, Any]]:
    """Play each paid session's story; return the events in the order Stripe made them."""
    events: list[dict[str, Any]] = []
    for session_id, session in list(stripe.sessions.items()):
        if len(events) >= wanted:
            break
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


async def run(events_wanted: int, clients: int, seed: int) -> None:
    """Set up, post, wait, replay, compare, print."""
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
        buyers = max(1, events_wanted * 9 // 10 // 4)
        started = time.perf_counter()
        buyer_of: dict[str, str] = {}  # client_reference_id -> console user
        for index in range(buyers):
            console.user = f"buyer{index:05d}"
            await console.handle_line(f"/join {rng.choice(PAYING)}")
            session = list(stripe.sessions.values())[-1]
            buyer_of[str(session["client_reference_id"])] = console.user
        print(f"{buyers} buyers ran /join through Stripe in {time.perf_counter() - started:.1f} s")
        unique = stories(stripe, rng, events_wanted * 9 // 10)
        deliveries = unique + rng.sample(unique, events_wanted - len(unique))
        rng.shuffle(deliveries)
        with sqlite3.connect(folder / "bench.db") as copy:  # the state before any event
            copy.execute("VACUUM INTO ?", (str(folder / "replay.db"),))
        runner = await start_web(cohort)
        await cohort.start()
        received: dict[str, float] = {}
        applied: dict[str, float] = {}

        async def on_applied(event_id: str) -> None:
            applied[event_id] = time.perf_counter()

        gating(cohort).applied_hooks.append(on_applied)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for event in deliveries:
            queue.put_nowait(event)
        statuses: list[int] = []
        url = f"http://127.0.0.1:{sock_port}/stripe/webhook"

        async def client(session: aiohttp.ClientSession) -> None:
            while not queue.empty():
                event = queue.get_nowait()
                body, header = stripe.signed(event, timestamp=int(time.time()))
                received.setdefault(event["id"], time.perf_counter())
                async with session.post(
                    url, data=body, headers={"Stripe-Signature": header}
                ) as response:
                    await response.read()
                    statuses.append(response.status)

        posting = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(client(session) for _ in range(clients)))
        posted = time.perf_counter() - posting
        for _ in range(6000):
            if len(applied) >= len({e["id"] for e in unique}):
                break
            await asyncio.sleep(0.05)
        drained = time.perf_counter() - posting
        await cohort.stop()
        if runner is not None:
            await runner.cleanup()
        live_state = await end_state(cohort)
        await cohort.db.close()

        # The same events, once each, in the order Stripe made them, on the copy.
        replay_cfg = config(folder, stripe, sock_port, str(folder / "replay.db"))
        replay = await build(replay_cfg, clock=SystemClock())
        replay.platforms[PlatformName.CONSOLE] = TimedConsole(
            replay, replay.communities["demo"], user="x", out=io.StringIO()
        )
        for event in unique:
            await gating(replay).store_event(event, json.dumps(event), SystemClock().now())
        replaying = time.perf_counter()
        await gating(replay).run_due()
        replayed = time.perf_counter() - replaying
        replay_state = await end_state(replay)
        await gating(replay).stop()
        await replay.db.close()

    accepted = sum(1 for s in statuses if s == 200)
    latencies = [(applied[k] - received[k]) * 1000 for k in applied if k in received]
    first_event: dict[str, float] = {}
    for event in unique:
        ref = event["data"]["object"].get("client_reference_id")
        if ref:
            first_event[ref] = received[event["id"]]
    grants = [
        (console.first_grant[buyer_of[ref]] - first) * 1000
        for ref, first in first_event.items()
        if buyer_of.get(ref) in console.first_grant
    ]
    print(f"deliveries posted: {len(deliveries)} ({len(unique)} events, the rest duplicates)")
    print(f"accepted: {accepted}/{len(statuses)} in {posted:.1f} s = {accepted / posted:,.0f}/s")
    print(f"all applied after {drained:.1f} s")
    print(
        f"receipt to applied: p50 {percentile(latencies, 0.5):,.0f} ms, "
        f"p99 {percentile(latencies, 0.99):,.0f} ms (mean {statistics.mean(latencies):,.0f})"
    )
    if grants:
        print(
            f"receipt to first grant on the platform ({len(grants)} buyers): "
            f"p50 {percentile(grants, 0.5):,.0f} ms, p99 {percentile(grants, 0.99):,.0f} ms"
        )
    print(
        f"in-order replay, one worker, no HTTP: {len(unique)} events in {replayed:.1f} s "
        f"= {len(unique) / replayed:,.0f}/s"
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
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.clients, args.seed))
