"""Questions and answers in the store: every change a plain function on (db, community, time).

Each change runs in one write transaction: it reads the question, checks the lifecycle, moves
the state, records the transition and awards points, so a replay or a race finds the new state
and awards nothing twice (points are also unique by their source).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.points import Reason, award_in
from bot.cogs.qa import _search as search
from bot.cogs.qa._ask import Draft
from bot.cogs.qa._states import LIVE, NotAllowed, State, Why, next_state
from bot.cogs.qa._votes import tally
from bot.core.community import Community
from bot.core.errors import UserError
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import (
    points_balances,
    points_ledger,
    qa_answers,
    qa_messages,
    qa_questions,
    qa_transitions,
)

MAX_LISTED = 10


@dataclass(frozen=True, slots=True)
class Question:
    """A question as stored."""

    id: int
    community_id: int
    asker_id: int
    platform: str
    channel_id: str
    thread_id: str | None
    opening_message_id: str | None
    title: str
    body: str
    tags: str
    state: State
    bounty: int
    bounty_at: datetime | None
    bounty_settled_at: datetime | None
    accepted_answer_id: int | None
    created_at: datetime
    active_at: datetime
    first_answer_at: datetime | None
    solved_at: datetime | None
    reminded_at: datetime | None
    accept_pinged_at: datetime | None
    asker_left_at: datetime | None

    @property
    def thread(self) -> ChannelRef:
        """Return where the question's messages go (its thread, or the reply chain's channel)."""
        return ChannelRef(PlatformName(self.platform), self.channel_id, self.thread_id)

    @classmethod
    def of(cls, row: Any) -> Question:
        """Build from a qa_questions row."""
        values = dict(row._mapping)
        values["state"] = State(values["state"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer: a message by someone other than the asker in the question's thread."""

    id: int
    question_id: int
    author_id: int
    message_id: str
    text: str
    posted_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Posted:
    """What a message in a question's thread did."""

    question: Question
    answer_id: int | None  # None: the asker wrote, or the question takes no answers
    first: bool  # it moved the question to answered
    revived: bool  # it woke a dormant question


@dataclass(frozen=True, slots=True)
class Paid:
    """Points an accept, a close or a settled bounty moved."""

    question: Question
    answer: Answer | None
    accepted_points: int
    bounty_paid: int
    bounty_refunded: int


_ANSWER_COLUMNS = (
    qa_answers.c.id,
    qa_answers.c.question_id,
    qa_answers.c.author_id,
    qa_answers.c.message_id,
    qa_answers.c.text,
    qa_answers.c.posted_at,
    qa_answers.c.deleted_at,
)


def is_moderator_role(role: str) -> bool:
    """Tell whether a caller's role may act on anyone's question."""
    return role in ("organizer", "admin")


# --- reading ----------------------------------------------------------------------------------


async def _get(conn: AsyncConnection, community_id: int, question_id: int) -> Question | None:
    row = (
        await conn.execute(
            select(qa_questions).where(
                qa_questions.c.community_id == community_id, qa_questions.c.id == question_id
            )
        )
    ).first()
    return Question.of(row) if row is not None else None


async def _require(conn: AsyncConnection, community_id: int, question_id: int) -> Question:
    """Return a question by id, or refuse with "no such question"."""
    question = await _get(conn, community_id, question_id)
    if question is None:
        raise UserError("qa.unknown", id=question_id)
    return question


async def get(db: Database, community_id: int, question_id: int) -> Question | None:
    """Return a question by id."""
    async with db.read() as conn:
        return await _get(conn, community_id, question_id)


async def _by_thread(
    conn: AsyncConnection, community_id: int, where: ChannelRef
) -> Question | None:
    row = (
        await conn.execute(
            select(qa_questions)
            .where(
                qa_questions.c.community_id == community_id,
                qa_questions.c.platform == where.platform.value,
                qa_questions.c.channel_id == where.channel_id,
                qa_questions.c.thread_id == where.thread_id,
            )
            .order_by(qa_questions.c.id.desc())
            .limit(1)
        )
    ).first()
    return Question.of(row) if row is not None else None


async def _by_message(
    conn: AsyncConnection, community_id: int, where: ChannelRef, message_id: str
) -> Question | None:
    question_id = await conn.scalar(
        select(qa_messages.c.question_id).where(
            qa_messages.c.community_id == community_id,
            qa_messages.c.platform == where.platform.value,
            qa_messages.c.channel_id == where.channel_id,
            qa_messages.c.message_id == message_id,
        )
    )
    return await _get(conn, community_id, question_id) if question_id is not None else None


async def _question_at(
    conn: AsyncConnection, community_id: int, where: ChannelRef, reply_to: str | None
) -> Question | None:
    """Return the question whose thread ``where`` is, else whose chain ``reply_to`` is in."""
    if where.thread_id is not None:
        return await _by_thread(conn, community_id, where)
    if reply_to is not None:
        return await _by_message(conn, community_id, where, reply_to)
    return None


async def find(
    db: Database,
    community_id: int,
    where: ChannelRef | None,
    question_id: int | None = None,
    *,
    replied: str | None = None,
) -> Question | None:
    """Return the question ``question_id`` names, else the one whose thread ``where`` is.

    Outside a thread, the reply chain the ``replied`` message belongs to says which.
    """
    async with db.read() as conn:
        if question_id is not None:
            return await _get(conn, community_id, question_id)
        if where is None:
            return None
        if where.thread_id is not None:
            return await _by_thread(conn, community_id, where)
        if replied is not None:
            return await _by_message(conn, community_id, where, replied)
        return None


async def answers_of(db: Database, question_id: int) -> list[Answer]:
    """Return a question's live answers, oldest first."""
    async with db.read() as conn:
        return await _answers(conn, question_id)


async def _answers(conn: AsyncConnection, question_id: int) -> list[Answer]:
    rows = await conn.execute(
        select(*_ANSWER_COLUMNS)
        .where(qa_answers.c.question_id == question_id, qa_answers.c.deleted_at.is_(None))
        .order_by(qa_answers.c.posted_at, qa_answers.c.id)
    )
    return [Answer(*row) for row in rows]


async def _answer(conn: AsyncConnection, question_id: int, answer_id: int) -> Answer | None:
    row = (
        await conn.execute(
            select(*_ANSWER_COLUMNS).where(
                qa_answers.c.question_id == question_id, qa_answers.c.id == answer_id
            )
        )
    ).first()
    return Answer(*row) if row is not None else None


async def latest_answer_by(
    db: Database, question_id: int, author_id: int, *, message_id: str | None = None
) -> Answer | None:
    """Return a member's live answer to a question: the message named, else their latest."""
    async with db.read() as conn:
        if message_id is not None:
            row = (
                await conn.execute(
                    select(*_ANSWER_COLUMNS).where(
                        qa_answers.c.question_id == question_id,
                        qa_answers.c.author_id == author_id,
                        qa_answers.c.message_id == message_id,
                        qa_answers.c.deleted_at.is_(None),
                    )
                )
            ).first()
            if row is not None:
                return Answer(*row)
        row = (
            await conn.execute(
                select(*_ANSWER_COLUMNS)
                .where(
                    qa_answers.c.question_id == question_id,
                    qa_answers.c.author_id == author_id,
                    qa_answers.c.deleted_at.is_(None),
                )
                .order_by(qa_answers.c.posted_at.desc(), qa_answers.c.id.desc())
                .limit(1)
            )
        ).first()
    return Answer(*row) if row is not None else None


async def listing(
    db: Database, community_id: int, *, asker_id: int | None = None, limit: int = MAX_LISTED
) -> list[Question]:
    """Return the unanswered questions oldest first, or one member's questions newest first."""
    query = select(qa_questions).where(qa_questions.c.community_id == community_id)
    if asker_id is None:
        query = query.where(qa_questions.c.state == State.OPEN.value).order_by(
            qa_questions.c.created_at, qa_questions.c.id
        )
    else:
        query = query.where(qa_questions.c.asker_id == asker_id).order_by(
            qa_questions.c.created_at.desc(), qa_questions.c.id.desc()
        )
    async with db.read() as conn:
        rows = (await conn.execute(query.limit(limit))).all()
    return [Question.of(row) for row in rows]


# --- moving through the lifecycle -------------------------------------------------------------


async def _move(
    conn: AsyncConnection,
    question: Question,
    why: Why,
    *,
    actor_id: int | None,
    at: datetime,
    **values: Any,
) -> State:
    """Move ``question`` for ``why``, record the transition and set ``values``; return it."""
    live = await conn.scalar(
        select(func.count())
        .select_from(qa_answers)
        .where(qa_answers.c.question_id == question.id, qa_answers.c.deleted_at.is_(None))
    )
    state = next_state(question.state, why, has_answers=bool(live))
    await conn.execute(
        update(qa_questions)
        .where(qa_questions.c.id == question.id)
        .values(state=state.value, **values)
    )
    await conn.execute(
        insert(qa_transitions).values(
            community_id=question.community_id,
            question_id=question.id,
            from_state=question.state.value,
            to_state=state.value,
            reason=why.value,
            actor_id=actor_id,
            at=at,
        )
    )
    return state


async def ask(db: Database, community: Community, asker_id: int, draft: Draft, at: datetime) -> int:
    """Record a new open question (its thread comes next, with ``attach``); return its id."""
    async with db.write() as conn:
        question_id = (
            await conn.execute(
                insert(qa_questions)
                .values(
                    community_id=community.id,
                    asker_id=asker_id,
                    platform="",
                    channel_id="",
                    title=draft.title,
                    body=draft.body,
                    tags=",".join(draft.tags),
                    state=State.OPEN.value,
                    created_at=at,
                    active_at=at,
                )
                .returning(qa_questions.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(qa_transitions).values(
                community_id=community.id,
                question_id=question_id,
                from_state=None,
                to_state=State.OPEN.value,
                reason=Why.ASKED.value,
                actor_id=asker_id,
                at=at,
            )
        )
        await search.index_question(conn, question_id, draft.title, draft.body)
    return int(question_id)


async def attach(
    db: Database, community_id: int, question_id: int, thread: ChannelRef, opening: str | None
) -> None:
    """Record the thread a question lives in; without a thread id, track its reply chain."""
    async with db.write() as conn:
        await conn.execute(
            update(qa_questions)
            .where(qa_questions.c.id == question_id)
            .values(
                platform=thread.platform.value,
                channel_id=thread.channel_id,
                thread_id=thread.thread_id,
                opening_message_id=opening,
            )
        )
        if thread.thread_id is None and opening is not None:
            await _track(conn, community_id, thread, opening, question_id)


async def discard(db: Database, question_id: int) -> None:
    """Forget a question whose thread could not be opened."""
    async with db.write() as conn:
        await search.unindex(conn, question_id)
        await conn.execute(delete(qa_questions).where(qa_questions.c.id == question_id))


async def _track(
    conn: AsyncConnection, community_id: int, where: ChannelRef, message_id: str, question_id: int
) -> None:
    await insert_ignore_returning(
        conn,
        qa_messages,
        [
            {
                "community_id": community_id,
                "platform": where.platform.value,
                "channel_id": where.channel_id,
                "message_id": message_id,
                "question_id": question_id,
            }
        ],
        keys=("community_id", "platform", "channel_id", "message_id"),
    )


async def track(
    db: Database, community_id: int, message: ChannelRef, message_id: str, question_id: int
) -> None:
    """Add a bot message (a reminder, say) to a question's reply chain."""
    async with db.write() as conn:
        await _track(conn, community_id, message, message_id, question_id)


async def posted(
    db: Database,
    community: Community,
    *,
    author_id: int,
    where: ChannelRef,
    message_id: str,
    reply_to: str | None,
    text: str,
    at: datetime,
) -> Posted | None:
    """Take in a message: in a question's thread or reply chain, it may be an answer."""
    if where.thread_id is None and reply_to is None:
        return None  # most messages: no question to look for, and no write lock to take
    async with db.read() as conn:
        candidate = await _question_at(conn, community.id, where, reply_to)
    if candidate is None or candidate.state not in LIVE:
        return None
    async with db.write() as conn:  # look again under the lock: it may have moved meanwhile
        question = await _question_at(conn, community.id, where, reply_to)
        if question is not None and where.thread_id is None:
            await _track(conn, community.id, where, message_id, question.id)
        if question is None or question.state not in LIVE:
            return None
        revived = question.state is State.DORMANT
        if revived:
            await _move(conn, question, Why.REVIVED, actor_id=author_id, at=at)
            question = await _get(conn, community.id, question.id) or question
        await conn.execute(
            update(qa_questions).where(qa_questions.c.id == question.id).values(active_at=at)
        )
        if author_id == question.asker_id:
            return Posted(question, None, first=False, revived=revived)
        added = await insert_ignore_returning(
            conn,
            qa_answers,
            [
                {
                    "community_id": community.id,
                    "question_id": question.id,
                    "author_id": author_id,
                    "platform": where.platform.value,
                    "channel_id": where.channel_id,
                    "message_id": message_id,
                    "text": text[:4000],
                    "posted_at": at,
                }
            ],
            keys=("community_id", "platform", "channel_id", "message_id"),
        )
        if not added:
            return None
        found = await conn.execute(
            select(qa_answers.c.id).where(
                qa_answers.c.community_id == community.id,
                qa_answers.c.platform == where.platform.value,
                qa_answers.c.channel_id == where.channel_id,
                qa_answers.c.message_id == message_id,
            )
        )
        answer_id = int(found.scalar_one())
        first = question.state is State.OPEN
        if first:
            await _move(
                conn, question, Why.FIRST_ANSWER, actor_id=author_id, at=at, first_answer_at=at
            )
        await award_in(
            conn,
            community,
            author_id,
            community.config.points.answer,
            Reason.ANSWER,
            answer_source(question.id, author_id),
            at=at,
        )
        question = await _get(conn, community.id, question.id) or question
    return Posted(question, answer_id, first=first, revived=revived)


def answer_source(question_id: int, author_id: int) -> str:
    """Return the ledger source of a member's answer points for a question (once per question)."""
    return f"qa:answer:{question_id}:{author_id}"


def _bounty_source(question_id: int, what: str) -> str:
    return f"qa:bounty:{question_id}:{what}"


def _may_act(question: Question, actor_id: int, moderator: bool) -> None:
    if actor_id != question.asker_id and not moderator:
        raise UserError("qa.not_yours")


def _check_live(question: Question) -> None:
    if question.state is State.SOLVED:
        raise UserError("qa.already_solved", id=question.id)
    if question.state is State.CLOSED:
        raise UserError("qa.already_closed", id=question.id)


async def _refund(
    conn: AsyncConnection, community: Community, question: Question, amount: int, at: datetime
) -> int:
    if amount <= 0:
        return 0
    added = await award_in(
        conn,
        community,
        question.asker_id,
        amount,
        Reason.REVERSAL,
        _bounty_source(question.id, "refund"),
        at=at,
        note=f"bounty of question {question.id} returned",
    )
    return amount if added else 0


async def _pay(
    conn: AsyncConnection,
    community: Community,
    question: Question,
    to: int,
    amount: int,
    at: datetime,
) -> int:
    if amount <= 0:
        return 0
    added = await award_in(
        conn, community, to, amount, Reason.BOUNTY, _bounty_source(question.id, "paid"), at=at
    )
    return amount if added else 0


def _open_bounty(question: Question) -> int:
    return question.bounty if question.bounty_settled_at is None else 0


async def accept(
    db: Database,
    community: Community,
    question_id: int,
    answer_id: int,
    *,
    actor_id: int,
    moderator: bool,
    at: datetime,
) -> Paid:
    """Accept an answer: solved, accepted-answer points and any bounty to its author, once."""
    async with db.write() as conn:
        question = await _require(conn, community.id, question_id)
        _may_act(question, actor_id, moderator)
        _check_live(question)
        answer = await _answer(conn, question.id, answer_id)
        if answer is None or answer.deleted_at is not None:
            raise UserError("qa.accept.no_answer")
        if answer.author_id == actor_id:
            raise UserError("qa.accept.own")
        try:
            await _move(
                conn,
                question,
                Why.ACCEPTED,
                actor_id=actor_id,
                at=at,
                accepted_answer_id=answer.id,
                solved_at=at,
                bounty_settled_at=question.bounty_settled_at or (at if question.bounty else None),
            )
        except NotAllowed as exc:
            raise UserError("qa.accept.no_answer") from exc
        points = community.config.points.accepted_answer
        awarded = await award_in(
            conn,
            community,
            answer.author_id,
            points,
            Reason.ACCEPTED_ANSWER,
            f"qa:accepted:{question.id}",
            at=at,
            actor_id=actor_id,
        )
        paid = await _pay(conn, community, question, answer.author_id, _open_bounty(question), at)
        await search.index_answer(conn, question.id, answer.text)
        question = await _get(conn, community.id, question.id) or question
    return Paid(question, answer, points if awarded else 0, paid, 0)


async def mark_solved(
    db: Database,
    community: Community,
    question_id: int,
    *,
    actor_id: int,
    moderator: bool,
    at: datetime,
) -> Paid:
    """Mark a question solved without accepting an answer; a bounty goes back to the asker."""
    async with db.write() as conn:
        question = await _require(conn, community.id, question_id)
        _may_act(question, actor_id, moderator)
        _check_live(question)
        await _move(
            conn,
            question,
            Why.MARKED_SOLVED,
            actor_id=actor_id,
            at=at,
            solved_at=at,
            bounty_settled_at=question.bounty_settled_at or (at if question.bounty else None),
        )
        refunded = await _refund(conn, community, question, _open_bounty(question), at)
        question = await _get(conn, community.id, question.id) or question
    return Paid(question, None, 0, 0, refunded)


async def close(
    db: Database,
    community: Community,
    question_id: int,
    why: Why,
    *,
    actor_id: int | None,
    moderator: bool,
    at: datetime,
) -> Paid:
    """Close a question (duplicate, off-topic, other, thread deleted); a bounty goes back."""
    async with db.write() as conn:
        question = await _require(conn, community.id, question_id)
        if actor_id is not None:
            _may_act(question, actor_id, moderator)
        if question.state is State.CLOSED:
            raise UserError("qa.already_closed", id=question.id)
        await _move(
            conn,
            question,
            why,
            actor_id=actor_id,
            at=at,
            bounty_settled_at=question.bounty_settled_at or (at if question.bounty else None),
        )
        refunded = await _refund(conn, community, question, _open_bounty(question), at)
        if why is Why.THREAD_DELETED:
            await search.unindex(conn, question.id)
        question = await _get(conn, community.id, question.id) or question
    return Paid(question, None, 0, 0, refunded)


async def stake(
    db: Database,
    community: Community,
    question_id: int,
    amount: int,
    *,
    actor_id: int,
    at: datetime,
) -> Question:
    """Put ``amount`` of the asker's points in escrow on their question, once per question."""
    limit = community.config.qa.bounty_max
    if amount > limit:
        raise UserError("qa.bounty.too_much", max=limit)
    async with db.write() as conn:
        question = await _require(conn, community.id, question_id)
        if question.asker_id != actor_id:
            raise UserError("qa.bounty.not_asker")
        _check_live(question)
        if question.bounty:
            raise UserError("qa.bounty.already", amount=question.bounty)
        balance = await conn.scalar(
            select(points_balances.c.balance).where(
                points_balances.c.community_id == community.id,
                points_balances.c.member_id == actor_id,
            )
        )
        if int(balance or 0) < amount:
            raise UserError("qa.bounty.too_poor", amount=amount, balance=int(balance or 0))
        await award_in(
            conn,
            community,
            actor_id,
            -amount,
            Reason.BOUNTY,
            _bounty_source(question.id, "stake"),
            at=at,
            note=f"bounty on question {question.id}",
        )
        await conn.execute(
            update(qa_questions)
            .where(qa_questions.c.id == question.id)
            .values(bounty=amount, bounty_at=at)
        )
        question = await _get(conn, community.id, question.id) or question
    return question


@dataclass(frozen=True, slots=True)
class Deleted:
    """What a deleted message meant for a question."""

    question: Question
    thread_gone: bool  # the question's thread or opening message went: it is closed
    accepted: bool  # it was the accepted answer: the question stays solved, points stay
    reopened: bool  # it was the last answer: the question is open again
    refunded: int


async def deleted(
    db: Database, community: Community, where: ChannelRef, message_id: str, at: datetime
) -> Deleted | None:
    """Take in a deleted message: a question's thread, or one of its answers."""
    async with db.write() as conn:
        question = await _thread_deleted(conn, community.id, where, message_id)
        if question is not None:
            if question.state is State.CLOSED:
                return None
            await _move(
                conn,
                question,
                Why.THREAD_DELETED,
                actor_id=None,
                at=at,
                bounty_settled_at=question.bounty_settled_at or (at if question.bounty else None),
            )
            refunded = await _refund(conn, community, question, _open_bounty(question), at)
            await search.unindex(conn, question.id)
            question = await _get(conn, community.id, question.id) or question
            return Deleted(question, True, False, False, refunded)
        row = (
            await conn.execute(
                select(*_ANSWER_COLUMNS).where(
                    qa_answers.c.community_id == community.id,
                    qa_answers.c.platform == where.platform.value,
                    qa_answers.c.channel_id == where.channel_id,
                    qa_answers.c.message_id == message_id,
                    qa_answers.c.deleted_at.is_(None),
                )
            )
        ).first()
        if row is None:
            return None
        answer = Answer(*row)
        await conn.execute(
            update(qa_answers).where(qa_answers.c.id == answer.id).values(deleted_at=at)
        )
        question = await _get(conn, community.id, answer.question_id)
        if question is None:
            return None
        if question.accepted_answer_id == answer.id:
            # The accepted answer helped and was paid once: it stays paid and the question
            # solved; its text leaves the knowledge base with it.
            await search.index_answer(conn, question.id, "")
            return Deleted(question, False, True, False, 0)
        others = await conn.scalar(
            select(func.count())
            .select_from(qa_answers)
            .where(
                qa_answers.c.question_id == question.id,
                qa_answers.c.author_id == answer.author_id,
                qa_answers.c.deleted_at.is_(None),
            )
        )
        if not others:
            await _reverse(conn, community, answer_source(question.id, answer.author_id), at)
        reopened = False
        if question.state is State.ANSWERED:
            try:
                await _move(conn, question, Why.ANSWER_DELETED, actor_id=None, at=at)
                reopened = True
            except NotAllowed:
                pass  # other answers remain
        question = await _get(conn, community.id, question.id) or question
    return Deleted(question, False, False, reopened, 0)


async def _thread_deleted(
    conn: AsyncConnection, community_id: int, where: ChannelRef, message_id: str
) -> Question | None:
    """Return the question whose thread (a Discord post's starter) or opening message this is."""
    row = (
        await conn.execute(
            select(qa_questions)
            .where(
                qa_questions.c.community_id == community_id,
                qa_questions.c.platform == where.platform.value,
                qa_questions.c.channel_id == where.channel_id,
                (qa_questions.c.thread_id == message_id)
                | and_(
                    qa_questions.c.opening_message_id == message_id,
                    qa_questions.c.thread_id.is_not_distinct_from(where.thread_id),
                ),
            )
            .limit(1)
        )
    ).first()
    return Question.of(row) if row is not None else None


async def _reverse(conn: AsyncConnection, community: Community, source: str, at: datetime) -> None:
    """Reverse the ledger entry with ``source`` once (``reversal:<entry id>``)."""
    row = (
        await conn.execute(
            select(points_ledger.c.id, points_ledger.c.member_id, points_ledger.c.delta).where(
                points_ledger.c.community_id == community.id,
                points_ledger.c.reason == Reason.ANSWER.value,
                points_ledger.c.source_ref == source,
            )
        )
    ).first()
    if row is not None:
        await award_in(
            conn,
            community,
            row.member_id,
            -row.delta,
            Reason.REVERSAL,
            f"reversal:{row.id}",
            at=at,
            note="answer deleted",
        )


async def asker_left(db: Database, community_id: int, member_id: int, at: datetime) -> int:
    """Note that an asker left: no more pings; moderators may still accept. Return how many."""
    async with db.write() as conn:
        result = await conn.execute(
            update(qa_questions)
            .where(
                qa_questions.c.community_id == community_id,
                qa_questions.c.asker_id == member_id,
                qa_questions.c.state.in_([s.value for s in LIVE]),
                qa_questions.c.asker_left_at.is_(None),
            )
            .values(asker_left_at=at)
        )
    return int(result.rowcount or 0)


# --- what the sweep does: everything read from the database, so a restart loses nothing -------


LIVE_STATES = (State.OPEN.value, State.ANSWERED.value)  # the states that go dormant


async def next_due(db: Database, communities: Iterable[Community]) -> datetime | None:
    """Return when the sweep next has something to do (a reminder, ping, dormancy, bounty)."""
    q = qa_questions.c
    found: list[datetime] = []
    async with db.read() as conn:
        for community in communities:
            config = community.config.qa
            checks: list[tuple[Any, timedelta, list[Any]]] = [
                (
                    q.created_at,
                    config.unanswered_reminder,
                    [q.state == State.OPEN.value, q.reminded_at.is_(None)],
                ),
                (
                    q.first_answer_at,
                    config.accept_ping,
                    [
                        q.state == State.ANSWERED.value,
                        q.accept_pinged_at.is_(None),
                        q.asker_left_at.is_(None),
                    ],
                ),
                (
                    q.active_at,
                    config.dormant_after,
                    [q.state.in_([State.OPEN.value, State.ANSWERED.value])],
                ),
                (q.bounty_at, config.bounty_after, [q.bounty > 0, q.bounty_settled_at.is_(None)]),
            ]
            for column, delay, where in checks:
                first = await conn.scalar(
                    select(func.min(column)).where(q.community_id == community.id, *where)
                )
                if first is not None:
                    found.append(first + delay)
    return min(found, default=None)


async def claim_unanswered(db: Database, community: Community, now: datetime) -> list[Question]:
    """Mark, once, the open questions with no answer after the reminder delay; return them."""
    due = now - community.config.qa.unanswered_reminder
    return await _claim(
        db,
        community,
        [
            qa_questions.c.state == State.OPEN.value,
            qa_questions.c.reminded_at.is_(None),
            qa_questions.c.created_at <= due,
        ],
        reminded_at=now,
    )


async def claim_accept_pings(db: Database, community: Community, now: datetime) -> list[Question]:
    """Mark, once, the answered questions with nothing accepted after the delay; return them."""
    due = now - community.config.qa.accept_ping
    return await _claim(
        db,
        community,
        [
            qa_questions.c.state == State.ANSWERED.value,
            qa_questions.c.accept_pinged_at.is_(None),
            qa_questions.c.asker_left_at.is_(None),
            qa_questions.c.first_answer_at <= due,
        ],
        accept_pinged_at=now,
    )


async def _claim(
    db: Database, community: Community, where: list[Any], **values: datetime
) -> list[Question]:
    async with db.write() as conn:
        rows = (
            await conn.execute(
                select(qa_questions)
                .where(
                    qa_questions.c.community_id == community.id,
                    qa_questions.c.platform != "",
                    *where,
                )
                .order_by(qa_questions.c.id)
                .limit(200)
            )
        ).all()
        if rows:
            await conn.execute(
                update(qa_questions)
                .where(qa_questions.c.id.in_([r.id for r in rows]))
                .values(**values)
            )
    return [Question.of(r) for r in rows]


async def go_dormant(db: Database, community: Community, now: datetime) -> list[Question]:
    """Move the questions nobody wrote in for the dormancy delay to dormant; return them."""
    due = now - community.config.qa.dormant_after
    moved: list[Question] = []
    async with db.write() as conn:
        rows = (
            await conn.execute(
                select(qa_questions)
                .where(
                    qa_questions.c.community_id == community.id,
                    qa_questions.c.state.in_([State.OPEN.value, State.ANSWERED.value]),
                    qa_questions.c.active_at <= due,
                )
                .order_by(qa_questions.c.id)
                .limit(200)
            )
        ).all()
        for row in rows:
            question = Question.of(row)
            await _move(conn, question, Why.IDLE, actor_id=None, at=now)
            moved.append(question)
    return moved


async def settle_bounties(db: Database, community: Community, now: datetime) -> list[Paid]:
    """Settle the bounties nothing was accepted for in time: a share to the most-voted answer.

    On a tie (no votes at all included) the earliest of the tied answers gets it.
    """
    config = community.config.qa
    due = now - config.bounty_after
    settled: list[Paid] = []
    async with db.write() as conn:
        rows = (
            await conn.execute(
                select(qa_questions)
                .where(
                    qa_questions.c.community_id == community.id,
                    qa_questions.c.bounty > 0,
                    qa_questions.c.bounty_settled_at.is_(None),
                    qa_questions.c.bounty_at <= due,
                )
                .order_by(qa_questions.c.id)
                .limit(200)
            )
        ).all()
        for row in rows:
            question = Question.of(row)
            answers = await _answers(conn, question.id)
            votes = await tally(conn, question.id)
            # max() keeps the first of equals, and answers come oldest first.
            chosen = max(answers, key=lambda a: votes.get(a.id, 0)) if answers else None
            share = question.bounty * config.bounty_split_percent // 100 if chosen else 0
            paid = (
                await _pay(conn, community, question, chosen.author_id, share, now) if chosen else 0
            )
            refunded = await _refund(conn, community, question, question.bounty - share, now)
            await conn.execute(
                update(qa_questions)
                .where(qa_questions.c.id == question.id)
                .values(bounty_settled_at=now)
            )
            settled.append(Paid(question, chosen, 0, paid, refunded))
    return settled
