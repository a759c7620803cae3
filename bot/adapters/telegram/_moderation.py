"""The Platform port's moderation calls on Telegram: restrict, ban, bulk delete; slowmode is
left to the bot (the Bot API cannot set a chat's slow mode)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from telegram import Bot, ChatPermissions

from bot.core.ports import ChannelRef

T = TypeVar("T")
DELETE_MAX = 100  # deleteMessages takes 1 to 100 ids
MUTED = ChatPermissions.no_permissions()


class TelegramModeration:
    """Moderates members of supergroups (the bot needs to be an admin who may restrict and
    delete); the adapter provides ``bot`` and ``_call``."""

    @property
    def bot(self) -> Bot:
        raise NotImplementedError  # pragma: no cover

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        raise NotImplementedError  # pragma: no cover

    async def timeout_member(self, space_id: str, user_id: str, until: datetime | None) -> None:
        """Restrict a member from sending until ``until``, or give back the chat's defaults."""
        chat_id, user = int(space_id), int(user_id)
        if until is not None:
            await self._call(
                lambda: self.bot.restrict_chat_member(
                    chat_id, user, MUTED, until_date=until, use_independent_chat_permissions=True
                )
            )
            return
        chat = await self._call(lambda: self.bot.get_chat(chat_id))
        allowed: Any = chat.permissions or ChatPermissions.all_permissions()
        await self._call(
            lambda: self.bot.restrict_chat_member(
                chat_id, user, allowed, use_independent_chat_permissions=True
            )
        )

    async def ban_member(self, space_id: str, user_id: str, *, delete_days: int = 0) -> None:
        """Ban a user; any ``delete_days`` deletes all their messages (Telegram has no range)."""
        chat_id, user = int(space_id), int(user_id)
        await self._call(
            lambda: self.bot.ban_chat_member(chat_id, user, revoke_messages=delete_days > 0)
        )

    async def unban_member(self, space_id: str, user_id: str) -> None:
        """Lift a ban, leaving anyone who is not banned as they are."""
        chat_id, user = int(space_id), int(user_id)
        await self._call(lambda: self.bot.unban_chat_member(chat_id, user, only_if_banned=True))

    async def delete_messages(self, channel: ChannelRef, message_ids: Sequence[str]) -> None:
        """Delete messages (younger than 48 hours) by up to 100 a call."""
        chat_id = int(channel.channel_id)
        ids = [int(i) for i in message_ids]
        for start in range(0, len(ids), DELETE_MAX):
            chunk = ids[start : start + DELETE_MAX]
            await self._call(partial(self.bot.delete_messages, chat_id, chunk))

    async def set_slowmode(self, channel: ChannelRef, seconds: int) -> bool:
        """Leave slowmode to the bot: a bot cannot set a chat's slow mode."""
        return False
