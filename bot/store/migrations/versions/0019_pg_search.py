"""Add the Q&A search index on PostgreSQL: pg_trgm for substrings, a tsvector for short words.

SQLite has its FTS5 tables (0010, 0011); this one is created on PostgreSQL only. ``qa_search``
holds each indexed question's title, details and accepted answer; ``document`` (the three, a
line apart) has a trigram index for terms of three or more characters, ``words`` the tokens
FTS5's unicode61 would cut (``bot.store.fts.tsvector_literal``) for shorter ones.

Revision ID: 0019_pg_search
Revises: 0018_privacy
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.fts import tsvector_literal

revision = "0019_pg_search"
down_revision = "0018_privacy"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE TABLE qa_search ("
        " question_id BIGINT PRIMARY KEY"
        " REFERENCES qa_questions (id) ON DELETE CASCADE,"
        " title TEXT NOT NULL, body TEXT NOT NULL, answer TEXT NOT NULL DEFAULT '',"
        " document TEXT GENERATED ALWAYS AS (title || E'\\n' || body || E'\\n' || answer) STORED,"
        " words TSVECTOR NOT NULL)"
    )
    op.execute("CREATE INDEX qa_search_document ON qa_search USING gin (document gin_trgm_ops)")
    op.execute("CREATE INDEX qa_search_words ON qa_search USING gin (words)")
    # The questions a thread still stands for, with their accepted answer (if not deleted).
    rows = bind.execute(
        sa.text(
            "SELECT q.id, q.title, q.body, COALESCE(a.text, '') FROM qa_questions q "
            "LEFT JOIN qa_answers a ON a.id = q.accepted_answer_id AND a.deleted_at IS NULL "
            "WHERE NOT EXISTS (SELECT 1 FROM qa_transitions t WHERE t.question_id = q.id "
            "AND t.reason = 'thread_deleted') ORDER BY q.id"
        )
    ).all()
    insert = sa.text(
        "INSERT INTO qa_search (question_id, title, body, answer, words) "
        "VALUES (:id, :t, :b, :a, CAST(:w AS tsvector))"
    )
    for start in range(0, len(rows), BATCH):
        bind.execute(
            insert,
            [
                {
                    "id": r[0],
                    "t": r[1],
                    "b": r[2],
                    "a": r[3],
                    "w": tsvector_literal(r[1], r[2], r[3]),
                }
                for r in rows[start : start + BATCH]
            ],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS qa_search")
