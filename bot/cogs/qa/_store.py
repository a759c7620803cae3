"""Read questions and answers: the row types and the lookups by id, thread, reply chain, asker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.qa._states import State
from bot.core.errors import UserError
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.store.db import Database
from bot.store.tables import qa_answers, qa_messages, qa_questions

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


_ANSWER_COLUMNS = (
    qa_answers.c.id,
    qa_answers.c.question_id,
    qa_answers.c.author_id,
    qa_answers.c.message_id,
    qa_answers.c.text,
    qa_answers.c.posted_at,
    qa_answers.c.deleted_at,
)


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


def _check_live(question: Question) -> None:
    if question.state is State.SOLVED:
        raise UserError("qa.already_solved", id=question.id)
    if question.state is State.CLOSED:
        raise UserError("qa.already_closed", id=question.id)


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
