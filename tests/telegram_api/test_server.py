"""The Telegram stand-in, driven by the real python-telegram-bot over loopback HTTP."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    ChatMember,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.telegram_api import BOT_ID, BOT_USERNAME, TelegramServer, UploadedFile, scope_key
from tests.telegram_api._html import HtmlError, parse_html

pytestmark = pytest.mark.backend_free

TOKEN = f"{BOT_ID}:AAtest-token"
NOW = 1_790_000_000
ALICE, BOB, CAROL, DAVE = 501, 502, 503, 504
FORUM = -1001000000001
GROUP = -1001000000002
BASIC = -1000003


def png(width: int, height: int) -> bytes:
    """Return a valid one-colour PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x7f" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
async def tg() -> AsyncIterator[TelegramServer]:
    """Run a stand-in with Alice and Bob (both started the bot), Carol, and three groups."""
    async with TelegramServer(token=TOKEN, clock=lambda: NOW) as server:
        server.add_user(ALICE, "Alice", username="alice", language_code="en")
        server.add_user(BOB, "Bob", username="bob", language_code="zh")
        server.add_user(CAROL, "Carol")
        server.add_user(DAVE, "Dave")
        server.add_chat(ALICE, "private")
        server.add_chat(BOB, "private")
        server.add_chat(FORUM, "supergroup", "Cohort Q&A", is_forum=True)
        server.add_chat(GROUP, "supergroup", "Cohort Paid")
        server.add_chat(BASIC, "group", "Old basic group")
        server.add_member(GROUP, ALICE, "creator")
        server.add_member(FORUM, ALICE, "creator")
        yield server


@pytest.fixture
async def bot(tg: TelegramServer) -> AsyncIterator[Bot]:
    """Return an initialized PTB bot talking to the stand-in."""
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as ptb:
        yield ptb


async def raw(tg: TelegramServer, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """POST to the stand-in without PTB and return (status, JSON body)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{tg.port}") as client:
        response = await client.post(path, **kwargs)
    return response.status_code, response.json()


# --- the wire --------------------------------------------------------------------------------


async def test_get_me_answers_with_the_bot(tg: TelegramServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (BOT_ID, BOT_USERNAME, True)
    assert bot.username == BOT_USERNAME  # initialize() already called getMe
    assert [method for method, _ in tg.calls] == ["getMe", "getMe"]


async def test_errors_have_telegrams_shape(tg: TelegramServer) -> None:
    assert await raw(tg, "/bot1:wrong/getMe") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert await raw(tg, f"/bot{TOKEN}/sendTelepathy") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    tg.fail_next("getMe", error_code=429, retry_after=3)
    assert await raw(tg, f"/bot{TOKEN}/getMe") == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    with pytest.raises(InvalidToken):
        async with Bot("1:wrong", base_url=tg.base_url):
            pass


async def test_json_bodies_query_strings_and_any_case_work_too(tg: TelegramServer) -> None:
    status, body = await raw(
        tg, f"/bot{TOKEN}/SENDMESSAGE", json={"chat_id": ALICE, "text": "123", "reply_markup": None}
    )
    assert status == 200 and body["result"]["text"] == "123"
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{tg.base_url}{TOKEN}/getChat?chat_id={GROUP}")
    assert response.json()["result"]["title"] == "Cohort Paid"
    assert tg.calls[-2] == ("sendMessage", {"chat_id": ALICE, "text": "123", "reply_markup": None})


# --- sending -----------------------------------------------------------------------------------


async def test_html_with_an_inline_keyboard_is_sent_and_recorded(
    tg: TelegramServer, bot: Bot
) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Going", callback_data="rsvp|yes"),
                InlineKeyboardButton("Slides", url="https://example.org/slides"),
            ]
        ]
    )
    html = '<b>Lecture</b> at 5 &amp; <a href="https://example.org">notes</a> 🎓'
    first = await bot.send_message(ALICE, "hello")
    message = await bot.send_message(GROUP, html, parse_mode=ParseMode.HTML, reply_markup=keyboard)

    again = await bot.send_message(ALICE, "hello again")
    assert (first.message_id, again.message_id) == (1, 2)  # ids are per chat, increasing
    assert message.message_id == 2  # 1 is the group's creation service message
    assert message.text == "Lecture at 5 & notes 🎓"
    assert message.entities == (
        MessageEntity("bold", 0, 7),
        MessageEntity("text_link", 15, 5, url="https://example.org/"),
    )
    assert message.reply_markup == keyboard
    assert message.from_user is not None and message.from_user.id == BOT_ID
    assert message.date == datetime.fromtimestamp(NOW, UTC)
    [record] = tg.sent(GROUP)
    assert record["text"] == html
    assert record["plain"] == "Lecture at 5 & notes 🎓"
    assert record["parse_mode"] == "HTML"
    assert record["reply_markup"] == keyboard.to_dict()
    assert record["message_thread_id"] is None
    assert not record["edited"]
    assert [r["text"] for r in tg.sent()] == ["hello", html, "hello again"]


@pytest.mark.parametrize(
    ("text", "markup", "message"),
    [
        ("<b>bold</i>", None, 'unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("2 < 3", None, 'unsupported start tag "" at byte offset 2'),
        ("<p>para</p>", None, 'unsupported start tag "p" at byte offset 0'),
        ("<b>open", None, 'can\'t find end tag corresponding to start tag "b"'),
        ("fish & chips", None, 'unescaped "&" at byte offset 5, use "&amp;"'),
        ("x" * 4097, None, None),
        ("   ", None, None),
        ("ok", [[InlineKeyboardButton("x", callback_data="d" * 65)]], None),
    ],
)
async def test_bad_messages_are_refused_with_telegrams_words(
    bot: Bot, text: str, markup: list[list[InlineKeyboardButton]] | None, message: str | None
) -> None:
    expected = {
        4097: "Message is too long",
        3: "Message text is empty",
        2: "Button_data_invalid",  # PTB capitalize()s what follows "Bad Request: "
    }.get(len(text)) or f"Can't parse entities: {message}"
    reply_markup = InlineKeyboardMarkup(markup) if markup else None
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(GROUP, text, parse_mode=ParseMode.HTML, reply_markup=reply_markup)
    assert caught.value.message == expected


async def test_length_counts_after_entity_parsing_and_unknown_chats_fail(bot: Bot) -> None:
    message = await bot.send_message(GROUP, f"<b>{'x' * 4096}</b>", parse_mode=ParseMode.HTML)
    assert message.text is not None and len(message.text) == 4096
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(-100999, "anyone?")


async def test_flood_control_surfaces_as_retry_after(
    tg: TelegramServer, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    tg.fail_next("sendMessage", error_code=429, retry_after=7)
    tg.fail_next("sendChatAction", error_code=502, times=2)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ALICE, "too fast")
    assert caught.value.retry_after == timedelta(seconds=7)
    await bot.send_message(ALICE, "again")
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_chat_action(ALICE, "typing")
    assert await bot.send_chat_action(ALICE, "typing")
    assert [r["text"] for r in tg.sent(ALICE)] == ["again"]
    assert len(tg.called("sendMessage")) == 2


async def test_a_slow_answer_comes_after_the_message_exists(tg: TelegramServer, bot: Bot) -> None:
    tg.answer_slowly("sendMessage", 5)
    sending = asyncio.create_task(bot.send_message(ALICE, "on its way"))
    await tg.wait_for(lambda: tg.sent(ALICE))
    assert not sending.done()  # sent, but the caller has not heard back: it could die now
    sending.cancel()
    tg.answer_slowly("sendMessage", 0)
    assert (await bot.send_message(ALICE, "quick")).text == "quick"
    assert [r["text"] for r in tg.sent(ALICE)] == ["on its way", "quick"]


async def test_blocked_and_unstarted_users_are_forbidden(tg: TelegramServer, bot: Bot) -> None:
    tg.block_bot(ALICE)
    with pytest.raises(Forbidden) as blocked:
        await bot.send_message(ALICE, "still there?")
    assert blocked.value.message == "Forbidden: bot was blocked by the user"
    with pytest.raises(Forbidden) as unstarted:
        await bot.send_message(CAROL, "hi stranger")
    assert unstarted.value.message == "Forbidden: bot can't initiate conversation with a user"
    tg.user_says(CAROL, CAROL, "/start")
    assert (await bot.send_message(CAROL, "welcome")).chat.id == CAROL
    tg.bot_status(GROUP, "kicked")
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "hello?")
    updates = await bot.get_updates()
    changes = [u.my_chat_member for u in updates if u.my_chat_member is not None]
    assert [(c.chat.id, c.new_chat_member.status) for c in changes] == [
        (ALICE, ChatMember.BANNED),
        (GROUP, ChatMember.BANNED),
    ]


# --- receiving ---------------------------------------------------------------------------------


async def test_an_injected_message_arrives_as_a_ptb_update(tg: TelegramServer, bot: Bot) -> None:
    topic = await bot.create_forum_topic(FORUM, "Week 1 questions")
    said = tg.user_says(FORUM, ALICE, "/ask@CohortTestBot why?", thread_id=topic.message_thread_id)
    [update] = await bot.get_updates()
    message = update.message
    assert message is not None and message.message_id == said["message_id"]
    assert message.text == "/ask@CohortTestBot why?"
    assert message.message_thread_id == topic.message_thread_id
    assert message.is_topic_message
    assert message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 18),)
    assert message.from_user is not None
    assert (message.from_user.id, message.from_user.username) == (ALICE, "alice")
    assert message.from_user.language_code == "en"
    assert message.chat.is_forum and message.chat.title == "Cohort Q&A"
    # Telegram's quirk: a topic message "replies" to the topic's creation message (by the bot).
    assert message.reply_to_message is not None
    assert message.reply_to_message.forum_topic_created is not None
    assert message.reply_to_message.from_user is not None
    assert message.reply_to_message.from_user.id == BOT_ID

    thread = tg.user_creates_topic(FORUM, BOB, "Bob's question")
    tg.user_says(FORUM, CAROL, "/kudos", thread_id=thread)
    created, kudos = await bot.get_updates(offset=update.update_id + 1)
    assert created.message is not None and created.message.forum_topic_created is not None
    assert kudos.message is not None and kudos.message.reply_to_message is not None
    assert kudos.message.reply_to_message.from_user == created.message.from_user  # Bob, not Carol


async def test_captions_edits_and_replies_arrive_too(tg: TelegramServer, bot: Bot) -> None:
    first = tg.user_says(GROUP, BOB, "/help")
    tg.user_says(GROUP, BOB, "/help now", edited=True)
    tg.user_says(GROUP, CAROL, "me too", reply_to_message_id=first["message_id"])
    tg.user_says(GROUP, CAROL, "/photo look", caption=True)
    updates = await bot.get_updates()
    assert [u.message.text if u.message else None for u in updates] == [
        "/help",
        None,
        "me too",
        None,
    ]
    edited = updates[1].edited_message
    assert edited is not None and edited.text == "/help now" and edited.edit_date is not None
    reply = updates[2].message
    assert reply is not None and reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == first["message_id"]
    photo = updates[3].message
    assert photo is not None and photo.caption == "/photo look" and photo.photo
    assert photo.caption_entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)


async def test_offset_confirms_and_drops_older_updates(tg: TelegramServer, bot: Bot) -> None:
    for word in ("one", "two", "three"):
        tg.user_says(ALICE, ALICE, word)
    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first if u.message] == ["one", "two"]
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest if u.message] == ["three"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == ()
    assert tg.pending_updates == []
    tg.user_says(ALICE, ALICE, "four")
    tg.user_says(ALICE, ALICE, "five")
    [last] = await bot.get_updates(offset=-1)
    assert last.message is not None and last.message.text == "five"
    assert last.update_id > rest[-1].update_id


async def test_a_long_poll_returns_as_soon_as_an_update_arrives() -> None:
    async with (
        TelegramServer(token=TOKEN, max_poll_wait=30) as tg,
        Bot(TOKEN, base_url=tg.base_url) as bot,
    ):
        tg.add_user(ALICE, "Alice")
        loop = asyncio.get_running_loop()
        started = loop.time()
        poll = asyncio.create_task(bot.get_updates(timeout=20))
        await tg.wait_for(lambda: tg.called("getUpdates"))
        tg.user_says(ALICE, ALICE, "ping")
        updates = await asyncio.wait_for(poll, 2)
        assert [u.message.text for u in updates if u.message] == ["ping"]
        assert loop.time() - started < 2


async def test_an_empty_long_poll_is_capped_and_a_second_poller_conflicts() -> None:
    async with (
        TelegramServer(token=TOKEN, max_poll_wait=0.2) as tg,
        Bot(TOKEN, base_url=tg.base_url) as bot,
    ):
        assert await asyncio.wait_for(bot.get_updates(timeout=30), 2) == ()
    async with (
        TelegramServer(token=TOKEN, max_poll_wait=30) as tg,
        Bot(TOKEN, base_url=tg.base_url) as bot,
        Bot(TOKEN, base_url=tg.base_url) as other,  # PTB polls over a one-connection pool
    ):
        first = asyncio.create_task(bot.get_updates(timeout=20))
        await tg.wait_for(lambda: tg.called("getUpdates"))
        assert await other.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first, 2)


async def test_chat_member_updates_need_allowed_updates(tg: TelegramServer, bot: Bot) -> None:
    tg.user_joins(GROUP, CAROL)
    [service] = await bot.get_updates()  # by default Telegram withholds chat_member
    assert service.message is not None and service.message.new_chat_members[0].id == CAROL
    tg.user_leaves(GROUP, CAROL)
    updates = await bot.get_updates(offset=service.update_id + 1, allowed_updates=Update.ALL_TYPES)
    left = updates[0].chat_member
    assert left is not None and left.from_user.id == CAROL
    assert (left.old_chat_member.status, left.new_chat_member.status) == ("member", "left")
    assert updates[1].message is not None and updates[1].message.left_chat_member is not None


async def test_a_ptb_application_polls_replies_and_stops_promptly(tg: TelegramServer) -> None:
    async def hello(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_user is not None
        await update.effective_message.reply_html(f"<b>Hi</b> {update.effective_user.first_name}")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("hello", hello))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        asked = tg.user_says(GROUP, BOB, "/hello@CohortTestBot")
        [answer] = await tg.wait_for(lambda: tg.sent(GROUP))
        assert answer["plain"] == "Hi Bob"
        assert answer["reply_to_message_id"] == asked["message_id"]  # PTB quotes in groups
        await app.updater.stop()
        await app.stop()
    methods = [method for method, _ in tg.calls]
    assert methods[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    assert methods[-1] == "getUpdates" and tg.pending_updates == []  # confirmed on the way out


# --- buttons -----------------------------------------------------------------------------------


async def test_a_button_press_round_trip(tg: TelegramServer, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("中文", callback_data="lang|zh")]])
    sent = await bot.send_message(GROUP, "Pick a language", reply_markup=keyboard)
    query_id = tg.press(GROUP, BOB, sent.message_id, "lang|zh")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert query is not None and query.id == query_id
    assert query.data == "lang|zh" and query.from_user.id == BOB
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await query.answer("好的", show_alert=True)
    assert tg.answered_callbacks[query_id]["text"] == "好的"
    assert tg.answered_callbacks[query_id]["show_alert"] is True
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer("twice")

    await bot.edit_message_text("Language set", GROUP, sent.message_id)
    assert tg.buttons(GROUP, sent.message_id) == []  # no reply_markup on edit drops the keyboard
    assert tg.sent(GROUP)[0]["edited"] and tg.sent(GROUP)[0]["text"] == "Language set"
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Language set", GROUP, sent.message_id)
    assert await bot.delete_message(GROUP, sent.message_id)
    assert tg.sent(GROUP)[0]["deleted"] and tg.message(GROUP, sent.message_id) is None


# --- forums, links, members --------------------------------------------------------------------


async def test_forum_topics_open_close_and_refuse_posts_when_closed(
    tg: TelegramServer, bot: Bot
) -> None:
    topic = await bot.create_forum_topic(FORUM, "Office hours")
    thread = topic.message_thread_id
    assert tg.topics[(FORUM, thread)]["name"] == "Office hours"
    posted = await bot.send_message(FORUM, "Ask away", message_thread_id=thread)
    assert posted.message_thread_id == thread and posted.message_id > thread
    assert await bot.close_forum_topic(FORUM, thread)
    assert tg.topics[(FORUM, thread)]["closed"]
    with pytest.raises(BadRequest) as closed:
        await bot.send_message(FORUM, "anyone?", message_thread_id=thread)
    assert closed.value.message == "Topic_closed"
    with pytest.raises(BadRequest, match="Topic_not_modified"):
        await bot.close_forum_topic(FORUM, thread)
    assert await bot.reopen_forum_topic(FORUM, thread)
    await bot.send_message(FORUM, "back", message_thread_id=thread)
    assert [r["message_thread_id"] for r in tg.sent(FORUM)] == [thread, thread]
    with pytest.raises(BadRequest, match="The chat is not a forum"):
        await bot.create_forum_topic(GROUP, "Nope")
    with pytest.raises(BadRequest, match="Message thread not found"):
        await bot.send_message(FORUM, "lost", message_thread_id=thread + 100)


async def test_invite_link_join_request_and_approval(tg: TelegramServer, bot: Bot) -> None:
    link = await bot.create_chat_invite_link(GROUP, name="Tier A", creates_join_request=True)
    assert link.creates_join_request and not link.is_revoked and link.name == "Tier A"
    assert tg.invite_links[link.invite_link]["chat_id"] == GROUP
    with pytest.raises(BadRequest, match="Member limit can't be specified"):
        await bot.create_chat_invite_link(GROUP, member_limit=1, creates_join_request=True)
    with pytest.raises(BadRequest, match="Usage_limit_invalid"):
        await bot.create_chat_invite_link(GROUP, member_limit=100_000)

    tg.request_join(GROUP, BOB, invite_link=link.invite_link)
    [update] = await bot.get_updates(allowed_updates=Update.ALL_TYPES)
    request = update.chat_join_request
    assert request is not None and request.from_user.id == BOB and request.user_chat_id == BOB
    assert request.invite_link is not None and request.invite_link.invite_link == link.invite_link
    assert await bot.approve_chat_join_request(GROUP, BOB)
    assert tg.join_requests[(GROUP, BOB)]["status"] == "approved"
    assert (await bot.get_chat_member(GROUP, BOB)).status == ChatMember.MEMBER
    with pytest.raises(BadRequest, match="Hide_requester_missing"):
        await bot.approve_chat_join_request(GROUP, BOB)
    with pytest.raises(BadRequest, match="Hide_requester_missing"):
        await bot.decline_chat_join_request(GROUP, CAROL)
    joined, welcome = await bot.get_updates(offset=update.update_id + 1)
    assert joined.chat_member is not None and joined.chat_member.via_join_request
    assert welcome.message is not None and welcome.message.new_chat_members[0].id == BOB

    revoked = await bot.revoke_chat_invite_link(GROUP, link.invite_link)
    assert revoked.is_revoked and tg.invite_links[link.invite_link]["is_revoked"]


async def test_ban_and_unban_honour_only_if_banned(tg: TelegramServer, bot: Bot) -> None:
    tg.add_member(GROUP, CAROL)
    tg.add_member(GROUP, DAVE)
    assert await bot.unban_chat_member(GROUP, CAROL, only_if_banned=True)
    assert (await bot.get_chat_member(GROUP, CAROL)).status == ChatMember.MEMBER
    assert await bot.ban_chat_member(GROUP, CAROL)
    banned = await bot.get_chat_member(GROUP, CAROL)
    assert isinstance(banned, ChatMemberBanned)
    assert (GROUP, CAROL) in tg.bans
    assert await bot.unban_chat_member(GROUP, CAROL, only_if_banned=True)
    assert (await bot.get_chat_member(GROUP, CAROL)).status == ChatMember.LEFT
    assert (GROUP, CAROL) not in tg.bans
    # Without only_if_banned, "unban" removes a current member: Telegram's documented quirk.
    assert await bot.unban_chat_member(GROUP, DAVE)
    assert (await bot.get_chat_member(GROUP, DAVE)).status == ChatMember.LEFT
    with pytest.raises(BadRequest, match="Can't remove chat owner"):
        await bot.ban_chat_member(GROUP, ALICE)
    with pytest.raises(BadRequest, match="supergroup and channel chats only"):
        await bot.unban_chat_member(BASIC, CAROL)


async def test_commands_are_kept_per_scope_and_language(tg: TelegramServer, bot: Bot) -> None:
    english = [BotCommand("help", "What I can do"), BotCommand("ask", "Ask a question")]
    chinese = [BotCommand("help", "我能做什么")]
    assert await bot.set_my_commands(english)
    assert await bot.set_my_commands(chinese, language_code="zh")
    assert await bot.set_my_commands(english[:1], scope=BotCommandScopeChat(GROUP))
    default = scope_key({"type": "default"})
    assert tg.commands == {
        (default, ""): [c.to_dict() for c in english],
        (default, "zh"): [c.to_dict() for c in chinese],
        (scope_key({"type": "chat", "chat_id": GROUP}), ""): [english[0].to_dict()],
    }
    assert await bot.get_my_commands(language_code="zh") == tuple(chinese)
    assert await bot.get_my_commands(language_code="de") == ()
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Help", "capitals are not allowed")])
    assert await bot.delete_my_commands(language_code="zh")
    assert (default, "zh") not in tg.commands


async def test_photos_upload_as_multipart_and_download_again(tg: TelegramServer, bot: Bot) -> None:
    image = png(64, 32)
    message = await bot.send_photo(
        ALICE, image, caption="<i>Slides</i> for week 1", parse_mode=ParseMode.HTML
    )
    assert message.caption == "Slides for week 1"
    assert message.caption_entities == (MessageEntity("italic", 0, 6),)
    largest = message.photo[-1]
    assert (largest.width, largest.height) == (64, 32)
    [params] = tg.called("sendPhoto")
    assert isinstance(params["photo"], UploadedFile) and params["photo"].data == image
    assert tg.sent(ALICE)[-1]["photo"] == image
    assert tg.sent(ALICE)[-1]["text"] == "<i>Slides</i> for week 1"

    again = await bot.send_photo(BOB, largest.file_id)
    assert again.photo[-1].file_unique_id == largest.file_unique_id
    file = await bot.get_file(largest.file_id)
    assert bytes(await file.download_as_bytearray()) == image
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(ALICE, image, caption="c" * 1025)


async def test_every_object_deserializes_in_ptb(tg: TelegramServer, bot: Bot) -> None:
    kinds = {
        "creator": ChatMemberOwner,
        "administrator": ChatMemberAdministrator,
        "member": ChatMemberMember,
        "restricted": ChatMemberRestricted,
        "left": ChatMemberLeft,
        "kicked": ChatMemberBanned,
    }
    for status, kind in kinds.items():
        tg.add_member(BASIC, CAROL, status)
        assert isinstance(await bot.get_chat_member(BASIC, CAROL), kind)
    tg.add_member(BASIC, ALICE, "creator")
    tg.add_member(BASIC, BOB, "administrator")
    assert isinstance(await bot.get_chat_member(BASIC, BOT_ID), ChatMemberAdministrator)
    assert [m.user.id for m in await bot.get_chat_administrators(BASIC)] == [BOT_ID, ALICE, BOB]
    assert (await bot.get_chat(ALICE)).first_name == "Alice"
    assert (await bot.get_chat(FORUM)).is_forum
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)

    photo = await bot.send_photo(GROUP, "https://example.org/cat.jpg", caption="cat")
    edited = await bot.edit_message_caption(
        GROUP, photo.message_id, caption="<b>cat</b>", parse_mode=ParseMode.HTML
    )
    assert isinstance(edited, Message) and edited.caption == "cat" and edited.edit_date
    assert await bot.pin_chat_message(GROUP, photo.message_id)
    record = tg.sent(GROUP)[-1]
    assert record["pinned"] and record["photo"] == "https://example.org/cat.jpg"
    assert await bot.unpin_chat_message(GROUP)
    assert await bot.leave_chat(BASIC)
    [left] = await bot.get_updates()
    assert left.my_chat_member is not None and left.my_chat_member.new_chat_member.status == "left"
    with pytest.raises(Forbidden, match="bot is not a member of the group chat"):
        await bot.send_message(BASIC, "hello?")


# --- the HTML parser on its own, against tdlib's own test vectors ------------------------------


@pytest.mark.parametrize(
    ("html", "text", "entities"),
    [
        ("➡️ ➡️<i>➡️ ➡️</i>", "➡️ ➡️➡️ ➡️", [("italic", 5, 5)]),
        ("🏟 🏟<i>🏟 &lt🏟</i>", "🏟 🏟🏟 <🏟", [("italic", 5, 6)]),
        (
            "<i><b>a</b> <code>b</code></i>",
            "a b",
            [("italic", 0, 3), ("bold", 0, 1), ("code", 2, 1)],
        ),
        ('<a href="telegram.org">t</a>', "t", [("text_link", 0, 1)]),
        ("<a>telegram.org </a>", "telegram.org", []),
        ('<pre><code class="language-py">x = 1</code></pre>', "x = 1", [("pre", 0, 5)]),
        (
            "<span class=tg-spoiler>s</span><tg-spoiler>t</tg-spoiler>",
            "st",
            [("spoiler", 0, 1), ("spoiler", 1, 1)],
        ),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        ("  <b>padded</b>  ", "padded", [("bold", 0, 6)]),
    ],
)
def test_html_parses_like_telegram(
    html: str, text: str, entities: list[tuple[str, int, int]]
) -> None:
    plain, parsed = parse_html(html)
    assert plain == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        (
            "🏟 🏟&lt;<i    aba>",
            'Expected equal sign in declaration of an attribute of the tag "i" at byte offset 13',
        ),
        ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
        ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
        ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
        ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        (
            "&#57311;",
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units",
        ),
    ],
)
def test_html_errors_match_telegrams(html: str, error: str) -> None:
    with pytest.raises(HtmlError) as caught:
        parse_html(html)
    assert str(caught.value) == error


def test_lenient_html_keeps_bare_ampersands_as_telegram_does() -> None:
    assert parse_html("a & b > c &laquo;", strict=False) == ("a & b > c &laquo;", [])
    with pytest.raises(HtmlError, match='Unescaped ">"'):
        parse_html("a > b")
