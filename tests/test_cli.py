"""The ``cohort`` command as an operator runs it: real processes, real files, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.discord_api import DiscordServer

pytestmark = pytest.mark.backend_free

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = (REPO / "config.example.toml").read_text(encoding="utf-8")


def cohort(
    *args: str, cwd: Path, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``cohort ARGS`` in ``cwd`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        check=False,
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def write_config(folder: Path, text: str = EXAMPLE) -> Path:
    """Write a config (the example, with the web app off by default) into ``folder``."""
    path = folder / "config.toml"
    path.write_text(text.replace("enabled = true", "enabled = false", 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('timezone = "Europe/Berlin"', 'timezone = "Mars/Base"'), "communities[0].timezone"),
        (("port = 8080", 'port = "eighty"'), "web.port"),
        (('name = "Demo Community"', 'nmae = "Demo Community"'), "communities[0]"),
        (("[identity]", "[identity]\nlink_code_ttl = 5"), "identity.link_code_ttl"),
    ],
)
def test_a_bad_config_names_the_key_and_exits_2(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = EXAMPLE.replace(*change, 1)
    if change[0] == "[identity]":
        text = text.replace('link_code_ttl = "10m"', "")
    write_config(tmp_path, text)
    result = cohort("config", "check", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "expected" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_config_check_never_prints_a_secret(tmp_path: Path) -> None:
    write_config(tmp_path)
    env_secret = "sk_test_abcdefghijklmnop"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "config", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**_env(), "COHORT_STRIPE_SECRET_KEY": env_secret},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "secret_key: set" in result.stdout
    assert env_secret not in result.stdout + result.stderr


def test_db_upgrade_creates_the_database_next_to_the_config(tmp_path: Path) -> None:
    write_config(tmp_path)
    result = cohort("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "revision" in result.stdout
    with sqlite3.connect(tmp_path / "cohort.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"communities", "members", "accounts", "message_log", "link_codes"} <= tables


def test_run_opens_the_console_and_speaks_both_languages(tmp_path: Path) -> None:
    write_config(tmp_path)
    result = cohort("run", cwd=tmp_path, stdin="/help\n/lang zh\n/help\n")
    assert result.returncode == 0, result.stderr
    english, chinese = result.stdout.split("/lang zh")
    assert "List the commands you can use" in english
    assert "列出你可以使用的命令" in chinese
    assert "Traceback" not in result.stderr


def test_run_with_a_missing_script_is_a_clear_error(tmp_path: Path) -> None:
    write_config(tmp_path)
    result = cohort("run", "--script", "nope.txt", cwd=tmp_path)
    assert result.returncode == 2
    assert "--script: expected a readable file" in result.stderr


def test_sigterm_shuts_down_cleanly_without_losing_a_write(tmp_path: Path) -> None:
    write_config(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert process.stdin is not None and process.stdout is not None
    assert "Cohort console" in process.stdout.readline()
    process.stdin.write("a message that must be kept\n/whoami\n")
    process.stdin.flush()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "Accounts" in line:
            break
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Task was destroyed" not in stderr
    assert "Traceback" not in stderr
    with sqlite3.connect(tmp_path / "cohort.db") as db:
        texts = [row[0] for row in db.execute("SELECT text FROM message_log")]
    assert texts == ["a message that must be kept"]


def test_a_busy_web_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = EXAMPLE.replace("port = 8080", f"port = {port}")
        (tmp_path / "config.toml").write_text(config, encoding="utf-8")
        result = cohort("run", cwd=tmp_path, stdin="/help\n")
    assert result.returncode == 2
    assert f"web.port: expected an address and port free to listen on, got 127.0.0.1:{port}" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


async def test_a_discord_token_discord_refuses_stops_with_one_line(tmp_path: Path) -> None:
    async with DiscordServer() as dc:
        config = EXAMPLE.replace(
            'api_base = "https://discord.com/api/v10"', f'api_base = "{dc.api_base}"'
        )
        write_config(tmp_path, config)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**_env(), "COHORT_DISCORD_TOKEN": "MTIz.not-a-real-token"},
        )
        _out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    stderr = err.decode()
    assert process.returncode == 2, stderr
    assert "discord.token: expected a bot token Discord accepts, got refused" in stderr
    assert "not-a-real-token" not in stderr
    assert dc.called("me")  # it did ask Discord (the stand-in), and Discord said 401


def test_recommend_train_saves_a_model_per_community_with_courses(tmp_path: Path) -> None:
    text = EXAMPLE + '\n[[communities.courses]]\nid = "python"\ntitle = "Python"\n'
    write_config(tmp_path, text.replace("[communities.recommend]", "[communities.recommend]", 1))
    done = cohort("recommend", "train", "--config", "config.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "demo: popularity on 0 purchases of 0 members" in done.stdout
    assert (tmp_path / "cohort.recommend-demo.npz").is_file()


def test_the_console_chat_holds_only_chat_and_the_log_goes_to_its_file(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once the socket is closed
    secret = "sk_test_consolelogsecret123"
    config = EXAMPLE.replace(
        '# secret_key = "..."', f'secret_key = "{secret}"\napi_base = "http://127.0.0.1:{port}"'
    )
    write_config(tmp_path, config)
    (tmp_path / "lines.txt").write_text("/join pro monthly\n/whoami\n", encoding="utf-8")
    result = cohort("--log-level", "INFO", "run", "--script", "lines.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    log_file = tmp_path / "cohort.log"
    assert f"(Logs and warnings go to {log_file}.)" in result.stdout
    assert "Stripe did not answer just now" in result.stdout
    assert "== Who you are here ==" in result.stdout
    written = log_file.read_text(encoding="utf-8")
    assert "WARNING bot.cogs.gating._stripe: stripe: checkout.sessions.create failed" in written
    assert "INFO bot.runtime: shutting down" in written
    assert secret not in written
    for stream in (result.stdout, result.stderr):
        assert "checkout.sessions.create" not in stream
        assert " INFO " not in stream and " WARNING " not in stream


def test_a_log_file_cohort_cannot_write_is_a_clear_error(tmp_path: Path) -> None:
    write_config(tmp_path, EXAMPLE.replace('log_file = "cohort.log"', 'log_file = "config.toml/x"'))
    result = cohort("run", cwd=tmp_path, stdin="/help\n")
    assert result.returncode == 2
    assert "console.log_file: expected a file Cohort may write" in result.stderr
    assert "Traceback" not in result.stderr
