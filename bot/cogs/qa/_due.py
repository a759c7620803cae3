"""What the sweep finds due (reminders, accept pings, dormancy), all read from the database."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from bot.cogs.qa._service import _move
from bot.cogs.qa._states import State, Why
from bot.cogs.qa._store import Question
from bot.core.community import Community
from bot.store.db import Database
from bot.store.tables import qa_questions


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
