"""A lean start: the bot serves ordinary commands without loading its heavy libraries."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.test_cli import _env, write_config

# Loaded when first needed: training and scoring (numpy, scipy, scikit-learn), image cards
# (Pillow), and a platform's library only when its token is configured.
HEAVY = ("numpy", "scipy", "sklearn", "PIL", "discord", "telegram")


def test_a_console_session_imports_no_heavy_library(tmp_path: Path) -> None:
    """Start ``cohort run``, chat and run everyday commands, and check what was imported."""
    config = write_config(tmp_path)
    script = tmp_path / "session.txt"
    script.write_text("/help\n/points show\n/leaderboard\nhello everyone\n", encoding="utf-8")
    command = ["run", "--config", str(config), "--script", str(script)]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "leaderboard" in result.stdout.lower()
    imported = set(re.findall(r"^import time:.*\|\s*([\w.]+)$", result.stderr, re.MULTILINE))
    assert "bot.cogs.recommend._service" in imported  # the recommender cog itself did load
    assert sorted(name for name in HEAVY if name in imported) == []
