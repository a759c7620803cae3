"""How late Q&A reminders and gating expiries fire, on the wall clock, against the old grids.

- Q&A: ``--questions`` open questions, unanswered, whose reminders fall due within
  ``--window`` seconds (they were asked the reminder delay earlier). The ``qa.alarm`` timer
  sends them; each is posted in its own channel of a stand-in platform that notes the time.
  The anchor is the old 5-minute sweep alone (``qa.sweep``): as many questions, due over one
  period, on a manual clock swept on the 5-minute grid, by the clock (in real time that would
  take over 5 minutes a run).
- Gating: ``--grants`` members, each given an offer by hand that ends within ``--window``
  seconds. The gating worker takes each access away on a stand-in console platform that notes
  when; lateness runs from the grant's end (``access_until``) to that platform call. Measured
  twice in the same run: first with the old worker, which polled every ``POLL`` (5 s) when
  nothing kicked it, then with the worker that sleeps until the next lapse.
- Gating retries: ``--retries`` buyers of a course through the Stripe stand-in, each with a
  refund that came before its payment and was deferred (as the inbox leaves it: pending, tried
  once, due again at its backoff's end, within ``--window`` seconds) while another process
  applied the payment, so nothing in this one wakes it. Lateness runs from the refund's due
  time (``next_attempt_at``) to the platform call that takes the course away; the same two
  workers (until 2026-12-07 the timer read only lapses and platform calls, so a deferred event
  waited the poll too).

Run: ``.venv/bin/python -m benchmarks.timers [--questions 200] [--grants 200] [--retries 200]
[--window 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

from benchmarks.lectures import spread
from bot.adapters.console import ConsoleAdapter
from bot.cogs.gating import Gating
from bot.cogs.gating._access import recompute_pairs
from bot.cogs.gating._service import POLL
from bot.core.alarm import find_timer
from bot.core.clock import Clock, ManualClock, SystemClock
from bot.core.cohort import Cohort
from bot.core.config import Config, parse_config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget, ChannelRef, MessageRef
from bot.core.replies import Reply
from bot.runtime import build
from bot.store.tables import access_sources, qa_questions, stripe_events
from tests.stripe_api import DEFAULT_KEY, DEFAULT_SECRET, StripeServer

GRID = timedelta(minutes=5)  # the Q&A sweep's period, all there was before the alarm
OFFER = {
    "id": "club",
    "kind": "tier",
    "name": "Club",
    "price_monthly": "price_club_m",
    "console_channels": ["club"],
}


COURSE = {
    "id": "course",
    "kind": "course",
    "name": "Course",
    "price_once": "price_course",
    "console_channels": ["course"],
}


def make_config(folder: Path, stripe: StripeServer | None = None) -> Config:
    """Return a config on a fresh SQLite file: one community, offers opening a channel each.

    With ``stripe``, Stripe is the stand-in and the community sells a course too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    selling: dict[str, Any] = {}
    offers = [OFFER]
    if stripe is not None:
        selling["stripe"] = {
            "secret_key": DEFAULT_KEY,
            "webhook_secret": DEFAULT_SECRET,
            "api_base": stripe.base_url,
        }
        offers.append(COURSE)
    return parse_config(
        {
            "web": {"enabled": False},
            **selling,
            "communities": [
                {"id": "bench", "name": "Bench", "timezone": "Europe/Berlin", "offers": offers}
            ],
        },
        source="bench.toml",
        base_dir=folder,
        env={},
    )


class PostTimes:
    """Stands in for a chat platform: notes, by the bot's clock, each channel's first post."""

    name = PlatformName.CONSOLE

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.posted: dict[str, datetime] = {}
        self.done = asyncio.Event()
        self.expected = 0

    async def send(self, channel: ChannelRef, reply: Reply) -> MessageRef:
        """Note when ``channel`` was first posted in."""
        self.posted.setdefault(channel.channel_id, self.clock.now())
        if len(self.posted) >= self.expected:
            self.done.set()
        return MessageRef(channel, str(len(self.posted)))


async def ask(cohort: Cohort, dues: list[datetime]) -> None:
    """Store one open, unanswered question per due time, asked the reminder delay before it."""
    community = cohort.communities["bench"]
    delay = community.config.qa.unanswered_reminder
    asker = await cohort.identity.resolve(
        community.id, Caller(PlatformName.CONSOLE, "asker", "Asker")
    )
    now = cohort.clock.now()
    rows = [
        {
            "community_id": community.id,
            "asker_id": asker.member_id,
            "platform": PlatformName.CONSOLE.value,
            "channel_id": f"q{index}",
            "title": f"Question {index}",
            "body": "Why?",
            "state": "open",
            "created_at": due - delay,
            "active_at": now,
        }
        for index, due in enumerate(dues)
    ]
    async with cohort.db.write() as conn:
        await conn.execute(insert(qa_questions), rows)


async def qa_on_the_alarm(folder: Path, dues: list[datetime]) -> list[float]:
    """Let ``qa.alarm`` send the reminders due at ``dues``; return each one's lateness in s."""
    cohort = await build(make_config(folder), clock=SystemClock())
    platform = PostTimes(cohort.clock)
    platform.expected = len(dues)
    cohort.platforms[PlatformName.CONSOLE] = platform  # type: ignore[assignment]
    timer = find_timer(cohort.startup, "qa.alarm")
    await timer.start()
    await ask(cohort, dues)
    give_up = (max(dues) - datetime.now(UTC)).total_seconds() + 10
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(platform.done.wait(), give_up)
    await timer.stop()
    await cohort.db.close()
    return lateness(platform.posted, dues)


async def qa_on_the_grid(folder: Path, dues: list[datetime]) -> list[float]:
    """Send the same reminders by the 5-minute sweep alone, on a manual clock; return lateness."""
    clock = ManualClock(min(dues) - timedelta(seconds=1))
    cohort = await build(make_config(folder), clock=clock)
    platform = PostTimes(clock)
    platform.expected = len(dues)
    cohort.platforms[PlatformName.CONSOLE] = platform  # type: ignore[assignment]
    sweep = next(j for j in cohort.jobs if j.id == "qa.sweep").run
    await ask(cohort, dues)
    period = GRID.total_seconds()
    for tick in sorted({-(-due.timestamp() // period) * period for due in dues}):
        clock.advance(datetime.fromtimestamp(tick, UTC) - clock.now())
        await sweep()
    await cohort.db.close()
    return lateness(platform.posted, dues)


def lateness(posted: dict[str, datetime], dues: list[datetime]) -> list[float]:
    """Return how late each question's reminder was posted, in seconds (those posted)."""
    return [
        (posted[f"q{index}"] - due).total_seconds()
        for index, due in enumerate(dues)
        if f"q{index}" in posted
    ]


async def qa(count: int, window: float, lead: float) -> None:
    """Print the Q&A reminders' lateness: the 5-minute grid by the clock, then the alarm."""
    rng = random.Random(8)
    first = datetime.now(UTC) + timedelta(seconds=lead)
    dues = [first + timedelta(seconds=rng.uniform(0, window)) for _ in range(count)]
    load = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="cohort-timers-qa-"))
    after = await qa_on_the_alarm(folder / "alarm", dues)
    # On the grid, where a due time falls in the period decides its lateness: spread them over it.
    spread_out = [first + timedelta(seconds=rng.uniform(0, GRID.total_seconds())) for _ in dues]
    before = await qa_on_the_grid(folder / "grid", spread_out)
    print(f"q&a reminders (load average {load:.1f}):")
    for name, late in (
        ("5 min sweep grid (before), by the clock, due over 5 min", before),
        ("alarm (after), wall clock", after),
    ):
        ms = [x * 1000 for x in late]
        print(f"  q&a reminders, {name}: {len(ms)}/{count} fired, {spread(ms)}")


class RevokeTimes(ConsoleAdapter):
    """The console port, noting on the wall clock when each member's access was taken away."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.granted: set[str] = set()
        self.revoked: dict[str, float] = {}
        self.expected = 0
        self.all_granted = asyncio.Event()
        self.all_revoked = asyncio.Event()

    async def grant_access(self, user_id: str, target: AccessTarget) -> None:
        """Note a grant."""
        self.access.add((user_id, target))
        self.granted.add(user_id)
        if len(self.granted) >= self.expected:
            self.all_granted.set()

    async def revoke_access(self, user_id: str, target: AccessTarget) -> None:
        """Note when access was taken away."""
        self.access.discard((user_id, target))
        self.revoked.setdefault(user_id, time.time())
        if len(self.revoked) >= self.expected:
            self.all_revoked.set()


async def expiries(
    folder: Path, count: int, window: float, lead: float, *, poll: bool
) -> list[float]:
    """Give ``count`` members an offer ending within ``window`` s; return each expiry's lateness.

    With ``poll`` the worker waits as it did before it knew of lapses: ``POLL`` seconds unless
    kicked; without, it sleeps until the next lapse (``Gating.next_wait``).
    """
    cohort = await build(make_config(folder), clock=SystemClock())
    community = cohort.communities["bench"]
    service = cohort.entitlements
    assert isinstance(service, Gating)
    console = RevokeTimes(cohort, community, user="admin", out=io.StringIO())
    console.expected = count
    cohort.platforms[PlatformName.CONSOLE] = console
    if poll:

        async def fixed() -> float:
            return POLL

        service.next_wait = fixed  # type: ignore[method-assign]
    await service.start()
    offer = community.config.offer("club")
    assert offer is not None
    ids: dict[int, str] = {}
    for index in range(count):
        user = f"m{index}"
        account = await cohort.identity.resolve(
            community.id, Caller(PlatformName.CONSOLE, user, user.upper())
        )
        ids[account.member_id] = user
        await service.grants.grant(community, account.member_id, offer, 1, account.member_id)
    await asyncio.wait_for(console.all_granted.wait(), 60)
    rng = random.Random(8)
    first = datetime.now(UTC) + timedelta(seconds=lead)
    ends = {m: first + timedelta(seconds=rng.uniform(0, window)) for m in ids}
    async with cohort.db.write() as conn:
        for member_id, end in ends.items():
            await conn.execute(
                update(access_sources)
                .where(access_sources.c.member_id == member_id)
                .values(ends_at=end)
            )
        await recompute_pairs(conn, cohort, [(community.id, m) for m in ends], datetime.now(UTC))
    service.kick()  # as a grant's change does
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(console.all_revoked.wait(), lead + window + 15)
    await service.stop()
    await cohort.db.close()
    return [
        console.revoked[user] - ends[member_id].timestamp()
        for member_id, user in ids.items()
        if user in console.revoked
    ]


async def before_and_after(
    measure: Callable[..., Awaitable[list[float]]],
    label: str,
    what: str,
    after: str,
    count: int,
    window: float,
    lead: float,
) -> None:
    """Print ``measure``'s lateness on the old 5-second poll, then on the worker's own timer."""
    folder = Path(tempfile.mkdtemp(prefix=f"cohort-timers-{measure.__name__}-"))
    for name, poll in (("5 s poll (before)", True), (after, False)):
        load = os.getloadavg()[0]
        late = await measure(folder / name.split()[0], count, window, lead, poll=poll)
        ms = [x * 1000 for x in late]
        print(f"  {label}, {name}: {len(ms)}/{count} {what}, {spread(ms)}; load average {load:.1f}")


async def gating(count: int, window: float, lead: float) -> None:
    """Print the gating expiries' lateness: the old 5-second poll, then the worker's own timer."""
    await before_and_after(
        expiries, "gating expiries", "taken away", "next lapse (after)", count, window, lead
    )


async def deferred(
    folder: Path, count: int, window: float, lead: float, *, poll: bool
) -> list[float]:
    """Let ``count`` deferred refunds come due within ``window`` s; return each one's lateness.

    Each buyer pays for the course (applied, access given); then their refund is put in the
    inbox as a deferral leaves it (pending, one try, due again at its backoff's end): it came
    before its payment, which another process applied, so no hint here wakes it. With ``poll``
    the worker waits as it did for such an event until 2026-12-07: ``POLL`` unless kicked.
    """
    async with StripeServer(clock=lambda: int(time.time())) as stripe:
        stripe.add_price("price_course", 4900)
        cohort = await build(make_config(folder, stripe), clock=SystemClock())
        community = cohort.communities["bench"]
        service = cohort.entitlements
        assert isinstance(service, Gating)
        console = RevokeTimes(cohort, community, user="admin", out=io.StringIO())
        console.expected = count
        cohort.platforms[PlatformName.CONSOLE] = console
        if poll:

            async def fixed() -> float:
                return POLL

            service.next_wait = fixed  # type: ignore[method-assign]
        await service.start()
        refunds: dict[str, dict[str, Any]] = {}
        for index in range(count):
            console.user = f"b{index}"
            await console.handle_line("/join course")
            session = list(stripe.sessions)[-1]
            for event in stripe.pay(session):
                await service.store_event(event, json.dumps(event), datetime.now(UTC))
            (refunds[console.user],) = stripe.refund(stripe.intent_of(session))
        service.kick()
        await asyncio.wait_for(console.all_granted.wait(), 60)
        rng = random.Random(8)
        first = datetime.now(UTC) + timedelta(seconds=lead)
        dues = {user: first + timedelta(seconds=rng.uniform(0, window)) for user in refunds}
        now = datetime.now(UTC)
        rows = [
            {
                "community_id": None,
                "event_id": event["id"],
                "type": event["type"],
                "livemode": False,
                "created": int(event["created"]),
                "payload": json.dumps(event),
                "status": "pending",
                "attempts": 1,
                "next_attempt_at": dues[user],
                "last_error": "deferred: payment not known yet",
                "received_at": now,
                "processed_at": None,
            }
            for user, event in refunds.items()
        ]
        async with cohort.db.write() as conn:
            await conn.execute(insert(stripe_events), rows)
        service.kick()  # as the pass that deferred them ends: the worker reads its next wait
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(console.all_revoked.wait(), lead + window + 15)
        await service.stop()
        await cohort.db.close()
    return [
        console.revoked[user] - due.timestamp()
        for user, due in dues.items()
        if user in console.revoked
    ]


async def retries(count: int, window: float, lead: float) -> None:
    """Print the deferred refunds' lateness: the old 5-second poll, then the worker's timer."""
    await before_and_after(
        deferred, "gating retries", "refunds taken away", "timer (after)", count, window, lead
    )


async def main(questions: int, grants: int, refunds: int, window: float, lead: float) -> None:
    """Run the parts and print their figures."""
    started = time.perf_counter()
    if questions:
        await qa(questions, window, lead)
    if grants:
        print("gating expiries (platform call after access_until):")
        await gating(grants, window, lead)
    if refunds:
        print("gating retries of deferred events (platform call after next_attempt_at):")
        await retries(refunds, window, lead)
    print(f"took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--grants", type=int, default=200)
    parser.add_argument("--retries", type=int, default=200)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--lead", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(main(args.questions, args.grants, args.retries, args.window, args.lead))
