"""A local Telegram Bot API server on loopback for driving the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import socket
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.telegram_api._html import utf16_len
from tests.telegram_api._methods import BotApi
from tests.telegram_api._params import ApiError, Params, read_params
from tests.telegram_api._webhook import WebhookSender
from tests.telegram_api._world import (
    ANONYMOUS_ADMIN_ID,
    BOT_ID,
    CHAT_TYPES,
    DEFAULT_ICON_COLOR,
    IN_CHAT,
    Chat,
    Message,
    World,
)

log = logging.getLogger(__name__)

DEFAULT_TOKEN = f"{BOT_ID}:AAcohort-test-token"
_API_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[^/]*)")
_FILE_PATH = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)")
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def command_entities(text: str) -> list[dict[str, Any]]:
    """Return the bot_command entity Telegram marks on text that starts with a command."""
    match = _COMMAND.match(text)
    if match is None:
        return []
    rest = text[match.end() : match.end() + 1]
    if rest and (rest.isalnum() or rest in "_/<>@"):
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}]


class TelegramServer(World):
    """A Telegram Bot API stand-in: real HTTP on 127.0.0.1, in-memory Telegram behind it.

    Use ``async with TelegramServer() as tg:`` and point PTB at ``tg.base_url`` and
    ``tg.base_file_url``. Tests arrange the world with ``add_user``/``add_chat``/``add_member``,
    act as people with ``user_says``/``press``/``user_joins``/…, and inspect what the bot did
    with ``sent()``, ``calls``, ``answered_callbacks``, ``commands``, ``topics``,
    ``invite_links``, ``join_requests`` and ``bans``. Once the bot sets a webhook and the test
    names the addresses behind it (``webhook.targets``), updates are posted there (``_webhook``).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        clock: Callable[[], float] = time.time,
        strict_html: bool = True,
        max_poll_wait: float = 2.0,
    ) -> None:
        super().__init__(token=token, clock=clock, strict_html=strict_html)
        self.api = BotApi(self, max_poll_wait=max_poll_wait)
        self.webhook_sender = WebhookSender(self)
        self.server_errors: list[BaseException] = []
        self.cpu_seconds = 0.0  # CPU the stand-in spent building answers, for benchmarks
        self.port = 0
        self._failures: dict[str, deque[ApiError]] = {}
        self._slow: dict[str, float] = {}
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return the Bot API base URL to give PTB (it appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Return the file download base URL to give PTB (it appends the token)."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> None:
        """Listen on an OS-chosen port on 127.0.0.1."""
        if self._runner is not None:
            raise RuntimeError("the Telegram stand-in is already running")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner, self._socket = runner, sock
        self.port = sock.getsockname()[1]
        self.closing = False

    async def stop(self) -> None:
        """Answer pending long polls at once and close the server."""
        self.closing = True
        self.notify()
        await self.webhook_sender.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
        if exc_type is None and self.server_errors:
            raise AssertionError(
                f"the Telegram stand-in failed while serving: {self.server_errors[0]!r}"
            ) from self.server_errors[0]

    # --- HTTP -------------------------------------------------------------------------------

    @staticmethod
    def _error(error: ApiError) -> web.Response:
        return web.json_response(error.body(), status=error.code)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        match = _API_PATH.fullmatch(request.path)
        if match is None:
            file_match = _FILE_PATH.fullmatch(request.path)
            if file_match is not None and request.method in {"GET", "HEAD"}:
                return self._serve_file(file_match["token"], file_match["path"])
            return self._error(ApiError(404, "Not Found"))
        if match["token"] != self.token:
            return self._error(ApiError(401, "Unauthorized"))
        try:
            params = await read_params(request)
        except ApiError as error:
            return self._error(error)
        entry = self.api.handlers.get(match["method"].lower())
        method = entry[0] if entry is not None else match["method"]
        self.calls.append((method, params))
        if entry is None:
            return self._error(ApiError(404, "Not Found"))
        queued = self._failures.get(method.lower())
        if queued:
            return self._error(queued.popleft())
        try:
            started = time.thread_time()  # the stand-in's own work (not what it awaits)
            result = entry[1](Params(params))
            self.cpu_seconds += time.thread_time() - started
            if inspect.isawaitable(result):
                result = await result
        except ApiError as error:
            return self._error(error)
        except Exception as exc:
            log.exception("telegram stand-in: %s failed", method)
            self.server_errors.append(exc)
            return self._error(ApiError(500, f"Internal Server Error: {exc!r}"))
        if method == "setWebhook":
            self.webhook_sender.start()  # delivery runs once a webhook was ever set
        delay = self._slow.get(method.lower())
        if delay:
            await asyncio.sleep(delay)  # done already: a caller that dies now never learns it
        started = time.thread_time()
        response = web.json_response({"ok": True, "result": result})
        self.cpu_seconds += time.thread_time() - started
        return response

    def _serve_file(self, token: str, path: str) -> web.Response:
        if token != self.token:
            return self._error(ApiError(401, "Unauthorized"))
        for file in self.files.values():
            if file["file_path"] == path and file["data"] is not None:
                return web.Response(body=file["data"], content_type="application/octet-stream")
        return self._error(ApiError(404, "Not Found"))

    # --- arranging the world ----------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        username: str | None = None,
        language_code: str | None = None,
        *,
        last_name: str | None = None,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Add a Telegram user and return its User JSON (no private chat until it starts us)."""
        if user_id == BOT_ID:
            raise ValueError(f"{BOT_ID} is the bot itself")
        user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        for key, value in (
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is not None:
                user[key] = value
        self.users[user_id] = user
        return dict(user)

    def add_chat(
        self,
        chat_id: int,
        type: str,
        title: str | None = None,
        is_forum: bool = False,
        *,
        username: str | None = None,
        bot_status: str = "administrator",
    ) -> dict[str, Any]:
        """Add a chat and return its Chat JSON.

        A private chat's id is its user's id, and adding it means the user has started the
        bot. In other chats the bot gets ``bot_status`` (an administrator by default).
        """
        if type not in CHAT_TYPES:
            raise ValueError(f"unknown chat type {type!r}; use one of {sorted(CHAT_TYPES)}")
        if is_forum and type != "supergroup":
            raise ValueError("only supergroups can be forums")
        if type == "private":
            self.user(chat_id)
            self.chats[chat_id] = Chat(chat_id, "private")
        else:
            title = title or f"Chat {chat_id}"
            self.chats[chat_id] = Chat(chat_id, type, title, username, is_forum)
            self.set_status(chat_id, BOT_ID, bot_status)
            # Message 1 is the creation notice, so real messages (and topics) start at 2.
            created = "group_chat_created" if type == "group" else f"{type}_chat_created"
            self.service_message(chat_id, self._anonymous_admin(), {created: True})
        return self.chat_json(chat_id)

    def add_member(
        self, chat_id: int, user_id: int, status: str = "member", *, until_date: int = 0
    ) -> None:
        """Make a user a member (or owner, admin, restricted, left, kicked) without any update."""
        chat = self.chat(chat_id)
        self.user(user_id)
        if chat.type == "private":
            raise ValueError("private chats have no members to add")
        self.set_status(chat_id, user_id, status, until_date)

    # --- people acting ----------------------------------------------------------------------

    def _start_private(self, user_id: int) -> None:
        """Open the user's private chat (they pressed Start) and lift a block."""
        if user_id not in self.chats:
            self.chats[user_id] = Chat(user_id, "private")
        if user_id in self.blocked:
            self.unblock_bot(user_id)

    def _check_can_post(self, chat: Chat, user_id: int) -> None:
        if chat.type == "private":
            if chat.id != user_id:
                raise ValueError(f"user {user_id} can't write in {chat.id}'s private chat")
            return
        if chat.type == "channel":
            raise ValueError("users don't post in channels; use a group or supergroup")
        if user_id not in self.members.get(chat.id, {}):
            self.set_status(chat.id, user_id, "member")
        status = self.status(chat.id, user_id)
        if status not in IN_CHAT:
            raise ValueError(f"user {user_id} is {status!r} in chat {chat.id} and can't post")
        kept = self.restrictions.get((chat.id, user_id))
        if status == "restricted" and kept is not None and not kept["can_send_messages"]:
            raise ValueError(f"user {user_id} is muted in chat {chat.id} and can't post")

    def user_says(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        thread_id: int | None = None,
        reply_to_message_id: int | None = None,
        caption: bool = False,
        edited: bool = False,
    ) -> dict[str, Any]:
        """Queue a ``message`` update from a user and return the Message JSON.

        Text starting with ``/cmd`` or ``/cmd@bot`` gets a bot_command entity. ``caption``
        sends a photo with ``text`` as its caption. ``edited`` instead edits the user's latest
        message in that chat to ``text`` and queues an ``edited_message`` update. Writing in
        one's own private chat starts the bot (and lifts a block). A user with no standing in
        a group becomes a member; banned or departed users can't post.
        """
        self.user(user_id)
        if chat_id == user_id:
            self._start_private(user_id)
        chat = self.chat(chat_id)
        self._check_can_post(chat, user_id)
        entities = command_entities(text)
        if edited:
            mine = [
                m
                for m in self.messages.get(chat_id, {}).values()
                if m.from_id == user_id and not m.deleted and m.kind != "service"
            ]
            if not mine:
                raise ValueError(f"user {user_id} has no message in chat {chat_id} to edit")
            message = max(mine, key=lambda m: m.message_id)
            message.text, message.entities, message.edit_date = text, entities, self.now()
            payload = self.message_json(message)
            self.queue("edited_message", payload)
            return payload
        reply = None
        if reply_to_message_id is not None:
            reply = self.find_message(chat_id, reply_to_message_id)
            if reply is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            if thread_id is None and chat.is_forum:
                thread_id = reply.thread_id
        if thread_id is not None:
            topic = self.topic_of(chat_id, thread_id) if chat.is_forum else None
            if topic is None:
                raise ValueError(f"chat {chat_id} has no forum topic {thread_id}")
            if topic["closed"] and not self.is_admin(chat_id, user_id):
                raise ValueError(f"topic {thread_id} is closed")
        photo = None
        if caption:
            photo = self.api.photo_sizes(self.api.new_file(b"", "photos"))
        message = self.store(
            Message(
                chat_id=chat_id,
                message_id=self.new_message_id(chat_id),
                from_id=user_id,
                date=self.now(),
                kind="photo" if caption else "text",
                text=text,
                entities=entities,
                photo=photo,
                thread_id=thread_id,
                reply_to=reply_to_message_id,
            )
        )
        payload = self.message_json(message)
        self.queue("message", payload)
        return payload

    def user_creates_topic(
        self, chat_id: int, user_id: int, name: str, *, icon_color: int = DEFAULT_ICON_COLOR
    ) -> int:
        """Open a forum topic as a user and queue its creation message; return the thread id."""
        chat = self.chat(chat_id)
        if not chat.is_forum:
            raise ValueError(f"chat {chat_id} is not a forum")
        self._check_can_post(chat, user_id)
        created = {"name": name, "icon_color": icon_color}
        message = self.service_message(chat_id, user_id, {"forum_topic_created": created})
        message.thread_id = message.message_id
        self.topics[(chat_id, message.message_id)] = {
            "chat_id": chat_id,
            "message_thread_id": message.message_id,
            "name": name,
            "icon_color": icon_color,
            "icon_custom_emoji_id": None,
            "closed": False,
        }
        self.queue("message", self.message_json(message))
        return message.message_id

    def press(self, chat_id: int, user_id: int, message_id: int, data: str) -> str:
        """Queue a ``callback_query`` for a bot message and return the query id.

        ``data`` need not be on the message's current keyboard: a client still showing an
        older keyboard sends what that one carried.
        """
        self.user(user_id)
        message = self.find_message(chat_id, message_id)
        if message is None or message.from_id != BOT_ID or message.kind == "service":
            raise ValueError(f"no bot message {message_id} in chat {chat_id} to press")
        if self.chat(chat_id).type == "private" and chat_id != user_id:
            raise ValueError(f"user {user_id} can't see {chat_id}'s private chat")
        query_id = str(4_200_000_000_000_000_000 + self.serial())
        payload = {
            "id": query_id,
            "from": self.user_json(user_id),
            "message": self.message_json(message),
            "chat_instance": str((chat_id * 2_654_435_761) % 10**19),
            "data": data,
        }
        self.callback_queries[query_id] = {
            "chat_id": chat_id,
            "message_id": message_id,
            "user_id": user_id,
            "data": data,
        }
        self.queue("callback_query", payload)
        return query_id

    def _usable_link(self, chat_id: int, invite_link: str) -> dict[str, Any]:
        link = self.invite_links.get(invite_link)
        if link is None or link["chat_id"] != chat_id:
            raise ValueError(f"{invite_link} is not an invite link of chat {chat_id}")
        if link["is_revoked"]:
            raise ValueError(f"{invite_link} has been revoked")
        if link.get("expire_date") and link["expire_date"] <= self.now():
            raise ValueError(f"{invite_link} has expired")
        return link

    def _join_message(self, chat: Chat, user_id: int) -> None:
        if chat.type in {"group", "supergroup"}:
            joined = {"new_chat_members": [self.user_json(user_id)]}
            self.queue("message", self.message_json(self.service_message(chat.id, user_id, joined)))

    def user_joins(
        self,
        chat_id: int,
        user_id: int,
        *,
        invite_link: str | None = None,
        service_message: bool = True,
    ) -> None:
        """Queue a ``chat_member`` update (left → member) and, in groups, a join message."""
        chat = self.chat(chat_id)
        self.user(user_id)
        if chat.type == "private":
            raise ValueError("nobody joins a private chat; use add_chat(user_id, 'private')")
        status = self.status(chat_id, user_id)
        if status in IN_CHAT:
            raise ValueError(f"user {user_id} is already in chat {chat_id}")
        if status == "kicked":
            raise ValueError(f"user {user_id} is banned from chat {chat_id}")
        link = None
        if invite_link is not None:
            link = self._usable_link(chat_id, invite_link)
            if link["creates_join_request"]:
                raise ValueError(f"{invite_link} needs approval: use request_join()")
            if link.get("member_limit") and link["joined"] >= link["member_limit"]:
                raise ValueError(f"{invite_link} has reached its member limit")
            link["joined"] += 1
        self.change_status(
            chat_id,
            user_id,
            "member",
            actor_id=user_id,
            invite_link=self.link_json(link) if link is not None else None,
        )
        if service_message:
            self._join_message(chat, user_id)

    def user_leaves(self, chat_id: int, user_id: int, *, service_message: bool = True) -> None:
        """Queue a ``chat_member`` update (member → left) and, in groups, a leave message."""
        chat = self.chat(chat_id)
        self.user(user_id)
        if self.status(chat_id, user_id) not in IN_CHAT:
            raise ValueError(f"user {user_id} is not in chat {chat_id}")
        self.change_status(chat_id, user_id, "left", actor_id=user_id)
        if service_message and chat.type in {"group", "supergroup"}:
            left = {"left_chat_member": self.user_json(user_id)}
            self.queue("message", self.message_json(self.service_message(chat_id, user_id, left)))

    def user_reacts(
        self, chat_id: int, user_id: int, message_id: int, emojis: tuple[str, ...]
    ) -> None:
        """Set a person's reactions on a message; queue ``message_reaction`` (old and new).

        Like Telegram, the update goes to the bot only where it is an administrator.
        """
        chat = self.chat(chat_id)
        self.user(user_id)
        if self.find_message(chat_id, message_id) is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        key = (chat_id, message_id, user_id)
        old = self.reactions.get(key, ())
        self.reactions[key] = emojis
        if chat.type == "private" or not self.is_admin(chat_id):
            return
        self.queue(
            "message_reaction",
            {
                "chat": self.chat_json(chat_id),
                "message_id": message_id,
                "user": self.user_json(user_id),
                "date": self.now(),
                "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
                "new_reaction": [{"type": "emoji", "emoji": e} for e in emojis],
            },
        )

    def request_join(
        self, chat_id: int, user_id: int, invite_link: str | None = None
    ) -> dict[str, Any]:
        """Queue a ``chat_join_request`` and return it; the request stays pending until answered."""
        chat = self.chat(chat_id)
        self.user(user_id)
        if chat.type == "private":
            raise ValueError("nobody asks to join a private chat")
        status = self.status(chat_id, user_id)
        if status in IN_CHAT or status == "kicked":
            raise ValueError(f"user {user_id} is {status!r} in chat {chat_id}")
        payload: dict[str, Any] = {
            "chat": self.chat_json(chat_id),
            "from": self.user_json(user_id),
            "user_chat_id": user_id,
            "date": self.now(),
        }
        if invite_link is not None:
            link = self._usable_link(chat_id, invite_link)
            if not link["creates_join_request"]:
                raise ValueError(f"{invite_link} lets people straight in: use user_joins()")
            payload["invite_link"] = self.link_json(link)
        self.join_requests[(chat_id, user_id)] = {
            "chat_id": chat_id,
            "user_id": user_id,
            "invite_link": invite_link,
            "date": payload["date"],
            "status": "pending",
        }
        self.queue("chat_join_request", payload)
        return payload

    def bot_status(self, chat_id: int, status: str, *, by_user_id: int | None = None) -> None:
        """Change the bot's own status in a group and queue ``my_chat_member``."""
        chat = self.chat(chat_id)
        if chat.type == "private":
            raise ValueError("in private chats use block_bot() / unblock_bot()")
        if by_user_id is None:
            owners = [
                uid for uid, m in self.members.get(chat_id, {}).items() if m.status == "creator"
            ]
            by_user_id = owners[0] if owners else self._anonymous_admin()
        self.change_status(chat_id, BOT_ID, status, actor_id=by_user_id)

    def _anonymous_admin(self) -> int:
        self.users.setdefault(
            ANONYMOUS_ADMIN_ID,
            {
                "id": ANONYMOUS_ADMIN_ID,
                "is_bot": True,
                "first_name": "Group",
                "username": "GroupAnonymousBot",
            },
        )
        return ANONYMOUS_ADMIN_ID

    def block_bot(self, user_id: int) -> None:
        """Make the user block the bot; sending to them then fails with 403."""
        self.user(user_id)
        if user_id in self.blocked:
            return
        if user_id in self.chats:
            old = self.member_json(user_id, BOT_ID)
            self.blocked.add(user_id)
            new = self.member_json(user_id, BOT_ID)
            self.member_update("my_chat_member", user_id, BOT_ID, user_id, old, new)
        else:
            self.blocked.add(user_id)

    def unblock_bot(self, user_id: int) -> None:
        """Make the user unblock the bot."""
        self.user(user_id)
        if user_id not in self.blocked:
            return
        if user_id in self.chats:
            old = self.member_json(user_id, BOT_ID)
            self.blocked.discard(user_id)
            new = self.member_json(user_id, BOT_ID)
            self.member_update("my_chat_member", user_id, BOT_ID, user_id, old, new)
        else:
            self.blocked.discard(user_id)

    # --- steering the server ----------------------------------------------------------------

    def send_unreadable(self, chat_id: int, user_id: int, text: str = "hello there") -> int:
        """Queue a message update in a shape python-telegram-bot cannot read; return its id.

        Its text entity lacks ``offset`` and ``length``, as an update from a broken proxy or a
        Bot API version ahead of the library's might: PTB raises while parsing it.
        """
        self.user_says(chat_id, user_id, text)
        update = self.updates[-1]
        update["message"]["entities"] = [{"type": "bold"}]
        return int(update["update_id"])

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with this error instead of running.

        A 429 always carries ``parameters.retry_after`` (1 unless given), as Telegram's do;
        the description defaults to Telegram's wording for the code.
        """
        if error_code == 429:
            retry_after = 1 if retry_after is None else retry_after
            default = f"Too Many Requests: retry after {retry_after}"
        else:
            default = _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        error = ApiError(error_code, description or default, retry_after=retry_after)
        self._failures.setdefault(method.lower(), deque()).extend([error] * times)

    def answer_slowly(self, method: str, seconds: float) -> None:
        """Do each call of ``method`` at once but answer it only ``seconds`` later (0: at once).

        As with a slow network, the message exists before the bot hears back about it.
        """
        self._slow[method.lower()] = seconds

    # --- inspecting -------------------------------------------------------------------------

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Return the bot's messages (all chats, or one), oldest first, in their current state.

        Each is a dict: ``chat_id``, ``message_id``, ``date``, ``method`` (sendMessage or
        sendPhoto), ``text`` (text or caption exactly as the bot sent it, markup included),
        ``parse_mode``, ``plain`` (what users see), ``entities``, ``reply_markup``,
        ``message_thread_id``, ``reply_to_message_id``, ``photo`` (uploaded bytes, or the URL
        or file_id given), ``edited``, ``deleted``, ``pinned``.
        """
        return [
            message.record()
            for message in self.bot_messages
            if chat_id is None or message.chat_id == chat_id
        ]

    def sent_count(self, chat_id: int | None = None) -> int:
        """Return how many messages the bot sent (all chats, or one), in constant time."""
        return len(self.bot_messages) if chat_id is None else self.sent_per_chat.get(chat_id, 0)

    def sent_since(self, count: int) -> list[dict[str, Any]]:
        """Return the bot's messages after the first ``count`` (all chats), oldest first."""
        return [message.record() for message in self.bot_messages[count:]]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Return a message's current Message JSON, or None once deleted or if unknown."""
        found = self.find_message(chat_id, message_id)
        return self.message_json(found) if found is not None else None

    def buttons(self, chat_id: int, message_id: int) -> list[dict[str, Any]]:
        """Return the inline keyboard buttons of a message, row by row, flattened."""
        found = self.find_message(chat_id, message_id)
        markup = (found.reply_markup if found is not None else None) or {}
        return [dict(button) for row in markup.get("inline_keyboard", []) for button in row]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Return the updates the bot has not confirmed yet."""
        return list(self.updates)

    def called(self, method: str) -> list[dict[str, Any]]:
        """Return the parameters of every call of one method, in order."""
        return [params for name, params in self.calls if name.lower() == method.lower()]

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,  # noqa: ASYNC109 - a test's deadline, not a cancel scope
        *,
        interval: float = 0.01,
    ) -> Any:
        """Poll ``predicate`` until it returns something truthy and return that."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            if loop.time() >= deadline:
                break
            await asyncio.sleep(interval)
        recent = ", ".join(name for name, _ in self.calls[-8:]) or "none"
        raise AssertionError(
            f"condition not met within {timeout:g}s; last Bot API calls: {recent}; "
            f"unconfirmed updates: {len(self.updates)}; stand-in errors: {self.server_errors}"
        )
