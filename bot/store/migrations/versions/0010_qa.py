"""Add Q&A: questions, answers, state transitions, reply-chain messages, and the search index.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "qa_questions",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("asker_id", ID, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("opening_message_id", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.String(length=200), server_default="", nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("bounty", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bounty_at", WHEN, nullable=True),
        sa.Column("bounty_settled_at", WHEN, nullable=True),
        sa.Column("accepted_answer_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("active_at", WHEN, nullable=False),
        sa.Column("first_answer_at", WHEN, nullable=True),
        sa.Column("solved_at", WHEN, nullable=True),
        sa.Column("reminded_at", WHEN, nullable=True),
        sa.Column("accept_pinged_at", WHEN, nullable=True),
        sa.Column("asker_left_at", WHEN, nullable=True),
        _fk("qa_questions", "community_id", "communities"),
        _fk("qa_questions", "asker_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_questions")),
    )
    op.create_index(
        "ix_qa_questions_state", "qa_questions", ["community_id", "state", "created_at"]
    )
    op.create_index("ix_qa_questions_asker", "qa_questions", ["community_id", "asker_id"])
    op.create_index(
        "ix_qa_questions_thread",
        "qa_questions",
        ["community_id", "platform", "channel_id", "thread_id"],
    )
    op.create_table(
        "qa_answers",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("question_id", ID, nullable=False),
        sa.Column("author_id", ID, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("posted_at", WHEN, nullable=False),
        sa.Column("deleted_at", WHEN, nullable=True),
        _fk("qa_answers", "community_id", "communities"),
        _fk("qa_answers", "question_id", "qa_questions"),
        _fk("qa_answers", "author_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_answers")),
        sa.UniqueConstraint(
            "community_id",
            "platform",
            "channel_id",
            "message_id",
            name=op.f("uq_qa_answers_community_id_platform_channel_id_message_id"),
        ),
    )
    op.create_index("ix_qa_answers_question", "qa_answers", ["question_id", "posted_at"])
    op.create_index("ix_qa_answers_author", "qa_answers", ["community_id", "author_id"])
    op.create_table(
        "qa_transitions",
        sa.Column("id", ID, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("question_id", ID, nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("actor_id", ID, nullable=True),
        sa.Column("at", WHEN, nullable=False),
        _fk("qa_transitions", "community_id", "communities"),
        _fk("qa_transitions", "question_id", "qa_questions"),
        _fk("qa_transitions", "actor_id", "members", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_transitions")),
    )
    op.create_index("ix_qa_transitions_question", "qa_transitions", ["question_id", "id"])
    op.create_table(
        "qa_messages",
        sa.Column("community_id", ID, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("question_id", ID, nullable=False),
        _fk("qa_messages", "community_id", "communities"),
        _fk("qa_messages", "question_id", "qa_questions"),
        sa.PrimaryKeyConstraint(
            "community_id", "platform", "channel_id", "message_id", name=op.f("pk_qa_messages")
        ),
    )
    if op.get_bind().dialect.name == "sqlite":
        # rowid = qa_questions.id; trigram finds any 3+ character substring, Chinese included.
        op.execute(
            "CREATE VIRTUAL TABLE qa_search USING fts5(title, body, answer, tokenize = 'trigram')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS qa_search")
    op.drop_table("qa_messages")
    op.drop_table("qa_transitions")
    op.drop_table("qa_answers")
    op.drop_table("qa_questions")
