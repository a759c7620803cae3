"""Q&A: questions, answers, their state changes, reply-chain messages and votes."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.store.tables._base import Id, metadata
from bot.store.types import UTCDateTime

# Q&A: one row per question, its thread (a thread/topic id, or none for a reply chain whose
# messages are in qa_messages), its state and the timestamps the sweep and statistics read.
qa_questions = Table(
    "qa_questions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("asker_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("thread_id", String(64), nullable=True),
    Column("opening_message_id", String(64), nullable=True),
    Column("title", String(200), nullable=False),
    Column("body", Text(), nullable=False),
    Column("tags", String(200), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("bounty", Integer(), nullable=False, server_default="0"),
    Column("bounty_at", UTCDateTime(), nullable=True),
    Column("bounty_settled_at", UTCDateTime(), nullable=True),
    Column("accepted_answer_id", BigInteger(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("active_at", UTCDateTime(), nullable=False),
    Column("first_answer_at", UTCDateTime(), nullable=True),
    Column("solved_at", UTCDateTime(), nullable=True),
    Column("reminded_at", UTCDateTime(), nullable=True),
    Column("accept_pinged_at", UTCDateTime(), nullable=True),
    Column("asker_left_at", UTCDateTime(), nullable=True),
    Index("ix_qa_questions_state", "community_id", "state", "created_at"),
    Index("ix_qa_questions_asker", "community_id", "asker_id"),
    Index("ix_qa_questions_thread", "community_id", "platform", "channel_id", "thread_id"),
)

qa_answers = Table(
    "qa_answers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("question_id", ForeignKey("qa_questions.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("text", Text(), nullable=False),
    Column("posted_at", UTCDateTime(), nullable=False),
    Column("deleted_at", UTCDateTime(), nullable=True),
    UniqueConstraint("community_id", "platform", "channel_id", "message_id"),
    Index("ix_qa_answers_question", "question_id", "posted_at"),
    Index("ix_qa_answers_author", "community_id", "author_id"),
)

# Every state change of a question, with why and who (none: the sweep): statistics read it.
qa_transitions = Table(
    "qa_transitions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("question_id", ForeignKey("qa_questions.id", ondelete="CASCADE"), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("actor_id", ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_qa_transitions_question", "question_id", "id"),
)

# The messages of a question asked in a group without threads (a reply chain): a reply to any
# of them belongs to the question.
qa_messages = Table(
    "qa_messages",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("channel_id", String(64), primary_key=True),
    Column("message_id", String(64), primary_key=True),
    Column("question_id", ForeignKey("qa_questions.id", ondelete="CASCADE"), nullable=False),
)

# Votes on answers: one row per member and emoji (reactions from ``qa.vote_emoji``); an answer's
# votes are its distinct voters. The author's own reactions are not stored.
qa_votes = Table(
    "qa_votes",
    metadata,
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("answer_id", ForeignKey("qa_answers.id", ondelete="CASCADE"), primary_key=True),
    Column("voter_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("emoji", String(64), primary_key=True),
    Column("voted_at", UTCDateTime(), nullable=False),
)
