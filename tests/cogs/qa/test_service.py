"""Questions and answers (``_service``): the message path, /accept, /solved, /close, deletions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.cogs import points, qa
from bot.cogs.qa import _service as qa_service
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.store.tables import qa_answers, qa_questions, qa_transitions
from tests.cogs.qa._helpers import (
    ALICE,
    ASK,
    BOB,
    CAROL,
    OLGA,
    OP,
    THREAD,
    A,
    C,
    S,
    cohort_sweep,
    earned,
    give,
    post,
    say,
    state_of,
)
from tests.conftest import output

# --- the message path -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "reply_to"),
    [
        (ChannelRef(PlatformName.CONSOLE, "general"), None),  # an ordinary message
        (ChannelRef(PlatformName.CONSOLE, "general", "thread-9"), None),  # another thread
        (ChannelRef(PlatformName.CONSOLE, "general"), "m-elsewhere"),  # a reply to no question
    ],
)
async def test_a_message_no_question_wants_takes_no_write_lock(
    cohort: Cohort,
    console: ConsoleAdapter,
    monkeypatch: pytest.MonkeyPatch,
    where: ChannelRef,
    reply_to: str | None,
) -> None:
    await say(console, "bob", "general", ASK)
    assert await state_of(cohort) is OP
    demo, now = cohort.communities["demo"], cohort.clock.now()
    carol = await cohort.identity.resolve(demo.id, CAROL)
    writes: list[str] = []
    real_write = cohort.db.write

    def counted_write() -> Any:
        writes.append("write")
        return real_write()

    monkeypatch.setattr(cohort.db, "write", counted_write)

    async def posted(where: ChannelRef, reply_to: str | None) -> qa_service.Posted | None:
        return await qa_service.posted(
            cohort.db,
            demo,
            author_id=carol.member_id,
            where=where,
            message_id=f"m-{len(writes)}",
            reply_to=reply_to,
            text="an answer, perhaps",
            at=now,
        )

    assert await posted(where, reply_to) is None
    assert writes == []
    assert await posted(THREAD, None) is not None  # the question's own thread still writes
    assert writes == ["write"]


# --- asking, answering, accepting ---------------------------------------------------------------


async def test_ask_answer_accept_through_the_console(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    printed = await say(console, "alice", "general", ASK)
    assert "New thread “How do I install numpy? [python]” (thread-1)" in printed
    assert "Question #1 from Alice" in printed and "pip fails on Python 3.13" in printed
    assert "has its own thread now" in printed
    assert await state_of(cohort) is OP

    await post(cohort, ALICE, "100", "Some more detail from the asker")  # not an answer
    assert await state_of(cohort) is OP
    await post(cohort, BOB, "101", "Use the wheel from PyPI: pip install --only-binary numpy")
    await post(cohort, BOB, "102", "or upgrade pip first")
    await post(cohort, CAROL, "103", "conda works too")
    assert await state_of(cohort) is A
    assert await earned(cohort, BOB, points.Reason.ANSWER) == 10  # once per question
    assert await earned(cohort, CAROL, points.Reason.ANSWER) == 10

    printed = await say(console, "alice", "general/thread-1", "/accept @bob")
    assert "Solved: the answer by Bob was accepted (+50 points)" in printed
    assert "is now “[Solved] How do I install numpy?”" in printed
    assert "(thread thread-1 closed)" in printed
    assert await state_of(cohort) is S
    assert await earned(cohort, BOB, points.Reason.ACCEPTED_ANSWER) == 50

    printed = await say(console, "alice", "general/thread-1", "/accept @carol")
    assert "Question #1 is already solved." in printed
    assert await earned(cohort, CAROL, points.Reason.ACCEPTED_ANSWER) == 0
    async with cohort.db.read() as conn:
        accepted = await conn.scalar(select(qa_questions.c.accepted_answer_id))
        answer = await conn.scalar(
            select(qa_answers.c.message_id).where(qa_answers.c.id == accepted)
        )
        moves = (
            await conn.execute(
                select(qa_transitions.c.to_state, qa_transitions.c.reason).order_by(
                    qa_transitions.c.id
                )
            )
        ).all()
    assert answer == "102"  # Bob's latest answer
    assert [tuple(m) for m in moves] == [
        ("open", "asked"),
        ("answered", "first_answer"),
        ("solved", "accepted"),
    ]


async def test_accept_from_buttons_and_a_double_press(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(console, "alice", "general", ASK)
    await post(cohort, BOB, "101", "Use the wheel")
    printed = await say(console, "alice", "general/thread-1", "/accept")
    assert "Which answer to “How do I install numpy?” helped?" in printed
    assert "Bob: Use the wheel" in printed
    number = max(console.buttons)
    printed = await say(console, "alice", "general/thread-1", f"/press {number}")
    assert "You accepted Bob's answer to question #1." in printed
    printed = await say(console, "alice", "general/thread-1", f"/press {number}")
    assert "Question #1 is already solved." in printed
    assert await earned(cohort, BOB, points.Reason.ACCEPTED_ANSWER) == 50


@pytest.mark.parametrize(
    ("user", "line", "message"),
    [
        ("carol", "/accept @bob", "Only the person who asked, or a moderator, can do that."),
        ("olga", "/accept @olga", "You cannot accept your own answer."),
        ("alice", "/accept @carol", "Carol has not answered this question."),
        ("alice", "/bounty 10", "You have 0 points; a bounty of 10 needs more."),
        ("olga", "/bounty 10", "Only the person who asked can offer a bounty."),
        ("alice", "/bounty 5000", "A bounty can be at most 1000 points."),
    ],
)
async def test_refusals(
    cohort: Cohort, console: ConsoleAdapter, user: str, line: str, message: str
) -> None:
    await say(console, "alice", "general", ASK)
    await post(cohort, BOB, "101", "Use the wheel")
    await post(cohort, OLGA, "102", "A moderator's own answer")
    await post(cohort, CAROL, "103", "just a chat")
    async with cohort.db.write() as conn:  # Carol's message is no answer: take it out again
        await conn.execute(qa_answers.delete().where(qa_answers.c.message_id == "103"))
    printed = await say(console, user, "general/thread-1", line)
    assert message in printed
    assert await state_of(cohort) is A


async def test_a_moderator_accepts_for_an_asker_who_left(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await say(console, "alice", "general", ASK)
    await post(cohort, BOB, "101", "Use the wheel")
    await cohort.dispatcher.member_left(cohort.communities["demo"], ALICE, "console")
    clock.advance(timedelta(days=4))
    output(console)
    await cohort_sweep(cohort)
    assert "has answers" not in output(console)  # no accept ping for someone who left
    printed = await say(console, "olga", "general/thread-1", "/accept @bob")
    assert "accepted (+50 points)" in printed
    assert await state_of(cohort) is S


async def test_solved_and_close_without_an_accepted_answer(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(console, "alice", "general", ASK, "/ask Second question")
    printed = await say(console, "alice", "general/thread-1", "/solved")
    assert "Marked as solved" in printed and "Question #1 is marked as solved." in printed
    printed = await say(console, "carol", "general", "/close duplicate question:2")
    assert "Only the person who asked" in printed
    printed = await say(console, "olga", "general", "/close duplicate question:2")
    assert "Closed: duplicate" in printed and "[Closed] Second question" in printed
    assert (await state_of(cohort, 1), await state_of(cohort, 2)) == (S, C)
    printed = await say(console, "alice", "general", "/close other question:2")
    assert "Question #2 is closed." in printed
    printed = await say(console, "alice", "general", "/accept")
    assert "Run this in the question's thread" in printed


# --- deletions ----------------------------------------------------------------------------------


async def test_a_deleted_accepted_answer_keeps_the_question_solved_and_paid_once(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    demo = cohort.communities["demo"]
    await say(console, "alice", "general", ASK)
    await post(cohort, BOB, "101", "Use the wheel numpy-binary")
    await say(console, "alice", "general/thread-1", "/accept @bob")
    assert [h.id for h in await qa.search(cohort.db, demo.id, "numpy-binary")] == [1]
    for _ in range(2):
        await cohort.dispatcher.message_deleted(demo, THREAD, "101")
    assert await state_of(cohort) is S
    assert await earned(cohort, BOB, points.Reason.ACCEPTED_ANSWER, points.Reason.REVERSAL) == 50
    assert await qa.search(cohort.db, demo.id, "numpy-binary") == []  # its text left the index
    printed = await say(console, "alice", "general/thread-1", "/accept @bob")
    assert "already solved" in printed


async def test_a_deleted_answer_takes_its_points_back_and_reopens(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    demo = cohort.communities["demo"]
    await say(console, "alice", "general", ASK)
    await post(cohort, BOB, "101", "Use the wheel")
    await post(cohort, BOB, "102", "and upgrade pip")
    await cohort.dispatcher.message_deleted(demo, THREAD, "101")
    assert await earned(cohort, BOB, points.Reason.ANSWER, points.Reason.REVERSAL) == 10
    assert await state_of(cohort) is A
    await cohort.dispatcher.message_deleted(demo, THREAD, "102")
    await cohort.dispatcher.message_deleted(demo, THREAD, "102")
    assert await earned(cohort, BOB, points.Reason.ANSWER, points.Reason.REVERSAL) == 0
    assert await state_of(cohort) is OP


async def test_a_deleted_thread_closes_the_question_and_refunds(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    demo = cohort.communities["demo"]
    await give(cohort, ALICE, 100)
    await say(console, "alice", "general", ASK, "/channel general/thread-1", "/bounty 40")
    await post(cohort, BOB, "101", "Use the wheel")
    # A Discord forum post's starter message has the thread's id.
    await cohort.dispatcher.message_deleted(
        demo, ChannelRef(PlatformName.CONSOLE, "general"), "thread-1"
    )
    assert await state_of(cohort) is C
    assert await points.balance_of(cohort.db, demo.id, 1) == 100
    assert await earned(cohort, BOB, points.Reason.ANSWER) == 10  # answering stays rewarded
    assert await qa.search(cohort.db, demo.id, "numpy") == []
    await post(cohort, CAROL, "102", "late answer")
    async with cohort.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(qa_answers)) == 1


async def test_an_unknown_question_number(console: ConsoleAdapter) -> None:
    printed = await say(console, "alice", "general", "/accept question:42", "/ask #only-tags")
    assert "There is no question #42." in printed
    assert "Your question needs a title" in printed
