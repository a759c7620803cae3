"""Q&A on the platforms (``_voice``): Telegram topics and reply chains, a Discord forum post."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.adapters.telegram import TelegramAdapter
from bot.cogs.qa import _store as qa_store
from bot.cogs.qa._votes import votes_of
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.runtime import build
from tests.adapters.test_discord import BOB as DC_BOB
from tests.adapters.test_discord import GENERAL as DC_GENERAL
from tests.adapters.test_discord import GUILD as DC_GUILD
from tests.adapters.test_discord import OLGA as DC_OLGA
from tests.adapters.test_discord import QUESTIONS as DC_QUESTIONS
from tests.adapters.test_discord import SAM as DC_SAM
from tests.adapters.test_discord import adapter_of as discord_adapter_of
from tests.adapters.test_discord import content as discord_content
from tests.adapters.test_discord import demo_guild
from tests.adapters.test_discord import start as start_discord
from tests.adapters.test_telegram import BOB as TG_BOB
from tests.adapters.test_telegram import GROUP, TOKEN, said
from tests.adapters.test_telegram import OLGA as TG_OLGA
from tests.cogs.qa._helpers import A, S, state_of
from tests.conftest import make_config
from tests.discord_api import DEFAULT_TOKEN, DiscordServer
from tests.telegram_api import TelegramServer

PLAIN = -1009876543210  # a group without topics


async def test_telegram_topics_and_reply_chains(tmp_path: Path) -> None:

    async with TelegramServer(token=TOKEN) as tg:
        tg.add_chat(GROUP, "supergroup", title="Demo", is_forum=True)
        tg.add_chat(PLAIN, "supergroup", title="Plain")
        for user_id, name in ((TG_OLGA, "Olga"), (TG_BOB, "Bob")):
            tg.add_user(user_id, name, username=name.lower(), language_code="en")
            tg.add_member(GROUP, user_id)
            tg.add_member(PLAIN, user_id)
            tg.add_chat(user_id, "private")
        config = make_config(
            tmp_path,
            community={"telegram_chats": [GROUP, PLAIN]},
            telegram={
                "token": TOKEN,
                "base_url": tg.base_url,
                "messages_per_minute_per_group": 1000,
                "messages_per_second": 1000,
            },
        )
        cohort = await build(config)
        adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
        cohort.platforms[PlatformName.TELEGRAM] = adapter
        await adapter.start()
        try:
            tg.user_says(GROUP, TG_BOB, "/ask How do I pin numpy? | versions clash #python")
            await said(tg, GROUP, "Question <b>#1</b> from <b>Bob</b>")
            (topic_id,) = [k[1] for k in tg.topics if k[0] == GROUP]
            answer = tg.user_says(GROUP, TG_OLGA, "Use a lock file", thread_id=topic_id)
            await tg.wait_for(lambda: len(tg.sent(GROUP)) >= 1)
            await _until(lambda: state_of(cohort, 1), A)
            # A reaction is a vote; changing it to a non-vote emoji takes the vote back.
            tg.user_reacts(GROUP, TG_BOB, answer["message_id"], ("👍",))
            await _until(lambda: votes_of(cohort.db, 1), {1: 1})
            tg.user_reacts(GROUP, TG_BOB, answer["message_id"], ("🔥",))
            await _until(lambda: votes_of(cohort.db, 1), {})
            tg.user_says(
                GROUP,
                TG_BOB,
                "/accept",
                thread_id=topic_id,
                reply_to_message_id=answer["message_id"],
            )
            await said(tg, GROUP, "the answer by <b>Olga</b> was accepted")
            await tg.wait_for(lambda: tg.topics[(GROUP, topic_id)]["closed"])
            assert tg.topics[(GROUP, topic_id)]["name"] == "[Solved] How do I pin numpy?"

            tg.user_says(PLAIN, TG_BOB, "/ask Which editor?")
            opening = await said(tg, PLAIN, "Question <b>#2</b>")
            await tg.wait_for(lambda: bool(tg.called("pinChatMessage")))
            pinned = tg.find_message(PLAIN, opening["message_id"])
            assert pinned is not None and pinned.pinned
            assert tg.called("pinChatMessage")[0]["disable_notification"] is True
            answer = tg.user_says(
                PLAIN, TG_OLGA, "Try Helix", reply_to_message_id=opening["message_id"]
            )
            await _until(lambda: state_of(cohort, 2), A)
            later = tg.user_says(
                PLAIN, TG_OLGA, "Or Vim", reply_to_message_id=opening["message_id"]
            )
            await _until(lambda: _answer_count(cohort, 2), 2)
            # Replying to her first answer accepts that one, not her latest.
            tg.user_says(PLAIN, TG_BOB, "/accept", reply_to_message_id=answer["message_id"])
            await _until(lambda: state_of(cohort, 2), S)
            accepted = await qa_store.get(cohort.db, 1, 2)
            assert accepted is not None
            answers = {a.id: a.message_id for a in await qa_store.answers_of(cohort.db, 2)}
            assert answers[accepted.accepted_answer_id or 0] == str(answer["message_id"])
            assert str(later["message_id"]) in answers.values()
            await tg.wait_for(lambda: bool(tg.called("unpinChatMessage")))
            assert not pinned.pinned
        finally:
            await adapter.stop()
            await cohort.dispatcher.drain()
            await cohort.db.close()


async def _answer_count(cohort: Cohort, question_id: int) -> int:
    return len(await qa_store.answers_of(cohort.db, question_id))


async def _until(read: Callable[[], Awaitable[object]], expected: object) -> None:
    for _ in range(200):
        if await read() == expected:
            return
        await asyncio.sleep(0.02)
    assert await read() == expected


@pytest.fixture
async def dc() -> AsyncIterator[DiscordServer]:
    """Return the Discord stand-in with the demo guild and its forum."""
    async with demo_guild() as server:
        yield server


@pytest.fixture
async def discord_qa(tmp_path: Path, dc: DiscordServer) -> AsyncIterator[Cohort]:
    """Return a bot on the Discord stand-in whose questions open in the forum channel."""
    config = make_config(
        tmp_path,
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base, "defer_after": 0.3},
        community={"qa": {"channels": [f"discord:{DC_QUESTIONS}"]}},
    )
    cohort = await build(config)
    await start_discord(cohort)
    try:
        yield cohort
    finally:
        await discord_adapter_of(cohort).stop()
        await cohort.dispatcher.drain()
        await cohort.db.close()


async def test_a_question_through_discord(discord_qa: Cohort, dc: DiscordServer) -> None:
    cohort = discord_qa
    asked = dc.run_command(
        DC_GUILD,
        DC_GENERAL,
        DC_BOB,
        "ask",
        {"question": "How do joins work? | inner vs outer #sql"},
    )
    assert "has its own thread now" in discord_content(await dc.answered(asked))
    channels = dc.guilds[DC_GUILD].channels.values()
    (post,) = [c for c in channels if c.get("parent_id") == str(DC_QUESTIONS)]
    thread = int(post["id"])
    assert post["name"] == "How do joins work?"
    assert post["applied_tags"] == [dc.tag_id(DC_QUESTIONS, "sql")]
    assert "inner vs outer" in discord_content(dc.sent(thread))

    answer = dc.user_says(thread, DC_OLGA, "Use an index on the join column")
    await _until(lambda: state_of(cohort, 1), A)
    dc.user_reacts(thread, DC_SAM, int(answer["id"]), "👍")
    await _until(lambda: votes_of(cohort.db, 1), {1: 1})

    accept = dc.run_command(DC_GUILD, thread, DC_BOB, "accept")
    (listing,) = await dc.answered(accept)
    assert listing["ephemeral"] is True
    (button,) = dc.buttons(int(listing["channel_id"]), int(listing["id"]))
    assert button["label"].startswith("Olga: Use an index") and button["label"].endswith("(▲1)")
    await dc.answered(
        dc.press(int(listing["channel_id"]), int(listing["id"]), DC_BOB, button["custom_id"])
    )
    await _until(lambda: state_of(cohort, 1), S)
    await dc.wait_for(lambda: dc.channel(thread)["thread_metadata"]["archived"])
    assert dc.channel(thread)["name"] == "[Solved] How do joins work?"
    assert "the answer by **Olga** was accepted" in discord_content(dc.sent(thread))

    found = dc.run_command(DC_GUILD, DC_GENERAL, DC_SAM, "questions search", {"words": "joins"})
    assert "How do joins work?" in discord_content(await dc.answered(found))
