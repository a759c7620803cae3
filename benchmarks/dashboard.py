"""Dashboard figures: p50/p99 of each page's HTML request, signed in, over a big community.

The store is bulk loaded as ``benchmarks/analytics.py`` loads it (``--members`` members,
rollups of ``--messages`` messages over a year, ``--purchases`` purchases with subscriptions,
questions, lectures). The web app runs in this process on a loopback port; an aiohttp client
signs in through a ``/dashboard`` link (a real link and a real session cookie) and requests each
page ``--runs`` times, one after another: the time is the whole HTML request (session check,
the analytics service, building the view, the template, the bytes). Each page's line also
shows the analytics service call alone, and the anchor, measured in the same run, is
``GET /healthz`` (one database round trip and a JSON body): the floor any request pays here.
The engagement page's service is its two calls (the scores, the recommender's reach) at once,
as the page asks them. What starting loaded is frozen out of the collector's reach once the app
is up, as ``cohort run`` does (bot/runtime.py).

Run: ``.venv/bin/python -m benchmarks.dashboard [--members 100000] [--runs 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.test_utils import TestServer

from benchmarks.analytics import NOW, ZONE, bulk_load
from benchmarks.foundation import percentile
from bot.cogs import analytics, dashboard
from bot.cogs.analytics import MemberSort, Segment
from bot.core.clock import ManualClock
from bot.core.config import parse_config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.db import Database
from bot.web.app import build_app

GOAL_P99_MS = 150.0
FIELD = re.compile(r'name="(token|csrf)" value="([^"]+)"')


async def _timed(call: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    await call()  # warm the connection, the statement cache, the template
    samples = []
    for _ in range(runs):
        before = time.perf_counter_ns()
        await call()
        samples.append((time.perf_counter_ns() - before) / 1e6)
    return samples


async def measure(path: Path, runs: int) -> None:
    """Sign in and print p50/p99 of every page, beside the anchor."""
    config = parse_config(
        {
            "database": {"url": f"sqlite+aiosqlite:///{path}"},
            "web": {"enabled": False},
            "communities": [
                {
                    "id": "bench",
                    "name": "Bench",
                    "timezone": ZONE.key,
                    "admins": ["console:alice"],
                }
            ],
        },
        source="bench",
        base_dir=path.parent,
        env={},
    )
    cohort = await build(config, clock=ManualClock(NOW))
    community = cohort.communities["bench"]
    alice = await cohort.identity.resolve(
        community.id, Caller(PlatformName.CONSOLE, "alice", "Alice")
    )
    link = await dashboard.auth(cohort).issue_link(community, alice.member_id)
    server = TestServer(build_app(cohort), host="127.0.0.1")
    await server.start_server()
    service = analytics.service_of(cohort)
    # As ``cohort run`` does once started (bot/runtime.py) and benchmarks.analytics does: what
    # starting loaded moved out of the collector's reach. Without it a full collection walked
    # it (75-120 ms at this size) inside whichever timed call set it off.
    gc.freeze()
    end = NOW.astimezone(ZONE).date()
    month = end - timedelta(days=29)
    try:
        async with aiohttp.ClientSession(
            base_url=str(server.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http:
            form = dict(FIELD.findall(await (await http.get(urlsplit(link).path)).text()))
            signed = await http.post("/dashboard/signin", data=form, allow_redirects=False)
            assert signed.status == 303, signed.status

            async def get(url: str) -> None:
                async with http.get(url) as answer:
                    assert answer.status == 200, (url, answer.status)
                    await answer.read()

            anchor = await _timed(lambda: get("/healthz"), runs)
            print(
                f"anchor GET /healthz          p50 {statistics.median(anchor):7.1f} ms"
                f"   p99 {percentile(anchor, 0.99):7.1f} ms"
            )
            member = f"/dashboard/members/{alice.member_id - 1}"  # a bulk-loaded member

            async def engagement_and_reach() -> None:  # at once, as the page asks them
                await asyncio.gather(
                    service.engagement(1, month, end, ZONE),
                    service.recommender(1, month, end, ZONE),
                )

            pages: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
                ("overview", "/dashboard/", lambda: service.overview(1, month, end, ZONE)),
                ("growth", "/dashboard/growth", lambda: service.growth(1, month, end, ZONE)),
                ("activity", "/dashboard/activity", lambda: service.activity(1, month, end, ZONE)),
                (
                    "retention",
                    "/dashboard/retention",
                    lambda: service.retention(1, month, end, ZONE),
                ),
                (
                    "engagement",
                    "/dashboard/engagement",  # with the recommender's reach
                    engagement_and_reach,
                ),
                ("qa", "/dashboard/qa", lambda: service.qa(1, month, end, ZONE)),
                ("lectures", "/dashboard/lectures", lambda: service.lectures(1, month, end, ZONE)),
                ("revenue", "/dashboard/revenue", lambda: service.revenue(1, month, end, ZONE)),
                (
                    "members",
                    "/dashboard/members",
                    lambda: service.members(
                        1, month, end, ZONE, sort=MemberSort.ENGAGEMENT, segment=Segment.ALL
                    ),
                ),
                (
                    "members search",
                    "/dashboard/members?q=user42",
                    lambda: service.members(1, month, end, ZONE, search="user42"),
                ),
                (
                    "member",
                    member,
                    lambda: service.member(1, alice.member_id - 1, month, end, ZONE),
                ),
                (
                    "overview 365d",
                    f"/dashboard/?from={end - timedelta(days=364)}&to={end}",
                    lambda: service.overview(1, end - timedelta(days=364), end, ZONE),
                ),
            ]
            for name, url, call in pages:
                html = await _timed(functools.partial(get, url), runs)
                alone = await _timed(call, runs)
                p99 = percentile(html, 0.99)
                print(
                    f"page {name:<15} HTML p50 {statistics.median(html):7.1f} ms"
                    f"   p99 {p99:7.1f} ms   (service alone p50"
                    f" {statistics.median(alone):6.1f} ms)"
                    f"   goal p99 <= {GOAL_P99_MS:.0f} ms: {'ok' if p99 <= GOAL_P99_MS else 'over'}"
                )
    finally:
        await server.close()
        await cohort.db.close()


async def main(args: argparse.Namespace) -> None:
    """Load the store, then time the pages."""
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cohort.db"
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.upgrade()
        await db.close()
        started = time.perf_counter()
        bulk_load(path, args.members, args.messages, args.purchases)
        print(
            f"bulk load: {args.members:,} members, {args.messages:,} messages,"
            f" {args.purchases:,} purchases in {time.perf_counter() - started:.0f} s"
        )
        await measure(path, args.runs)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--purchases", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
