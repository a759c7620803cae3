"""The Bot API methods the stand-in serves, with Telegram's validation and error texts."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from tests.telegram_api._html import HtmlError, check_url, parse_html, trim, utf16_len
from tests.telegram_api._moderation import ModerationMethods
from tests.telegram_api._params import ApiError, Params, UploadedFile, bad_request
from tests.telegram_api._world import (
    BOT_ID,
    DEFAULT_ICON_COLOR,
    DEFAULT_UPDATE_TYPES,
    IN_CHAT,
    UPDATE_TYPES,
    Chat,
    Message,
    World,
    scope_key,
)

Handler = Callable[[Params], Any | Awaitable[Any]]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
DOCUMENT_LIMIT = 50 * 1024 * 1024  # what a bot may upload
CALLBACK_DATA_LIMIT = 64
TOAST_LIMIT = 200
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_CHAT_KIND = {"group": "group chat", "supergroup": "supergroup chat", "channel": "channel chat"}
_PNG = b"\x89PNG\r\n\x1a\n"


def image_size(data: bytes | None) -> tuple[int, int]:
    """Return a PNG's width and height, or a plausible default for anything else."""
    if data and data.startswith(_PNG) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return 800, 600


class BotApi:
    """Serve Bot API methods against a World."""

    def __init__(self, world: World, *, max_poll_wait: float) -> None:
        self.w = world
        self.max_poll_wait = max_poll_wait
        self._poll_generation = 0
        moderation = ModerationMethods(self)
        table: list[tuple[str, Handler]] = [
            ("getMe", self.get_me),
            ("logOut", self.ok),
            ("close", self.ok),
            ("getUpdates", self.get_updates),
            ("setWebhook", self.set_webhook),
            ("deleteWebhook", self.delete_webhook),
            ("getWebhookInfo", self.get_webhook_info),
            ("setMyCommands", self.set_my_commands),
            ("getMyCommands", self.get_my_commands),
            ("deleteMyCommands", self.delete_my_commands),
            ("sendMessage", self.send_message),
            ("sendPhoto", self.send_photo),
            ("sendDocument", self.send_document),
            ("editMessageText", self.edit_message_text),
            ("editMessageCaption", self.edit_message_caption),
            ("editMessageReplyMarkup", self.edit_message_reply_markup),
            ("deleteMessage", self.delete_message),
            ("answerCallbackQuery", self.answer_callback_query),
            ("sendChatAction", self.send_chat_action),
            ("pinChatMessage", self.pin_chat_message),
            ("unpinChatMessage", self.unpin_chat_message),
            ("unpinAllChatMessages", self.unpin_all_chat_messages),
            ("getChat", self.get_chat),
            ("getChatMember", self.get_chat_member),
            ("getChatMemberCount", self.get_chat_member_count),
            ("getChatAdministrators", self.get_chat_administrators),
            ("leaveChat", self.leave_chat),
            ("banChatMember", self.ban_chat_member),
            ("unbanChatMember", self.unban_chat_member),
            ("restrictChatMember", moderation.restrict_chat_member),
            ("deleteMessages", moderation.delete_messages),
            ("createForumTopic", self.create_forum_topic),
            ("editForumTopic", self.edit_forum_topic),
            ("closeForumTopic", self.close_forum_topic),
            ("reopenForumTopic", self.reopen_forum_topic),
            ("deleteForumTopic", self.delete_forum_topic),
            ("exportChatInviteLink", self.export_chat_invite_link),
            ("createChatInviteLink", self.create_chat_invite_link),
            ("editChatInviteLink", self.edit_chat_invite_link),
            ("revokeChatInviteLink", self.revoke_chat_invite_link),
            ("approveChatJoinRequest", self.approve_chat_join_request),
            ("declineChatJoinRequest", self.decline_chat_join_request),
            ("getFile", self.get_file),
        ]
        self.handlers: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in table
        }

    # --- resolving chats, messages, topics --------------------------------------------------

    def chat(self, p: Params, name: str = "chat_id") -> Chat:
        """Resolve a chat_id (number or @username) or fail with "chat not found"."""
        ref = p.chat_ref(name)
        if isinstance(ref, str):
            wanted = ref[1:].lower()
            for known in self.w.chats.values():
                if known.username and known.username.lower() == wanted:
                    return known
            raise bad_request("chat not found")
        found = self.w.chats.get(ref)
        if found is None:
            raise bad_request("chat not found")
        return found

    def target(self, p: Params) -> Chat:
        """Resolve a chat the bot is about to write to, failing as Telegram does when it can't."""
        ref = p.chat_ref()
        if isinstance(ref, int) and ref != BOT_ID and ref in self.w.users:
            if ref in self.w.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if ref not in self.w.chats:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        chat = self.chat(p)
        self.check_present(chat)
        return chat

    def check_present(self, chat: Chat) -> None:
        """Fail with 403 when the bot is not (or no longer) in the chat."""
        if chat.type == "private":
            if chat.id in self.w.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            return
        status = self.w.status(chat.id, BOT_ID)
        if status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {_CHAT_KIND[chat.type]}")
        if status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {_CHAT_KIND[chat.type]}")
        if chat.type == "channel" and not self.w.is_admin(chat.id):
            raise bad_request("need administrator rights in the channel chat")

    def require_admin(self, chat: Chat, what: str) -> None:
        """Fail unless the bot is in the chat and administers it."""
        self.check_present(chat)
        if chat.type != "private" and not self.w.is_admin(chat.id):
            raise bad_request(what)

    def reply_target(self, chat: Chat, p: Params) -> Message | None:
        """Resolve reply_parameters (or the older reply_to_message_id)."""
        allow = p.bool_("allow_sending_without_reply")
        message_id: int | None
        if p.has("reply_parameters"):
            params = p.json_("reply_parameters", "reply parameters")
            if not isinstance(params, dict):
                raise bad_request("can't parse reply parameters JSON object")
            reply = Params(params)
            message_id = reply.require_int("message_id")
            allow = allow or reply.bool_("allow_sending_without_reply")
            if reply.has("chat_id") and self.chat(reply).id != chat.id:
                raise bad_request("message to be replied not found")
        else:
            message_id = p.int_("reply_to_message_id")
        if message_id is None:
            return None
        found = self.w.find_message(chat.id, message_id)
        if found is None and not allow:
            raise bad_request("message to be replied not found")
        return found

    def thread(self, chat: Chat, p: Params, reply: Message | None) -> int | None:
        """Resolve message_thread_id: a forum topic that exists and is open."""
        thread_id = p.int_("message_thread_id")
        if thread_id is None and reply is not None and chat.is_forum:
            thread_id = reply.thread_id
        if thread_id is None or (chat.is_forum and thread_id == 1):  # 1 is the General topic
            return None
        topic = self.w.topic_of(chat.id, thread_id) if chat.is_forum else None
        if topic is None:
            raise bad_request("message thread not found")
        if topic["closed"]:
            raise bad_request("TOPIC_CLOSED")
        return thread_id

    def topic(self, chat: Chat, p: Params) -> dict[str, Any]:
        """Resolve a forum topic named by message_thread_id."""
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        topic = self.w.topic_of(chat.id, p.require_int("message_thread_id"))
        if topic is None:
            raise bad_request("message thread not found")
        return topic

    # --- text, markup, files ----------------------------------------------------------------

    def format(
        self, text: str, p: Params, entities_param: str
    ) -> tuple[str, list[dict[str, Any]], str | None]:
        """Apply parse_mode (or explicit entities); return plain text, entities, parse mode."""
        mode = p.str_("parse_mode")
        lowered = (mode or "").lower()
        if lowered == "html":
            try:
                plain, entities = parse_html(text, strict=self.w.strict_html)
            except HtmlError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
            for entity in entities:
                if entity["type"] == "text_mention" and entity["user"]["id"] in self.w.users:
                    entity["user"] = self.w.user_json(entity["user"]["id"])
            return plain, entities, mode
        if lowered not in {"", "markdown", "markdownv2"}:
            raise bad_request("unsupported parse_mode")
        explicit: list[dict[str, Any]] = []
        if not lowered and p.has(entities_param):
            given = p.json_(entities_param, "entities")
            if not isinstance(given, list) or not all(
                isinstance(e, dict)
                and isinstance(e.get("type"), str)
                and isinstance(e.get("offset"), int)
                and isinstance(e.get("length"), int)
                for e in given
            ):
                raise bad_request("can't parse entities JSON object")
            explicit = [dict(e) for e in given]
        plain, entities = trim(text, explicit)
        return plain, entities, mode

    def markup(self, p: Params) -> dict[str, Any] | None:
        """Parse reply_markup and check its shape (button contents are checked later)."""
        if not p.has("reply_markup"):
            return None
        markup = p.json_("reply_markup", "reply keyboard markup")
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            for row in rows:
                for button in row:
                    self._button_shape(button)
        elif not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup

    @staticmethod
    def _button_shape(button: Any) -> None:
        prefix = "can't parse inline keyboard button: "
        if not isinstance(button, dict):
            raise bad_request(prefix + "InlineKeyboardButton must be an Object")
        if "text" not in button:
            raise bad_request(prefix + 'Can\'t find field "text"')
        if not isinstance(button["text"], str):
            raise bad_request(prefix + 'Field "text" must be of type String')
        if not any(button.get(key) not in (None, "", False) for key in BUTTON_ACTIONS):
            raise bad_request(prefix + "Text buttons are unallowed in the inline keyboard")

    @staticmethod
    def check_buttons(markup: dict[str, Any] | None) -> None:
        """Check button contents as Telegram does once the message is being sent."""
        if not markup or "inline_keyboard" not in markup:
            return
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if data not in (None, "") and (
                    not isinstance(data, str) or len(data.encode("utf-8")) > CALLBACK_DATA_LIMIT
                ):
                    raise bad_request("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url not in (None, "") and (not isinstance(url, str) or check_url(url) is None):
                    raise bad_request("BUTTON_URL_INVALID")

    def new_file(
        self, data: bytes | None, folder: str, *, url: str | None = None
    ) -> dict[str, Any]:
        """Store an uploaded (or URL-given) file and return its record."""
        number = self.w.serial()
        width, height = image_size(data)
        extension = ".png" if data and data.startswith(_PNG) else ".jpg"
        record: dict[str, Any] = {
            "file_id": f"AgACAgIAAx{number:08d}",
            "file_unique_id": f"AQAD{number:06d}",
            "file_size": len(data) if data is not None else 0,
            "file_path": f"{folder}/file_{number}{extension}",
            "width": width,
            "height": height,
            "data": data,
            "url": url,
        }
        self.w.files[record["file_id"]] = record
        return record

    @staticmethod
    def photo_sizes(file: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the PhotoSize list for a stored photo."""
        return [
            {
                "file_id": file["file_id"],
                "file_unique_id": file["file_unique_id"],
                "file_size": file["file_size"],
                "width": file["width"],
                "height": file["height"],
            }
        ]

    def post(
        self, chat: Chat, thread_id: int | None, reply: Message | None, **fields: Any
    ) -> Message:
        """Store a message from the bot and return it."""
        return self.w.store(
            Message(
                chat_id=chat.id,
                message_id=self.w.new_message_id(chat.id),
                from_id=BOT_ID,
                date=self.w.now(),
                thread_id=thread_id,
                reply_to=reply.message_id if reply is not None else None,
                **fields,
            )
        )

    def editable(self, p: Params) -> Message:
        """Resolve the bot message an edit method names."""
        if p.has("inline_message_id") and not p.has("chat_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self.chat(p)
        message_id = p.int_("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = self.w.find_message(chat.id, message_id)
        if message is None:
            raise bad_request("message to edit not found")
        if message.from_id != BOT_ID or message.kind == "service":
            raise bad_request("message can't be edited")
        return message

    # --- bot and updates --------------------------------------------------------------------

    @staticmethod
    def ok(_p: Params) -> bool:
        """Answer true (logOut, close)."""
        return True

    def get_me(self, _p: Params) -> dict[str, Any]:
        """Answer getMe."""
        return {
            **self.w.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def get_updates(self, p: Params) -> list[dict[str, Any]]:
        """Answer getUpdates: confirm by offset, then long-poll for up to ``timeout`` seconds."""
        if self.w.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = p.int_("offset") or 0
        limit = p.int_("limit") or 100
        limit = min(max(limit, 1), 100)
        timeout = max(p.number("timeout") or 0.0, 0.0)
        if p.has("allowed_updates"):
            allowed = p.json_("allowed_updates", "allowed_updates")
            if not isinstance(allowed, list):
                raise bad_request("can't parse allowed_updates JSON object")
            chosen = frozenset(str(kind) for kind in allowed) & frozenset(UPDATE_TYPES)
            self.w.allowed_updates = chosen or DEFAULT_UPDATE_TYPES
        self._poll_generation += 1
        generation = self._poll_generation
        self.w.notify()  # an older long poll learns it has been superseded
        if offset > 0:
            self.w.updates = [u for u in self.w.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.w.updates = self.w.updates[offset:]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(timeout, self.max_poll_wait)
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            self.w.updates = [u for u in self.w.updates if _kind(u) in self.w.allowed_updates]
            batch = self.w.updates[:limit]
            remaining = deadline - loop.time()
            if batch or self.w.closing or remaining <= 0:
                return batch
            changed = self.w.changed()
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                pass

    def set_webhook(self, p: Params) -> bool:
        """Answer setWebhook: remember the settings (``_webhook`` delivers to them)."""
        url = p.str_("url") or ""
        if not url:
            return self.delete_webhook(p)
        if not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if p.bool_("drop_pending_updates"):
            self.w.updates.clear()
        allowed = None
        if p.has("allowed_updates"):
            allowed = p.json_("allowed_updates", "allowed_updates")
        self.w.webhook = {
            "url": url,
            "max_connections": p.int_("max_connections") or 40,
            "allowed_updates": allowed,
            "secret_token": p.str_("secret_token"),
            "ip_address": p.str_("ip_address"),
        }
        self.w.notify()  # pending updates start going to it
        return True

    def delete_webhook(self, p: Params) -> bool:
        """Answer deleteWebhook, dropping pending updates when asked."""
        self.w.webhook = None
        if p.bool_("drop_pending_updates"):
            self.w.updates.clear()
        return True

    def get_webhook_info(self, _p: Params) -> dict[str, Any]:
        """Answer getWebhookInfo."""
        info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.w.updates),
        }
        if self.w.webhook is not None:
            info["url"] = self.w.webhook["url"]
            info["max_connections"] = self.w.webhook["max_connections"]
            if self.w.webhook["allowed_updates"]:
                info["allowed_updates"] = self.w.webhook["allowed_updates"]
            if self.w.webhook["ip_address"]:
                info["ip_address"] = self.w.webhook["ip_address"]
            for key in ("last_error_date", "last_error_message"):
                if key in self.w.webhook:
                    info[key] = self.w.webhook[key]
        return info

    # --- commands ---------------------------------------------------------------------------

    def command_key(self, p: Params) -> tuple[str, str]:
        """Return the (scope json, language code) key a commands method addresses."""
        language = p.str_("language_code") or ""
        if language and not _LANGUAGE.match(language):
            raise bad_request("invalid language code specified")
        if not p.has("scope"):
            return scope_key(None), language
        scope = p.json_("scope", "BotCommandScope")
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise bad_request("can't parse BotCommandScope JSON object")
        kind = scope["type"]
        if kind in {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}:
            return scope_key({"type": kind}), language
        if kind not in {"chat", "chat_administrators", "chat_member"}:
            raise bad_request("unsupported bot command scope type")
        fields = Params(scope)
        chat = self.chat(fields)
        normalized: dict[str, Any] = {"type": kind, "chat_id": chat.id}
        if kind != "chat" and chat.type == "private":
            raise bad_request("can't change commands in private chats")
        if kind == "chat_member":
            user_id = fields.require_int("user_id")
            if user_id not in self.w.users:
                raise bad_request("user not found")
            normalized["user_id"] = user_id
        return scope_key(normalized), language

    def set_my_commands(self, p: Params) -> bool:
        """Answer setMyCommands: validate and store the list for (scope, language)."""
        given = p.json_("commands", "commands") if p.has("commands") else []
        if not isinstance(given, list):
            raise bad_request("can't parse commands JSON object")
        if len(given) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        commands: list[dict[str, str]] = []
        for item in given:
            if not isinstance(item, dict):
                raise bad_request("can't parse BotCommand JSON object")
            command, description = item.get("command"), item.get("description")
            if not isinstance(command, str) or not _COMMAND.match(command):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            commands.append({"command": command, "description": description})
        key = self.command_key(p)
        if commands:
            self.w.commands[key] = commands
        else:
            self.w.commands.pop(key, None)
        return True

    def get_my_commands(self, p: Params) -> list[dict[str, str]]:
        """Answer getMyCommands for exactly that (scope, language)."""
        return [dict(c) for c in self.w.commands.get(self.command_key(p), [])]

    def delete_my_commands(self, p: Params) -> bool:
        """Answer deleteMyCommands."""
        self.w.commands.pop(self.command_key(p), None)
        return True

    # --- messages ---------------------------------------------------------------------------

    def send_message(self, p: Params) -> dict[str, Any]:
        """Answer sendMessage."""
        text = p.str_("text")
        if text is None or not text.strip():
            raise bad_request("message text is empty")
        markup = self.markup(p)
        chat = self.target(p)
        plain, entities, mode = self.format(text, p, "entities")
        if not plain:
            raise bad_request("message text is empty")
        if utf16_len(plain) > TEXT_LIMIT:
            raise bad_request("message is too long")
        reply = self.reply_target(chat, p)
        thread_id = self.thread(chat, p, reply)
        self.check_buttons(markup)
        message = self.post(
            chat,
            thread_id,
            reply,
            kind="text",
            text=plain,
            entities=entities,
            source=text,
            parse_mode=mode,
            reply_markup=markup,
            method="sendMessage",
        )
        return self.w.message_json(message)

    def send_photo(self, p: Params) -> dict[str, Any]:
        """Answer sendPhoto: a multipart upload, an earlier file_id, or an HTTP URL."""
        photo = p.raw("photo")
        if isinstance(photo, str) and photo.startswith("attach://"):
            photo = p.raw(photo.removeprefix("attach://"))
        if photo is None:
            raise bad_request("there is no photo in the request")
        caption = p.str_("caption") or ""
        markup = self.markup(p)
        chat = self.target(p)
        if isinstance(photo, UploadedFile):
            if not photo.data:
                raise bad_request("file must be non-empty")
            file = self.new_file(photo.data, "photos")
            given: bytes | str = photo.data
        elif isinstance(photo, str) and photo in self.w.files:
            file, given = self.w.files[photo], photo
        elif isinstance(photo, str) and photo.lower().startswith(("http://", "https://")):
            file, given = self.new_file(None, "photos", url=photo), photo
        else:
            raise bad_request("wrong file identifier/HTTP URL specified")
        plain, entities, mode = self.format(caption, p, "caption_entities")
        if utf16_len(plain) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        reply = self.reply_target(chat, p)
        thread_id = self.thread(chat, p, reply)
        self.check_buttons(markup)
        message = self.post(
            chat,
            thread_id,
            reply,
            kind="photo",
            text=plain,
            entities=entities,
            source=caption,
            parse_mode=mode,
            photo=self.photo_sizes(file),
            photo_input=given,
            reply_markup=markup,
            method="sendPhoto",
        )
        return self.w.message_json(message)

    def send_document(self, p: Params) -> dict[str, Any]:
        """Answer sendDocument for a multipart upload (the only form Cohort sends)."""
        document = p.raw("document")
        if isinstance(document, str) and document.startswith("attach://"):
            document = p.raw(document.removeprefix("attach://"))
        if not isinstance(document, UploadedFile):
            raise bad_request("there is no document in the request")
        if not document.data:
            raise bad_request("file must be non-empty")
        if len(document.data) > DOCUMENT_LIMIT:
            raise ApiError(413, "Request Entity Too Large")
        caption = p.str_("caption") or ""
        markup = self.markup(p)
        chat = self.target(p)
        plain, entities, mode = self.format(caption, p, "caption_entities")
        if utf16_len(plain) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        reply = self.reply_target(chat, p)
        thread_id = self.thread(chat, p, reply)
        self.check_buttons(markup)
        file = self.new_file(document.data, "documents")
        message = self.post(
            chat,
            thread_id,
            reply,
            kind="document",
            text=plain,
            entities=entities,
            source=caption,
            parse_mode=mode,
            document={
                "file_id": file["file_id"],
                "file_unique_id": file["file_unique_id"],
                "file_name": document.filename or "document",
                "mime_type": document.content_type or "application/octet-stream",
                "data": document.data,
            },
            reply_markup=markup,
            method="sendDocument",
        )
        return self.w.message_json(message)

    def edit_message_text(self, p: Params) -> dict[str, Any]:
        """Answer editMessageText; leaving out reply_markup removes the inline keyboard."""
        message = self.editable(p)
        text = p.str_("text")
        if text is None or not text.strip():
            raise bad_request("message text is empty")
        markup = self.markup(p)
        if message.kind != "text":
            raise bad_request("there is no text in the message to edit")
        plain, entities, mode = self.format(text, p, "entities")
        if not plain:
            raise bad_request("message text is empty")
        if utf16_len(plain) > TEXT_LIMIT:
            raise bad_request("message is too long")
        self.check_buttons(markup)
        if (plain, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        message.text, message.entities, message.source = plain, entities, text
        message.parse_mode, message.reply_markup = mode, markup
        message.edit_date = self.w.now()
        return self.w.message_json(message)

    def edit_message_caption(self, p: Params) -> dict[str, Any]:
        """Answer editMessageCaption."""
        message = self.editable(p)
        caption = p.str_("caption") or ""
        markup = self.markup(p)
        if message.kind != "photo":
            raise bad_request("there is no caption in the message to edit")
        plain, entities, mode = self.format(caption, p, "caption_entities")
        if utf16_len(plain) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        self.check_buttons(markup)
        if (plain, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        message.text, message.entities, message.source = plain, entities, caption
        message.parse_mode, message.reply_markup = mode, markup
        message.edit_date = self.w.now()
        return self.w.message_json(message)

    def edit_message_reply_markup(self, p: Params) -> dict[str, Any]:
        """Answer editMessageReplyMarkup (no markup removes the keyboard)."""
        message = self.editable(p)
        markup = self.markup(p)
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        self.check_buttons(markup)
        if markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        message.reply_markup = markup
        return self.w.message_json(message)

    def delete_message(self, p: Params) -> bool:
        """Answer deleteMessage."""
        chat = self.chat(p)
        message = self.w.find_message(chat.id, p.require_int("message_id"))
        if message is None:
            raise bad_request("message to delete not found")
        if message.from_id != BOT_ID and chat.type != "private" and not self.w.is_admin(chat.id):
            raise bad_request("message can't be deleted")
        message.deleted = True
        return True

    def answer_callback_query(self, p: Params) -> bool:
        """Answer answerCallbackQuery; each query can be answered once."""
        query_id = p.str_("callback_query_id") or ""
        if query_id not in self.w.callback_queries or query_id in self.w.answered_callbacks:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = p.str_("text")
        if text is not None and len(text) > TOAST_LIMIT:
            raise bad_request("MESSAGE_TOO_LONG")
        self.w.answered_callbacks[query_id] = {
            "callback_query_id": query_id,
            "text": text,
            "show_alert": p.bool_("show_alert"),
            "url": p.str_("url"),
            "cache_time": p.int_("cache_time") or 0,
            "date": self.w.now(),
        }
        return True

    def send_chat_action(self, p: Params) -> bool:
        """Answer sendChatAction."""
        action = p.str_("action")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat = self.target(p)
        self.thread(chat, p, None)
        return True

    def pin_chat_message(self, p: Params) -> bool:
        """Answer pinChatMessage."""
        chat = self.target(p)
        self.require_admin(chat, "not enough rights to manage pinned messages in the chat")
        message = self.w.find_message(chat.id, p.require_int("message_id"))
        if message is None:
            raise bad_request("message to pin not found")
        message.pinned = True
        if chat.type in {"group", "supergroup"}:
            pinned = {"pinned_message": self.w.message_json(message, nested=False)}
            self.w.service_message(chat.id, BOT_ID, pinned, thread_id=message.thread_id)
        return True

    def unpin_chat_message(self, p: Params) -> bool:
        """Answer unpinChatMessage (the most recent pin when no message_id is given)."""
        chat = self.chat(p)
        self.require_admin(chat, "not enough rights to manage pinned messages in the chat")
        message_id = p.int_("message_id")
        if message_id is not None:
            message = self.w.find_message(chat.id, message_id)
            if message is None:
                raise bad_request("message to unpin not found")
            message.pinned = False
            return True
        pinned = [m for m in self.w.messages.get(chat.id, {}).values() if m.pinned]
        if pinned:
            max(pinned, key=lambda m: m.message_id).pinned = False
        return True

    def unpin_all_chat_messages(self, p: Params) -> bool:
        """Answer unpinAllChatMessages."""
        chat = self.chat(p)
        self.require_admin(chat, "not enough rights to manage pinned messages in the chat")
        for message in self.w.messages.get(chat.id, {}).values():
            message.pinned = False
        return True

    # --- chats and members ------------------------------------------------------------------

    def get_chat(self, p: Params) -> dict[str, Any]:
        """Answer getChat with a ChatFullInfo."""
        return self.w.chat_full_json(self.chat(p).id)

    def member_id(self, p: Params) -> int:
        """Resolve user_id to a known user."""
        user_id = p.require_int("user_id")
        if user_id not in self.w.users:
            raise bad_request("user not found")
        return user_id

    def get_chat_member(self, p: Params) -> dict[str, Any]:
        """Answer getChatMember."""
        chat = self.chat(p)
        return self.w.member_json(chat.id, self.member_id(p))

    def get_chat_member_count(self, p: Params) -> int:
        """Answer getChatMemberCount."""
        chat = self.chat(p)
        if chat.type == "private":
            return 2
        return sum(m.status in IN_CHAT for m in self.w.members.get(chat.id, {}).values())

    def get_chat_administrators(self, p: Params) -> list[dict[str, Any]]:
        """Answer getChatAdministrators."""
        chat = self.chat(p)
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        return [
            self.w.member_json(chat.id, user_id)
            for user_id, member in self.w.members.get(chat.id, {}).items()
            if member.status in {"creator", "administrator"}
        ]

    def leave_chat(self, p: Params) -> bool:
        """Answer leaveChat."""
        chat = self.chat(p)
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        self.check_present(chat)
        self.w.change_status(chat.id, BOT_ID, "left", actor_id=BOT_ID)
        return True

    def ban_chat_member(self, p: Params) -> bool:
        """Answer banChatMember; a ban shorter than 30 s or longer than 366 days is forever."""
        chat = self.chat(p)
        if chat.type == "private":
            raise bad_request("can't ban members in private chats")
        user_id = self.member_id(p)
        self.require_admin(chat, "not enough rights to restrict/unrestrict chat member")
        status = self.w.status(chat.id, user_id)
        if status == "creator":
            raise bad_request("can't remove chat owner")
        if status == "administrator":
            raise bad_request("user is an administrator of the chat")
        now = self.w.now()
        until = p.int_("until_date") or 0
        if until and not now + 30 <= until <= now + 366 * 86400:
            until = 0
        revoke = p.bool_("revoke_messages")
        self.w.change_status(chat.id, user_id, "kicked", actor_id=BOT_ID, until_date=until)
        self.w.bans[(chat.id, user_id)] = {
            "chat_id": chat.id,
            "user_id": user_id,
            "until_date": until,
            "revoke_messages": revoke,
            "date": now,
        }
        if revoke:
            for message in self.w.messages.get(chat.id, {}).values():
                if message.from_id == user_id:
                    message.deleted = True
        return True

    def unban_chat_member(self, p: Params) -> bool:
        """Answer unbanChatMember; without only_if_banned it also removes a current member."""
        chat = self.chat(p)
        if chat.type in {"private", "group"}:
            raise bad_request("method is available for supergroup and channel chats only")
        user_id = self.member_id(p)
        self.require_admin(chat, "not enough rights to restrict/unrestrict chat member")
        status = self.w.status(chat.id, user_id)
        if p.bool_("only_if_banned") and status != "kicked":
            return True
        if status == "creator":
            raise bad_request("can't remove chat owner")
        if status == "administrator":
            raise bad_request("user is an administrator of the chat")
        if status != "left":
            self.w.change_status(chat.id, user_id, "left", actor_id=BOT_ID)
        self.w.bans.pop((chat.id, user_id), None)
        return True

    # --- forum topics -----------------------------------------------------------------------

    def create_forum_topic(self, p: Params) -> dict[str, Any]:
        """Answer createForumTopic: the topic's id is the id of its creation service message."""
        chat = self.chat(p)
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        self.require_admin(chat, "not enough rights to create a topic")
        name = p.str_("name") or ""
        if not name.strip():
            raise bad_request("TOPIC_TITLE_EMPTY")
        if len(name) > 128:
            raise bad_request("TOPIC_TITLE_TOO_LONG")
        icon_color = p.int_("icon_color") or DEFAULT_ICON_COLOR
        emoji = p.str_("icon_custom_emoji_id")
        created: dict[str, Any] = {"name": name, "icon_color": icon_color}
        if emoji:
            created["icon_custom_emoji_id"] = emoji
        message = self.w.service_message(chat.id, BOT_ID, {"forum_topic_created": created})
        message.thread_id = message.message_id
        self.w.topics[(chat.id, message.message_id)] = {
            "chat_id": chat.id,
            "message_thread_id": message.message_id,
            "name": name,
            "icon_color": icon_color,
            "icon_custom_emoji_id": emoji,
            "closed": False,
        }
        return {"message_thread_id": message.message_id, **created}

    def _topic_event(self, chat: Chat, topic: dict[str, Any], event: dict[str, Any]) -> None:
        self.w.service_message(chat.id, BOT_ID, event, thread_id=topic["message_thread_id"])

    def edit_forum_topic(self, p: Params) -> bool:
        """Answer editForumTopic."""
        chat = self.chat(p)
        topic = self.topic(chat, p)
        self.require_admin(chat, "not enough rights to manage topics")
        changes: dict[str, Any] = {}
        name = p.str_("name")
        if name is not None and name != topic["name"]:
            if len(name) > 128:
                raise bad_request("TOPIC_TITLE_TOO_LONG")
            changes["name"] = name
        if p.values.get("icon_custom_emoji_id") is not None:
            emoji = p.str_("icon_custom_emoji_id") or ""
            if emoji != (topic["icon_custom_emoji_id"] or ""):
                changes["icon_custom_emoji_id"] = emoji
        if not changes:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.update({key: value or None for key, value in changes.items()})
        self._topic_event(chat, topic, {"forum_topic_edited": changes})
        return True

    def close_forum_topic(self, p: Params) -> bool:
        """Answer closeForumTopic."""
        return self._open_or_close(p, closed=True)

    def reopen_forum_topic(self, p: Params) -> bool:
        """Answer reopenForumTopic."""
        return self._open_or_close(p, closed=False)

    def _open_or_close(self, p: Params, *, closed: bool) -> bool:
        chat = self.chat(p)
        topic = self.topic(chat, p)
        self.require_admin(chat, "not enough rights to manage topics")
        if topic["closed"] == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic["closed"] = closed
        event = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._topic_event(chat, topic, {event: {}})
        return True

    def delete_forum_topic(self, p: Params) -> bool:
        """Answer deleteForumTopic: the topic and all its messages go."""
        chat = self.chat(p)
        topic = self.topic(chat, p)
        self.require_admin(chat, "not enough rights to delete a topic")
        thread_id = topic["message_thread_id"]
        for message in self.w.messages.get(chat.id, {}).values():
            if message.thread_id == thread_id:
                message.deleted = True
        del self.w.topics[(chat.id, thread_id)]
        return True

    # --- invite links and join requests -----------------------------------------------------

    def _link_chat(self, p: Params) -> Chat:
        chat = self.chat(p)
        if chat.type == "private":
            raise bad_request("can't invite members to a private chat")
        self.require_admin(chat, "not enough rights to manage chat invite link")
        return chat

    def _new_link(self, chat: Chat) -> str:
        seed = f"{chat.id}:{self.w.serial()}".encode()
        token = base64.urlsafe_b64encode(hashlib.sha256(seed).digest()).decode()[:16]
        return f"https://t.me/+{token}"

    def _link_options(self, p: Params, link: dict[str, Any]) -> None:
        name = p.str_("name") if p.has("name") else link.get("name")
        if name is not None and len(name) > 32:
            raise bad_request("invite link name is too long")
        member_limit = p.int_("member_limit") if p.has("member_limit") else link.get("member_limit")
        if member_limit is not None and member_limit > 99999:
            raise bad_request("USAGE_LIMIT_INVALID")
        member_limit = member_limit if member_limit and member_limit > 0 else None
        creates = (
            p.bool_("creates_join_request")
            if p.has("creates_join_request")
            else bool(link.get("creates_join_request"))
        )
        if creates and member_limit:
            raise bad_request(
                "member limit can't be specified for links requiring administrator approval"
            )
        expire = p.int_("expire_date") if p.has("expire_date") else link.get("expire_date")
        link.update(
            {
                "name": name or None,
                "expire_date": expire or None,
                "member_limit": member_limit,
                "creates_join_request": creates,
            }
        )

    def create_chat_invite_link(self, p: Params) -> dict[str, Any]:
        """Answer createChatInviteLink."""
        chat = self._link_chat(p)
        link: dict[str, Any] = {
            "chat_id": chat.id,
            "invite_link": self._new_link(chat),
            "creator": dict(self.w.bot_user),
            "creates_join_request": False,
            "is_primary": False,
            "is_revoked": False,
            "joined": 0,
        }
        self._link_options(p, link)
        self.w.invite_links[link["invite_link"]] = link
        return self.w.link_json(link)

    def export_chat_invite_link(self, p: Params) -> str:
        """Answer exportChatInviteLink: a new primary link; the old one is revoked."""
        chat = self._link_chat(p)
        for link in self.w.invite_links.values():
            if link["chat_id"] == chat.id and link["is_primary"]:
                link["is_revoked"] = True
        link = {
            "chat_id": chat.id,
            "invite_link": self._new_link(chat),
            "creator": dict(self.w.bot_user),
            "creates_join_request": False,
            "is_primary": True,
            "is_revoked": False,
            "joined": 0,
        }
        self.w.invite_links[link["invite_link"]] = link
        return str(link["invite_link"])

    def _existing_link(self, chat: Chat, p: Params) -> dict[str, Any]:
        link = self.w.invite_links.get(p.str_("invite_link") or "")
        if link is None or link["chat_id"] != chat.id:
            raise bad_request("INVITE_HASH_EXPIRED")
        return link

    def edit_chat_invite_link(self, p: Params) -> dict[str, Any]:
        """Answer editChatInviteLink."""
        chat = self._link_chat(p)
        link = self._existing_link(chat, p)
        if link["is_revoked"]:
            raise bad_request("INVITE_HASH_EXPIRED")
        self._link_options(p, link)
        return self.w.link_json(link)

    def revoke_chat_invite_link(self, p: Params) -> dict[str, Any]:
        """Answer revokeChatInviteLink."""
        chat = self._link_chat(p)
        link = self._existing_link(chat, p)
        link["is_revoked"] = True
        return self.w.link_json(link)

    def _pending_request(self, p: Params) -> tuple[Chat, dict[str, Any]]:
        chat = self.chat(p)
        user_id = self.member_id(p)
        self.require_admin(chat, "CHAT_ADMIN_REQUIRED")
        request = self.w.join_requests.get((chat.id, user_id))
        if request is None or request["status"] != "pending":
            raise bad_request("HIDE_REQUESTER_MISSING")
        return chat, request

    def approve_chat_join_request(self, p: Params) -> bool:
        """Answer approveChatJoinRequest: the user joins (chat_member + service message)."""
        chat, request = self._pending_request(p)
        user_id = request["user_id"]
        if self.w.status(chat.id, user_id) in IN_CHAT:
            request["status"] = "approved"
            raise bad_request("USER_ALREADY_PARTICIPANT")
        request["status"] = "approved"
        link = self.w.invite_links.get(request["invite_link"] or "")
        if link is not None:
            link["joined"] += 1
        self.w.change_status(
            chat.id,
            user_id,
            "member",
            actor_id=BOT_ID,
            invite_link=self.w.link_json(link) if link is not None else None,
            via_join_request=True,
        )
        if chat.type in {"group", "supergroup"}:
            joined = self.w.service_message(
                chat.id, user_id, {"new_chat_members": [self.w.user_json(user_id)]}
            )
            self.w.queue("message", self.w.message_json(joined))
        return True

    def decline_chat_join_request(self, p: Params) -> bool:
        """Answer declineChatJoinRequest."""
        _chat, request = self._pending_request(p)
        request["status"] = "declined"
        return True

    # --- files ------------------------------------------------------------------------------

    def get_file(self, p: Params) -> dict[str, Any]:
        """Answer getFile; the file is then served under base_file_url."""
        file = self.w.files.get(p.str_("file_id") or "")
        if file is None:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        return {
            "file_id": file["file_id"],
            "file_unique_id": file["file_unique_id"],
            "file_size": file["file_size"],
            "file_path": file["file_path"],
        }


def _kind(update: dict[str, Any]) -> str:
    """Return an update's type: its one key besides update_id."""
    return next(key for key in update if key != "update_id")
