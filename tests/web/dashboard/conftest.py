"""Fixtures of the dashboard tests: a bot, its web app, and links issued through /dashboard."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef
from bot.core.replies import Reply
from bot.web.app import build_app
from tests.conftest import make_config

OLGA = Caller(PlatformName.CONSOLE, "olga", "Olga", username="olga")  # an organizer
ALICE = Caller(PlatformName.CONSOLE, "alice", "Alice", username="alice")  # an admin
BOB = Caller(PlatformName.CONSOLE, "bob", "Bob", username="bob")  # a member
HERE = ChannelRef(PlatformName.CONSOLE, "general")
LINK = re.compile(r"https?://[^\s/]+(/dashboard/signin/[A-Za-z0-9_-]+)")

IssueLink = Callable[[Caller], Awaitable[str]]


async def run(cohort: Cohort, caller: Caller, line: str) -> list[Reply]:
    """Run ``line`` as ``caller`` on the console and return the replies."""
    replies: list[Reply] = []

    async def respond(reply: Reply) -> MessageRef | None:
        replies.append(reply)
        return None

    await cohort.dispatcher.run_line(
        cohort.platforms[PlatformName.CONSOLE],
        cohort.communities["demo"],
        caller,
        HERE,
        line,
        respond,
    )
    return replies


@pytest.fixture
def issue_link(cohort: Cohort, console: object) -> IssueLink:
    """Return a function that runs /dashboard as someone and returns the link's path."""

    async def issue(caller: Caller) -> str:
        (reply,) = await run(cohort, caller, "/dashboard")
        found = LINK.search(reply.text)
        assert found, reply.text
        return found.group(1)

    return issue


@pytest.fixture
async def client(
    cohort: Cohort, console: object
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """Return a test client of the web app (cookies kept, as a browser would)."""
    async with TestClient(TestServer(build_app(cohort))) as test_client:
        yield test_client


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return the test config with the web app on (the dashboard needs it; nothing listens)."""
    return make_config(tmp_path, web={"enabled": True})
