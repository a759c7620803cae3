"""What the Q&A tests share: the members, the question thread, and driving the bot."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points, qa
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.store.tables import points_ledger, qa_questions
from tests.conftest import output

ALICE = Caller(PlatformName.CONSOLE, "alice", "Alice", username="alice")
BOB = Caller(PlatformName.CONSOLE, "bob", "Bob", username="bob")
CAROL = Caller(PlatformName.CONSOLE, "carol", "Carol", username="carol")
OLGA = Caller(PlatformName.CONSOLE, "olga", "Olga", username="olga")  # an organizer
BOT = Caller(PlatformName.CONSOLE, "helper", "Helper", is_bot=True)
THREAD = ChannelRef(PlatformName.CONSOLE, "general", "thread-1")
S, OP, A, D, C = (
    qa.State.SOLVED,
    qa.State.OPEN,
    qa.State.ANSWERED,
    qa.State.DORMANT,
    qa.State.CLOSED,
)
ASK = "/ask How do I install numpy? | pip fails on Python 3.13 #python"


async def say(console: ConsoleAdapter, user: str, where: str, *lines: str) -> str:
    """Type ``lines`` as ``user`` in channel ``where``; return what the console printed."""
    output(console)
    await console.handle_line(f"/as {user}")
    await console.handle_line(f"/channel {where}")
    for line in lines:
        await console.handle_line(line)
    return output(console)


async def post(
    cohort: Cohort, caller: Caller, message_id: str, text: str, where: ChannelRef = THREAD
) -> None:
    demo = cohort.communities["demo"]
    await cohort.dispatcher.message_posted(
        demo, caller, where, message_id, text, cohort.clock.now()
    )


async def earned(cohort: Cohort, caller: Caller, *reasons: points.Reason) -> int:
    """Return what ``caller`` got for these reasons (message points aside)."""
    account = await cohort.identity.resolve(cohort.communities["demo"].id, caller)
    async with cohort.db.read() as conn:
        total = await conn.scalar(
            select(func.coalesce(func.sum(points_ledger.c.delta), 0)).where(
                points_ledger.c.member_id == account.member_id,
                points_ledger.c.reason.in_([r.value for r in reasons]),
            )
        )
    return int(total)


async def state_of(cohort: Cohort, question_id: int = 1) -> qa.State:
    async with cohort.db.read() as conn:
        value = await conn.scalar(
            select(qa_questions.c.state).where(qa_questions.c.id == question_id)
        )
    return qa.State(value)


async def give(cohort: Cohort, caller: Caller, amount: int) -> None:
    demo = cohort.communities["demo"]
    account = await cohort.identity.resolve(demo.id, caller)
    await points.award(
        cohort.db,
        demo,
        account.member_id,
        amount,
        points.Reason.MANUAL,
        f"test:{caller.user_id}",
        at=cohort.clock.now(),
    )


async def cohort_sweep(cohort: Cohort) -> int:
    job = next(j for j in cohort.jobs if j.id == "qa.sweep")
    return int(await job.run())  # type: ignore[call-overload]
