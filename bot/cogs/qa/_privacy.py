"""What the Q&A cog holds about a member: their words go, the threads others answered stay.

A question or an answer is kept under an anonymous id with its text cleared, so that other
members' answers, votes and the statistics still stand; the search indexes forget the text.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.qa._search import index_answer, unindex
from bot.core.privacy import Erase, Erasure, Holding
from bot.store.tables import qa_answers, qa_questions, qa_transitions, qa_votes

HOLDINGS = (
    Holding(
        qa_questions.c.asker_id,
        Erase.KEEP_AGGREGATE,
        "questions: title and text cleared, kept under an anonymous id for others' answers",
        scrub={"title": "", "body": "", "tags": ""},
    ),
    Holding(
        qa_answers.c.author_id,
        Erase.KEEP_AGGREGATE,
        "answers: text cleared, kept under an anonymous id for votes and statistics",
        scrub={"text": ""},
    ),
    Holding(
        qa_votes.c.voter_id,
        Erase.KEEP_AGGREGATE,
        "votes on answers: kept under an anonymous id so vote counts stay",
    ),
    Holding(qa_transitions.c.actor_id, Erase.DETACH, "question state changes the member made"),
)


async def forget_text(conn: AsyncConnection, erasure: Erasure) -> None:
    """Take the member's questions, and accepted answers they wrote, out of the search indexes."""
    asked = (
        await conn.execute(
            select(qa_questions.c.id).where(qa_questions.c.asker_id == erasure.member_id)
        )
    ).scalars()
    for question_id in asked:
        await unindex(conn, question_id)
    accepted = (
        await conn.execute(
            select(qa_questions.c.id)
            .join(qa_answers, qa_answers.c.id == qa_questions.c.accepted_answer_id)
            .where(
                qa_answers.c.author_id == erasure.member_id,
                qa_questions.c.asker_id != erasure.member_id,
            )
        )
    ).scalars()
    for question_id in accepted:
        await index_answer(conn, question_id, "")
