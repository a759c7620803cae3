"""The ``backend_free`` mark: its tests are left out on PostgreSQL, and a wrong mark fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_free

REPO = Path(__file__).resolve().parent.parent

CONFTEST = """
from tests._backend_free import Guard

def pytest_configure(config):
    config.addinivalue_line("markers", "backend_free: opens no database")
    config.pluginmanager.register(Guard(), "cohort-backend-free")
"""

MARKED = """
import asyncio

import pytest

from sqlalchemy import text

from bot.store.db import Database
from tests import _postgres

pytestmark = pytest.mark.backend_free

@pytest.fixture
def cohort():
    return None

def test_pure():
    assert sorted("cba") == ["a", "b", "c"]

def test_caught(tmp_path):
    try:
        _postgres.database_url(tmp_path)
    except Exception:
        pass

def test_own_sqlite(tmp_path):
    async def use():
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'own.db'}")
        try:
            async with db.read() as conn:
                assert await conn.scalar(text("SELECT 1")) == 1
        finally:
            await db.close()

    asyncio.run(use())
    assert (tmp_path / "own.db").exists()

def test_database():
    Database("postgresql+asyncpg://cohort@127.0.0.1:9/postgres")

def test_backend():
    assert _postgres.backend() == "sqlite"

def test_fixture(cohort):
    assert cohort is None
"""

PLAIN = """
import pytest

from bot.store.db import Database
from tests import _postgres

URLS = []

def test_unmarked(tmp_path):
    URLS.append(_postgres.database_url(tmp_path))

@pytest.mark.backend_free
def test_handed_out():
    Database(URLS[0])  # the SQLite file of the backend under test, got by another test
"""


def run(folder: Path, postgres: str | None) -> str:
    """Run pytest on ``folder`` in a process of its own; return its report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COHORT_"))}
    env["PYTHONPATH"] = str(REPO)
    env["COLUMNS"] = "1000"  # the short summary holds the whole message
    if postgres is not None:
        env["COHORT_TEST_POSTGRES"] = postgres
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-rA"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Return the reports of a SQLite and of a PostgreSQL run of a marked and a plain module."""
    folder = tmp_path_factory.mktemp("marked")
    (folder / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "test_marked.py").write_text(MARKED)
    (folder / "test_plain.py").write_text(PLAIN)
    # No server behind the URL: every test that would reach it is left out.
    unreachable = "postgresql://cohort@127.0.0.1:9/postgres"
    return {"sqlite": run(folder, None), "postgresql": run(folder, unreachable)}


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("PASSED test_marked.py::test_pure", None),
        ("ERROR test_marked.py::test_caught", "(tests/_postgres.py: database_url())"),
        ("PASSED test_marked.py::test_own_sqlite", None),
        ("FAILED test_marked.py::test_database", "(bot.store.db.Database('postgresql+asyncpg:"),
        ("FAILED test_plain.py::test_handed_out", "(bot.store.db.Database('sqlite+aiosqlite:"),
        ("FAILED test_marked.py::test_backend", "(tests/_postgres.py: server_url()"),
        ("ERROR test_marked.py::test_fixture", "(the fixtures cohort)"),
        ("PASSED test_plain.py::test_unmarked", None),
    ],
    ids=[
        "pure",
        "caught",
        "own sqlite",
        "database",
        "handed out",
        "backend",
        "fixture",
        "unmarked",
    ],
)
def test_on_sqlite_a_marked_test_that_opens_a_database_fails(
    reports: dict[str, str], line: str, why: str | None
) -> None:
    report = reports["sqlite"]
    found = [got for got in report.splitlines() if got.startswith(line + " ")] + [
        got for got in report.splitlines() if got == line
    ]
    assert len(found) == 1, report
    if why is not None:
        assert f"is marked backend_free but uses the database under test {why}" in found[0]
        assert "remove the mark" in found[0]


def test_on_postgresql_the_marked_tests_are_left_out(reports: dict[str, str]) -> None:
    report = reports["postgresql"]
    assert "7 deselected" in report, report
    assert "test_marked.py" not in report
    assert "test_handed_out" not in report
    # The plain test ran against the (unreachable) server: it is not left out.
    assert "test_plain.py::test_unmarked" in report
