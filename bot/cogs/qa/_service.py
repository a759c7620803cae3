"""Questions and answers in the store: every change a plain function on (db, community, time).

Each change runs in one write transaction: it reads the question, checks the lifecycle, moves
the state, records the transition and awards points, so a replay or a race finds the new state
and awards nothing twice (points are also unique by their source).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.points import Reason, award_in
from bot.cogs.qa import _search as search
from bot.cogs.qa._ask import Draft
from bot.cogs.qa._bounty import Paid, _open_bounty, _pay, _refund
from bot.cogs.qa._states import LIVE, NotAllowed, State, Why, next_state
from bot.cogs.qa._store import (
    _ANSWER_COLUMNS,
    Answer,
    Question,
    _answer,
    _check_live,
    _get,
    _question_at,
    _require,
)
from bot.core.community import Community
from bot.core.errors import UserError
from bot.core.ports import ChannelRef
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import points_ledger, qa_answers, qa_messages, qa_questions, qa_transitions


@dataclass(frozen=True, slots=True)
class Posted:
    """What a message in a question's thread did."""

    question: Question
    answer_id: int | None  # None: the asker wrote, or the question takes no answers
    first: bool  # it moved the question to answered
    revived: bool  # it woke a dormant question


@dataclass(frozen=True, slots=True)
class Deleted:
    """What a deleted message meant for a question."""

    question: Question
    thread_gone: bool  # the question's thread or opening message went: it is closed
    accepted: bool  # it was the accepted answer: the question stays solved, points stay
    reopened: bool  # it was the last answer: the question is open again
    refunded: int


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


def _may_act(question: Question, actor_id: int, moderator: bool) -> None:
    if actor_id != question.asker_id and not moderator:
        raise UserError("qa.not_yours")


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
