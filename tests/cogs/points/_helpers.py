"""What the points tests share: the members, the moment, posting, balances, the console."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from tests.conftest import output

ALICE = Caller(PlatformName.CONSOLE, "alice", "Alice", username="alice")
BOB = Caller(PlatformName.CONSOLE, "bob", "Bob", username="bob")
CAROL = Caller(PlatformName.CONSOLE, "carol", "Carol", username="carol")
GENERAL = ChannelRef(PlatformName.CONSOLE, "general")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def post(
    cohort: Cohort, caller: Caller, message_id: str, text: str, channel: ChannelRef = GENERAL
) -> bool:
    """Post a message as ``caller``."""
    return await cohort.dispatcher.message_posted(
        cohort.communities["demo"], caller, channel, message_id, text, cohort.clock.now()
    )


async def balance(cohort: Cohort, caller: Caller) -> int:
    """Return ``caller``'s balance."""
    account = await cohort.identity.resolve(cohort.communities["demo"].id, caller)
    return await points.balance_of(cohort.db, account.community_id, account.member_id)


async def run(console: ConsoleAdapter, *lines: str) -> str:
    """Type ``lines`` into the console and return what it printed."""
    for line in lines:
        await console.handle_line(line)
    return output(console)
