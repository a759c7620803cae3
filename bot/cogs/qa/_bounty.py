"""Bounties: points an asker stakes on a question, paid to an answer or returned, each once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.points import Reason, award_in
from bot.cogs.qa._store import Answer, Question, _answers, _check_live, _get, _require
from bot.cogs.qa._votes import tally
from bot.core.community import Community
from bot.core.errors import UserError
from bot.store.db import Database
from bot.store.tables import points_balances, qa_questions


@dataclass(frozen=True, slots=True)
class Paid:
    """Points an accept, a close or a settled bounty moved."""

    question: Question
    answer: Answer | None
    accepted_points: int
    bounty_paid: int
    bounty_refunded: int


def _bounty_source(question_id: int, what: str) -> str:
    return f"qa:bounty:{question_id}:{what}"


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
