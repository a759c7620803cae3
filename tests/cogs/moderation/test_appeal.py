"""Appeals on the console: the member's notice carries a button that opens one thread."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.core.config import Config
from tests.cogs.moderation.test_commands import run
from tests.conftest import make_config


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return a config with Mia a moderator and an appeal channel."""
    return make_config(
        tmp_path,
        community={
            "moderators": ["console:mia"],
            "moderation": {"appeal_channel": "console:appeals"},
        },
    )


@pytest.fixture
async def seen(cohort: Cohort, console: ConsoleAdapter) -> ConsoleAdapter:
    """Return the console once Bob, Carol and Mia are known."""
    for user in ("bob", "carol", "mia"):
        await run(console, user, "/whoami")
    return console


def button(said: str) -> str:
    found = re.search(r"\[(\d+)\] Appeal", said)
    assert found is not None, said
    return found.group(1)


async def test_an_appeal_opens_one_thread_for_the_moderators(
    cohort: Cohort, seen: ConsoleAdapter
) -> None:
    number = button(await run(seen, "mia", "/warn @bob rude"))
    said = await run(seen, "carol", f"/press {number}")
    assert "That is not a case of yours." in said
    said = await run(seen, "bob", f"/press {number}")
    assert "New thread “Appeal: case #1, Bob”" in said
    assert "Bob appeals this case:" in said.replace("**", "")
    assert "Your appeal of case #1 is with the moderators" in said
    said = await run(seen, "bob", f"/press {number}")
    assert "Case #1 is already appealed" in said
    assert "New thread" not in said
