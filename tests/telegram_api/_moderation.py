"""The stand-in's moderation methods: restrictChatMember and deleteMessages.

As strict as the Bot API: supergroups only; the bot must be an administrator; owners and
administrators cannot be restricted; ``permissions`` is a required JSON object; an
``until_date`` under 30 seconds or over 366 days ahead means for ever; restricting to every
right the chat allows lifts the restriction (the user is a plain member again). deleteMessages
takes 1 to 100 ids, skips what it cannot find, and cannot delete messages over 48 hours old.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.telegram_api._params import Params, bad_request
from tests.telegram_api._world import _RESTRICTED_RIGHTS, BOT_ID

if TYPE_CHECKING:
    from tests.telegram_api._methods import BotApi

DELETE_WINDOW = 48 * 3600
MAX_IDS = 100
FOREVER_AFTER = 366 * 86400


class ModerationMethods:
    """Bot API moderation methods against the same world as ``BotApi``."""

    def __init__(self, api: BotApi) -> None:
        self.api = api
        self.w = api.w

    def restrict_chat_member(self, p: Params) -> bool:
        """Answer restrictChatMember."""
        chat = self.api.chat(p)
        if chat.type != "supergroup":
            raise bad_request("method is available only for supergroups")
        user_id = self.api.member_id(p)
        self.api.require_admin(chat, "not enough rights to restrict/unrestrict chat member")
        if user_id == BOT_ID:
            raise bad_request("can't restrict self")
        status = self.w.status(chat.id, user_id)
        if status == "creator":
            raise bad_request("can't remove chat owner")
        if status == "administrator":
            raise bad_request("user is an administrator of the chat")
        if not p.has("permissions"):
            raise bad_request('parameter "permissions" is required')
        permissions = p.json_("permissions", "permissions")
        if not isinstance(permissions, dict):
            raise bad_request("can't parse permissions JSON object")
        unknown = set(permissions) - set(_RESTRICTED_RIGHTS) - {"can_send_media_messages"}
        if unknown:
            raise bad_request(f"can't parse permissions JSON object: {sorted(unknown)[0]}")
        now = self.w.now()
        until = p.int_("until_date") or 0
        if until and not now + 30 <= until <= now + FOREVER_AFTER:
            until = 0
        allowed = {right: bool(permissions.get(right, False)) for right in _RESTRICTED_RIGHTS}
        if all(allowed.values()):
            self.w.restrictions.pop((chat.id, user_id), None)
            new_status = "member" if status in {"restricted", "member"} else status
            self.w.change_status(chat.id, user_id, new_status, actor_id=BOT_ID)
        else:
            self.w.restrictions[(chat.id, user_id)] = allowed
            self.w.change_status(chat.id, user_id, "restricted", actor_id=BOT_ID, until_date=until)
        return True

    def delete_messages(self, p: Params) -> bool:
        """Answer deleteMessages: 1 to 100 ids; missing ones are skipped."""
        chat = self.api.chat(p)
        ids: Any = p.json_("message_ids", "message identifiers")
        if not isinstance(ids, list) or not ids:
            raise bad_request("message identifiers are not specified")
        if len(ids) > MAX_IDS:
            raise bad_request("too many message identifiers specified")
        if chat.type != "private":
            self.api.require_admin(chat, "message can't be deleted")
        now = self.w.now()
        deleted = 0
        for message_id in ids:
            message = self.w.find_message(chat.id, int(message_id))
            if message is None:
                continue
            if now - message.date > DELETE_WINDOW:
                raise bad_request("message can't be deleted for everyone")
            message.deleted = True
            deleted += 1
        if not deleted:
            raise bad_request("message to delete not found")
        return True
