"""Q&A: the lifecycle, /ask, answers, /accept, bounties, the sweep, deletions, search, stats."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.adapters.telegram import TelegramAdapter
from bot.cogs import points, qa
from bot.cogs.qa import _service as qa_service
from bot.cogs.qa import _store as qa_store
from bot.cogs.qa._search import terms_of
from bot.cogs.qa._votes import votes_of
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.errors import UserError
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.runtime import build
from bot.store.tables import points_ledger, qa_answers, qa_questions, qa_transitions
from tests.adapters.test_discord import BOB as DC_BOB
from tests.adapters.test_discord import GENERAL as DC_GENERAL
from tests.adapters.test_discord import GUILD as DC_GUILD
from tests.adapters.test_discord import OLGA as DC_OLGA
from tests.adapters.test_discord import QUESTIONS as DC_QUESTIONS
from tests.adapters.test_discord import SAM as DC_SAM
from tests.adapters.test_discord import adapter_of as discord_adapter_of
from tests.adapters.test_discord import content as discord_content
from tests.adapters.test_discord import demo_guild
from tests.adapters.test_discord import start as start_discord
from tests.adapters.test_telegram import BOB as TG_BOB
from tests.adapters.test_telegram import GROUP, TOKEN, said
from tests.adapters.test_telegram import OLGA as TG_OLGA
from tests.conftest import make_config, output
from tests.discord_api import DEFAULT_TOKEN, DiscordServer
from tests.telegram_api import TelegramServer

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
W = qa.Why


# --- the lifecycle, as a table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "why", "has_answers", "expected"),
    [
        (OP, W.FIRST_ANSWER, True, A),
        (A, W.ACCEPTED, True, S),
        (D, W.ACCEPTED, True, S),
        (OP, W.MARKED_SOLVED, False, S),
        (A, W.MARKED_SOLVED, True, S),
        (D, W.MARKED_SOLVED, False, S),
        (OP, W.IDLE, False, D),
        (A, W.IDLE, True, D),
        (D, W.REVIVED, True, A),
        (D, W.REVIVED, False, OP),
        (A, W.ANSWER_DELETED, False, OP),
        *[(s, w, False, C) for s in (OP, A, D, S) for w in (W.DUPLICATE, W.OFF_TOPIC, W.OTHER)],
        (S, W.THREAD_DELETED, True, C),
        (OP, W.THREAD_DELETED, False, C),
    ],
)
def test_every_transition(
    state: qa.State, why: qa.Why, has_answers: bool, expected: qa.State
) -> None:
    assert qa.next_state(state, why, has_answers=has_answers) is expected


@pytest.mark.parametrize(
    ("state", "why", "has_answers"),
    [
        (OP, W.ACCEPTED, False),  # nothing to accept
        (S, W.ACCEPTED, True),  # a double accept
        (C, W.ACCEPTED, True),
        (S, W.FIRST_ANSWER, True),
        (C, W.DUPLICATE, False),  # closed twice
        (S, W.IDLE, True),  # solved questions never go dormant
        (OP, W.REVIVED, False),
        (A, W.ANSWER_DELETED, True),  # other answers remain
        (S, W.MARKED_SOLVED, True),
    ],
)
def test_moves_the_lifecycle_does_not_have(state: qa.State, why: qa.Why, has_answers: bool) -> None:
    with pytest.raises(qa.NotAllowed):
        qa.next_state(state, why, has_answers=has_answers)


# --- reading /ask -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title", "body", "tags"),
    [
        ("How do I X?", "How do I X?", "", ()),
        ("How do I X? | I tried Y #Python #sql", "How do I X?", "I tried Y", ("python", "sql")),
        ("Title line\nmore\ndetail", "Title line", "more\ndetail", ()),
        ("如何安装 numpy？ | pip 报错 #环境", "如何安装 numpy？", "pip 报错", ("环境",)),
        ("#a #b #c #d #e #f #a tags only title", "tags only title", "", ("a", "b", "c", "d", "e")),
        ("C# is not a tag here", "C# is not a tag here", "", ()),
    ],
)
def test_parse_question(text: str, title: str, body: str, tags: tuple[str, ...]) -> None:
    assert qa.parse_question(text) == qa.Draft(title, body, tags)


@pytest.mark.parametrize("text", ["", "   ", "| only details", "#tag"])
def test_a_question_needs_a_title(text: str) -> None:
    with pytest.raises(UserError) as caught:
        qa.parse_question(text)
    assert caught.value.key == "qa.ask.empty"


@given(st.text(max_size=400))
def test_parse_question_never_breaks(text: str) -> None:
    try:
        draft = qa.parse_question(text)
    except UserError as exc:
        assert exc.key == "qa.ask.empty"
        return
    assert draft.title and len(draft.title) <= 150 and "\n" not in draft.title
    assert len(draft.tags) <= 5 and len(set(draft.tags)) == len(draft.tags)


def test_search_terms_split_by_length() -> None:
    assert terms_of("numpy 安装 失败了 a") == (["numpy", "失败了"], ["安装", "a"])


# --- helpers ------------------------------------------------------------------------------------


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


ASK = "/ask How do I install numpy? | pip fails on Python 3.13 #python"


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


async def cohort_sweep(cohort: Cohort) -> int:
    job = next(j for j in cohort.jobs if j.id == "qa.sweep")
    return int(await job.run())  # type: ignore[call-overload]


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


# --- bounties -----------------------------------------------------------------------------------


async def test_a_bounty_is_escrowed_and_paid_to_the_accepted_answer(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await give(cohort, ALICE, 300)
    await say(console, "alice", "general", ASK)
    printed = await say(console, "alice", "general/thread-1", "/bounty 100")
    assert "A bounty of **100** points" in printed or "A bounty of 100 points" in printed
    assert "If none is accepted within 1 week," in printed
    assert await points.balance_of(cohort.db, 1, 1) == 200
    printed = await say(console, "alice", "general/thread-1", "/bounty 50")
    assert "already carries a bounty of 100 points" in printed
    await post(cohort, BOB, "101", "Use the wheel")
    await say(console, "alice", "general/thread-1", "/accept @bob")
    assert await earned(cohort, BOB, points.Reason.BOUNTY) == 100
    assert await earned(cohort, BOB, points.Reason.ACCEPTED_ANSWER) == 50
    assert await earned(cohort, ALICE, points.Reason.BOUNTY, points.Reason.REVERSAL) == -100


@pytest.mark.parametrize(("answered", "to_bob", "back"), [(True, 50, 50), (False, 0, 100)])
async def test_an_unclaimed_bounty_is_split_after_the_deadline(
    cohort: Cohort,
    console: ConsoleAdapter,
    clock: ManualClock,
    answered: bool,
    to_bob: int,
    back: int,
) -> None:
    await give(cohort, ALICE, 100)
    await say(console, "alice", "general", ASK, "/channel general/thread-1", "/bounty 100")
    if answered:
        await post(cohort, BOB, "101", "Use the wheel")
    clock.advance(timedelta(days=7))
    await cohort_sweep(cohort)
    await cohort_sweep(cohort)  # settled once
    assert await earned(cohort, BOB, points.Reason.BOUNTY) == to_bob
    assert await earned(cohort, ALICE, points.Reason.REVERSAL) == back
    if answered:
        printed = await say(console, "alice", "general/thread-1", "/accept @bob")
        assert "(+50 points)" in printed  # the accepted-answer points, no second bounty


async def react(
    cohort: Cohort, who: Caller | str, message_id: str, emoji: str, *, added: bool = True
) -> None:
    demo = cohort.communities["demo"]
    await cohort.dispatcher.reaction_changed(demo, who, THREAD, message_id, emoji, added=added)


async def test_votes_send_an_unclaimed_bounty_to_the_most_voted_answer(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await give(cohort, ALICE, 100)
    await say(console, "alice", "general", ASK, "/channel general/thread-1", "/bounty 100")
    await post(cohort, BOB, "101", "Use the wheel")
    await post(cohort, CAROL, "102", "Use conda")
    await react(cohort, ALICE, "102", "👍")
    await react(cohort, BOB, "102", "⬆️")
    await react(cohort, BOB, "102", "⬆️")  # the same reaction twice is one vote
    await react(cohort, CAROL, "102", "👍")  # her own answer: not counted
    await react(cohort, CAROL, "101", "🎉")  # not a vote emoji
    await react(cohort, BOT, "101", "👍")  # bots do not vote
    await react(cohort, "999", "101", "👍")  # nobody Cohort knows: ignored
    await react(cohort, ALICE, "102", "⬆️")
    await react(cohort, ALICE, "102", "👍", added=False)  # her ⬆️ still counts
    assert await votes_of(cohort.db, 1) == {2: 2}
    printed = await say(console, "alice", "general/thread-1", "/accept")
    assert "(▲2)" in printed  # the answer buttons show the votes
    clock.advance(timedelta(days=7))
    await cohort_sweep(cohort)
    assert await earned(cohort, CAROL, points.Reason.BOUNTY) == 50
    assert await earned(cohort, BOB, points.Reason.BOUNTY) == 0


async def test_two_accounts_that_both_voted_merge_into_one_vote(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(console, "alice", "general", ASK)
    await post(cohort, BOB, "101", "Use the wheel")
    carol_tg = Caller(PlatformName.TELEGRAM, "700", "Carol T")
    for voter in (CAROL, carol_tg):
        await react(cohort, voter, "101", "👍")
    assert await votes_of(cohort.db, 1) == {1: 2}
    demo = cohort.communities["demo"]
    carol = await cohort.identity.resolve(demo.id, CAROL)
    code = await cohort.identity.create_link_code(carol)
    await cohort.identity.redeem_link_code(
        await cohort.identity.resolve(demo.id, carol_tg), code.code
    )
    assert await votes_of(cohort.db, 1) == {1: 1}


async def test_closing_refunds_the_bounty(cohort: Cohort, console: ConsoleAdapter) -> None:
    await give(cohort, ALICE, 100)
    await say(console, "alice", "general", ASK, "/channel general/thread-1", "/bounty 60")
    printed = await say(console, "olga", "general/thread-1", "/close off_topic")
    assert "Closed: off-topic. A bounty of 60 points went back" in printed
    assert await points.balance_of(cohort.db, 1, 1) == 100


# --- the sweep: reminders, pings, dormancy, across a restart ------------------------------------


async def test_reminders_pings_and_dormancy_survive_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config(tmp_path, community={"qa": {"channels": ["console:questions"]}})
    first = await build(config, clock=clock)
    console = _console(first)
    printed = await say(console, "alice", "general", ASK, "/ask Nobody knows this")
    assert "[#questions/thread-1]" in printed  # the configured Q&A channel
    q1 = ChannelRef(PlatformName.CONSOLE, "questions", "thread-1")
    await post(first, BOB, "101", "Use the wheel", q1)
    clock.advance(timedelta(hours=23))
    assert await cohort_sweep(first) == 0
    clock.advance(timedelta(hours=2))
    output(console)
    assert await cohort_sweep(first) == 1
    printed = output(console)
    assert "Still unanswered: Nobody knows this (#2)" in printed
    assert "#1" not in printed  # question 1 has an answer
    await first.db.close()

    second = await build(config, clock=clock)  # a restart: the database says what is done
    console = _console(second)
    assert await cohort_sweep(second) == 0
    clock.advance(timedelta(days=2))  # 3 days after Bob's answer
    output(console)
    assert await cohort_sweep(second) == 1
    printed = output(console)
    assert "[#dm-alice] cohort:" in printed and "has answers" in printed
    assert "Bob: Use the wheel" in printed
    clock.advance(timedelta(days=12))  # 14 days without a word
    assert await cohort_sweep(second) == 2
    assert (await state_of(second, 1), await state_of(second, 2)) == (D, D)
    await post(second, CAROL, "102", "Still relevant: try conda", q1)
    assert await state_of(second, 1) is A  # revived
    number = max(console.buttons)  # the ping's button still works after the restart
    printed = await say(console, "alice", "dm-alice", f"/press {number}")
    assert "You accepted Bob's answer" in printed
    await second.db.close()


def _console(cohort: Cohort) -> ConsoleAdapter:
    adapter = ConsoleAdapter(
        cohort, cohort.communities["demo"], user="alice", out=io.StringIO(), echo=True
    )
    cohort.platforms[PlatformName.CONSOLE] = adapter
    return adapter


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


# --- search and listings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "found"),
    [
        ("numpy", [1, 2]),
        ("source", [1]),
        ("NUMPY wheel", [1]),  # the accepted answer is searched too
        ("如何安装", [2]),
        ("安装", [2]),  # two characters: below a trigram, found in the word index
        ("装", [2]),
        ("或者", [1]),  # a short term in the accepted answer
        ("to", [1]),  # a short Latin term is a whole word ...
        ("nu", []),  # ... not a piece of one
        ("wheel 或者", [1]),
        ("pip 环境", [2]),
        ("numpy 安装", [2]),
        ("matplotlib", []),
        ('"quoted', []),
        ("100%", []),
    ],
)
async def test_search_finds_english_and_chinese(
    cohort: Cohort, console: ConsoleAdapter, words: str, found: list[int]
) -> None:
    await say(
        console,
        "alice",
        "general",
        "/ask How to build numpy from source? | compiler errors",
        "/ask 如何安装 numpy？ | pip 报错，说缺少环境",
    )
    await post(cohort, BOB, "101", "Install the prebuilt wheel instead, 或者 conda")
    await say(console, "alice", "general/thread-1", "/accept @bob")
    hits = await qa.search(cohort.db, cohort.communities["demo"].id, words)
    assert sorted(h.id for h in hits) == found


async def test_questions_open_mine_and_search_commands(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await say(console, "alice", "general", ASK)
    clock.advance(timedelta(hours=1))
    await say(console, "bob", "general", "/ask 如何安装 numpy？")
    clock.advance(timedelta(hours=1))
    await say(console, "bob", "general", "/ask A third one")
    await post(
        cohort, CAROL, "101", "an answer", ChannelRef(PlatformName.CONSOLE, "general", "thread-3")
    )
    printed = await say(console, "carol", "general", "/questions open")
    assert "Unanswered questions" in printed
    assert printed.index("#1") < printed.index("#2") and "#3" not in printed
    printed = await say(console, "bob", "general", "/questions mine")
    assert printed.index("#3") < printed.index("#2") and "#1" not in printed
    printed = await say(console, "bob", "general", "/questions search 安装")
    assert "#2" in printed and "如何安装 numpy？" in printed
    printed = await say(console, "bob", "general", "/questions search nothing-like-this")
    assert "No question matches" in printed


# --- statistics ---------------------------------------------------------------------------------


async def test_statistics(cohort: Cohort, console: ConsoleAdapter, clock: ManualClock) -> None:
    start = clock.now()
    await say(console, "alice", "general", ASK, "/ask Second", "/ask Third")
    clock.advance(timedelta(hours=2))
    await post(cohort, BOB, "101", "answer one")
    clock.advance(timedelta(hours=2))
    await post(
        cohort, CAROL, "102", "answer two", ChannelRef(PlatformName.CONSOLE, "general", "thread-2")
    )
    await post(
        cohort, BOB, "103", "answer three", ChannelRef(PlatformName.CONSOLE, "general", "thread-2")
    )
    clock.advance(timedelta(hours=4))
    await say(console, "alice", "general/thread-1", "/accept @bob")
    end = clock.now() + timedelta(seconds=1)
    demo = cohort.communities["demo"].id
    got = await qa.summary(cohort.db, demo, start, end)
    assert (got.asked, got.answered, got.solved, got.closed) == (3, 2, 1, 0)
    assert got.answered_ratio == pytest.approx(2 / 3)
    assert got.median_first_answer == timedelta(hours=3)
    assert got.median_solve == timedelta(hours=8)
    top = await qa.top_answerers(cohort.db, demo, start, end)
    bob = (await cohort.identity.resolve(demo, BOB)).member_id
    assert (top[0].member_id, top[0].accepted, top[0].answers) == (bob, 1, 2)
    assert [(t.accepted, t.answers) for t in top[1:]] == [(0, 1)]
    empty = await qa.summary(cohort.db, demo, end, end + timedelta(days=1))
    assert empty.answered_ratio == 0.0 and empty.median_first_answer is None
    printed = await say(console, "carol", "general", "/questions stats 7")
    assert "Q&A over the last 7 days" in printed
    assert "3 asked · 2 answered (67%) · 1 solved · 0 closed" in printed
    assert "first answer: 3 hours · to solved: 8 hours" in printed
    assert printed.index("1. Bob · 1 of 2 accepted") < printed.index("2. Carol · 0 of 1")
    clock.advance(timedelta(days=8))
    printed = await say(console, "carol", "general", "/questions stats 7")
    assert "0 asked" in printed and "first answer: — · to solved: —" in printed
    assert "Top answerers" not in printed


async def test_an_unknown_question_number(console: ConsoleAdapter) -> None:
    printed = await say(console, "alice", "general", "/accept question:42", "/ask #only-tags")
    assert "There is no question #42." in printed
    assert "Your question needs a title" in printed


# --- through Telegram: forum topics, and reply chains in a group without topics -------------------

PLAIN = -1009876543210  # a group without topics


async def test_telegram_topics_and_reply_chains(tmp_path: Path) -> None:

    async with TelegramServer(token=TOKEN) as tg:
        tg.add_chat(GROUP, "supergroup", title="Demo", is_forum=True)
        tg.add_chat(PLAIN, "supergroup", title="Plain")
        for user_id, name in ((TG_OLGA, "Olga"), (TG_BOB, "Bob")):
            tg.add_user(user_id, name, username=name.lower(), language_code="en")
            tg.add_member(GROUP, user_id)
            tg.add_member(PLAIN, user_id)
            tg.add_chat(user_id, "private")
        config = make_config(
            tmp_path,
            community={"telegram_chats": [GROUP, PLAIN]},
            telegram={
                "token": TOKEN,
                "base_url": tg.base_url,
                "messages_per_minute_per_group": 1000,
                "messages_per_second": 1000,
            },
        )
        cohort = await build(config)
        adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
        cohort.platforms[PlatformName.TELEGRAM] = adapter
        await adapter.start()
        try:
            tg.user_says(GROUP, TG_BOB, "/ask How do I pin numpy? | versions clash #python")
            await said(tg, GROUP, "Question <b>#1</b> from <b>Bob</b>")
            (topic_id,) = [k[1] for k in tg.topics if k[0] == GROUP]
            answer = tg.user_says(GROUP, TG_OLGA, "Use a lock file", thread_id=topic_id)
            await tg.wait_for(lambda: len(tg.sent(GROUP)) >= 1)
            await _until(lambda: state_of(cohort, 1), A)
            # A reaction is a vote; changing it to a non-vote emoji takes the vote back.
            tg.user_reacts(GROUP, TG_BOB, answer["message_id"], ("👍",))
            await _until(lambda: votes_of(cohort.db, 1), {1: 1})
            tg.user_reacts(GROUP, TG_BOB, answer["message_id"], ("🔥",))
            await _until(lambda: votes_of(cohort.db, 1), {})
            tg.user_says(
                GROUP,
                TG_BOB,
                "/accept",
                thread_id=topic_id,
                reply_to_message_id=answer["message_id"],
            )
            await said(tg, GROUP, "the answer by <b>Olga</b> was accepted")
            await tg.wait_for(lambda: tg.topics[(GROUP, topic_id)]["closed"])
            assert tg.topics[(GROUP, topic_id)]["name"] == "[Solved] How do I pin numpy?"

            tg.user_says(PLAIN, TG_BOB, "/ask Which editor?")
            opening = await said(tg, PLAIN, "Question <b>#2</b>")
            await tg.wait_for(lambda: bool(tg.called("pinChatMessage")))
            pinned = tg.find_message(PLAIN, opening["message_id"])
            assert pinned is not None and pinned.pinned
            assert tg.called("pinChatMessage")[0]["disable_notification"] is True
            answer = tg.user_says(
                PLAIN, TG_OLGA, "Try Helix", reply_to_message_id=opening["message_id"]
            )
            await _until(lambda: state_of(cohort, 2), A)
            later = tg.user_says(
                PLAIN, TG_OLGA, "Or Vim", reply_to_message_id=opening["message_id"]
            )
            await _until(lambda: _answer_count(cohort, 2), 2)
            # Replying to her first answer accepts that one, not her latest.
            tg.user_says(PLAIN, TG_BOB, "/accept", reply_to_message_id=answer["message_id"])
            await _until(lambda: state_of(cohort, 2), S)
            accepted = await qa_store.get(cohort.db, 1, 2)
            assert accepted is not None
            answers = {a.id: a.message_id for a in await qa_store.answers_of(cohort.db, 2)}
            assert answers[accepted.accepted_answer_id or 0] == str(answer["message_id"])
            assert str(later["message_id"]) in answers.values()
            await tg.wait_for(lambda: bool(tg.called("unpinChatMessage")))
            assert not pinned.pinned
        finally:
            await adapter.stop()
            await cohort.dispatcher.drain()
            await cohort.db.close()


async def _answer_count(cohort: Cohort, question_id: int) -> int:
    return len(await qa_store.answers_of(cohort.db, question_id))


async def _until(read: Callable[[], Awaitable[object]], expected: object) -> None:
    for _ in range(200):
        if await read() == expected:
            return
        await asyncio.sleep(0.02)
    assert await read() == expected


# --- through Discord: a forum post with tags, votes, accepting from buttons -----------------------


@pytest.fixture
async def dc() -> AsyncIterator[DiscordServer]:
    """Return the Discord stand-in with the demo guild and its forum."""
    async with demo_guild() as server:
        yield server


@pytest.fixture
async def discord_qa(tmp_path: Path, dc: DiscordServer) -> AsyncIterator[Cohort]:
    """Return a bot on the Discord stand-in whose questions open in the forum channel."""
    config = make_config(
        tmp_path,
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base, "defer_after": 0.3},
        community={"qa": {"channels": [f"discord:{DC_QUESTIONS}"]}},
    )
    cohort = await build(config)
    await start_discord(cohort)
    try:
        yield cohort
    finally:
        await discord_adapter_of(cohort).stop()
        await cohort.dispatcher.drain()
        await cohort.db.close()


async def test_a_question_through_discord(discord_qa: Cohort, dc: DiscordServer) -> None:
    cohort = discord_qa
    asked = dc.run_command(
        DC_GUILD,
        DC_GENERAL,
        DC_BOB,
        "ask",
        {"question": "How do joins work? | inner vs outer #sql"},
    )
    assert "has its own thread now" in discord_content(await dc.answered(asked))
    channels = dc.guilds[DC_GUILD].channels.values()
    (post,) = [c for c in channels if c.get("parent_id") == str(DC_QUESTIONS)]
    thread = int(post["id"])
    assert post["name"] == "How do joins work?"
    assert post["applied_tags"] == [dc.tag_id(DC_QUESTIONS, "sql")]
    assert "inner vs outer" in discord_content(dc.sent(thread))

    answer = dc.user_says(thread, DC_OLGA, "Use an index on the join column")
    await _until(lambda: state_of(cohort, 1), A)
    dc.user_reacts(thread, DC_SAM, int(answer["id"]), "👍")
    await _until(lambda: votes_of(cohort.db, 1), {1: 1})

    accept = dc.run_command(DC_GUILD, thread, DC_BOB, "accept")
    (listing,) = await dc.answered(accept)
    assert listing["ephemeral"] is True
    (button,) = dc.buttons(int(listing["channel_id"]), int(listing["id"]))
    assert button["label"].startswith("Olga: Use an index") and button["label"].endswith("(▲1)")
    await dc.answered(
        dc.press(int(listing["channel_id"]), int(listing["id"]), DC_BOB, button["custom_id"])
    )
    await _until(lambda: state_of(cohort, 1), S)
    await dc.wait_for(lambda: dc.channel(thread)["thread_metadata"]["archived"])
    assert dc.channel(thread)["name"] == "[Solved] How do joins work?"
    assert "the answer by **Olga** was accepted" in discord_content(dc.sent(thread))

    found = dc.run_command(DC_GUILD, DC_GENERAL, DC_SAM, "questions search", {"words": "joins"})
    assert "How do joins work?" in discord_content(await dc.answered(found))
