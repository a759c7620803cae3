"""The Telegram adapter end to end: real python-telegram-bot against a local Bot API stand-in."""

from __future__ import annotations

import asyncio
import importlib.abc
import io
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.adapters.console import ConsoleAdapter
from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram._render import split_markup, to_html
from bot.cogs import points
from bot.cogs.points._referrals import counts as referral_counts
from bot.cogs.points._referrals import settle as settle_referrals
from bot.core.cohort import Cohort
from bot.core.commands import CommandSpec, Option, OptionKind, Permission, Role
from bot.core.context import Context
from bot.core.events import BotStatusChanged, JoinRequested, MemberJoined, MemberLeft, MessagePosted
from bot.core.identity import Account, Caller
from bot.core.platforms import PlatformName
from bot.core.ports import (
    AccessTarget,
    ChannelRef,
    PlatformError,
    PlatformErrorReason,
    ScheduledEvent,
)
from bot.core.replies import Button, Image, Reply
from bot.runtime import build, serve
from tests.conftest import make_config
from tests.telegram_api import TelegramServer, scope_key
from tests.web.test_app import free_port

TOKEN = "123456:TEST-token"
GROUP = -1001234567890  # a forum supergroup of the demo community
OLGA, BOB, STRANGER = 500, 600, 700  # organizer; member who started the bot; never did


@pytest.fixture
async def tg() -> AsyncIterator[TelegramServer]:
    """Start the Bot API stand-in with a forum group and three people."""
    async with TelegramServer(token=TOKEN) as server:
        server.add_chat(GROUP, "supergroup", title="Demo", is_forum=True)
        for user_id, name, username, lang in (
            (OLGA, "Olga", "olga", "en"),
            (BOB, "Bob", "bob", "en"),
            (STRANGER, "Sam", None, "zh-hans"),
        ):
            server.add_user(user_id, name, username=username, language_code=lang)
            server.add_member(GROUP, user_id)
        server.add_chat(OLGA, "private")
        server.add_chat(BOB, "private")
        yield server


@pytest.fixture
async def bot(tmp_path: Path, tg: TelegramServer) -> AsyncIterator[Cohort]:
    """Return a bot whose Telegram adapter polls the stand-in."""
    config = make_config(
        tmp_path,
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
        yield cohort
    finally:
        await adapter.stop()
        await cohort.dispatcher.drain()
        await cohort.db.close()


def texts(tg: TelegramServer, chat_id: int) -> list[str]:
    """Return the texts the bot sent to ``chat_id``."""
    return [m["text"] for m in tg.sent(chat_id)]


async def said(tg: TelegramServer, chat_id: int, fragment: str) -> dict[str, Any]:
    """Wait until the bot sent ``chat_id`` a message containing ``fragment``; return it."""
    await tg.wait_for(lambda: any(fragment in t for t in texts(tg, chat_id)))
    return next(m for m in tg.sent(chat_id) if fragment in m["text"])


async def test_menus_are_published_per_scope_in_english_and_chinese(
    bot: Cohort, tg: TelegramServer
) -> None:
    default = scope_key({"type": "default"})
    olga = scope_key({"type": "chat", "chat_id": OLGA})
    english = {c["command"]: c["description"] for c in tg.commands[(default, "")]}
    chinese = {c["command"]: c["description"] for c in tg.commands[(default, "zh")]}
    assert english["help"] == "List the commands you can use"
    assert chinese["help"] == "列出你可以使用的命令"
    for_members = {
        spec.path[0]
        for spec in bot.registry
        if Role.MEMBER.may(spec.permission) or spec.permission is Permission.TIER
    }
    assert set(english) == for_members
    assert {c["command"] for c in tg.commands[(olga, "")]} >= set(english)  # an organizer


async def test_staff_menus_hold_the_staff_commands(tmp_path: Path, tg: TelegramServer) -> None:
    config = make_config(tmp_path, telegram={"token": TOKEN, "base_url": tg.base_url})
    cohort = await build(config)
    stats = cohort.registry.get("stats")  # the analytics cog's
    assert stats is not None and stats.permission is Permission.ORGANIZER
    adapter = TelegramAdapter(cohort, config.telegram)
    await adapter.app.initialize()
    try:
        await adapter.publish_commands()
    finally:
        await adapter.app.shutdown()
        await cohort.db.close()
    everyone = {c["command"] for c in tg.commands[(scope_key({"type": "default"}), "")]}
    organizer = {
        c["command"] for c in tg.commands[(scope_key({"type": "chat", "chat_id": OLGA}), "zh")]
    }
    assert "stats" not in everyone
    assert "stats" in organizer


@pytest.mark.parametrize("where", ["group", "dm"])
async def test_every_command_answers_in_a_group_and_in_a_dm(
    bot: Cohort, tg: TelegramServer, where: str
) -> None:
    chat = GROUP if where == "group" else BOB
    for spec in bot.registry:
        before = len(tg.sent(GROUP)) + len(tg.sent(BOB))
        tg.user_says(chat, BOB, f"/{spec.path[0]}")
        await tg.wait_for(lambda b=before: len(tg.sent(GROUP)) + len(tg.sent(BOB)) > b)
    # Private answers (/whoami, /link, /lang) went to Bob's DM, never to the group.
    assert not any("Your code is" in t for t in texts(tg, GROUP))
    assert any("Your code is" in t for t in texts(tg, BOB))
    assert any("Commands" in t for t in texts(tg, chat))


class _ImportWatch(importlib.abc.MetaPathFinder):
    """Record every module Python looks for: one already imported is never looked for."""

    def __init__(self) -> None:
        self.sought: list[str] = []

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        self.sought.append(fullname)


async def test_answering_a_command_looks_for_no_module(bot: Cohort, tg: TelegramServer) -> None:
    # httpcore tries ``import sniffio`` on every pooled request; missing, each try searched
    # the whole path again (about 35 µs, eight times a command).
    tg.user_says(BOB, BOB, "/help")
    await said(tg, BOB, "Commands")
    watch = _ImportWatch()
    sys.meta_path.insert(0, watch)
    try:
        tg.user_says(BOB, BOB, "/help")
        await tg.wait_for(lambda: sum("Commands" in t for t in texts(tg, BOB)) == 2)
    finally:
        sys.meta_path.remove(watch)
    assert watch.sought == []


async def test_commands_for_another_bot_are_ignored(bot: Cohort, tg: TelegramServer) -> None:
    tg.user_says(GROUP, BOB, "/help@SomeOtherBot")
    tg.user_says(GROUP, BOB, "/help@CohortTestBot")
    await said(tg, GROUP, "Commands")
    await asyncio.sleep(0.2)
    assert len([t for t in texts(tg, GROUP) if "Commands" in t]) == 1


async def test_a_member_option_comes_from_a_real_reply_not_the_topic(
    bot: Cohort, tg: TelegramServer
) -> None:
    seen: list[str] = []

    async def who(ctx: Context, member: Account) -> str:
        seen.append(member.platform_user_id)
        return f"picked {member.display_name}"

    bot.registry.add(
        CommandSpec(
            "pick",
            "general.help.description",
            who,
            options=(Option("member", OptionKind.MEMBER, "general.help.option_command"),),
        )
    )
    topic = tg.user_creates_topic(GROUP, OLGA, "Olga's topic")
    question = tg.user_says(GROUP, OLGA, "a question", thread_id=topic)
    tg.user_says(GROUP, BOB, "/pick", thread_id=topic, reply_to_message_id=question["message_id"])
    await said(tg, GROUP, "picked Olga")
    tg.user_says(GROUP, BOB, "/pick", thread_id=topic)
    await said(tg, BOB, "Please give")  # a refusal is private: it goes to the DM
    assert seen == [str(OLGA)]


async def test_bad_arguments_name_the_option(bot: Cohort, tg: TelegramServer) -> None:
    tg.user_says(BOB, BOB, "/lang klingon")
    message = await said(tg, BOB, "must be one of")
    assert message["text"] == "<b>language</b> must be one of en, zh, auto, not “klingon”."
    assert message["parse_mode"] == "HTML"


async def test_a_button_press_round_trip(bot: Cohort, tg: TelegramServer) -> None:
    tg.user_says(GROUP, BOB, "/help")
    message = await said(tg, GROUP, "Commands")
    rows = message["reply_markup"]["inline_keyboard"]
    chinese = next(b for row in rows for b in row if b["text"] == "中文")
    query_id = tg.press(GROUP, BOB, message["message_id"], chinese["callback_data"])
    await tg.wait_for(lambda: query_id in tg.answered_callbacks)
    assert tg.answered_callbacks[query_id]["text"] == "从现在起我会用中文和你交流。"
    tg.user_says(GROUP, BOB, "/help")
    await said(tg, GROUP, "列出你可以使用的命令")


async def test_a_stale_button_is_answered_and_explained(bot: Cohort, tg: TelegramServer) -> None:
    tg.user_says(GROUP, BOB, "/help")
    message = await said(tg, GROUP, "Commands")
    query_id = tg.press(GROUP, BOB, message["message_id"], "a|gone.away|x")
    await tg.wait_for(lambda: query_id in tg.answered_callbacks)
    assert tg.answered_callbacks[query_id]["text"] == (
        "That button no longer works. Run the command again."
    )
    junk = tg.press(GROUP, BOB, message["message_id"], "not ours")
    await tg.wait_for(lambda: junk in tg.answered_callbacks)


async def test_a_message_in_a_forum_topic_reaches_the_core_with_its_thread(
    bot: Cohort, tg: TelegramServer
) -> None:
    seen: list[MessagePosted] = []

    async def collect(event: MessagePosted) -> None:
        seen.append(event)

    bot.events.subscribe(MessagePosted, collect)
    topic = await bot.platforms[PlatformName.TELEGRAM].create_thread(
        ChannelRef(PlatformName.TELEGRAM, str(GROUP)), "Help with limits", Reply(text="Ask here")
    )
    assert topic.thread_id is not None
    tg.user_says(GROUP, BOB, "How do I compute this?", thread_id=int(topic.thread_id))
    user_topic = tg.user_creates_topic(GROUP, OLGA, "Olga's question")
    tg.user_says(GROUP, BOB, "An answer in Olga's topic", thread_id=user_topic)
    tg.user_says(GROUP, BOB, "a photo caption", caption=True)
    await tg.wait_for(lambda: len(seen) == 3)
    in_topic = next(e for e in seen if e.text == "How do I compute this?")
    assert in_topic.channel.thread_id == topic.thread_id
    assert in_topic.account.platform_user_id == str(BOB)
    answer = next(e for e in seen if e.text == "An answer in Olga's topic")
    assert answer.channel.thread_id == str(user_topic)
    assert answer.reply_to_message_id is None  # the topic's opening notice is not a reply
    assert any(e.text == "a photo caption" for e in seen)


async def test_user_text_cannot_inject_html(bot: Cohort, tg: TelegramServer) -> None:
    tg.add_user(800, "<b>Eve</b> & <a href='x'>co</a>", username="eve")
    tg.add_chat(800, "private")
    tg.user_says(800, 800, "/whoami")
    message = await said(tg, 800, "Eve")
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; &lt;a href='x'&gt;co&lt;/a&gt;" in message["text"]


async def test_a_429_is_retried_and_the_message_sent_once(bot: Cohort, tg: TelegramServer) -> None:
    tg.fail_next("sendMessage", error_code=429, description="Too Many Requests", retry_after=1)
    tg.user_says(GROUP, BOB, "/help")
    await said(tg, GROUP, "Commands")
    await asyncio.sleep(0.2)
    assert len([t for t in texts(tg, GROUP) if "Commands" in t]) == 1


async def test_a_person_the_bot_cannot_message_gets_a_hint_in_the_group(
    bot: Cohort, tg: TelegramServer
) -> None:
    tg.user_says(GROUP, STRANGER, "/link")
    message = await said(tg, GROUP, "打开与我的私聊")  # Sam's Telegram is in Chinese
    button = message["reply_markup"]["inline_keyboard"][0][0]
    assert button["url"] == "https://t.me/CohortTestBot?start=hello"
    assert not any("代码" in t for t in texts(tg, GROUP))


async def test_a_blocked_bot_is_a_closed_dm(bot: Cohort, tg: TelegramServer) -> None:
    tg.block_bot(BOB)
    with pytest.raises(PlatformError) as caught:
        await bot.platforms[PlatformName.TELEGRAM].direct_message(str(BOB), Reply(text="hi"))
    assert caught.value.reason is PlatformErrorReason.DM_CLOSED


async def test_a_long_reply_is_split_cleanly(bot: Cohort, tg: TelegramServer) -> None:
    lines = [f"**line {i}** " + "x" * 90 for i in range(100)]  # about 10,000 characters
    await bot.platforms[PlatformName.TELEGRAM].send(
        ChannelRef(PlatformName.TELEGRAM, str(GROUP)), Reply(text="\n".join(lines))
    )
    await tg.wait_for(lambda: len(tg.sent(GROUP)) >= 3)
    sent = texts(tg, GROUP)
    assert len(sent) == 3
    assert all(t.count("<b>") == t.count("</b>") for t in sent)
    assert "\n".join(sent).count("<b>line") == 100


async def test_link_between_telegram_and_the_console(bot: Cohort, tg: TelegramServer) -> None:
    console = ConsoleAdapter(bot, bot.communities["demo"], user="olga", out=io.StringIO())
    bot.platforms[PlatformName.CONSOLE] = console
    await console.handle_line("/link")
    assert isinstance(console.out, io.StringIO)
    code = console.out.getvalue().split("Your code is ")[1].split(".")[0]
    tg.user_says(OLGA, OLGA, f"/link {code}")
    await said(tg, OLGA, "Linked.")
    accounts = await bot.identity.accounts_of(
        (await bot.identity.resolve(bot.communities["demo"].id, console.caller())).member_id
    )
    assert sorted(a.platform for a in accounts) == [PlatformName.CONSOLE, PlatformName.TELEGRAM]


async def test_joins_leaves_and_join_requests_reach_the_core(
    bot: Cohort, tg: TelegramServer
) -> None:
    seen: list[object] = []

    async def collect(event: object) -> None:
        seen.append(event)

    for kind in (MemberJoined, MemberLeft, JoinRequested):
        bot.events.subscribe(kind, collect)
    tg.add_user(900, "Newcomer")
    tg.user_joins(GROUP, 900)
    tg.user_leaves(GROUP, 900)
    tg.request_join(GROUP, 900)
    await tg.wait_for(lambda: len(seen) == 3)
    assert [type(e).__name__ for e in seen] == ["MemberJoined", "MemberLeft", "JoinRequested"]


async def test_invites_and_removal_use_the_bot_api(bot: Cohort, tg: TelegramServer) -> None:
    telegram = bot.platforms[PlatformName.TELEGRAM]
    target = AccessTarget(PlatformName.TELEGRAM, str(GROUP))
    link = await telegram.create_invite(target)
    assert link in {entry["invite_link"] for entry in tg.invite_links.values()}
    await telegram.remove_member(str(GROUP), str(BOB))
    methods = [method for method, _ in tg.calls if method != "getUpdates"]  # polling goes on
    assert methods[-2:] == ["banChatMember", "unbanChatMember"]


async def test_scheduled_events_are_unsupported_without_calling_telegram(
    bot: Cohort, tg: TelegramServer
) -> None:
    telegram = bot.platforms[PlatformName.TELEGRAM]
    start = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)
    event = ScheduledEvent("Talk", "", start, start + timedelta(hours=1), "online")
    calls = len(tg.calls)
    for attempt in (
        lambda: telegram.create_scheduled_event(str(GROUP), event),
        lambda: telegram.edit_scheduled_event(str(GROUP), "1", event),
        lambda: telegram.delete_scheduled_event(str(GROUP), "1"),
    ):
        with pytest.raises(PlatformError) as caught:
            await attempt()
        assert caught.value.reason is PlatformErrorReason.UNSUPPORTED
    assert len(tg.calls) == calls


def test_html_rendering_escapes_everything() -> None:
    assert to_html("**a<b>** & `x<y` [l](https://e.org/?a=1&b=2)") == (
        '<b>a&lt;b&gt;</b> &amp; <code>x&lt;y</code> <a href="https://e.org/?a=1&amp;b=2">l</a>'
    )


@pytest.mark.parametrize("length", [0, 1, 4096, 4097, 10_000])
def test_splitting_keeps_every_character(length: int) -> None:
    source = "y" * length
    pieces = split_markup(source)
    assert "".join(pieces) == source
    assert all(len(p) <= 4096 for p in pieces)


async def test_shutdown_leaves_nothing_pending(tmp_path: Path, tg: TelegramServer) -> None:
    config = make_config(tmp_path, telegram={"token": TOKEN, "base_url": tg.base_url})
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, stop=stop))
    await tg.wait_for(lambda: any(method == "getUpdates" for method, _ in tg.calls))
    tg.user_says(GROUP, BOB, "hello before the stop")
    await tg.wait_for(lambda: sum(m == "getUpdates" for m, _ in tg.calls) >= 2)
    stop.set()
    assert await asyncio.wait_for(task, 15) == 0
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert [t for t in others if "telegram" in repr(t).lower()] == []


async def test_webhook_mode_takes_updates_only_with_the_secret(
    tmp_path: Path, tg: TelegramServer
) -> None:
    port = free_port()
    secret = "s3cret-Token_1"
    config = make_config(
        tmp_path,
        web={"enabled": True, "host": "127.0.0.1", "port": port},
        telegram={
            "token": TOKEN,
            "base_url": tg.base_url,
            "mode": "webhook",
            "webhook_url": "https://bot.example.org/telegram/webhook",
            "webhook_secret": secret,
            "messages_per_minute_per_group": 1000,
        },
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, stop=stop))
    try:
        await tg.wait_for(lambda: tg.called("setWebhook"))
        hook = tg.called("setWebhook")[0]
        assert hook["url"] == "https://bot.example.org/telegram/webhook"
        assert hook["secret_token"] == secret
        tg.user_says(GROUP, BOB, "/help")
        update = tg.pending_updates[-1]
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        header = "X-Telegram-Bot-Api-Secret-Token"
        async with aiohttp.ClientSession() as http:
            for headers, body, status in (
                ({header: "wrong"}, update, 403),
                ({}, update, 403),
                ({header: secret}, "not json", 400),
                ({header: secret}, {"no": "update"}, 400),
                ({header: secret}, update, 200),
            ):
                kwargs: dict[str, Any] = (
                    {"json": body} if isinstance(body, dict) else {"data": body}
                )
                async with http.post(url, headers=headers, **kwargs) as response:
                    assert response.status == status, (headers, body)
        await said(tg, GROUP, "Commands")
        assert not tg.called("getUpdates")
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
    assert len([t for t in texts(tg, GROUP) if "Commands" in t]) == 1


async def test_a_network_failure_is_retried(bot: Cohort, tg: TelegramServer) -> None:
    tg.fail_next("sendMessage", error_code=502, description="Bad Gateway")
    tg.user_says(GROUP, BOB, "/help")
    await said(tg, GROUP, "Commands")
    assert len([t for t in texts(tg, GROUP) if "Commands" in t]) == 1


async def test_topics_close_and_reopen(bot: Cohort, tg: TelegramServer) -> None:
    telegram = bot.platforms[PlatformName.TELEGRAM]
    assert isinstance(telegram, TelegramAdapter)
    topic = await telegram.create_thread(
        ChannelRef(PlatformName.TELEGRAM, str(GROUP)), "Lecture 1", Reply(text="Questions here")
    )
    await telegram.close_thread(topic)
    assert tg.topics[(GROUP, int(topic.thread_id or 0))]["closed"]
    with pytest.raises(PlatformError) as caught:
        await telegram.send(topic, Reply(text="late"))
    assert caught.value.reason is PlatformErrorReason.INVALID
    await telegram.reopen_thread(topic)
    await telegram.send(topic, Reply(text="open again"))
    assert texts(tg, GROUP)[-1] == "open again"


async def test_start_greets_with_help(bot: Cohort, tg: TelegramServer) -> None:
    tg.add_user(801, "Newbie", language_code="zh-hans")
    tg.user_says(801, 801, "/start hello")  # a new private chat, as from the DM-fallback button
    await said(tg, 801, "列出你可以使用的命令")


async def test_the_bots_own_status_changes_reach_the_core(bot: Cohort, tg: TelegramServer) -> None:
    seen: list[BotStatusChanged] = []

    async def collect(event: BotStatusChanged) -> None:
        seen.append(event)

    bot.events.subscribe(BotStatusChanged, collect)
    tg.bot_status(GROUP, "member", by_user_id=OLGA)
    tg.bot_status(GROUP, "administrator", by_user_id=OLGA)
    await tg.wait_for(lambda: len(seen) == 2)
    assert [(e.space_id, e.status) for e in seen] == [
        (str(GROUP), "member"),
        (str(GROUP), "administrator"),
    ]


async def test_edit_delete_and_images(bot: Cohort, tg: TelegramServer) -> None:
    telegram = bot.platforms[PlatformName.TELEGRAM]
    here = ChannelRef(PlatformName.TELEGRAM, str(GROUP))
    sent = await telegram.send(here, Reply(text="RSVP: 1 going", buttons=(Button("Go", "x.y"),)))
    await telegram.edit(sent, Reply(text="RSVP: **2** going", buttons=(Button("Go", "x.y"),)))
    by_id = {m["message_id"]: m for m in tg.sent(GROUP)}
    edited = by_id[int(sent.message_id)]
    assert edited["text"] == "RSVP: <b>2</b> going" and edited["edited"]
    assert edited["reply_markup"]["inline_keyboard"][0][0]["text"] == "Go"
    await telegram.delete(sent)
    assert {m["message_id"]: m for m in tg.sent(GROUP)}[int(sent.message_id)]["deleted"]
    photo = await telegram.send(
        here, Reply(text="Weekly chart", image=Image(data=b"\x89PNG\r\n", filename="w.png"))
    )
    shown = {m["message_id"]: m for m in tg.sent(GROUP)}[int(photo.message_id)]
    assert shown["method"] == "sendPhoto" and shown["text"] == "Weekly chart"
    assert shown["photo"] == b"\x89PNG\r\n"


async def test_invite_variants_and_join_requests(bot: Cohort, tg: TelegramServer) -> None:
    telegram = bot.platforms[PlatformName.TELEGRAM]
    target = AccessTarget(PlatformName.TELEGRAM, str(GROUP))
    expires = datetime(2026, 12, 1, tzinfo=UTC)
    single = await telegram.create_invite(target, expires_at=expires)
    asking = await telegram.create_invite(target, join_request=True)
    assert tg.invite_links[single]["member_limit"] == 1
    assert tg.invite_links[single]["expire_date"] == int(expires.timestamp())
    assert tg.invite_links[asking]["creates_join_request"] is True
    tg.add_user(901, "Payer")
    tg.add_user(902, "Lurker")
    tg.request_join(GROUP, 901, asking)
    tg.request_join(GROUP, 902, asking)
    await telegram.grant_access("901", target)
    await telegram.decline_join_request(str(GROUP), "902")
    assert tg.join_requests[(GROUP, 901)]["status"] == "approved"
    assert tg.join_requests[(GROUP, 902)]["status"] == "declined"


async def test_an_export_arrives_as_a_document_in_the_organizers_dm(
    bot: Cohort, tg: TelegramServer
) -> None:
    tg.user_says(GROUP, OLGA, "/points export all")
    await tg.wait_for(lambda: any(m["method"] == "sendDocument" for m in tg.sent(OLGA)))
    document = next(m for m in tg.sent(OLGA) if m["method"] == "sendDocument")
    assert document["document"]["file_name"].startswith("points-demo-all-")
    assert document["document"]["data"].decode("utf-8-sig").startswith("rank,member_id,name")
    assert "The leaderboard as CSV: 0 members." in document["text"]
    assert not any(m["method"] == "sendDocument" for m in tg.sent(GROUP))


async def test_a_referral_through_a_personal_invite_link(bot: Cohort, tg: TelegramServer) -> None:
    tg.user_says(GROUP, BOB, "/invite")
    await tg.wait_for(lambda: any("Your invite link" in t for t in texts(tg, BOB)))
    message = next(t for t in texts(tg, BOB) if "Your invite link" in t)
    link = next(word for word in message.split() if word.startswith("https://t.me/"))
    tg.user_says(GROUP, BOB, "/invite")  # the same link again, not a new one
    await tg.wait_for(lambda: sum("Your invite link" in t for t in texts(tg, BOB)) == 2)
    assert len(tg.invite_links) == 1

    tg.add_user(901, "Newcomer")
    tg.user_joins(GROUP, 901, invite_link=link)
    await tg.wait_for(lambda: bool(tg.invite_links[next(iter(tg.invite_links))]["joined"]))
    demo = bot.communities["demo"]
    bob = await bot.identity.resolve(demo.id, Caller(PlatformName.TELEGRAM, str(BOB), "Bob"))

    async def referred() -> int:
        return (await referral_counts(bot.db, demo.id, bob.member_id))[0]

    for _ in range(50):
        if await referred():
            break
        await asyncio.sleep(0.02)
    later = bot.clock.now() + timedelta(days=8)
    assert await settle_referrals(bot.db, demo, later) == [bob.member_id]
    assert await settle_referrals(bot.db, demo, later) == []
    assert await points.balance_of(bot.db, demo.id, bob.member_id) == 100


async def test_the_leaderboard_comes_with_an_image_card(bot: Cohort, tg: TelegramServer) -> None:
    demo = bot.communities["demo"]
    bob = await bot.identity.resolve(demo.id, Caller(PlatformName.TELEGRAM, str(BOB), "Bob"))
    await points.award(
        bot.db, demo, bob.member_id, 40, points.Reason.MANUAL, "card", at=bot.clock.now()
    )
    tg.user_says(GROUP, BOB, "/leaderboard all")
    board = await said(tg, GROUP, "All-time leaderboard")
    assert board["method"] == "sendPhoto"
    assert board["photo"].startswith(b"\x89PNG") and "1.</b> Bob — 40" in board["text"]
