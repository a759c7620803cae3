"""The ``backend_free`` mark: a test that never opens the backend under test runs on SQLite only.

``make test`` runs the suite twice, on SQLite and then on PostgreSQL (``.ci/with-postgres``).
A test that never opens the backend under test (a parser, a config rule, a CLI or a benchmark
that keeps a SQLite file of its own) gives the same result on both, so the PostgreSQL run leaves
the marked ones out.

The mark is checked where it still runs: on the SQLite run, a marked test fails if it asks for
the ``config`` or ``cohort`` fixtures, for a database of ``tests/_postgres.py`` (``database_url``,
``sqlite_file``, ``copy_of``, or which backend this is), or builds a ``Database`` on anything but
a SQLite file it made itself, even when it catches the error that use raised. Such a file is
SQLite on the PostgreSQL run too: every way to the backend under test goes through those
fixtures and functions, and the files ``tests/_postgres.py`` hands out are refused by name.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bot.store.db import Database
from tests import _postgres

MARK = "backend_free"
FIXTURES = frozenset({"config", "cohort"})  # every database fixture stands on one of these


class BackendUsedError(Exception):
    """A test marked ``backend_free`` asked for the backend under test."""


def message(nodeid: str, used: str) -> str:
    """Return why the mark is wrong: what the test used, and what to do."""
    return (
        f"{nodeid} is marked {MARK} but uses the database under test ({used}):"
        f" remove the mark, as the PostgreSQL run leaves out the tests marked {MARK}"
    )


def own_sqlite(url: object) -> bool:
    """Say whether ``url`` is a SQLite database that ``tests/_postgres.py`` did not hand out."""
    try:
        parsed = make_url(str(url))
    except Exception:
        return False
    if parsed.get_backend_name() != "sqlite":
        return False
    return not _postgres.handed_out(parsed.database or "")


def refused_fixtures(fixturenames: list[str]) -> list[str]:
    """Return the database fixtures among a test's fixtures (none for a backend-free test)."""
    return sorted(FIXTURES.intersection(fixturenames))


@contextmanager
def watching(nodeid: str) -> Iterator[list[str]]:
    """Refuse every use of the backend under test in the block; yield the uses seen."""
    used: list[str] = []

    def use(what: str) -> None:
        used.append(what)
        raise BackendUsedError(message(nodeid, what))

    init = Database.__init__

    def refuse(self: Database, url: str, *args: Any, **kwargs: Any) -> None:
        if not own_sqlite(url):
            use(f"bot.store.db.Database({url!r})")
        init(self, url, *args, **kwargs)

    previous = _postgres.watcher
    _postgres.watcher = use
    Database.__init__ = refuse  # type: ignore[method-assign]
    try:
        yield used
    finally:
        Database.__init__ = init  # type: ignore[method-assign]
        _postgres.watcher = previous


def leave_out(items: list[pytest.Item]) -> list[pytest.Item]:
    """Remove the marked tests from ``items`` on a PostgreSQL run; return those removed."""
    if not _postgres.enabled():
        return []
    left = [item for item in items if item.get_closest_marker(MARK)]
    items[:] = [item for item in items if not item.get_closest_marker(MARK)]
    return left


class Guard:
    """The pytest plugin: leave the marked tests out on PostgreSQL, check the mark on SQLite."""

    def __init__(self) -> None:
        self._used: dict[str, list[str]] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Deselect the marked tests when this run's backend is PostgreSQL."""
        left = leave_out(items)
        if left:
            config.hook.pytest_deselected(items=left)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, object, object]:
        """Refuse a marked test's database fixtures, and any use while its fixtures are made."""
        if item.get_closest_marker(MARK) is None:
            return (yield)
        self._used[item.nodeid] = []
        if fixtures := refused_fixtures(getattr(item, "fixturenames", [])):
            pytest.fail(message(item.nodeid, "the fixtures " + ", ".join(fixtures)), False)
        with watching(item.nodeid) as used:
            try:
                return (yield)
            finally:
                self._used[item.nodeid] += used

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        """Refuse any use of the backend under test while a marked test runs."""
        if item.get_closest_marker(MARK) is None:
            return (yield)
        with watching(item.nodeid) as used:
            try:
                return (yield)
            finally:
                self._used.setdefault(item.nodeid, []).extend(used)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        """Fail a marked test that used the backend, even if it caught the error raised."""
        if item.get_closest_marker(MARK) is None:
            return (yield)
        with watching(item.nodeid) as used:
            result = yield
        seen = self._used.pop(item.nodeid, []) + used
        if seen:
            pytest.fail(message(item.nodeid, seen[0]), False)
        return result
