"""The Discord adapter end to end: real discord.py against a local REST + gateway stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.discord import DiscordAdapter
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.runtime import build
from tests.conftest import make_config
from tests.discord_api import DEFAULT_TOKEN, FORUM, DiscordServer

GUILD = 111111111111111111  # the demo community's guild
GENERAL, QUESTIONS, STAFF = 222000000000000001, 222000000000000002, 222000000000000003
OLGA, BOB, SAM = 300000000000000001, 300000000000000002, 300000000000000003
TIER_ROLE = 400000000000000001


@pytest.fixture
async def dc() -> AsyncIterator[DiscordServer]:
    """Start the stand-in with the demo guild, a text channel, a forum and three people."""
    async with DiscordServer() as server:
        server.add_user(OLGA, "Olga")
        server.add_user(BOB, "Bob")
        server.add_user(SAM, "Sam", locale="zh-CN")
        server.add_guild(GUILD, "Demo", owner_id=OLGA)
        server.add_channel(GUILD, GENERAL, "general")
        server.add_channel(GUILD, QUESTIONS, "questions", type=FORUM, tags=("python", "sql"))
        server.add_channel(GUILD, STAFF, "staff")
        server.add_role(GUILD, TIER_ROLE, "Pro", 0)
        for user_id in (OLGA, BOB, SAM):
            server.add_member(GUILD, user_id)
        yield server


def discord_config(tmp_path: Path, dc: DiscordServer, **discord: Any) -> Any:
    """Return the test config with a Discord token pointed at the stand-in."""
    return make_config(
        tmp_path,
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base, "defer_after": 0.3, **discord},
        community={
            "organizers": [f"discord:{OLGA}"],
            "admins": ["console:alice"],
            "discord_admin_channel": STAFF,
            "discord_managed_roles": [TIER_ROLE],
        },
    )


async def start(cohort: Cohort) -> DiscordAdapter:
    """Start a Discord adapter for ``cohort`` and register it."""
    adapter = DiscordAdapter(
        cohort, cohort.config.discord, guild_ready_timeout=0.05, retry_delay=0.05
    )
    cohort.platforms[PlatformName.DISCORD] = adapter
    await adapter.start()
    return adapter


@pytest.fixture
async def bot(tmp_path: Path, dc: DiscordServer) -> AsyncIterator[Cohort]:
    """Return a bot whose Discord adapter is connected to the stand-in."""
    cohort = await build(discord_config(tmp_path, dc))
    try:
        adapter = await start(cohort)
    except BaseException:
        await cohort.db.close()
        raise
    try:
        yield cohort
    finally:
        await adapter.stop()
        await cohort.dispatcher.drain()
        await cohort.db.close()


def content(messages: list[dict[str, Any]]) -> str:
    """Return the visible text of messages: content, embed titles, descriptions and fields."""
    parts = []
    for message in messages:
        parts.append(message.get("content") or "")
        for embed in message.get("embeds") or []:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields") or []]
    return "\n".join(p for p in parts if p)


async def test_help_runs_as_a_slash_command(bot: Cohort, dc: DiscordServer) -> None:
    interaction = dc.run_command(GUILD, GENERAL, BOB, "help")
    answer = await dc.answered(interaction)
    assert "/whoami" in content(answer)
