"""``cohort demo`` as a newcomer runs it (``make run`` without a config.toml): a real process."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.config import load_config
from bot.demo import forget, seed, write_config

REPO = Path(__file__).resolve().parent.parent.parent


def cohort_demo(
    folder: Path, stdin: str, env: dict[str, str] | None = None, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``cohort demo --dir demo --script -`` in ``folder`` with ``stdin`` as the console."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--dir", "demo", "--script", "-", *args],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "PYTHONPATH": str(REPO), **(env or {})},
        check=False,
    )


def count(folder: Path, table: str) -> int:
    with sqlite3.connect(folder / "demo" / "cohort.db") as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.mark.slow
@pytest.mark.backend_free
def test_the_demo_opens_a_community_with_something_in_it(tmp_path: Path) -> None:
    done = cohort_demo(tmp_path, "/join\n/questions\n/lectures\n/leaderboard\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "web app (demo checkout): http://127.0.0.1:" in out
    assert "Cohort console for Cohort Demo Academy" in out
    assert "Pro (`pro`) — membership: monthly" in out
    assert "Which model should I try first for classification?" in out  # an open question
    assert "Pandas in practice" in out and "Office hours" in out  # lectures ahead
    assert re.search(r"^  \d+\. Carol", out, re.M)  # members with points this week
    assert (tmp_path / "demo" / "config.toml").is_file()
    assert (tmp_path / "demo" / "cohort.recommend-demo.npz").is_file()  # trained once


@pytest.mark.slow
@pytest.mark.backend_free
def test_the_demo_is_seeded_once_and_fresh_starts_again(tmp_path: Path) -> None:
    assert cohort_demo(tmp_path, "").returncode == 0
    seeded = count(tmp_path, "message_log"), count(tmp_path, "purchases")
    assert seeded[0] > 5 and seeded[1] > 3
    assert cohort_demo(tmp_path, "hello from a second run\n").returncode == 0
    assert (count(tmp_path, "message_log"), count(tmp_path, "purchases")) == (
        seeded[0] + 1,
        seeded[1],
    )
    assert cohort_demo(tmp_path, "", None, "--fresh").returncode == 0
    assert (count(tmp_path, "message_log"), count(tmp_path, "purchases")) == seeded


@pytest.mark.backend_free
@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("COHORT_STRIPE_SECRET_KEY", "sk_live_51Hsecret", "stripe.secret_key (a live key)"),
        ("COHORT_STRIPE_SECRET_KEY", "rk_live_51Hsecret", "stripe.secret_key (a live key)"),
        ("COHORT_DISCORD_TOKEN", "MTIz.secret.token", "discord.token"),
        ("COHORT_TELEGRAM_TOKEN", "123456:secret", "telegram.token"),
    ],
)
def test_the_demo_refuses_to_run_beside_a_live_key(
    tmp_path: Path, variable: str, value: str, named: str
) -> None:
    done = cohort_demo(tmp_path, "/help\n", {variable: value})
    assert done.returncode == 2
    assert "demo.enabled: expected false when live keys or platform tokens are set" in done.stderr
    assert named in done.stderr
    assert "secret" not in done.stderr.replace("secret_key", "")
    assert done.stdout == ""  # nothing started
    assert not (tmp_path / "demo" / "cohort.db").exists()


@pytest.mark.backend_free
def test_forget_deletes_only_what_the_demo_wrote(tmp_path: Path) -> None:
    write_config(tmp_path)
    for name in ("cohort.db", "cohort.db-wal", "cohort.recommend-demo.npz", "notes.txt"):
        (tmp_path / name).write_text("x")
    forget(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.backend_free
@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 7, 0, 4, tzinfo=UTC),  # four minutes into a week (the demo's zone)
        datetime(2026, 12, 7, 0, 0, tzinfo=UTC),  # a week's very first instant
        datetime(2026, 12, 9, 15, 30, tzinfo=UTC),  # mid-week: three hours of chat
    ],
    ids=["monday-0004", "monday-0000", "wednesday"],
)
async def test_the_seeded_chat_is_on_this_weeks_leaderboard_whenever_seeded(
    tmp_path: Path, now: datetime
) -> None:
    config = load_config(write_config(tmp_path))
    assert await seed(config, now)
    week = "w{}-{:02d}".format(*now.isocalendar()[:2])
    with sqlite3.connect(tmp_path / "cohort.db") as db:
        ranked = db.execute(
            "SELECT a.platform_user_id FROM points_period_totals t JOIN accounts a"
            " ON a.member_id = t.member_id WHERE t.period = ? AND t.total > 0",
            (week,),
        ).fetchall()
    assert {"bob", "carol", "dave", "erin"} <= {who for (who,) in ranked}  # the script's
