"""What the analytics read about Q&A: time to first answer and to solve, ratios, top answerers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from sqlalchemy import case, func, select

from bot.cogs.qa._states import State
from bot.store.db import Database
from bot.store.tables import qa_answers, qa_questions


@dataclass(frozen=True, slots=True)
class Summary:
    """Questions asked in a window and how they fared."""

    asked: int
    answered: int  # got at least one answer (whatever their state now)
    solved: int
    closed: int
    median_first_answer: timedelta | None
    median_solve: timedelta | None

    @property
    def answered_ratio(self) -> float:
        """Return the share of questions that got an answer (0.0 when none were asked)."""
        return self.answered / self.asked if self.asked else 0.0


async def summary(db: Database, community_id: int, since: datetime, until: datetime) -> Summary:
    """Summarize the questions asked from ``since`` up to (not including) ``until``."""
    q = qa_questions.c
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(q.state, q.created_at, q.first_answer_at, q.solved_at).where(
                    q.community_id == community_id,
                    q.platform != "",
                    q.created_at >= since,
                    q.created_at < until,
                )
            )
        ).all()
    first = [r.first_answer_at - r.created_at for r in rows if r.first_answer_at is not None]
    solve = [r.solved_at - r.created_at for r in rows if r.solved_at is not None]
    return Summary(
        asked=len(rows),
        answered=len(first),
        solved=sum(1 for r in rows if r.state == State.SOLVED.value),
        closed=sum(1 for r in rows if r.state == State.CLOSED.value),
        median_first_answer=median(first) if first else None,
        median_solve=median(solve) if solve else None,
    )


@dataclass(frozen=True, slots=True)
class Answerer:
    """A member ranked by accepted answers, then by answers."""

    member_id: int
    accepted: int
    answers: int


async def top_answerers(
    db: Database, community_id: int, since: datetime, until: datetime, *, limit: int = 10
) -> list[Answerer]:
    """Rank who answered in a window: accepted answers first, then live answers."""
    a = qa_answers.c
    accepted = func.sum(case((a.id == qa_questions.c.accepted_answer_id, 1), else_=0))
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(a.author_id, func.coalesce(accepted, 0), func.count())
                .select_from(qa_answers.join(qa_questions, qa_questions.c.id == a.question_id))
                .where(
                    a.community_id == community_id,
                    a.deleted_at.is_(None),
                    a.posted_at >= since,
                    a.posted_at < until,
                )
                .group_by(a.author_id)
                .order_by(func.coalesce(accepted, 0).desc(), func.count().desc(), a.author_id)
                .limit(limit)
            )
        ).all()
    return [Answerer(int(m), int(acc), int(n)) for m, acc, n in rows]
