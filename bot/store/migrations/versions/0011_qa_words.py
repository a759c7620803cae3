"""Add the Q&A word index: FTS5 unicode61 over CJK-spaced text, for terms under three characters.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.fts import spaced

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # rowid = qa_questions.id, like qa_search; every CJK character is a token of its own.
    op.execute(
        "CREATE VIRTUAL TABLE qa_words USING fts5("
        "title, body, answer, tokenize = 'unicode61 remove_diacritics 2')"
    )
    rows = bind.execute(sa.text("SELECT rowid, title, body, answer FROM qa_search")).all()
    insert = sa.text("INSERT INTO qa_words (rowid, title, body, answer) VALUES (:id, :t, :b, :a)")
    for start in range(0, len(rows), BATCH):
        bind.execute(
            insert,
            [
                {"id": r[0], "t": spaced(r[1]), "b": spaced(r[2]), "a": spaced(r[3])}
                for r in rows[start : start + BATCH]
            ],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS qa_words")
