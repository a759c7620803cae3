"""Three bots on one database drain one Stripe inbox: every event applied once, none lost.

Each bot is built on its own engine (its own connections), as a process of its own would be;
their inbox workers run at the same time. On PostgreSQL the rows are claimed ``FOR UPDATE SKIP
LOCKED``; on SQLite writers take turns and an event applied meanwhile is no longer pending.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.cogs.gating._outcomes import EventStatus
from bot.core.clock import ManualClock
from tests.cogs.gating_world import World, world

BUYERS = 40
PROCESSES = 3
SEED = 19


async def _sessions(w: World) -> tuple[list[str], list[dict[str, Any]]]:
    """Let BUYERS people start a checkout and pay; return them and Stripe's events, unsent."""
    buyers = [f"buyer{n:02d}" for n in range(BUYERS)]
    events: list[dict[str, Any]] = []
    for user in buyers:
        offer = "python" if int(user[-2:]) % 2 else "pro"
        printed = await w.say(f"/join {offer}", user)
        assert "Pay with Stripe" in printed, printed
        events += w.stripe.pay(list(w.stripe.sessions)[-1])
    return buyers, events


async def test_three_bots_apply_shuffled_duplicated_events_exactly_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock) as first:
        buyers, events = await _sessions(first)
        sent = events + events  # Stripe retries: every event comes twice, in any order
        random.Random(SEED).shuffle(sent)
        for event in sent:
            assert await first.post(event) == 200
        assert await first.count("stripe_events") == len(events)  # stored once each
        async with (
            world(tmp_path, clock, stripe=first.stripe) as second,
            world(tmp_path, clock, stripe=first.stripe) as third,
        ):
            bots = (first, second, third)
            applied: Counter[str] = Counter()
            for bot in bots:

                async def seen(event_id: str) -> None:
                    applied[event_id] += 1

                bot.gating.inbox.hooks.append(seen)
            await asyncio.gather(*(bot.gating.inbox.drain() for bot in bots))
            await first.gating.run_due()
        pending = await first.count("stripe_events", status=EventStatus.PENDING.value)
        assert pending == 0
        assert sorted(applied) == sorted(e["id"] for e in events)  # none lost
        assert set(applied.values()) == {1}  # none doubled
        # The first bot caches what members hold; the others' writes reach it once its cache
        # is older than [work] cache_staleness (bot/core/versions.py).
        clock.advance(timedelta(seconds=first.cohort.config.work.cache_staleness + 1))
        for user in buyers:
            offer = "python" if int(user[-2:]) % 2 else "pro"
            assert await first.holds(user) == {offer}
        assert await first.count("purchases") == BUYERS
