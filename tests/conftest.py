"""Shared fixtures: a config on a real database, a built bot, a console to drive it.

The database is a SQLite file under the test's ``tmp_path``, or, when COHORT_TEST_POSTGRES is
set (``.ci/with-postgres``), a fresh PostgreSQL database of its own (``tests/_postgres.py``).
"""

from __future__ import annotations

import asyncio
import gc
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config, parse_config
from bot.core.platforms import PlatformName
from bot.runtime import build
from tests import _backend_free, _postgres

START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

# No timed tests: Hypothesis' default 200 ms deadline per example failed a pure markup test
# (an example took 328 ms) while other suites loaded the shared machine. Examples still run.
settings.register_profile("cohort", deadline=None)
settings.load_profile("cohort")


def pytest_configure(config: pytest.Config) -> None:
    """Check the ``backend_free`` mark on SQLite and leave its tests out on PostgreSQL."""
    config.pluginmanager.register(_backend_free.Guard(), "cohort-backend-free")


def slow_first(items: list[pytest.Item]) -> None:
    """Move the tests marked ``slow`` to the front, each part in its order."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the tests marked ``slow`` first, so that both xdist workers finish together.

    ``--dist load`` hands out the first quarter of the tests one at a time in turn: a
    test of tens of seconds started near the end kept one worker busy alone.
    """
    slow_first(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Leave what collection made (modules, test items) out of every later garbage collection.

    Every full ``gc.collect()`` walked all of it: the ``unhandled`` fixture's three took 0.25-0.3 s
    a test. Objects made after this (a test's tasks, its bot) are collected as before; frozen ones
    are still freed when nothing refers to them.
    """
    gc.collect()
    gc.freeze()


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    """Return a valid config whose database is this test's (a file under ``tmp_path`` or PG)."""
    community: dict[str, Any] = {
        "id": "demo",
        "name": "Demo Community",
        "locale": "en",
        "timezone": "Europe/Berlin",
        "organizers": ["console:olga", "telegram:500"],
        "admins": ["console:alice"],
        "discord_guilds": [111111111111111111],
        "telegram_chats": [-1001234567890],
    }
    community.update(overrides.pop("community", {}))
    data: dict[str, Any] = {
        "database": {"url": _postgres.database_url(tmp_path)}
        if _postgres.enabled()
        else {"url": f"sqlite+aiosqlite:///{_postgres.sqlite_file(tmp_path).name}"},
        "web": {"enabled": False},
        "communities": [community],
    }
    data.update(overrides)
    return parse_config(data, source="test.toml", base_dir=tmp_path, env={})


@pytest.fixture(autouse=True, scope="session")
def _postgres_spares() -> Iterator[None]:
    """Drop the databases made ahead and not used, once the tests are over."""
    yield
    _postgres.finish()


@pytest.fixture(autouse=True)
def _postgres_databases() -> Iterator[None]:
    """Drop the PostgreSQL databases a test made, once it is over (nothing on SQLite)."""
    yield
    _postgres.drop_created()


@pytest.fixture
def clock() -> ManualClock:
    """Return a clock fixed at the tests' start time."""
    return ManualClock(START)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return the default test config."""
    return make_config(tmp_path)


@pytest.fixture
async def cohort(config: Config, clock: ManualClock) -> AsyncIterator[Cohort]:
    """Return a migrated, loaded bot on a fresh SQLite file."""
    bot = await build(config, clock=clock)
    try:
        yield bot
    finally:
        await bot.db.close()


@pytest.fixture
def console(cohort: Cohort) -> ConsoleAdapter:
    """Return a console adapter writing into a buffer (read it with ``console.out``)."""
    adapter = ConsoleAdapter(
        cohort, cohort.communities["demo"], user="alice", out=io.StringIO(), echo=True
    )
    cohort.platforms[PlatformName.CONSOLE] = adapter
    return adapter


def output(console: ConsoleAdapter) -> str:
    """Return and clear what the console printed."""
    assert isinstance(console.out, io.StringIO)
    text = console.out.getvalue()
    console.out.seek(0)
    console.out.truncate()
    return text


@pytest.fixture
async def unhandled() -> AsyncIterator[list[dict[str, Any]]]:
    """Collect what reaches the event loop's exception handler; fail if anything did.

    Ask for it before the fixtures that start things, so that it is torn down after them:
    "Task exception was never retrieved" is reported only when such a task is collected.
    """
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
        await settle_unhandled()
    finally:
        loop.set_exception_handler(previous)
    assert not seen, f"unhandled in the event loop: {seen}"


async def settle_unhandled() -> None:
    """Let finished tasks be collected, so that an unretrieved exception gets reported."""
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0)
