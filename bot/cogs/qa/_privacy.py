"""What the Q&A cog holds about a member: their words go, the threads others answered stay.

A question or an answer is kept under an anonymous id with its text cleared, so that other
members' answers, votes and the statistics still stand; the search indexes forget the text.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.qa._search import forget_member
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
    await forget_member(conn, erasure.member_id)
