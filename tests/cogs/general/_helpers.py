"""What the general cog's tests share: Alice, and running a line as someone."""

from __future__ import annotations

from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef
from bot.core.replies import Reply

ALICE = Caller(PlatformName.CONSOLE, "alice", "Alice", username="alice")
HERE = ChannelRef(PlatformName.CONSOLE, "general")


async def run(cohort: Cohort, caller: Caller, line: str) -> list[Reply]:
    """Run ``line`` as ``caller`` (on the console adapter) and return the replies."""
    replies: list[Reply] = []

    async def respond(reply: Reply) -> MessageRef | None:
        replies.append(reply)
        return None

    await cohort.dispatcher.run_line(
        cohort.platforms[PlatformName.CONSOLE],
        cohort.communities["demo"],
        caller,
        HERE,
        line,
        respond,
    )
    return replies
