"""Hostile input through the console: forged button payloads and unreadable text are user errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.store.tables import qa_questions
from tests.conftest import output

HUGE = str(10**30)  # past SQLite's 64-bit integers
BAD_BUTTON = "That button no longer works. Run the command again."
UNREADABLE = "Your command contains a character I cannot read"


class Incidents(logging.Handler):
    """Collect what the bot logs at ERROR or above: every internal error is logged there."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def incidents() -> Iterator[Incidents]:
    """Return the ERROR records the bot logs while the test runs."""
    handler = Incidents()
    logger = logging.getLogger("bot")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def say(console: ConsoleAdapter, user: str, *lines: str, where: str = "general") -> str:
    """Type ``lines`` as ``user`` in ``where`` and return what the console printed."""
    console.user, console.channel = user, where
    for line in lines:
        await console.handle_line(line)
    return output(console)


@pytest.fixture
async def world(console: ConsoleAdapter) -> AsyncIterator[ConsoleAdapter]:
    """Return a console with question 1 (answered by carol) and lecture occurrence 1."""
    await say(console, "bob", "/ask How do I install numpy on a Raspberry Pi?")
    await say(console, "carol", "Use piwheels, it has prebuilt wheels.", where="general/thread-1")
    printed = await say(console, "olga", '/lecture schedule "Intro to Rust" "2026-11-22 19:30"')
    assert "Lecture #1" in printed
    yield console


@pytest.mark.parametrize(
    ("user", "line", "expected"),
    [
        # points pages: the "next page" button of /leaderboard
        ("bob", "/press a|points.page|week:²", BAD_BUTTON),
        ("bob", "/press a|points.page|week:٣", BAD_BUTTON),
        ("bob", f"/press a|points.page|week:{HUGE}", BAD_BUTTON),
        ("olga", "/press a|points.reset|²", BAD_BUTTON),
        ("olga", f"/press a|points.reset|{HUGE}", BAD_BUTTON),
        # lecture RSVP
        ("bob", "/press a|lectures.rsvp|²:going", BAD_BUTTON),
        ("bob", f"/press a|lectures.rsvp|{HUGE}:going", BAD_BUTTON),
        ("bob", "/press a|lectures.rsvp|1:going\x00", BAD_BUTTON),
        # Q&A accept
        ("bob", "/press a|qa.accept|1:²", BAD_BUTTON),
        ("bob", f"/press a|qa.accept|{HUGE}:1", BAD_BUTTON),
        ("bob", f"/press a|qa.accept|1:{HUGE}", BAD_BUTTON),
        ("bob", "/press a|qa.accept|\ud800:1", BAD_BUTTON),
        # the other actions with a number in their payload
        ("olga", "/press a|gating.members|pro:²", BAD_BUTTON),
        # a stored payload's id, as Telegram and Discord send it back
        ("bob", "/press s|²", "There is no button [s|²]."),
        ("bob", f"/press s|{HUGE}", f"There is no button [s|{HUGE}]."),
        # /questions search and /ask
        ("bob", "/questions search numpy\x00", UNREADABLE),
        ("bob", "/questions search \ud800", UNREADABLE),
        ("bob", "/ask Why does\x00 pip fail on my laptop?", UNREADABLE),
        ("bob", "/ask Why does \udfff pip fail on my laptop?", UNREADABLE),
        # an unreadable word anywhere in a line, even where a command name goes
        ("olga", "/points give @bob 5 thanks\ud800", UNREADABLE),
        ("bob", "/\x00", UNREADABLE),
    ],
)
async def test_named_hostile_inputs_are_user_errors(
    world: ConsoleAdapter, incidents: Incidents, user: str, line: str, expected: str
) -> None:
    printed = await say(world, user, line)
    assert expected in printed
    assert "Sorry, something went wrong" not in printed
    assert incidents.records == []


async def test_the_refused_text_is_stored_nowhere(world: ConsoleAdapter, cohort: Cohort) -> None:
    await say(world, "bob", "/ask Why does\x00 pip fail on my laptop?")
    async with cohort.db.read() as conn:
        titles = (await conn.scalars(select(qa_questions.c.title))).all()
    assert titles == ["How do I install numpy on a Raspberry Pi?"]
