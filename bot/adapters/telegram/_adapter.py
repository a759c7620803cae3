"""Translate between python-telegram-bot and the core, both ways."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    Chat,
    ChatMember,
    Message,
    MessageReactionUpdated,
    ReactionType,
    ReactionTypeEmoji,
    Update,
    User,
)
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.adapters.telegram._claims import Claim, UpdateClaims
from bot.adapters.telegram._order import PerChatOrder
from bot.adapters.telegram._platform import TelegramPlatform
from bot.adapters.telegram._polling import Poller, ScreenedRequest, classify
from bot.core import markup
from bot.core.cohort import Cohort
from bot.core.commands import Permission, Role
from bot.core.community import Community
from bot.core.config import TelegramConfig, TelegramMode
from bot.core.dispatch import ROLE_ORDER
from bot.core.events import BotStatusChanged
from bot.core.i18n import normalize_locale
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef, PlatformError, PlatformErrorReason
from bot.core.replies import Button, Reply
from bot.core.supervise import Watch
from bot.store.locks import one_at_a_time

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "callback_query",
    "chat_member",
    "my_chat_member",
    "chat_join_request",
    "message_reaction",  # Q&A votes; Telegram sends these to administrator bots only
]
TOAST_LIMIT = 200
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
IN_CHAT = {ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER, ChatMember.RESTRICTED}


def caller_of(user: User) -> Caller:
    """Describe a Telegram user to the core."""
    return Caller(
        platform=PlatformName.TELEGRAM,
        user_id=str(user.id),
        display_name=user.full_name or str(user.id),
        username=user.username,
        locale=user.language_code,
        is_bot=user.is_bot,
    )


def parse_update(body: bytes, bot: Bot) -> Update | None:
    """Read a webhook body as an update; None (logged) when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        log.warning("telegram: webhook body is not JSON: %s", type(exc).__name__)
        return None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        log.warning("telegram: webhook body is not an update (no integer update_id)")
        return None
    try:
        return Update.de_json(data, bot)
    except Exception as exc:  # a malformed field raises whatever it provokes
        log.warning("telegram: webhook body is not an update: %s: %s", type(exc).__name__, exc)
        return None


class TelegramAdapter(TelegramPlatform):
    """Implements the Platform port on Telegram and feeds the core Telegram's updates."""

    name = PlatformName.TELEGRAM

    def __init__(self, cohort: Cohort, config: TelegramConfig, *, poll_timeout: float = 10) -> None:
        if not config.token:
            raise ValueError("the Telegram adapter needs a token")
        self.cohort = cohort
        self.config = config
        self.poll_timeout = poll_timeout
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(config.token.reveal())
            .rate_limiter(
                AIORateLimiter(
                    overall_max_rate=config.messages_per_second,
                    group_max_rate=config.messages_per_minute_per_group,
                    max_retries=5,
                )
            )
            .concurrent_updates(PerChatOrder(64))
            .get_updates_request(ScreenedRequest(self._unreadable))
            .updater(None)  # Cohort polls by itself, supervised (``_polling``)
        )
        if config.base_url:
            base = config.base_url.rstrip("/")
            builder = builder.base_url(base).base_file_url(base.removesuffix("/bot") + "/file/bot")
        self.app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self.app.add_error_handler(self._on_error)
        self.username = ""
        self.poller = Poller(
            self.app.bot,
            self.app.update_queue,
            timeout=poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
            lock=lambda: one_at_a_time(cohort.db, f"telegram.polling.{self.bot.id}"),
        )
        self.polling: Watch | None = None
        self.claims: UpdateClaims | None = None  # webhook mode, once started

    @property
    def bot(self) -> Bot:
        """Return PTB's bot."""
        bot: Bot = self.app.bot
        return bot

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, publish the command menus, and start long polling (supervised)."""
        await self.app.initialize()
        self.username = self.bot.username or ""
        await self.publish_commands()
        await self.app.start()
        if self.config.mode is TelegramMode.WEBHOOK:
            # Every process sets the same URL and secret: idempotent, and whichever starts
            # last leaves it right. Updates are claimed in the database (``_claims``).
            self.claims = UpdateClaims(self.cohort.db, self.bot.id)
            secret = self.config.webhook_secret
            await self._call(
                lambda: self.bot.set_webhook(
                    self.config.webhook_url or "",
                    secret_token=secret.reveal() if secret else None,
                    allowed_updates=ALLOWED_UPDATES,
                )
            )
            log.info("telegram: webhook set for @%s", self.username)
            return
        await self._call(self.bot.delete_webhook)  # polling and a webhook exclude each other
        self.polling = self.cohort.supervisor.run(
            "telegram.polling", self.poller.run, classify=classify
        )
        self.poller.watch = self.polling
        log.info("telegram: polling as @%s", self.username)

    def _unreadable(self, update_id: object, exc: Exception) -> None:
        """Log an update PTB cannot read (it is skipped, polling goes on) and count it."""
        log.error(
            "telegram: update %s could not be read (%s); skipped it",
            update_id,
            type(exc).__name__,
            exc_info=exc,
        )
        if self.polling is not None:
            self.polling.skip("unreadable_update")

    def web_routes(self) -> list[web.RouteDef]:
        """Return the webhook route for the web app (none when polling)."""
        if self.config.mode is not TelegramMode.WEBHOOK:
            return []
        return [web.post(WEBHOOK_PATH, self._on_webhook)]

    async def _on_webhook(self, request: web.Request) -> web.Response:
        """Take one update from Telegram: check the secret, claim it, handle it, then answer.

        Answering after the handling keeps a chat's updates in order across processes:
        Telegram sends a chat's next update once this one is answered.
        """
        secret = self.config.webhook_secret.reveal() if self.config.webhook_secret else ""
        # aiohttp decodes header bytes as UTF-8 with surrogateescape: this gives the bytes back.
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not secret or not hmac.compare_digest(given, secret.encode()):
            log.warning("telegram: webhook call with a wrong secret from %s", request.remote)
            return web.Response(status=403, text="forbidden")
        update = parse_update(await request.read(), self.bot)
        if update is None:
            return web.Response(status=400, text="not an update")
        if self.claims is None or not self.app.running:
            return web.Response(status=503, text="starting")
        now = self.cohort.clock.now()
        claim = await self.claims.claim(update.update_id, now)
        if claim is Claim.HANDLED:
            log.info("telegram: update %d came again; handled once already", update.update_id)
            return web.Response(text="ok")
        if claim is Claim.BUSY:
            log.info("telegram: update %d came again while being handled", update.update_id)
            return web.Response(status=503, text="being handled")
        try:
            await self.app.update_processor.process_update(update, self.app.process_update(update))
        except BaseException:
            # Stopping mid-update (or a failure PTB did not catch): let Telegram's next try of it
            # go to any process. If this too fails, the claim's lease runs out instead.
            await asyncio.shield(self.claims.release(update.update_id))
            raise
        await self.claims.handled(update.update_id, self.cohort.clock.now())
        pruned = await self.claims.prune(now)
        if pruned:
            log.info("telegram: pruned %d old update claims", pruned)
        return web.Response(text="ok")

    async def stop(self) -> None:
        """Stop polling, finish the updates in hand, and close the connection pool."""
        if self.polling is not None:
            await self.polling.stop(cancel=True)
            self.polling = None
            await self.poller.confirm()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def publish_commands(self) -> None:
        """Set the command menus: everyone's by default, and each staff member's in their DM.

        Each menu exists in English (the default) and in Chinese (``zh``).
        """
        menus: list[tuple[BotCommandScope, Role]] = [(BotCommandScopeDefault(), Role.MEMBER)]
        staff: dict[str, Role] = {}
        for community in self.cohort.communities.values():
            for ref in (
                community.config.organizers + community.config.admins + community.config.moderators
            ):
                if ref.platform is PlatformName.TELEGRAM and ref.user_id.lstrip("-").isdigit():
                    role = community.role_of(PlatformName.TELEGRAM, ref.user_id)
                    staff[ref.user_id] = max(
                        staff.get(ref.user_id, role), role, key=ROLE_ORDER.index
                    )
        menus += [
            (BotCommandScopeChat(int(user_id)), role) for user_id, role in sorted(staff.items())
        ]
        for scope, role in menus:
            for locale, language in (("en", None), ("zh_CN", "zh")):
                commands = self._menu(locale, role)
                try:
                    await self._call(
                        partial(
                            self.bot.set_my_commands, commands, scope=scope, language_code=language
                        )
                    )
                except PlatformError as exc:
                    # A staff member who never opened a chat with the bot has no DM scope yet.
                    log.warning("telegram: no command menu for %s: %s", scope.to_dict(), exc)

    def _menu(self, locale: str, role: Role) -> list[BotCommand]:
        i18n = self.cohort.i18n
        menu: dict[str, str] = {}
        for spec in self.cohort.registry:
            if spec.permission is not Permission.TIER and not role.may(spec.permission):
                continue
            top = spec.path[0]
            if len(spec.path) == 1 or spec.default:
                menu[top] = i18n.plain(locale, spec.description_key)
            elif top in menu and self.cohort.registry.default_of(top) is not None:
                continue
            else:
                menu.setdefault(top, "")
                menu[top] = (menu[top] + " | " if menu[top] else "") + spec.path[1]
        return [BotCommand(name, (text or name)[:256]) for name, text in sorted(menu.items())]

    # --- updates in ---------------------------------------------------------------------------

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log an error PTB caught, with the update it happened on."""
        summary = update.to_dict() if isinstance(update, Update) else repr(update)
        log.error("telegram: error handling update %s", summary, exc_info=context.error)

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Route one update to the core."""
        self.cohort.supervisor.seen(self.name)
        if update.callback_query is not None:
            await self._on_press(update)
        elif update.message is not None:
            await self._on_message(update.message)
        elif update.edited_message is not None:
            log.debug("telegram: edited message %s ignored", update.edited_message.message_id)
        elif update.chat_member is not None:
            await self._on_membership(update)
        elif update.message_reaction is not None:
            await self._on_reaction(update.message_reaction)
        elif update.chat_join_request is not None:
            request = update.chat_join_request
            community = self.community_for(request.chat)
            if community is not None:
                await self.cohort.dispatcher.join_requested(
                    community, caller_of(request.from_user), str(request.chat.id)
                )
        elif update.my_chat_member is not None:
            change = update.my_chat_member
            status = change.new_chat_member.status
            log.info(
                "telegram: bot is now %s in chat %s (%s)", status, change.chat.id, change.chat.title
            )
            community = self.community_for(change.chat)
            if community is not None:
                await self.cohort.events.publish(
                    BotStatusChanged(community, str(change.chat.id), str(status))
                )

    async def _on_reaction(self, change: MessageReactionUpdated) -> None:
        """Tell the core which emoji a person added to or took off a message."""
        if change.user is None:
            return  # an anonymous administrator or a channel reacted
        community = self.community_for(change.chat)
        if community is None:
            return
        old, new = _emoji(change.old_reaction), _emoji(change.new_reaction)
        # A message id is unique in its chat, topics included: no thread needed to find it.
        channel = ChannelRef(PlatformName.TELEGRAM, str(change.chat.id))
        for emoji, added in [(e, False) for e in old - new] + [(e, True) for e in new - old]:
            await self.cohort.dispatcher.reaction_changed(
                community,
                caller_of(change.user),
                channel,
                str(change.message_id),
                emoji,
                added=added,
            )

    def community_for(self, chat: Chat) -> Community | None:
        """Return the community of a chat; a private chat belongs to the first with Telegram."""
        found = self.cohort.community_for(PlatformName.TELEGRAM, str(chat.id))
        if found is not None or chat.type != Chat.PRIVATE:
            if found is None:
                log.warning("telegram: chat %s (%s) is in no community", chat.id, chat.title)
            return found
        communities = list(self.cohort.communities.values())
        with_telegram = [c for c in communities if c.config.telegram_chats]
        candidates = with_telegram or communities
        return candidates[0] if candidates else None

    async def _on_message(self, message: Message) -> None:
        user = message.from_user
        if user is None:
            return  # channel posts and anonymous admins
        community = self.community_for(message.chat)
        if community is None:
            return
        channel = ChannelRef(
            PlatformName.TELEGRAM,
            str(message.chat.id),
            str(message.message_thread_id) if message.is_topic_message else None,
        )
        text = message.text or message.caption or ""
        command = self._command_text(message)
        reply_to = _real_reply(message)
        if command is not None:
            replied_user = reply_to.from_user if reply_to is not None else None
            if replied_user is not None and replied_user.id == self.bot.id:
                replied_user = None
            await self.cohort.dispatcher.run_line(
                self,
                community,
                caller_of(user),
                channel,
                command,
                self._responder(message, user, community),
                reply_to=caller_of(replied_user) if replied_user is not None else None,
                replied_message_id=str(reply_to.message_id) if reply_to is not None else None,
            )
            return
        if not text:
            return
        reply_to_id = reply_to.message_id if reply_to is not None else None
        await self.cohort.dispatcher.message_posted(
            community,
            caller_of(user),
            channel,
            str(message.message_id),
            text,
            message.date,
            reply_to_message_id=str(reply_to_id) if reply_to_id is not None else None,
        )

    def _command_text(self, message: Message) -> str | None:
        """Return the command line for us, or None (plain text, or a command for another bot)."""
        text = message.text or ""
        entities = message.entities or ()
        if not text.startswith("/") or not any(
            e.type == "bot_command" and e.offset == 0 for e in entities
        ):
            return None
        head, _, rest = text.partition(" ")
        name, _, addressee = head.partition("@")
        if addressee and addressee.lower() != self.username.lower():
            return None
        if name.lower() == "/start":
            return "/help"  # what Telegram sends when a person opens the bot or presses Start
        return f"{name} {rest}".strip()

    async def _on_press(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None
        answered = False
        try:
            message = query.message
            chat = message.chat if message is not None else None
            community = self.community_for(chat) if chat is not None else None
            decoded = (
                await self.cohort.buttons.decode(community.id, query.data or "")
                if community is not None
                else None
            )
            if community is None or decoded is None or chat is None:
                await query.answer()
                answered = True
                return
            action, payload = decoded
            thread = getattr(message, "message_thread_id", None)
            channel = ChannelRef(
                PlatformName.TELEGRAM, str(chat.id), str(thread) if thread else None
            )
            toast: list[str] = []

            async def respond(reply: Reply) -> MessageRef | None:
                # A short private answer to a press fits in the button's own toast.
                if not toast and _fits_toast(reply):
                    toast.append(markup.plain(reply.text))
                    return None
                return await self._answer(chat, channel, query.from_user, community, reply, None)

            await self.cohort.dispatcher.press(
                self, community, caller_of(query.from_user), channel, action, payload, respond
            )
            await query.answer(text=toast[0] if toast else None)
            answered = True
        finally:
            if not answered:
                try:
                    await query.answer()
                except TelegramError:
                    log.warning("telegram: could not answer callback query %s", query.id)

    async def _on_membership(self, update: Update) -> None:
        change = update.chat_member
        assert change is not None
        user = change.new_chat_member.user
        community = self.community_for(change.chat)
        if community is None:
            return
        was_in = change.old_chat_member.status in IN_CHAT
        is_in = change.new_chat_member.status in IN_CHAT
        space = str(change.chat.id)
        if is_in and not was_in:
            link = change.invite_link.invite_link if change.invite_link else None
            await self.cohort.dispatcher.member_joined(
                community, caller_of(user), space, invite_link=link
            )
        elif was_in and not is_in:
            await self.cohort.dispatcher.member_left(community, caller_of(user), space)

    # --- replies ------------------------------------------------------------------------------

    def _responder(
        self, message: Message, user: User, community: Community
    ) -> Callable[[Reply], Awaitable[MessageRef | None]]:
        thread = message.message_thread_id if message.is_topic_message else None
        channel = ChannelRef(
            PlatformName.TELEGRAM, str(message.chat.id), str(thread) if thread else None
        )

        async def respond(reply: Reply) -> MessageRef | None:
            return await self._answer(
                message.chat, channel, user, community, reply, message.message_id
            )

        return respond

    async def _answer(
        self,
        chat: Chat,
        channel: ChannelRef,
        user: User,
        community: Community,
        reply: Reply,
        reply_to: int | None,
    ) -> MessageRef:
        """Answer in the chat, or privately when the reply is only for the caller."""
        if not reply.ephemeral or chat.type == Chat.PRIVATE:
            return await self._deliver(community, channel, reply, reply_to=reply_to)
        try:
            return await self.direct_message(str(user.id), reply)
        except PlatformError as exc:
            if exc.reason is not PlatformErrorReason.DM_CLOSED:
                raise
        locale = normalize_locale(user.language_code) or community.config.locale
        i18n = self.cohort.i18n
        fallback = Reply(
            text=i18n.text(locale, "telegram.dm_fallback", name=user.first_name),
            buttons=(
                Button(
                    i18n.plain(locale, "telegram.open_private_chat"),
                    url=f"https://t.me/{self.username}?start=hello",
                ),
            ),
        )
        return await self._deliver(community, channel, fallback, reply_to=reply_to)


def _emoji(reactions: Sequence[ReactionType]) -> set[str]:
    """Return the plain emoji among reactions (custom and paid ones are left out)."""
    return {r.emoji for r in reactions if isinstance(r, ReactionTypeEmoji)}


def _real_reply(message: Message) -> Message | None:
    """Return the message this one answers; in a forum topic, not the topic's opening notice."""
    reply_to = message.reply_to_message
    if reply_to is None or reply_to.forum_topic_created is not None:
        return None
    if message.is_topic_message and reply_to.message_id == message.message_thread_id:
        return None
    return reply_to


def _fits_toast(reply: Reply) -> bool:
    """Say whether a reply can be shown as a callback answer (private, short, text only)."""
    return (
        reply.ephemeral
        and not reply.title
        and not reply.fields
        and not reply.buttons
        and reply.image is None
        and reply.attachment is None
        and 0 < len(markup.plain(reply.text)) <= TOAST_LIMIT
    )
