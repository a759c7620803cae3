"""Moderation through real discord.py against the stand-in: timeouts, bans, bulk delete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.cohort import Cohort
from bot.store.tables import message_log, moderation_cases
from tests.adapters.conftest import connected
from tests.adapters.test_discord import BOB, GENERAL, GUILD, OLGA, SAM, STAFF, content
from tests.conftest import make_config
from tests.discord_api import BOT_ID, DEFAULT_TOKEN, DiscordServer

HIGH_ROLE = 400000000000000009


@pytest.fixture
async def bot(tmp_path: Path, dc: DiscordServer) -> AsyncIterator[Cohort]:
    """Return a bot on the stand-in: Olga an organizer, Sam a moderator, #staff the mod log."""
    config = make_config(
        tmp_path,
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base, "defer_after": 0.3},
        community={
            "organizers": [f"discord:{OLGA}"],
            "moderators": [f"discord:{SAM}"],
            "moderation": {"log_channels": [f"discord:{STAFF}"]},
        },
    )
    async with connected(config) as cohort:
        for seen in (OLGA, BOB, SAM):
            await dc.answered(dc.run_command(GUILD, GENERAL, seen, "whoami"))
        yield cohort


async def command(dc: DiscordServer, user: int, name: str, **options: object) -> str:
    """Run a slash command and return the text of its answer (Markdown escapes dropped)."""
    answer = await dc.answered(dc.run_command(GUILD, GENERAL, user, name, options))
    assert answer[0]["ephemeral"] is True  # moderation is answered privately
    return content(answer).replace("\\", "")


async def states(cohort: Cohort) -> list[tuple[str, str]]:
    """Return (action, state) of every case."""
    c = moderation_cases.c
    async with cohort.db.read() as conn:
        rows = (await conn.execute(select(c.action, c.state).order_by(c.number))).all()
    return [(r.action, r.state) for r in rows]


def messages_of(dc: DiscordServer, channel_id: int, user_id: int) -> list[dict[str, Any]]:
    """Return a person's messages in a channel, each with ``deleted``."""
    return [
        {**m, "deleted": int(m["id"]) in dc.deleted}
        for m in dc.messages.get(channel_id, {}).values()
        if int(m["author"]["id"]) == user_id
    ]


async def logged(bot: Cohort, count: int) -> None:
    """Wait until the bot has logged ``count`` messages."""
    for _ in range(200):
        async with bot.db.read() as conn:
            rows = (await conn.execute(select(message_log.c.id))).all()
        if len(rows) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the bot logged fewer than {count} messages")


def dms_to(dc: DiscordServer, user_id: int) -> str:
    channel = dc.dm_channels.get(user_id)
    return content(dc.sent(int(channel["id"]))) if channel else ""


async def test_mute_times_the_member_out_and_everyone_is_told(
    bot: Cohort, dc: DiscordServer
) -> None:
    said = await command(dc, OLGA, "mute", member=BOB, duration="1h", reason="flooding")
    assert "Bob** muted for 1 hour by Olga: flooding" in said
    ((guild, user, until),) = dc.timeouts
    assert (guild, user) == (GUILD, BOB)
    assert until is not None
    ahead = datetime.fromisoformat(until) - datetime.now(UTC)
    assert timedelta(minutes=59) < ahead <= timedelta(hours=1)
    assert "You are muted in Demo Community for 1 hour: flooding" in dms_to(dc, BOB)
    assert "muted for 1 hour by Olga" in content(dc.sent(STAFF))
    said = await command(dc, OLGA, "unmute", member=BOB)
    assert dc.timeouts[-1] == (GUILD, BOB, None)
    assert await states(bot) == [("mute", "done"), ("unmute", "done")]


async def test_ban_deletes_a_day_of_messages_and_unban_lifts_it(
    bot: Cohort, dc: DiscordServer
) -> None:
    dc.user_says(GENERAL, BOB, "buy my course at spam.example")
    said = await command(dc, OLGA, "ban", member=BOB, delete_days=1, reason="spam")
    assert "Bob** banned by Olga: spam" in said
    assert dc.ban_log == [(GUILD, BOB, 86400)]
    assert BOB not in dc.guild(GUILD).members
    assert all(m["deleted"] for m in messages_of(dc, GENERAL, BOB))
    await command(dc, OLGA, "unban", member=BOB)
    assert dc.guild(GUILD).bans == {}
    said = await command(dc, OLGA, "unban", member=BOB)  # not banned: nothing to undo
    assert "unbanned" in said
    assert await states(bot) == [("ban", "done"), ("unban", "done"), ("unban", "done")]


async def test_a_member_above_the_bot_is_a_failed_case_reported_in_their_language(
    bot: Cohort, dc: DiscordServer
) -> None:
    dc.add_role(GUILD, HIGH_ROLE, "Veteran", 5)
    dc.set_roles(GUILD, BOB, (HIGH_ROLE,))
    said = await command(dc, OLGA, "kick", member=BOB, reason="rude")
    assert "Case #1: could not kick **Bob**." in said
    assert "I lack the right to do that there" in said
    assert BOB in dc.guild(GUILD).members
    assert await states(bot) == [("kick", "failed")]
    assert "(failed)" in content(dc.sent(STAFF))
    assert dms_to(dc, BOB) == ""  # not told of what did not happen
    # Sam's Chinese client gets the same refusal in Chinese.
    said = await command(dc, SAM, "kick", member=BOB, reason="rude")
    assert "未能对 **Bob** 执行移出" in said


async def test_nobody_moderates_staff_of_their_rank_or_above(
    bot: Cohort, dc: DiscordServer
) -> None:
    said = await command(dc, SAM, "warn", member=OLGA, reason="no")
    assert "Olga** 是与你同级或更高的管理人员" in said
    said = await command(dc, BOB, "warn", member=SAM, reason="no")
    assert "Only moderators may run /warn." in said
    assert await states(bot) == []


async def test_purge_bulk_deletes_one_members_latest_messages(
    bot: Cohort, dc: DiscordServer
) -> None:
    for n in range(3):
        dc.user_says(GENERAL, BOB, f"spam {n}")
    dc.user_says(GENERAL, OLGA, "a real message")
    await logged(bot, 4)
    said = await command(dc, OLGA, "purge", count=50, member=BOB)
    assert "Case #1: deleted 3 messages." in said
    ((channel, ids),) = dc.bulk_deletes
    assert channel == GENERAL and len(ids) == 3
    assert [m["content"] for m in messages_of(dc, GENERAL, BOB) if not m["deleted"]] == []
    dc.user_says(GENERAL, BOB, "one more")
    await logged(bot, 2)
    said = await command(dc, OLGA, "purge", count=1)
    assert "Case #2: deleted 1 message." in said
    assert len(dc.bulk_deletes) == 1  # a single message goes through the plain delete


async def test_slowmode_is_the_channels_own(bot: Cohort, dc: DiscordServer) -> None:
    said = await command(dc, OLGA, "slowmode", seconds=30)
    assert "Case #1: slowmode here is now 30 seconds." in said
    assert dc.channel(GENERAL)["rate_limit_per_user"] == 30
    await command(dc, SAM, "slowmode", seconds=0)
    assert dc.channel(GENERAL)["rate_limit_per_user"] == 0


async def test_the_bot_cannot_be_moderated(bot: Cohort, dc: DiscordServer) -> None:
    said = await command(dc, OLGA, "ban", member=BOT_ID, delete_days=0, reason="test")
    assert "I do not know the member" in said
    assert dc.ban_log == []
    assert await states(bot) == []


async def test_warn_kick_modlog_and_case_on_discord(bot: Cohort, dc: DiscordServer) -> None:
    said = await command(dc, OLGA, "warn", member=BOB, reason="off topic")
    assert "Bob** warned by Olga: off topic" in said
    said = await command(dc, OLGA, "kick", member=BOB, reason="still off topic")
    assert "Bob** kicked by Olga: still off topic" in said
    assert BOB not in dc.guild(GUILD).members
    said = await command(dc, OLGA, "modlog", member=BOB)
    assert "#2 👢" in said and "#1 ⚠️" in said
    said = await command(dc, OLGA, "case", id=1, reason="posting ads")
    assert "Case #1: reason changed." in said
    assert "warned by Olga: posting ads" in said
    said = await command(dc, OLGA, "case", id=7)
    assert "There is no case #7." in said
