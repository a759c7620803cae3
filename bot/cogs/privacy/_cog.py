"""The /privacy commands: what Cohort holds, an export, and erasure with a confirm button."""

from __future__ import annotations

import logging

from bot.cogs.privacy._rules import Packed, requester_key
from bot.cogs.privacy._service import PrivacyService
from bot.core.buttons import payload_int
from bot.core.cohort import Cohort
from bot.core.commands import ActionSpec, CommandSpec, Option, OptionKind, Permission
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.identity import Account
from bot.core.ports import PlatformError
from bot.core.privacy import Requester
from bot.core.replies import Attachment, Button, ButtonStyle, Field, Reply

log = logging.getLogger(__name__)

# The largest file sent as an attachment: Discord's smallest upload limit; above it, a link.
ATTACH_LIMIT = 8 * 1024 * 1024
MESSAGES = "message_log.member_id"
ACCOUNTS = "accounts.member_id"


class PrivacyCog:
    """Answers /privacy info, export, forget and forget_member, and the confirm button."""

    def __init__(self, cohort: Cohort, service: PrivacyService) -> None:
        self.cohort = cohort
        self.service = service

    async def info(self, ctx: Context) -> Reply:
        """Say what Cohort holds about the caller, how long, and what they can do about it."""
        counts = await self.cohort.privacy.census(ctx.member.id)
        accounts = await self.cohort.identity.accounts_of(ctx.member.id)
        other = {k: v for k, v in counts.items() if k not in (MESSAGES, ACCOUNTS)}
        config = ctx.community.config.privacy
        platforms = ", ".join(ctx.plain(f"platform.{a.platform.value}") for a in accounts)
        return Reply(
            title=ctx.plain("privacy.info.title"),
            text=ctx.t("privacy.info.text"),
            fields=(
                Field(ctx.plain("privacy.info.accounts"), platforms or "—"),
                Field(
                    ctx.plain("privacy.info.messages"),
                    ctx.t(
                        "privacy.info.messages_value",
                        count=counts.get(MESSAGES, 0),
                        days=config.retention_days,
                    ),
                ),
                Field(
                    ctx.plain("privacy.info.records"),
                    ctx.t("privacy.info.records_value", count=sum(other.values())),
                ),
                Field(ctx.plain("privacy.info.rights"), ctx.t("privacy.info.rights_value")),
            ),
            ephemeral=True,
        )

    async def export(self, ctx: Context) -> Reply:
        """Send the caller everything held about them, by private message or a download link."""
        packed = await self.service.export(ctx.community, ctx.member.id)
        if len(packed.data) <= ATTACH_LIMIT and await self._send(ctx, packed):
            return Reply(text=ctx.t("privacy.export.sent"), ephemeral=True)
        url = await self.service.link(ctx.community, ctx.member.id)
        if url is None:
            raise UserError("privacy.export.unreachable")
        within = ctx.duration(ctx.community.config.privacy.download_within)
        return Reply(
            text=ctx.t("privacy.export.link", within=within),
            buttons=(Button(ctx.plain("privacy.export.download"), url=url),),
            ephemeral=True,
        )

    async def _send(self, ctx: Context, packed: Packed) -> bool:
        reply = Reply(
            text=ctx.t("privacy.export.file"),
            attachment=Attachment(packed.data, packed.filename, packed.mime),
        )
        try:
            await ctx.platform.direct_message(ctx.account.platform_user_id, reply)
        except PlatformError as exc:
            log.info("privacy: export by private message failed: %s", exc.reason)
            return False
        return True

    async def forget(self, ctx: Context) -> Reply:
        """Ask the caller to confirm erasing everything held about them."""
        request = await self.service.request(
            ctx.community, ctx.member.id, Requester.SELF, self._presser(ctx)
        )
        return self._confirm(ctx, request, ctx.t("privacy.forget.confirm_self"))

    async def forget_member(self, ctx: Context, member: Account) -> Reply:
        """Ask an organizer to confirm erasing a member."""
        request = await self.service.request(
            ctx.community, member.member_id, Requester.ORGANIZER, self._presser(ctx)
        )
        return self._confirm(
            ctx, request, ctx.t("privacy.forget.confirm_member", name=member.display_name)
        )

    def _confirm(self, ctx: Context, request: int, text: str) -> Reply:
        within = ctx.duration(ctx.community.config.privacy.confirm_within)
        return Reply(
            text=text + "\n\n" + ctx.t("privacy.forget.within", within=within),
            buttons=(
                Button(
                    ctx.plain("privacy.forget.button"),
                    "privacy.forget",
                    str(request),
                    style=ButtonStyle.DANGER,
                ),
            ),
            ephemeral=True,
        )

    @staticmethod
    def _presser(ctx: Context) -> str:
        return requester_key(ctx.account.platform.value, ctx.account.platform_user_id)

    async def confirmed(self, ctx: Context, payload: str) -> Reply:
        """Erase the member of the request whose confirm button was pressed."""
        request, report = await self.service.confirm(
            ctx.community, payload_int(payload), self._presser(ctx)
        )
        kept = report.bookkeeping > 0  # purchases kept for the books, not just day counts
        if request.requester is Requester.SELF:
            key = "privacy.forget.done_self_kept" if kept else "privacy.forget.done_self"
        else:
            key = "privacy.forget.done_member_kept" if kept else "privacy.forget.done_member"
        return Reply(text=ctx.t(key), ephemeral=True)

    def actions(self) -> tuple[ActionSpec, ...]:
        """Return the confirm button's action."""
        return (ActionSpec("privacy.forget", self.confirmed),)

    def commands(self) -> tuple[CommandSpec, ...]:
        """Return the /privacy command specs."""
        member = Option("member", OptionKind.MEMBER, "privacy.option.member")
        return (
            CommandSpec("privacy info", "privacy.info.description", self.info, default=True),
            CommandSpec("privacy export", "privacy.export.description", self.export),
            CommandSpec("privacy forget", "privacy.forget.description", self.forget),
            CommandSpec(
                "privacy forget_member",
                "privacy.forget.member_description",
                self.forget_member,
                options=(member,),
                permission=Permission.ORGANIZER,
            ),
        )
