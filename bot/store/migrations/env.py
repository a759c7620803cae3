"""Alembic environment: runs on the connection the Database hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bot.store.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run migrations through bot.store.db.Database.upgrade or `cohort db upgrade`"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
