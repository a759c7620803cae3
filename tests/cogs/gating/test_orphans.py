"""Gating ``_orphans``: the rows of a community the config no longer has wait for it, untouched."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, select

from bot.adapters.console import ConsoleAdapter
from bot.cogs.gating._queue import MAX_BACKOFF
from bot.cogs.gating._service import POLL
from bot.core.clock import ManualClock
from bot.store.tables import access_sources, gating_access, stripe_events
from tests.cogs.gating._world import GROUP, GUILD, OFFERS, PAID_CHAT, World, stand_in, until, world
from tests.stripe_api import MONTH

# --- a community taken out of the config --------------------------------------------------------

DEMO: dict[str, Any] = {
    "id": "demo",
    "name": "Demo Community",
    "locale": "en",
    "timezone": "Europe/Berlin",
    "organizers": ["console:olga"],
    "admins": ["console:alice"],
    "discord_guilds": [int(GUILD)],
    "telegram_chats": [int(GROUP), int(PAID_CHAT)],
    "offers": OFFERS,
    "gating": {"admin_channel": "console:admins"},
}


GONE: dict[str, Any] = {
    "id": "gone",
    "name": "Gone Club",
    "locale": "en",
    "timezone": "Europe/Berlin",
    "organizers": ["console:olga"],
    "offers": [
        {
            "id": "gpro",
            "kind": "tier",
            "name": "Gone Pro",
            "price_monthly": "price_gone_m",
            "console_channels": ["gone-lounge"],
        }
    ],
}


def _gone_console(w: World, user: str) -> ConsoleAdapter:
    return ConsoleAdapter(
        w.cohort, w.cohort.communities["gone"], user=user, out=io.StringIO(), echo=True
    )


async def _rows_of(w: World, gone: int, *tables: Table) -> list[tuple[Any, ...]]:
    """Return every row of ``gone`` in ``tables``, as it stands."""
    found: list[tuple[Any, ...]] = []
    async with w.cohort.db.read() as conn:
        for table in tables:
            rows = await conn.execute(
                select(table).where(table.c.community_id == gone).order_by(table.c.id)
            )
            found += [tuple(row) for row in rows]
    return found


async def _kept_events(w: World, gone: int) -> list[tuple[str, int]]:
    """Return the status and tries of ``gone``'s events in the inbox."""
    async with w.cohort.db.read() as conn:
        rows = await conn.execute(
            select(stripe_events.c.status, stripe_events.c.attempts).where(
                stripe_events.c.community_id == gone
            )
        )
        return [(row.status, row.attempts) for row in rows]


async def test_a_community_taken_out_of_the_config_waits_untouched_and_the_rest_runs(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with stand_in(clock) as stripe:
        stripe.add_price("price_gone_m", 700, interval=MONTH)
        async with world(tmp_path, clock, stripe=stripe, communities=[DEMO, GONE]) as w:
            gone = w.cohort.communities["gone"].id
            console = _gone_console(w, "erin")
            await console.handle_line("/whoami")
            console.user = "olga"
            await console.handle_line("/grant @erin gpro 1")  # a lapse tomorrow, a call queued
            console.user = "dave"
            await console.handle_line("/join gpro")
            paid = stripe.pay(list(stripe.sessions)[-1])
            for event in paid:  # stored, not applied yet
                assert await w.post(event) == 200
            dave = console.caller("dave")
        clock.advance(timedelta(days=2))  # the grant's lapse is due too
        async with world(tmp_path, clock, stripe=stripe) as w:
            assert "gone" not in w.cohort.communities
            held = await _rows_of(w, gone, access_sources, gating_access)
            caplog.set_level(logging.WARNING, logger="bot.cogs.gating")
            for _ in range(3):  # passes of the worker: none fails
                await w.gating.run_due()
            assert w.gating.orphans.waiting == {
                gone: {"sources": 1, "lapses": 1, "calls": 1, "events": len(paid)}
            }
            # The rest runs: a purchase in the loaded community is applied and granted.
            await w.buy("bob", "pro")
            assert await w.holds("bob") == {"pro"}
            clock.advance(timedelta(hours=2))  # its kept events are looked at again
            await w.gating.run_due()
            assert await _rows_of(w, gone, access_sources, gating_access) == held  # untouched
            assert await _kept_events(w, gone) == [("pending", 0)] * len(paid)  # never expire
            clock.advance(MAX_BACKOFF - timedelta(seconds=1))  # a second before their next look
            assert (
                await w.gating.next_wait() == POLL
            )  # not woken for: this process can't apply them
            said = [r.getMessage() for r in caplog.records if "not in the config" in r.message]
            assert len(said) == 1, said  # once per community per process, not every pass
            assert f"community id {gone} " in said[0]
            assert f"its {2 + len(paid)} rows wait" in said[0]
            await w.cohort.start()

            async def shown() -> bool:
                response = await w.web.get("/healthz")
                task = (await response.json())["tasks"].get("gating.worker", {})
                return bool(task.get("unknown_communities", {}).get(str(gone)))

            assert await until(shown, 2.0)
        async with world(tmp_path, clock, stripe=stripe, communities=[DEMO, GONE]) as w:
            await w.gating.run_due()  # back in the config: its events are due at once
            buyer = await w.cohort.identity.resolve(gone, dave)
            assert await w.gating.offers_of(buyer.member_id, clock.now()) == {"gpro"}
            assert ("pending", 0) not in await _kept_events(w, gone)
            assert not w.gating.orphans.waiting


async def test_a_refund_and_a_dispute_of_a_community_taken_out_wait_for_it_to_come_back(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with stand_in(clock) as stripe:
        stripe.add_price("price_gone_m", 700, interval=MONTH)
        async with world(tmp_path, clock, stripe=stripe, communities=[DEMO, GONE]) as w:
            gone = w.cohort.communities["gone"].id
            console = _gone_console(w, "dave")
            await console.handle_line("/join gpro")
            session = list(stripe.sessions)[-1]
            await w.deliver(stripe.pay(session))  # paid: its payment is the community's
            dave = console.caller("dave")
        intent = stripe.intent_of(str(stripe.sessions[session]["subscription"]))
        clock.advance(timedelta(minutes=1))
        later = stripe.refund(intent) + stripe.dispute(intent)[1]
        async with world(tmp_path, clock, stripe=stripe) as w:  # taken out of the config
            await w.deliver(later)
            for _ in range(20):  # hours of passes: more than an event's tries with backoff
                clock.advance(timedelta(hours=1))
                await w.gating.run_due()
            # Kept for the community, tries not counted. They expired as payments not known
            # yet (16 tries), and the community came back with its refund and dispute lost.
            kept = await _kept_events(w, gone)  # the paid checkout's events are there too
            assert kept.count(("pending", 0)) == len(later) == 2
            assert await w.count("stripe_events", status="expired") == 0
        async with world(tmp_path, clock, stripe=stripe, communities=[DEMO, GONE]) as w:
            await w.gating.run_due()  # back in the config: they are due at once
            buyer = await w.cohort.identity.resolve(gone, dave)
            assert await w.gating.offers_of(buyer.member_id, clock.now()) == frozenset()
            assert await w.count("stripe_events", status="pending") == 0
            assert await w.count("stripe_events", status="expired") == 0
