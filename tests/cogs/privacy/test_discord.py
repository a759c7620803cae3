"""/privacy through real discord.py against the Discord stand-in: files, links, confirmations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.cohort import Cohort
from bot.runtime import build
from bot.store.tables import accounts, message_log
from tests.adapters.test_discord import (
    BOB,
    GENERAL,
    GUILD,
    OLGA,
    adapter_of,
    content,
    demo_guild,
    start,
)
from tests.conftest import make_config
from tests.discord_api import DEFAULT_TOKEN, DiscordServer


@pytest.fixture
async def dc() -> AsyncIterator[DiscordServer]:
    async with demo_guild() as server:
        yield server


@pytest.fixture
async def bot(tmp_path: Path, dc: DiscordServer) -> AsyncIterator[Cohort]:
    config = make_config(
        tmp_path,
        web={"enabled": True, "port": 8098, "public_url": "https://cohort.example.org"},
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base, "defer_after": 0.3},
        community={"organizers": [f"discord:{OLGA}"]},
    )
    cohort = await build(config)
    try:
        await start(cohort)
    except BaseException:
        await cohort.db.close()
        raise
    try:
        yield cohort
    finally:
        await adapter_of(cohort).stop()
        await cohort.dispatcher.drain()
        await cohort.db.close()


async def logged(cohort: Cohort, count: int) -> None:
    """Wait until the message log holds ``count`` rows (messages are handled as they come)."""
    deadline = asyncio.get_running_loop().time() + 20  # generous: the machine may be busy
    while asyncio.get_running_loop().time() < deadline:
        async with cohort.db.read() as conn:
            if await conn.scalar(select(func.count()).select_from(message_log)) >= count:
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the message log never reached {count} rows")


async def bob_account(cohort: Cohort) -> int | None:
    async with cohort.db.read() as conn:
        found = await conn.scalar(
            select(accounts.c.member_id).where(accounts.c.platform_user_id == str(BOB))
        )
    return int(found) if found is not None else None


async def test_export_is_a_file_in_a_direct_message(bot: Cohort, dc: DiscordServer) -> None:
    dc.user_says(GENERAL, BOB, "my cat is called Biscuit")
    await logged(bot, 1)
    answer = await dc.answered(dc.run_command(GUILD, GENERAL, BOB, "privacy export"))
    assert "your data is in your private messages" in content(answer)
    assert answer[0]["ephemeral"]
    dm = int(dc.dm_channels[BOB]["id"])
    [message] = dc.sent(dm)
    [file] = dc.files[int(message["id"])]
    assert file["filename"].endswith(".json")
    document = json.loads(file["data"])
    assert document["data"]["message_log.member_id"][0]["text"] == "my cat is called Biscuit"


async def test_closed_direct_messages_get_a_private_download_link(
    bot: Cohort, dc: DiscordServer
) -> None:
    dc.close_dms(BOB)
    answer = await dc.answered(dc.run_command(GUILD, GENERAL, BOB, "privacy export"))
    assert answer[0]["ephemeral"]
    assert "The link works once, for 1 hour" in content(answer)
    [button] = dc.buttons(GENERAL, int(answer[0]["id"]))
    assert button["url"].startswith("https://cohort.example.org/privacy/demo/")
    assert "/privacy/" not in content([m for m in dc.sent(GENERAL) if not m.get("ephemeral")])


async def test_an_organizer_forgets_a_member_and_only_they_can_confirm(
    bot: Cohort, dc: DiscordServer
) -> None:
    dc.user_says(GENERAL, BOB, "hello")
    await logged(bot, 1)
    answer = await dc.answered(
        dc.run_command(GUILD, GENERAL, OLGA, "privacy forget_member", {"member": BOB})
    )
    assert "everything Cohort holds about **Bob**" in content(answer)
    message = int(answer[0]["id"])
    refused = await dc.answered(dc.press(GENERAL, message, BOB, label="Erase for good"))
    assert "Only the person who asked for this erasure can confirm it." in content(refused)
    assert await bob_account(bot) is not None
    done = await dc.answered(dc.press(GENERAL, message, OLGA, label="Erase for good"))
    assert "the member's data is erased and their accounts unlinked" in content(done)
    assert await bob_account(bot) is None


async def test_a_member_may_not_forget_someone_else(bot: Cohort, dc: DiscordServer) -> None:
    answer = await dc.answered(
        dc.run_command(GUILD, GENERAL, BOB, "privacy forget_member", {"member": OLGA})
    )
    assert "organizers" in content(answer)
