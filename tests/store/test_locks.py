"""Singleton jobs: of several processes on one PostgreSQL database, one runs a job at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.core.cohort import RecurringJob
from bot.runtime import _alone
from bot.store.db import Database
from bot.store.locks import lock_key, one_at_a_time
from tests import _postgres


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    """Return two handles on one database, as two processes would have."""
    url = _postgres.database_url(tmp_path)
    first, second = Database(url), Database(url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def test_lock_keys_are_fixed_signed_64_bit_numbers() -> None:
    assert lock_key("job:points.decay") == lock_key("job:points.decay")
    assert lock_key("job:points.decay") != lock_key("job:points.levels")
    assert -(2**63) <= lock_key("x") < 2**63


async def test_one_process_at_a_time(two: tuple[Database, Database]) -> None:
    first, second = two
    postgres = first.engine.dialect.name == "postgresql"
    async with one_at_a_time(first, "job:a") as mine:
        assert mine
        async with one_at_a_time(second, "job:a") as theirs:
            assert theirs is not postgres  # SQLite: one process per file, nothing to take
        async with one_at_a_time(second, "job:b") as other:
            assert other  # another job's lock is another lock
    async with one_at_a_time(second, "job:a") as now_theirs:
        assert now_theirs  # let go once the holder finished


@pytest.mark.skipif(not _postgres.enabled(), reason="advisory locks are PostgreSQL's")
async def test_a_holder_that_dies_lets_go(two: tuple[Database, Database]) -> None:
    first, second = two
    async with one_at_a_time(first, "job:a") as mine:
        assert mine
        async with second.engine.connect() as conn:  # the holder's connection is cut
            # Given a timeout, pg_terminate_backend waits for the backend to exit, and so for
            # its locks to go; without one it only signals it, and on a loaded machine the lock
            # was still held when the next block asked for it.
            ended = await conn.scalar(
                text(
                    "SELECT bool_and(pg_terminate_backend(pid, 60000)) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
            assert ended  # the holder was found and is gone
        async with one_at_a_time(second, "job:a") as theirs:
            assert theirs


async def test_a_job_another_process_is_running_is_skipped(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    runs: list[str] = []

    async def work() -> None:
        runs.append("ran")

    job = RecurringJob("points.decay", timedelta(hours=1), work)
    async with one_at_a_time(first, "job:points.decay"):
        await _alone(second, job)()
    assert runs == ([] if _postgres.enabled() else ["ran"])
    await _alone(second, job)()
    assert runs[-1:] == ["ran"]
