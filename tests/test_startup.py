"""A lean start: the bot serves ordinary commands without loading its heavy libraries."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import _env, write_config

pytestmark = pytest.mark.backend_free

# Loaded when first needed: training and scoring (numpy, scipy, scikit-learn), image cards
# (Pillow), a platform's library only when its token is configured, Stripe's only when a payment
# or webhook needs it, and Alembic only when the database is not at the newest migration.
HEAVY = ("numpy", "scipy", "sklearn", "PIL", "discord", "telegram", "stripe")


def session_imports(folder: Path, config: Path) -> set[str]:
    """Run a console session of everyday commands in ``folder``; return the modules imported."""
    script = folder / "session.txt"
    script.write_text("/help\n/points show\n/leaderboard\nhello everyone\n", encoding="utf-8")
    command = ["run", "--config", str(config), "--script", str(script)]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", *command],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "leaderboard" in result.stdout.lower()
    return set(re.findall(r"^import time:.*\|\s*([\w.]+)$", result.stderr, re.MULTILINE))


def test_a_console_session_imports_no_heavy_library(tmp_path: Path) -> None:
    """Start ``cohort run`` twice, chat and run everyday commands, and check what was imported."""
    config = write_config(tmp_path)
    first = session_imports(tmp_path, config)
    assert "bot.cogs.recommend._service" in first  # the recommender cog itself did load
    assert "alembic" in first  # a new database: migrated
    assert sorted(name for name in HEAVY if name in first) == []
    again = session_imports(tmp_path, config)  # the database is at the head now
    assert sorted(name for name in (*HEAVY, "alembic") if name in again) == []
