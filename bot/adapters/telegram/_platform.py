"""The Platform port on Telegram: sending and editing (texts, photos, documents, keyboards),
topics, access and invites, each Bot API call retried and its errors mapped to the port's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from telegram import (
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.adapters.telegram._moderation import TelegramModeration
from bot.adapters.telegram._render import CAPTION_LIMIT, render_texts
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.platforms import PlatformName
from bot.core.ports import (
    AccessTarget,
    ChannelRef,
    MessageRef,
    PlatformError,
    PlatformErrorReason,
    ScheduledEvent,
)
from bot.core.replies import Button, Reply

log = logging.getLogger(__name__)

T = TypeVar("T")
CALLBACK_LIMIT = 64
NETWORK_RETRIES = 4
BUTTONS_PER_ROW = 3


class TelegramPlatform(TelegramModeration):
    """Implements the Platform port's calls on Telegram; the adapter provides ``cohort``
    and ``bot``."""

    cohort: Cohort

    async def _keyboard(self, community: Community, buttons: tuple[Button, ...]) -> Any:
        if not buttons:
            return None
        cells = []
        for button in buttons:
            if button.url:
                cells.append(InlineKeyboardButton(button.label, url=button.url))
            else:
                data = await self.cohort.buttons.encode(community.id, button, limit=CALLBACK_LIMIT)
                cells.append(InlineKeyboardButton(button.label, callback_data=data))
        rows = [cells[i : i + BUTTONS_PER_ROW] for i in range(0, len(cells), BUTTONS_PER_ROW)]
        return InlineKeyboardMarkup(rows)

    def _community_of(self, channel: ChannelRef) -> Community:
        found = self.cohort.community_for(PlatformName.TELEGRAM, channel.channel_id)
        return found or next(iter(self.cohort.communities.values()))

    async def _deliver(
        self,
        community: Community,
        channel: ChannelRef,
        reply: Reply,
        *,
        reply_to: int | None = None,
    ) -> MessageRef:
        """Send ``reply`` as one or more messages; return the first."""
        texts = render_texts(reply)
        keyboard = await self._keyboard(community, reply.buttons)
        chat_id = int(channel.channel_id)
        thread = int(channel.thread_id) if channel.thread_id else None
        replying = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to is not None
            else None
        )
        first: Message | None = None
        if reply.image is not None:
            caption = texts.pop(0) if texts and len(texts[0]) <= CAPTION_LIMIT else None
            photo = reply.image.data if reply.image.data is not None else reply.image.url
            if photo is None:
                raise PlatformError(
                    PlatformErrorReason.INVALID, "an image with neither data nor url"
                )
            sent = await self._call(
                lambda: self.bot.send_photo(
                    chat_id,
                    photo,
                    caption=caption,
                    parse_mode=ParseMode.HTML,
                    message_thread_id=thread,
                    reply_parameters=replying,
                    reply_markup=None if texts else keyboard,
                    filename=reply.image.filename if reply.image else None,
                )
            )
            first = sent
        if reply.attachment is not None:
            caption = texts.pop(0) if texts and len(texts[0]) <= CAPTION_LIMIT else None
            attachment = reply.attachment
            sent = await self._call(
                lambda: self.bot.send_document(
                    chat_id,
                    attachment.data,
                    filename=attachment.filename,
                    caption=caption,
                    parse_mode=ParseMode.HTML,
                    message_thread_id=thread,
                    reply_parameters=replying if first is None else None,
                    reply_markup=None if texts else keyboard,
                )
            )
            first = first or sent
        for index, text in enumerate(texts):
            last = index == len(texts) - 1
            sent = await self._call(
                partial(
                    self.bot.send_message,
                    chat_id,
                    text,
                    parse_mode=ParseMode.HTML,
                    message_thread_id=thread,
                    reply_parameters=replying if first is None else None,
                    reply_markup=keyboard if last else None,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            )
            first = first or sent
        if first is None:
            raise PlatformError(PlatformErrorReason.INVALID, "empty reply")
        return MessageRef(channel, str(first.message_id))

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a Bot API call, retrying network failures with backoff; map errors to the port's."""
        delay = 0.5
        for attempt in range(NETWORK_RETRIES + 1):
            try:
                return await make()
            except Forbidden as exc:
                raise PlatformError(PlatformErrorReason.FORBIDDEN, exc.message) from exc
            except BadRequest as exc:
                reason = _bad_request_reason(exc.message)
                raise PlatformError(reason, exc.message) from exc
            except RetryAfter as exc:
                if attempt == NETWORK_RETRIES:
                    raise PlatformError(PlatformErrorReason.RATE_LIMITED, str(exc)) from exc
                await asyncio.sleep(_seconds(exc.retry_after))
            except NetworkError as exc:
                if attempt == NETWORK_RETRIES:
                    raise PlatformError(PlatformErrorReason.UNAVAILABLE, exc.message) from exc
                log.warning("telegram: %s; retrying in %.1f s", exc.message, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    # --- the Platform port -------------------------------------------------------------------

    async def send(self, channel: ChannelRef, reply: Reply) -> MessageRef:
        """Post ``reply`` in a chat or forum topic."""
        return await self._deliver(self._community_of(channel), channel, reply)

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Replace a bot message's text and buttons (the first 4096 characters)."""
        community = self._community_of(message.channel)
        texts = render_texts(reply)
        text = texts[0] if texts else ""
        keyboard = await self._keyboard(community, reply.buttons)
        await self._call(
            lambda: self.bot.edit_message_text(
                text,
                chat_id=int(message.channel.channel_id),
                message_id=int(message.message_id),
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )
        )

    async def delete(self, message: MessageRef) -> None:
        """Delete a message."""
        await self._call(
            lambda: self.bot.delete_message(
                int(message.channel.channel_id), int(message.message_id)
            )
        )

    async def pin(self, message: MessageRef) -> None:
        """Pin a message without notifying the group (the bot needs the pin right)."""
        await self._call(
            lambda: self.bot.pin_chat_message(
                int(message.channel.channel_id),
                int(message.message_id),
                disable_notification=True,
            )
        )

    async def unpin(self, message: MessageRef) -> None:
        """Unpin a message."""
        await self._call(
            lambda: self.bot.unpin_chat_message(
                int(message.channel.channel_id), int(message.message_id)
            )
        )

    async def direct_message(self, user_id: str, reply: Reply) -> MessageRef:
        """Message a person privately; DM_CLOSED when they blocked or never started the bot."""
        channel = ChannelRef(PlatformName.TELEGRAM, user_id)
        try:
            return await self._deliver(self._community_of(channel), channel, reply)
        except PlatformError as exc:
            if exc.reason is PlatformErrorReason.FORBIDDEN:
                raise PlatformError(PlatformErrorReason.DM_CLOSED, exc.detail) from exc
            raise

    async def create_thread(
        self, channel: ChannelRef, title: str, reply: Reply, *, tags: tuple[str, ...] = ()
    ) -> ChannelRef:
        """Open a forum topic in a topic-enabled group and post ``reply`` in it."""
        topic = await self._call(
            lambda: self.bot.create_forum_topic(int(channel.channel_id), title[:128])
        )
        thread = ChannelRef(PlatformName.TELEGRAM, channel.channel_id, str(topic.message_thread_id))
        await self.send(thread, reply)
        return thread

    async def close_thread(self, thread: ChannelRef, *, lock: bool = False) -> None:
        """Close a forum topic (Telegram topics have no separate lock)."""
        if thread.thread_id is None:
            raise PlatformError(PlatformErrorReason.INVALID, "not a topic")
        await self._call(
            lambda: self.bot.close_forum_topic(int(thread.channel_id), int(thread.thread_id or 0))
        )

    async def rename_thread(self, thread: ChannelRef, title: str) -> None:
        """Rename a forum topic (Telegram allows 128 characters)."""
        if thread.thread_id is None:
            raise PlatformError(PlatformErrorReason.INVALID, "not a topic")
        await self._call(
            lambda: self.bot.edit_forum_topic(
                int(thread.channel_id), int(thread.thread_id or 0), name=title[:128]
            )
        )

    async def reopen_thread(self, thread: ChannelRef) -> None:
        """Reopen a closed forum topic."""
        await self._call(
            lambda: self.bot.reopen_forum_topic(int(thread.channel_id), int(thread.thread_id or 0))
        )

    async def grant_access(self, user_id: str, target: AccessTarget) -> None:
        """Let a person into a chat: approve their pending request, or lift a removal."""
        chat_id, user = int(target.space_id), int(user_id)
        try:
            await self._call(lambda: self.bot.approve_chat_join_request(chat_id, user))
        except PlatformError as exc:
            if exc.reason is PlatformErrorReason.FORBIDDEN:
                raise
            await self._call(lambda: self.bot.unban_chat_member(chat_id, user, only_if_banned=True))

    async def revoke_access(self, user_id: str, target: AccessTarget) -> None:
        """Take a person out of a chat (they may come back with a new invite)."""
        await self.remove_member(target.space_id, user_id)

    async def create_invite(
        self,
        target: AccessTarget,
        *,
        expires_at: datetime | None = None,
        member_limit: int | None = 1,
        join_request: bool = False,
    ) -> str:
        """Create an invite link: single use by default, or one that asks for approval."""
        link = await self._call(
            lambda: self.bot.create_chat_invite_link(
                int(target.space_id),
                expire_date=expires_at,
                member_limit=None if join_request else member_limit,
                creates_join_request=join_request or None,
            )
        )
        return link.invite_link

    async def approve_join_request(self, space_id: str, user_id: str) -> None:
        """Approve a pending request to join a chat."""
        await self._call(lambda: self.bot.approve_chat_join_request(int(space_id), int(user_id)))

    async def decline_join_request(self, space_id: str, user_id: str) -> None:
        """Decline a pending request to join a chat."""
        await self._call(lambda: self.bot.decline_chat_join_request(int(space_id), int(user_id)))

    async def remove_member(self, space_id: str, user_id: str) -> None:
        """Remove a person from a chat without a lasting ban (ban, then unban)."""
        chat_id, user = int(space_id), int(user_id)
        await self._call(lambda: self.bot.ban_chat_member(chat_id, user))
        await self._call(lambda: self.bot.unban_chat_member(chat_id, user, only_if_banned=True))

    async def check_access_rights(self, target: AccessTarget) -> list[str]:
        """Say what keeps the bot from managing who is in a chat; an empty list is all well.

        Gated chats need the bot as an administrator who may invite users via link (invite
        links, join requests) and ban users (removal is ban, then unban).
        """
        try:
            member = await self._call(
                lambda: self.bot.get_chat_member(int(target.space_id), self.bot.id)
            )
        except PlatformError as exc:
            if exc.reason in (PlatformErrorReason.RATE_LIMITED, PlatformErrorReason.UNAVAILABLE):
                raise
            return ["not_found"]
        if member.status == ChatMember.OWNER:
            return []
        if member.status != ChatMember.ADMINISTRATOR:
            return ["not_admin"]
        problems = []
        if not getattr(member, "can_invite_users", False):
            problems.append("cannot_invite")
        if not getattr(member, "can_restrict_members", False):
            problems.append("cannot_restrict")
        return problems

    async def create_scheduled_event(self, space_id: str, event: ScheduledEvent) -> str:
        """Refuse: Telegram has no native scheduled events (lectures are announced instead)."""
        raise PlatformError(PlatformErrorReason.UNSUPPORTED, "Telegram has no scheduled events")

    async def edit_scheduled_event(
        self, space_id: str, event_id: str, event: ScheduledEvent
    ) -> None:
        """Refuse: Telegram has no native scheduled events (lectures are announced instead)."""
        raise PlatformError(PlatformErrorReason.UNSUPPORTED, "Telegram has no scheduled events")

    async def delete_scheduled_event(self, space_id: str, event_id: str) -> None:
        """Refuse: Telegram has no native scheduled events (lectures are announced instead)."""
        raise PlatformError(PlatformErrorReason.UNSUPPORTED, "Telegram has no scheduled events")


def _bad_request_reason(message: str) -> PlatformErrorReason:
    """Map a 400's description: a missing right or a protected admin is a refusal."""
    text = message.lower()
    if "not enough rights" in text or "administrator" in text or "chat owner" in text:
        return PlatformErrorReason.FORBIDDEN
    if "not found" in text:
        return PlatformErrorReason.NOT_FOUND
    return PlatformErrorReason.INVALID


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
