"""Votes on answers: members' emoji reactions (``qa.vote_emoji``), one vote per member.

A vote is a row per (answer, voter, emoji), so taking back one of two vote emoji keeps the
vote; an answer counts its distinct voters. The author's own reactions do not count, nor do
reactions on a deleted answer or on a question that is closed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.qa._states import State
from bot.core.community import Community
from bot.core.ports import ChannelRef
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import qa_answers, qa_questions, qa_votes


async def vote(
    db: Database,
    community: Community,
    voter_id: int,
    where: ChannelRef,
    message_id: str,
    emoji: str,
    *,
    added: bool,
    at: datetime,
) -> bool:
    """Record or take back a reaction on an answer; return whether a vote changed."""
    if emoji not in community.config.qa.vote_emoji:
        return False
    async with db.write() as conn:
        found = (
            await conn.execute(
                select(qa_answers.c.id, qa_answers.c.author_id)
                .join(qa_questions, qa_questions.c.id == qa_answers.c.question_id)
                .where(
                    qa_answers.c.community_id == community.id,
                    qa_answers.c.platform == where.platform.value,
                    qa_answers.c.channel_id == where.channel_id,
                    qa_answers.c.message_id == message_id,
                    qa_answers.c.deleted_at.is_(None),
                    qa_questions.c.state != State.CLOSED.value,
                )
            )
        ).first()
        if found is None or found.author_id == voter_id:
            return False
        if added:
            row = {
                "community_id": community.id,
                "answer_id": found.id,
                "voter_id": voter_id,
                "emoji": emoji,
                "voted_at": at,
            }
            keys = ("answer_id", "voter_id", "emoji")
            return bool(await insert_ignore_returning(conn, qa_votes, [row], keys=keys))
        gone = await conn.execute(
            delete(qa_votes).where(
                qa_votes.c.answer_id == found.id,
                qa_votes.c.voter_id == voter_id,
                qa_votes.c.emoji == emoji,
            )
        )
        return bool(gone.rowcount)


async def tally(conn: AsyncConnection, question_id: int) -> dict[int, int]:
    """Return each voted answer of a question with its number of voters."""
    rows = await conn.execute(
        select(qa_votes.c.answer_id, func.count(func.distinct(qa_votes.c.voter_id)))
        .join(qa_answers, qa_answers.c.id == qa_votes.c.answer_id)
        .where(qa_answers.c.question_id == question_id)
        .group_by(qa_votes.c.answer_id)
    )
    return {int(answer_id): int(count) for answer_id, count in rows}


async def votes_of(db: Database, question_id: int) -> dict[int, int]:
    """Return each voted answer of a question with its number of voters."""
    async with db.read() as conn:
        return await tally(conn, question_id)


async def merge_votes(conn: AsyncConnection, survivor: int, absorbed: int) -> None:
    """Before two members merge: drop the absorbed one's votes the survivor also cast."""
    mine = qa_votes.alias("mine")
    duplicate = (
        select(mine.c.answer_id)
        .where(
            mine.c.voter_id == survivor,
            and_(mine.c.answer_id == qa_votes.c.answer_id, mine.c.emoji == qa_votes.c.emoji),
        )
        .exists()
    )
    await conn.execute(delete(qa_votes).where(qa_votes.c.voter_id == absorbed, duplicate))
