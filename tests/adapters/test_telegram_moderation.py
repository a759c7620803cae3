"""Moderation through real python-telegram-bot against the stand-in: restrict, ban, delete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.telegram import TelegramAdapter
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.tables import message_log, moderation_cases
from tests.adapters.test_telegram import BOB, GROUP, OLGA, TOKEN, said, texts, tg
from tests.conftest import make_config
from tests.telegram_api import TelegramServer

STAFF_CHAT = -1009876543210
__all__ = ["tg"]  # the fixture, shared with test_telegram


@pytest.fixture
async def bot(tmp_path: Path, tg: TelegramServer) -> AsyncIterator[Cohort]:
    """Return a bot polling the stand-in; Olga (500) is an organizer, the staff chat the log."""
    tg.add_chat(STAFF_CHAT, "supergroup", title="Staff")
    config = make_config(
        tmp_path,
        telegram={
            "token": TOKEN,
            "base_url": tg.base_url,
            "messages_per_minute_per_group": 1000,
            "messages_per_second": 1000,
        },
        community={
            "moderation": {
                "log_channels": [f"telegram:{STAFF_CHAT}"],
                "automod": {"enabled": True},
            }
        },
    )
    cohort = await build(config)
    adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
    cohort.platforms[PlatformName.TELEGRAM] = adapter
    await adapter.start()
    try:
        tg.user_says(GROUP, BOB, "hello")
        tg.user_says(GROUP, OLGA, "hi")
        await logged(cohort, tg, 2)
        yield cohort
    finally:
        await adapter.stop()
        await cohort.dispatcher.drain()
        await cohort.db.close()


async def logged(cohort: Cohort, tg: TelegramServer, count: int) -> None:
    """Wait until the bot has logged ``count`` messages."""

    async def enough() -> bool:
        async with cohort.db.read() as conn:
            return len((await conn.execute(select(message_log.c.id))).all()) >= count

    for _ in range(200):
        if await enough():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} messages logged")


async def states(cohort: Cohort) -> list[tuple[str, str]]:
    """Return (action, state) of every case."""
    c = moderation_cases.c
    async with cohort.db.read() as conn:
        rows = (await conn.execute(select(c.action, c.state).order_by(c.number))).all()
    return [(r.action, r.state) for r in rows]


async def test_mute_restricts_until_a_date_and_unmute_gives_the_rights_back(
    bot: Cohort, tg: TelegramServer
) -> None:
    tg.user_says(GROUP, OLGA, "/mute @bob 1h flooding")
    await said(tg, OLGA, "Bob</b> muted for 1 hour by Olga: flooding")
    kept = tg.restrictions[(GROUP, BOB)]
    assert kept["can_send_messages"] is False
    member = tg.member_json(GROUP, BOB)
    assert member["status"] == "restricted"
    assert 3590 <= member["until_date"] - tg.now() <= 3600
    with pytest.raises(ValueError, match="muted"):
        tg.user_says(GROUP, BOB, "can I talk?")
    await said(tg, BOB, "You are muted in Demo Community for 1 hour: flooding")
    await said(tg, STAFF_CHAT, "muted for 1 hour by Olga")
    tg.user_says(GROUP, OLGA, "/unmute @bob")
    await said(tg, OLGA, "unmuted by Olga")
    assert (GROUP, BOB) not in tg.restrictions
    assert tg.member_json(GROUP, BOB)["status"] == "member"
    tg.user_says(GROUP, BOB, "thanks")
    assert await states(bot) == [("mute", "done"), ("unmute", "done")]


async def test_ban_revokes_messages_and_unban_only_if_banned(
    bot: Cohort, tg: TelegramServer
) -> None:
    tg.user_says(GROUP, OLGA, "/ban @bob 1 spam")
    await said(tg, OLGA, "Bob</b> banned by Olga: spam")
    assert tg.bans[(GROUP, BOB)]["revoke_messages"] is True
    assert tg.member_json(GROUP, BOB)["status"] == "kicked"
    tg.user_says(GROUP, OLGA, "/unban @bob")
    await said(tg, OLGA, "unbanned by Olga")
    assert (GROUP, BOB) not in tg.bans
    assert await states(bot) == [("ban", "done"), ("unban", "done")]


async def test_without_rights_the_case_fails_and_the_moderator_is_told(
    bot: Cohort, tg: TelegramServer
) -> None:
    tg.add_member(GROUP, tg.bot_user["id"], "member")  # demoted: no longer an admin
    tg.user_says(GROUP, OLGA, "/kick @bob rude")
    await said(tg, OLGA, "could not kick <b>Bob</b>")
    assert "I lack the right to do that there" in texts(tg, OLGA)[-1]
    assert tg.member_json(GROUP, BOB)["status"] == "member"
    assert await states(bot) == [("kick", "failed")]


async def test_purge_deletes_a_members_latest_messages(bot: Cohort, tg: TelegramServer) -> None:
    sent = [tg.user_says(GROUP, BOB, f"spam {n}") for n in range(3)]
    await logged(bot, tg, 5)
    tg.user_says(GROUP, OLGA, "/purge 10 @bob")
    await said(tg, OLGA, "Case #1: deleted 4 messages.")
    for message in sent:
        assert tg.find_message(GROUP, message["message_id"]) is None  # deleted


async def test_slowmode_is_enforced_by_the_bot(bot: Cohort, tg: TelegramServer) -> None:
    tg.user_says(GROUP, OLGA, "/slowmode 60")
    await said(tg, OLGA, "I delete messages sent sooner")
    first = tg.user_says(GROUP, BOB, "one")
    second = tg.user_says(GROUP, BOB, "two")
    await tg.wait_for(lambda: tg.find_message(GROUP, second["message_id"]) is None)
    assert tg.find_message(GROUP, first["message_id"]) is not None


async def test_automod_deletes_an_invite_link_and_logs_the_hit(
    bot: Cohort, tg: TelegramServer
) -> None:
    posted = tg.user_says(GROUP, BOB, "join my group t.me/+AbCdEf123")
    await tg.wait_for(lambda: tg.find_message(GROUP, posted["message_id"]) is None)
    await said(tg, STAFF_CHAT, "a message of <b>Bob</b> deleted: automod: invites")
    assert await states(bot) == [("delete", "done")]
    shared = tg.user_says(GROUP, OLGA, "staff may share t.me/+AbCdEf123")  # staff are exempt
    private = tg.user_says(BOB, BOB, "t.me/+AbCdEf123 is my group")  # a private chat: left alone
    await logged(bot, tg, 5)
    await bot.dispatcher.drain()  # the cogs have seen both
    assert tg.find_message(GROUP, shared["message_id"]) is not None
    assert tg.find_message(BOB, private["message_id"]) is not None
    assert await states(bot) == [("delete", "done")]


async def test_warn_kick_modlog_and_case_on_telegram(bot: Cohort, tg: TelegramServer) -> None:
    tg.user_says(GROUP, OLGA, "/warn @bob off topic")
    await said(tg, BOB, "You were warned in Demo Community: off topic")
    tg.user_says(GROUP, OLGA, "/kick @bob still off topic")
    await said(tg, OLGA, "Bob</b> kicked by Olga: still off topic")
    assert tg.member_json(GROUP, BOB)["status"] == "left"  # banned, then unbanned
    tg.user_says(GROUP, OLGA, "/modlog @bob")
    await said(tg, OLGA, "Moderation history of Bob")
    tg.user_says(GROUP, OLGA, "/case 1 posting ads")
    await said(tg, OLGA, "Case #1: reason changed.")
    assert await states(bot) == [("warn", "done"), ("kick", "done")]
