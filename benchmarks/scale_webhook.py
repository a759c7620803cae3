"""Stripe webhook apply throughput with 1, 2 and 3 processes draining one inbox.

Buyers run ``/join`` through the real code (the real ``stripe`` client on the loopback stand-in
from ``tests/stripe_api``) and pay; the stand-in's events (a checkout and its payment each,
signed as Stripe signs them) are posted to the web app's ``POST /stripe/webhook`` of a bot that
only stores them. Then ``processes`` real ``python`` processes build the bot on the same
database and, once every one of them is built, each runs the gating worker's pass
(``Gating.run_due``: apply the inbox, make the platform calls through the console adapter under
their lease) until nothing is left. Printed per
backend and process count: events applied per second overall (first process's start of work to
the last one's end, start-ups left out), the ratio to one process, CPU seconds per 1,000
events, how many events and access calls each process handled, and how many times a batch or
an event lost a race with another process's transaction and was tried again (deadlocks
counted apart); then a check that each event was applied once and each buyer bought once and
was let in. SQLite, one writer at a
time, is the anchor measured in the same run.

Run: ``.ci/with-postgres .venv/bin/python -m benchmarks.scale_webhook [--buyers 500]``
(without ``COHORT_TEST_POSTGRES`` only the SQLite figures are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from benchmarks.scale import PROCESSES, backends, fresh_database
from bot.adapters.console import ConsoleAdapter
from bot.cogs.gating import Gating
from bot.core.clock import SystemClock
from bot.core.cohort import Cohort
from bot.core.config import Config, parse_config
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.db import Database
from bot.store.tables import gating_access, purchases, stripe_events
from bot.web.app import build_app
from tests.cogs.gating._world import GROUP, GUILD, OFFERS, PAID_CHAT, add_prices
from tests.stripe_api import DEFAULT_KEY, DEFAULT_SECRET, StripeServer


def config(url: str, folder: Path, stripe_base: str) -> Config:
    """Return the bot's config: the shared database, Stripe at the stand-in, the offers."""
    return parse_config(
        {
            "database": {"url": url},
            "web": {"enabled": False},
            "stripe": {
                "secret_key": DEFAULT_KEY,
                "webhook_secret": DEFAULT_SECRET,
                "api_base": stripe_base,
            },
            "communities": [
                {
                    "id": "demo",
                    "name": "Demo",
                    "admins": ["console:alice"],
                    "discord_guilds": [int(GUILD)],
                    "telegram_chats": [int(GROUP), int(PAID_CHAT)],
                    "offers": OFFERS,
                    "gating": {"admin_channel": "console:admins"},
                }
            ],
        },
        source="bench",
        base_dir=folder,
        env={},
    )


async def bot(url: str, folder: Path, stripe_base: str) -> tuple[Cohort, ConsoleAdapter]:
    """Build the bot with a console (the platform its access calls go to); no worker runs."""
    cohort = await build(config(url, folder, stripe_base), clock=SystemClock())
    console = ConsoleAdapter(
        cohort, cohort.communities["demo"], user="alice", out=io.StringIO(), echo=False
    )
    cohort.platforms[PlatformName.CONSOLE] = console
    return cohort, console


async def fill(url: str, folder: Path, stripe: StripeServer, buyers: int) -> int:
    """Let ``buyers`` people join and pay, and store Stripe's events; return how many."""
    cohort, console = await bot(url, folder, stripe.base_url)
    events: list[dict[str, Any]] = []
    try:
        for n in range(buyers):
            console.user = f"buyer{n}"
            await console.handle_line("/join python" if n % 2 else "/join pro")
            events += stripe.pay(list(stripe.sessions)[-1])
        async with TestClient(TestServer(build_app(cohort))) as web:
            for event in events:
                body, header = stripe.signed(event)
                response = await web.post(
                    "/stripe/webhook", data=body, headers={"Stripe-Signature": header}
                )
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the webhook answered {response.status}")
    finally:
        await cohort.stop()
        await cohort.db.close()
    return len(events)


class Races(logging.Handler):
    """Count the inbox's "lost a race" log lines, and the deadlocks among them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.races = 0
        self.deadlocks = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count ``record`` if it says a transaction lost a race."""
        message = record.getMessage()
        if "lost a race" in message:
            self.races += 1
            self.deadlocks += "deadlock" in message.lower()


async def worker(url: str, folder: Path, stripe_base: str) -> None:
    """Apply the inbox and make the access calls as one process; print its figures as JSON."""
    races = Races()
    inbox_log = logging.getLogger("bot.cogs.gating._inbox")
    inbox_log.addHandler(races)
    inbox_log.setLevel(logging.INFO)
    cohort, _ = await bot(url, folder, stripe_base)
    assert isinstance(cohort.entitlements, Gating)
    # Built: say so and wait for the word, so that every process starts on a full inbox.
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.time()
    try:
        done = await cohort.entitlements.run_due()
        ended = time.time()
    finally:
        await cohort.stop()
        await cohort.db.close()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    figures = {"cpu": cpu, "start": started, "end": ended, "done": done}
    print(json.dumps({**figures, "races": races.races, "deadlocks": races.deadlocks}))


async def end_state(url: str) -> tuple[dict[str, int], int, int]:
    """Return the inbox's events by status, the purchases and the access rows given."""
    db = Database(url)
    try:
        async with db.read() as conn:
            rows = await conn.execute(
                select(stripe_events.c.status, func.count()).group_by(stripe_events.c.status)
            )
            statuses = {str(status): int(count) for status, count in rows.all()}
            bought = await conn.scalar(select(func.count()).select_from(purchases))
            granted = await conn.scalar(
                select(func.count()).where(gating_access.c.state == "granted")
            )
    finally:
        await db.close()
    return statuses, int(bought or 0), int(granted or 0)


async def run_round(
    url: str, folder: Path, stripe: StripeServer, processes: int, buyers: int
) -> dict[str, Any]:
    """Fill the inbox, then drain it with ``processes`` workers at once; return the figures."""
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.close()
    events = await fill(url, folder, stripe, buyers)
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.scale_webhook",
            "--worker",
            url,
            str(folder),
            stripe.base_url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    for child in children:
        assert child.stdout is not None
        if (await child.stdout.readline()).strip() != b"ready":
            raise RuntimeError("a worker failed to start")
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    outputs = [await child.communicate() for child in children]
    if any(child.returncode for child in children):
        raise RuntimeError("a worker failed")
    figures = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    wall = max(f["end"] for f in figures) - min(f["start"] for f in figures)
    return {
        "wall": wall,
        "cpu": sum(f["cpu"] for f in figures),
        "events": events,
        "shares": [f["done"] for f in figures],
        "races": sum(f["races"] for f in figures),
        "deadlocks": sum(f["deadlocks"] for f in figures),
        "state": await end_state(url),
    }


async def main(buyers: int) -> None:
    """Print the webhook apply figures for SQLite and, when a server is given, PostgreSQL."""
    load = os.getloadavg()
    print(f"Stripe webhook apply, {buyers} buyers (a checkout and its payment each)")
    print(f"cores: {os.cpu_count()}, load average at start: {load[0]:.1f} {load[1]:.1f}")
    print("goal: PostgreSQL grows with processes (up to the cores); SQLite (anchor) does not")
    for backend, server_url in backends():
        base = None
        for processes in PROCESSES:
            async with StripeServer() as stripe:
                add_prices(stripe)
                with tempfile.TemporaryDirectory() as tmp:
                    folder = Path(tmp)
                    url = await fresh_database(server_url, folder, f"bench_webhook_{processes}")
                    got = await run_round(url, folder, stripe, processes, buyers)
            statuses, bought, granted = got["state"]
            # Applied, or ignored as older than what another process applied first.
            done = statuses.get("applied", 0) + statuses.get("ignored", 0)
            ok = done == got["events"] and bought == buyers == granted
            rate = got["events"] / got["wall"]
            base = base or rate
            print(
                f"{backend:10} {processes} process(es): {rate:7.0f} events/s   "
                f"x{rate / base:4.2f} of one   "
                f"{1000 * got['cpu'] / got['events']:6.2f} CPU s per 1,000 events   "
                f"handled per process {got['shares']}   "
                f"races {got['races']} (deadlocks {got['deadlocks']})   "
                f"{'each applied once' if ok else 'WRONG END STATE'} "
                f"({statuses}, {bought} purchases, {granted} access)"
            )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, folder, stripe_base = sys.argv[2:5]
        asyncio.run(worker(url, Path(folder), stripe_base))
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--buyers", type=int, default=500)
        args = parser.parse_args()
        asyncio.run(main(args.buyers))
