"""``cohort demo``: a demo community to try every feature locally, with pretend payments.

The demo lives in a folder (``./demo`` by default): its config (demo mode on, which refuses
live keys and platform tokens), its SQLite database, seeded once with members who have a
history, and the recommender's model. The console starts with the web app on a free loopback
port, whose pretend checkout completes ``/join`` and whose billing page refunds.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from bot.cogs.gating._simulate import base_url
from bot.core.clock import SystemClock
from bot.core.config import Config, load_config
from bot.demo._config import CONFIG_NAME, write_config
from bot.demo._seed import seed
from bot.runtime import serve

DEFAULT_DIR = Path("demo")

__all__ = ["DEFAULT_DIR", "forget", "prepare", "run", "seed", "write_config"]


def forget(directory: Path) -> None:
    """Delete what the demo wrote in ``directory`` (its config, database and model)."""
    for path in [directory / CONFIG_NAME, *directory.glob("cohort.*")]:
        if path.is_file():
            path.unlink()


def free_port(host: str) -> int:
    """Return a TCP port free on ``host`` just now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


async def prepare(directory: Path, *, fresh: bool = False) -> Config:
    """Write (or with ``fresh``, rewrite) the demo, seed it once; return its config."""
    if fresh:
        forget(directory)
    config = load_config(write_config(directory))
    web = dataclasses.replace(config.web, port=free_port(config.web.host))
    config = dataclasses.replace(config, web=web)
    await seed(config, SystemClock().now())
    return config


async def run(
    directory: Path,
    *,
    fresh: bool = False,
    lines: AsyncIterator[str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Prepare the demo and run its console until it ends; return the exit code."""
    config = await prepare(directory, fresh=fresh)
    printed = out or sys.stdout
    printed.write(
        f"Cohort demo in {directory}/ - web app (demo checkout): {base_url(config)}\n"
        "Try /join pro, /lectures, /questions, /leaderboard, /recommend, /as bob, and\n"
        "/as discord:alice then /link (and /as telegram:alice, /link CODE).\n"
        "/dashboard prints a sign-in link to the organizers' web dashboard.\n"
    )
    printed.flush()
    return await serve(config, lines=lines, out=out)
