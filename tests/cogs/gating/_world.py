"""What the gating tests share: a bot wired to the Stripe stand-in, and ways to drive both."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.cogs.gating import Gating
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget, PlatformError, PlatformErrorReason
from bot.runtime import build
from bot.store.tables import gating_access, metadata
from bot.web.app import build_app
from tests.conftest import make_config
from tests.stripe_api import DEFAULT_KEY, DEFAULT_SECRET, MONTH, YEAR, StripeServer

GUILD = "111111111111111111"
PRO_ROLE = "222222222222222222"
VIP_ROLE = "333333333333333333"
GROUP = "-1001234567890"  # the community's open group
PAID_CHAT = "-1009876543210"  # a private chat for paying members

OFFERS: list[dict[str, Any]] = [
    {
        "id": "pro",
        "kind": "tier",
        "name": "Pro",
        "price_monthly": "price_pro_m",
        "price_yearly": "price_pro_y",
        "discord_roles": [f"{GUILD}:{PRO_ROLE}"],
        "telegram_chats": [PAID_CHAT],
        "console_channels": ["lounge"],
    },
    {
        "id": "vip",
        "kind": "tier",
        "name": "VIP",
        "price_monthly": "price_vip_m",
        "discord_roles": [f"{GUILD}:{PRO_ROLE}", f"{GUILD}:{VIP_ROLE}"],
        "console_channels": ["lounge", "vip"],
    },
    {
        "id": "club",
        "kind": "tier",
        "name": "Club",
        "price_monthly": "price_club_m",
        "trial_days": 14,
        "grace_days": 5,
        "console_channels": ["club"],
    },
    {
        "id": "python",
        "kind": "course",
        "name": "Python 101",
        "price_once": "price_py",
        "console_channels": ["python"],
    },
]


def gating_config(tmp_path: Path, stripe: StripeServer, **overrides: Any) -> Config:
    """Return a test config with Stripe pointed at the stand-in and the offers above."""
    community = {
        "telegram_chats": [int(GROUP), int(PAID_CHAT)],
        "offers": OFFERS,
        "gating": {"admin_channel": "console:admins"},
        **overrides.pop("community", {}),
    }
    return make_config(
        tmp_path,
        stripe={
            "secret_key": DEFAULT_KEY,
            "webhook_secret": DEFAULT_SECRET,
            "api_base": stripe.base_url,
            **overrides.pop("stripe", {}),
        },
        community=community,
        **overrides,
    )


def add_prices(stripe: StripeServer) -> None:
    """Sell the offers' prices in the stand-in."""
    stripe.add_price("price_pro_m", 1500, interval=MONTH)
    stripe.add_price("price_pro_y", 15000, interval=YEAR)
    stripe.add_price("price_vip_m", 5000, interval=MONTH)
    stripe.add_price("price_club_m", 900, interval=MONTH)
    stripe.add_price("price_py", 4900)


@asynccontextmanager
async def stand_in(clock: ManualClock) -> AsyncIterator[StripeServer]:
    """Start the Stripe stand-in on the tests' clock, with the offers' prices."""
    async with StripeServer(clock=lambda: int(clock.now().timestamp())) as server:
        add_prices(server)
        yield server


@dataclass
class World:
    """A bot, its console, its web app and the Stripe stand-in, on one clock."""

    cohort: Cohort
    console: ConsoleAdapter
    stripe: StripeServer
    web: TestClient[Any, Any]
    clock: ManualClock

    @property
    def gating(self) -> Gating:
        """Return the gating service."""
        assert isinstance(self.cohort.entitlements, Gating)
        return self.cohort.entitlements

    async def post(self, event: dict[str, Any], **sign: Any) -> int:
        """Post one event to the webhook, signed as Stripe signs it; return the status."""
        body, header = self.stripe.signed(event, **sign)
        response = await self.web.post(
            "/stripe/webhook", data=body, headers={"Stripe-Signature": header}
        )
        await response.read()
        if response.status == 200:
            self.stripe.mark_delivered(event["id"])
        return response.status

    async def deliver(self, events: list[dict[str, Any]]) -> None:
        """Post events and let the worker apply them."""
        for event in events:
            assert await self.post(event) == 200
        await self.gating.run_due()

    async def say(self, line: str, user: str = "alice") -> str:
        """Type a line in the console as ``user``, let the worker run; return what was printed."""
        self.console.user = user
        await self.console.handle_line(line)
        await self.gating.run_due()  # what the worker, kicked by the command, does next
        return self.read()

    async def type_line(self, line: str, user: str = "alice") -> str:
        """Type a line in the console as ``user``, no worker pass after it; return the output."""
        self.console.user = user
        await self.console.handle_line(line)
        return self.read()

    def read(self) -> str:
        """Return and clear what the console printed."""
        assert isinstance(self.console.out, io.StringIO)
        text = self.console.out.getvalue()
        self.console.out.seek(0)
        self.console.out.truncate()
        return text

    async def buy(self, user: str, offer: str, plan: str = "") -> str:
        """Run /join as ``user`` and pay the session it made; return the session id."""
        printed = await self.say(f"/join {offer} {plan}".strip(), user)
        assert "Pay with Stripe" in printed, printed
        session_id = list(self.stripe.sessions)[-1]
        await self.deliver(self.stripe.pay(session_id))
        return session_id

    def subscription_of(self, session_id: str) -> str:
        """Return the subscription a paid session started."""
        return str(self.stripe.sessions[session_id]["subscription"])

    async def count(self, table: str, **where: Any) -> int:
        """Count rows of a table matching column values."""
        t = metadata.tables[table]
        async with self.cohort.db.read() as conn:
            return int(
                await conn.scalar(
                    select(func.count())
                    .select_from(t)
                    .where(*(t.c[k] == v for k, v in where.items()))
                )
                or 0
            )

    async def member(self, user: str) -> int:
        """Return the member id of a console user."""
        account = await self.cohort.identity.resolve(
            self.cohort.communities["demo"].id, self.console.caller(user)
        )
        return account.member_id

    async def holds_member(self, caller: Caller) -> frozenset[str]:
        """Return the offers the member behind any platform account holds now."""
        account = await self.cohort.identity.resolve(self.cohort.communities["demo"].id, caller)
        return await self.gating.offers_of(account.member_id, self.clock.now())

    async def holds(self, user: str) -> frozenset[str]:
        """Return the offers a console user holds now."""
        return await self.gating.offers_of(await self.member(user), self.clock.now())


@asynccontextmanager
async def world(
    tmp_path: Path, clock: ManualClock, *, stripe: StripeServer | None = None, **overrides: Any
) -> AsyncIterator[World]:
    """Run a bot with gating against the Stripe stand-in (a new one, or ``stripe`` running)."""
    async with contextlib.AsyncExitStack() as stack:
        if stripe is None:
            stripe = await stack.enter_async_context(stand_in(clock))
        cohort = await build(gating_config(tmp_path, stripe, **overrides), clock=clock)
        console = ConsoleAdapter(
            cohort, cohort.communities["demo"], user="alice", out=io.StringIO(), echo=True
        )
        cohort.platforms[PlatformName.CONSOLE] = console
        try:
            async with TestClient(TestServer(build_app(cohort))) as web:
                yield World(cohort, console, stripe, web, clock)
        finally:
            await cohort.stop()
            await cohort.db.close()


# --- a platform with roles, failing on purpose (rule 6 and rule 10) ---------------------------


class RolePlatform(ConsoleAdapter):
    """A stand-in for a platform with roles: our own port, with failures we choose."""

    name = PlatformName.DISCORD

    def __init__(self, w: World) -> None:
        super().__init__(w.cohort, w.cohort.communities["demo"], user="x", out=w.console.out)
        self.members: set[str] = set()
        self.failures: list[PlatformError] = []
        self.calls: list[tuple[str, str, AccessTarget]] = []

    async def grant_access(self, user_id: str, target: AccessTarget) -> None:
        self.calls.append(("grant", user_id, target))
        if self.failures:
            raise self.failures.pop(0)
        if user_id not in self.members:
            raise PlatformError(PlatformErrorReason.NOT_FOUND, "10007 Unknown Member")
        await super().grant_access(user_id, target)

    async def revoke_access(self, user_id: str, target: AccessTarget) -> None:
        self.calls.append(("revoke", user_id, target))
        if self.failures:
            raise self.failures.pop(0)
        await super().revoke_access(user_id, target)


DANA = Caller(PlatformName.DISCORD, "900000000000000001", "Dana", username="dana")


async def discord_buys(w: World, offer: str = "pro") -> str:
    """Run /join as Dana on the role platform and pay; return the session."""
    platform = w.cohort.platforms[PlatformName.DISCORD]
    community = w.cohort.communities["demo"]
    replies: list[str] = []

    async def respond(reply: Any) -> None:
        replies.append(reply.text)

    await w.cohort.dispatcher.run_line(platform, community, DANA, None, f"/join {offer}", respond)
    assert replies and "payment link" in replies[0], replies
    session = list(w.stripe.sessions)[-1]
    await w.deliver(w.stripe.pay(session))
    return session


async def access_rows(w: World) -> list[tuple[str, bool, str, int]]:
    """Return every access row as (role or space, desired, state, attempts)."""
    async with w.cohort.db.read() as conn:
        rows = (await conn.execute(select(gating_access).order_by(gating_access.c.id))).all()
    return [(r.role_id or r.space_id, r.desired, r.state, r.attempts) for r in rows]


# --- what several test modules use ---------------------------------------------------------------


NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


async def until(check: Any, seconds: float) -> bool:
    """Wait up to ``seconds`` of real time for ``check()`` to hold; return whether it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.01)
    return bool(await check())
