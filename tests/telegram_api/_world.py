"""The stand-in's in-memory Telegram: users, chats, members, messages, and the update queue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BOT_ID = 7000
BOT_USERNAME = "CohortTestBot"
BOT_FIRST_NAME = "Cohort"
ANONYMOUS_ADMIN_ID = 1087968824  # Telegram's "GroupAnonymousBot"
STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
IN_CHAT = frozenset({"creator", "administrator", "member", "restricted"})
CHAT_TYPES = frozenset({"private", "group", "supergroup", "channel"})
UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
# What Telegram delivers when allowed_updates was never given (or given as []).
DEFAULT_UPDATE_TYPES = frozenset(UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
DEFAULT_ICON_COLOR = 7322096
_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
)
_RESTRICTED_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
    "can_edit_tag",
    "can_react_to_messages",
)


@dataclass
class Chat:
    """A chat the stand-in knows; private chats exist once their user has started the bot."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    is_forum: bool = False


@dataclass
class Member:
    """One user's standing in one chat."""

    status: str
    until_date: int = 0


@dataclass
class Message:
    """A message in a chat, from a user or from the bot, in Telegram's terms."""

    chat_id: int
    message_id: int
    from_id: int
    date: int
    kind: str  # "text", "photo", "document" or "service"
    text: str | None = None  # as users see it: after entity parsing
    entities: list[dict[str, Any]] = field(default_factory=list)
    source: str | None = None  # as the bot sent it, markup included
    parse_mode: str | None = None
    photo: list[dict[str, Any]] | None = None
    photo_input: bytes | str | None = None
    document: dict[str, Any] | None = None  # file_name, mime_type, data
    reply_markup: dict[str, Any] | None = None
    thread_id: int | None = None
    reply_to: int | None = None
    edit_date: int | None = None
    service: dict[str, Any] | None = None
    method: str | None = None
    deleted: bool = False
    pinned: bool = False

    def record(self) -> dict[str, Any]:
        """Return the inspection view of a bot message (see ``TelegramServer.sent``)."""
        return {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "date": self.date,
            "method": self.method,
            "text": self.source if self.source is not None else (self.text or ""),
            "parse_mode": self.parse_mode,
            "plain": self.text or "",
            "entities": [dict(entity) for entity in self.entities],
            "reply_markup": self.reply_markup,
            "message_thread_id": self.thread_id,
            "reply_to_message_id": self.reply_to,
            "photo": self.photo_input,
            "document": self.document,
            "edited": self.edit_date is not None,
            "deleted": self.deleted,
            "pinned": self.pinned,
        }


def scope_key(scope: dict[str, Any] | None) -> str:
    """Return the canonical JSON of a BotCommandScope, the key used in ``commands``."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True, separators=(",", ":"))


class World:
    """State and Telegram-shaped JSON builders shared by the Bot API methods and test helpers."""

    def __init__(self, *, token: str, clock: Callable[[], float], strict_html: bool) -> None:
        self.token = token
        self.clock = clock
        self.strict_html = strict_html
        self.bot_user: dict[str, Any] = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }
        self.users: dict[int, dict[str, Any]] = {BOT_ID: self.bot_user}
        self.chats: dict[int, Chat] = {}
        self.members: dict[int, dict[int, Member]] = {}
        self.messages: dict[int, dict[int, Message]] = {}
        self.bot_messages: list[Message] = []
        self.sent_per_chat: dict[int, int] = {}  # bot messages per chat, counted as they come
        self.blocked: set[int] = set()
        self.topics: dict[tuple[int, int], dict[str, Any]] = {}
        self.invite_links: dict[str, dict[str, Any]] = {}
        self.join_requests: dict[tuple[int, int], dict[str, Any]] = {}
        self.bans: dict[tuple[int, int], dict[str, Any]] = {}
        # (chat, user) -> the rights a restricted user keeps (restrictChatMember)
        self.restrictions: dict[tuple[int, int], dict[str, bool]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.answered_callbacks: dict[str, dict[str, Any]] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        # (chat, message, user) -> that person's current emoji reactions on the message
        self.reactions: dict[tuple[int, int, int], tuple[str, ...]] = {}
        self.webhook: dict[str, Any] | None = None
        self.closing = False
        self._next_message_id: dict[int, int] = {}
        self._next_update_id = 1
        self._counter = 0
        self._changed = asyncio.Event()

    # --- small utilities ------------------------------------------------------------------

    def now(self) -> int:
        """Return the current Unix time in whole seconds from the injected clock."""
        return int(self.clock())

    def serial(self) -> int:
        """Return a fresh number for ids that only need to be unique."""
        self._counter += 1
        return self._counter

    def notify(self) -> None:
        """Wake everything waiting for a change (long polls)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def changed(self) -> asyncio.Event:
        """Return the event that the next change sets."""
        return self._changed

    # --- people and places ----------------------------------------------------------------

    def user(self, user_id: int) -> dict[str, Any]:
        """Return a known user's JSON or raise KeyError naming the id."""
        try:
            return self.users[user_id]
        except KeyError:
            raise KeyError(f"unknown user {user_id}: call add_user() first") from None

    def chat(self, chat_id: int) -> Chat:
        """Return a known chat or raise KeyError naming the id."""
        try:
            return self.chats[chat_id]
        except KeyError:
            raise KeyError(f"unknown chat {chat_id}: call add_chat() first") from None

    def status(self, chat_id: int, user_id: int) -> str:
        """Return a user's status in a chat ("left" when never seen there)."""
        chat = self.chats.get(chat_id)
        if chat is not None and chat.type == "private":
            if user_id == BOT_ID:
                return "kicked" if chat_id in self.blocked else "member"
            return "member" if user_id == chat_id else "left"
        member = self.members.get(chat_id, {}).get(user_id)
        if member is None:
            return "left"
        if member.status in {"kicked", "restricted"} and 0 < member.until_date <= self.now():
            return "left" if member.status == "kicked" else "member"  # the term has run out
        return member.status

    def set_status(self, chat_id: int, user_id: int, status: str, until_date: int = 0) -> None:
        """Record a user's status in a chat."""
        if status not in STATUSES:
            raise ValueError(f"unknown member status {status!r}; use one of {sorted(STATUSES)}")
        self.members.setdefault(chat_id, {})[user_id] = Member(status, until_date)

    def user_json(self, user_id: int) -> dict[str, Any]:
        """Return the User object for an id."""
        return dict(self.user(user_id))

    def chat_json(self, chat_id: int) -> dict[str, Any]:
        """Return the Chat object as it appears inside messages and updates."""
        chat = self.chat(chat_id)
        data: dict[str, Any] = {"id": chat.id, "type": chat.type}
        if chat.type == "private":
            user = self.user(chat.id)
            data["first_name"] = user["first_name"]
            for key in ("last_name", "username"):
                if user.get(key):
                    data[key] = user[key]
            return data
        if chat.title is not None:
            data["title"] = chat.title
        if chat.username is not None:
            data["username"] = chat.username
        if chat.is_forum:
            data["is_forum"] = True
        return data

    def chat_full_json(self, chat_id: int) -> dict[str, Any]:
        """Return the ChatFullInfo object that getChat answers with."""
        data = self.chat_json(chat_id)
        data.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": True,
                    "limited_gifts": True,
                    "unique_gifts": True,
                    "premium_subscription": True,
                    "gifts_from_channels": True,
                },
            }
        )
        if self.chats[chat_id].type != "private":
            data["permissions"] = {right: True for right in _RESTRICTED_RIGHTS}
        return data

    def member_json(
        self, chat_id: int, user_id: int, status: str | None = None, until_date: int | None = None
    ) -> dict[str, Any]:
        """Return a ChatMember object; status and until_date default to the recorded ones."""
        member = self.members.get(chat_id, {}).get(user_id)
        if status is None:
            status = self.status(chat_id, user_id)
        if until_date is None:
            until_date = member.until_date if member is not None else 0
        data: dict[str, Any] = {"status": status, "user": self.user_json(user_id)}
        if status == "creator":
            data["is_anonymous"] = False
        elif status == "administrator":
            data.update({"can_be_edited": False, "is_anonymous": False})
            data.update({right: True for right in _ADMIN_RIGHTS})
            if user_id != BOT_ID:
                data["can_promote_members"] = False
        elif status == "restricted":
            data["is_member"] = True
            data.update({right: False for right in _RESTRICTED_RIGHTS})
            data["until_date"] = until_date
        elif status == "kicked" or (status == "member" and until_date):
            data["until_date"] = until_date
        return data

    def is_admin(self, chat_id: int, user_id: int = BOT_ID) -> bool:
        """Return whether the user (the bot by default) administers the chat."""
        return self.status(chat_id, user_id) in {"creator", "administrator"}

    # --- messages -------------------------------------------------------------------------

    def new_message_id(self, chat_id: int) -> int:
        """Return the next message id in a chat (ids are per chat and increase)."""
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def store(self, message: Message) -> Message:
        """Keep a message; bot messages other than service messages also count as sent."""
        self.messages.setdefault(message.chat_id, {})[message.message_id] = message
        if message.from_id == BOT_ID and message.kind != "service":
            self.bot_messages.append(message)
            self.sent_per_chat[message.chat_id] = self.sent_per_chat.get(message.chat_id, 0) + 1
        return message

    def find_message(self, chat_id: int, message_id: int) -> Message | None:
        """Return a message that still exists, or None."""
        message = self.messages.get(chat_id, {}).get(message_id)
        return None if message is None or message.deleted else message

    def message_json(self, message: Message, *, nested: bool = True) -> dict[str, Any]:
        """Return the Message object; a replied-to message is nested one level deep."""
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self.user_json(message.from_id),
            "chat": self.chat_json(message.chat_id),
            "date": message.date,
        }
        if message.thread_id is not None:
            data["message_thread_id"] = message.thread_id
            data["is_topic_message"] = True
        reply_to = message.reply_to
        if reply_to is None and message.thread_id not in (None, message.message_id):
            reply_to = message.thread_id  # in a topic, "no reply" means the topic's first message
        if nested and reply_to is not None:
            target = self.find_message(message.chat_id, reply_to)
            if target is not None:
                data["reply_to_message"] = self.message_json(target, nested=False)
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if message.kind == "text":
            data["text"] = message.text or ""
            if message.entities:
                data["entities"] = [dict(entity) for entity in message.entities]
        elif message.kind == "document" and message.document is not None:
            data["document"] = {
                "file_id": message.document["file_id"],
                "file_unique_id": message.document["file_unique_id"],
                "file_name": message.document["file_name"],
                "mime_type": message.document["mime_type"],
                "file_size": len(message.document["data"]),
            }
        if message.kind in ("photo", "document"):
            if message.photo:
                data["photo"] = [dict(size) for size in message.photo]
            if message.text:
                data["caption"] = message.text
                if message.entities:
                    data["caption_entities"] = [dict(entity) for entity in message.entities]
        if message.service:
            data.update(message.service)
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup
        return data

    def topic_of(self, chat_id: int, thread_id: int | None) -> dict[str, Any] | None:
        """Return the forum topic a thread id names, or None."""
        if thread_id is None:
            return None
        return self.topics.get((chat_id, thread_id))

    # --- invite links ---------------------------------------------------------------------

    def link_json(self, link: dict[str, Any]) -> dict[str, Any]:
        """Return the ChatInviteLink object for a stored link."""
        data = {key: value for key, value in link.items() if key not in {"chat_id", "joined"}}
        return {key: value for key, value in data.items() if value is not None}

    # --- updates --------------------------------------------------------------------------

    def queue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Append an update of one kind and wake long polls; return the update."""
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self.updates.append(update)
        self.notify()
        return update

    def member_update(
        self,
        kind: str,
        chat_id: int,
        user_id: int,
        actor_id: int,
        old: dict[str, Any],
        new: dict[str, Any],
        **extra: Any,
    ) -> dict[str, Any]:
        """Queue a chat_member or my_chat_member update."""
        payload: dict[str, Any] = {
            "chat": self.chat_json(chat_id),
            "from": self.user_json(actor_id),
            "date": self.now(),
            "old_chat_member": old,
            "new_chat_member": new,
        }
        payload.update({key: value for key, value in extra.items() if value is not None})
        return self.queue(kind, payload)

    def change_status(
        self,
        chat_id: int,
        user_id: int,
        status: str,
        *,
        actor_id: int,
        until_date: int = 0,
        **extra: Any,
    ) -> None:
        """Change a user's status and queue the matching chat_member/my_chat_member update."""
        old = self.member_json(chat_id, user_id)
        self.set_status(chat_id, user_id, status, until_date)
        new = self.member_json(chat_id, user_id)
        if old == new:
            return
        kind = "my_chat_member" if user_id == BOT_ID else "chat_member"
        self.member_update(kind, chat_id, user_id, actor_id, old, new, **extra)

    def service_message(
        self, chat_id: int, from_id: int, content: dict[str, Any], *, thread_id: int | None = None
    ) -> Message:
        """Store a service message (joins, leaves, topic events) in a chat."""
        return self.store(
            Message(
                chat_id=chat_id,
                message_id=self.new_message_id(chat_id),
                from_id=from_id,
                date=self.now(),
                kind="service",
                service=content,
                thread_id=thread_id,
            )
        )
