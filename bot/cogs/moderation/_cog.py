"""The moderators' commands: each turns a context into a service call and a private reply."""

from __future__ import annotations

from datetime import timedelta

from bot.cogs.moderation import _store as store
from bot.cogs.moderation._rules import (
    MAX_DELETE_DAYS,
    MAX_PURGE,
    MAX_REASON,
    MAX_SLOWMODE,
    Action,
    State,
    clean_reason,
    mute_in_range,
    refusal,
)
from bot.cogs.moderation._service import Actor, ModerationService, Outcome
from bot.core.cohort import Cohort
from bot.core.commands import CommandSpec, Option, OptionKind, Permission
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.identity import Account
from bot.core.ports import PlatformError
from bot.core.replies import Reply

MODLOG_LIMIT = 15
MAX_CASE = 10_000_000


class ModerationCog:
    """Answers /warn, /mute, /unmute, /kick, /ban, /unban, /purge, /slowmode, /modlog, /case."""

    def __init__(self, cohort: Cohort, service: ModerationService) -> None:
        self.cohort = cohort
        self.service = service

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _actor(ctx: Context) -> Actor:
        return Actor(ctx.member.id, ctx.account.display_name)

    async def _check_target(self, ctx: Context, member: Account) -> None:
        """Refuse to act on oneself or on someone of an equal or higher role."""
        target_role = await self.service.role_of(ctx.community, member.member_id)
        why = refusal(ctx.member.id, ctx.role, member.member_id, target_role)
        if why is not None:
            raise UserError(f"moderation.refused.{why.value}", name=member.display_name)

    def _refusals(self, ctx: Context, refusals: list[PlatformError]) -> str:
        reasons = sorted({r.reason.value for r in refusals})
        return " ".join(ctx.t(f"moderation.platform.{r}") for r in reasons)

    def _answer(self, ctx: Context, outcome: Outcome, member: Account) -> Reply:
        """Tell the moderator what came of an action, privately, in their language."""
        lines = [self._line(ctx, outcome, member)]
        if outcome.escalated is not None:
            lines.append(self._line(ctx, outcome.escalated, member))
        return Reply(text="\n".join(lines), ephemeral=True)

    def _line(self, ctx: Context, outcome: Outcome, member: Account) -> str:
        case = outcome.case
        if case.state is State.FAILED:
            return ctx.t(
                "moderation.failed",
                number=case.number,
                action=ctx.plain(f"moderation.action.{case.action.value}"),
                name=member.display_name,
                why=self._refusals(ctx, outcome.refusals),
            )
        text = self.service.describe(
            ctx.locale, case, ctx.account.display_name, member.display_name
        )
        if not outcome.told and case.action is not Action.UNBAN:
            text += " " + ctx.t("moderation.not_told")
        return text

    async def _act(
        self,
        ctx: Context,
        member: Account,
        action: Action,
        reason: str,
        *,
        duration: timedelta | None = None,
        delete_days: int = 0,
    ) -> Reply:
        await self._check_target(ctx, member)
        outcome = await self.service.act(
            ctx.community,
            self._actor(ctx),
            member,
            action,
            clean_reason(reason),
            duration=duration,
            delete_days=delete_days,
        )
        return self._answer(ctx, outcome, member)

    # --- commands ----------------------------------------------------------------------------

    async def warn(self, ctx: Context, member: Account, reason: str) -> Reply:
        """Warn a member; enough live warnings escalate."""
        return await self._act(ctx, member, Action.WARN, reason)

    async def mute(self, ctx: Context, member: Account, duration: timedelta, reason: str) -> Reply:
        """Keep a member from talking for a while."""
        if not mute_in_range(duration):
            raise UserError("moderation.mute_range")
        return await self._act(ctx, member, Action.MUTE, reason, duration=duration)

    async def unmute(self, ctx: Context, member: Account) -> Reply:
        """Let a muted member talk again."""
        return await self._act(ctx, member, Action.UNMUTE, "")

    async def kick(self, ctx: Context, member: Account, reason: str) -> Reply:
        """Remove a member; they may come back with an invite."""
        return await self._act(ctx, member, Action.KICK, reason)

    async def ban(self, ctx: Context, member: Account, delete_days: int, reason: str) -> Reply:
        """Ban a member and delete their last days of messages."""
        return await self._act(ctx, member, Action.BAN, reason, delete_days=delete_days)

    async def unban(self, ctx: Context, member: Account) -> Reply:
        """Lift a member's ban."""
        return await self._act(ctx, member, Action.UNBAN, "")

    async def purge(self, ctx: Context, count: int, member: Account | None = None) -> Reply:
        """Delete the latest messages of this channel (of one member)."""
        if ctx.channel is None:
            raise UserError("moderation.needs_channel")
        case, deleted, refusals = await self.service.purge(
            ctx.community, self._actor(ctx), ctx.platform, ctx.channel, count, member
        )
        if refusals:
            text = ctx.t(
                "moderation.purge_failed",
                number=case.number,
                count=deleted,
                why=self._refusals(ctx, refusals),
            )
        else:
            text = ctx.t("moderation.purged", number=case.number, count=deleted)
        return Reply(text=text, ephemeral=True)

    async def slowmode(self, ctx: Context, seconds: int) -> Reply:
        """Set this channel's slowmode (0 turns it off)."""
        if ctx.channel is None:
            raise UserError("moderation.needs_channel")
        case, native, refusals = await self.service.slowmode(
            ctx.community, self._actor(ctx), ctx.platform, ctx.channel, seconds
        )
        if refusals:
            text = ctx.t(
                "moderation.failed",
                number=case.number,
                action=ctx.plain("moderation.action.slowmode"),
                name="#" + ctx.channel.channel_id,
                why=self._refusals(ctx, refusals),
            )
        elif seconds == 0:
            text = ctx.t("moderation.slowmode_off", number=case.number)
        else:
            key = "moderation.slowmode_native" if native else "moderation.slowmode_bot"
            text = ctx.t(key, number=case.number, duration=ctx.duration(timedelta(seconds=seconds)))
        return Reply(text=text, ephemeral=True)

    async def modlog(self, ctx: Context, member: Account) -> Reply:
        """Show a member's latest cases."""
        cases = await store.cases_of(
            self.cohort.db, ctx.community.id, member.member_id, MODLOG_LIMIT
        )
        if not cases:
            return Reply(
                text=ctx.t("moderation.modlog_empty", name=member.display_name), ephemeral=True
            )
        names = await self._names(ctx, {c.moderator_id for c in cases})
        lines = [
            self.service.describe(
                ctx.locale, c, names.get(c.moderator_id, "Cohort"), member.display_name
            )
            for c in cases
        ]
        title = ctx.plain("moderation.modlog_title", name=member.display_name)
        return Reply(title=title, text="\n".join(lines), ephemeral=True)

    async def case(self, ctx: Context, id: int, reason: str | None = None) -> Reply:
        """Show one case; with a reason, change its reason."""
        if reason is not None:
            found = await store.edit_reason(
                self.cohort.db, ctx.community.id, id, clean_reason(reason), ctx.now()
            )
        else:
            found = await store.case_by_number(self.cohort.db, ctx.community.id, id)
        if found is None:
            raise UserError("moderation.no_case", number=id)
        names = await self._names(ctx, {found.moderator_id, found.member_id})
        text = self.service.describe(
            ctx.locale,
            found,
            names.get(found.moderator_id, "Cohort"),
            names.get(found.member_id),
        )
        if reason is not None:
            text = ctx.t("moderation.case_edited", number=id) + "\n" + text
        return Reply(text=text, ephemeral=True)

    async def _names(self, ctx: Context, member_ids: set[int | None]) -> dict[int | None, str]:
        names: dict[int | None, str] = {}
        for member_id in member_ids:
            if member_id is None:
                continue
            accounts = await self.cohort.identity.accounts_of(member_id)
            if accounts:
                names[member_id] = accounts[0].display_name
        return names

    # --- specs -------------------------------------------------------------------------------

    def commands(self) -> tuple[CommandSpec, ...]:
        """Return the specs of the moderators' commands."""
        member = Option("member", OptionKind.MEMBER, "moderation.option.member")
        reason = Option(
            "reason", OptionKind.TEXT, "moderation.option.reason", max_length=MAX_REASON
        )
        mod = Permission.MODERATOR

        def spec(name: str, handler: object, *options: Option) -> CommandSpec:
            return CommandSpec(
                name,
                f"moderation.command.{name}",
                handler,  # type: ignore[arg-type]
                options=options,
                permission=mod,
            )

        return (
            spec("warn", self.warn, member, reason),
            spec(
                "mute",
                self.mute,
                member,
                Option("duration", OptionKind.DURATION, "moderation.option.duration"),
                reason,
            ),
            spec("unmute", self.unmute, member),
            spec("kick", self.kick, member, reason),
            spec(
                "ban",
                self.ban,
                member,
                Option(
                    "delete_days",
                    OptionKind.INTEGER,
                    "moderation.option.delete_days",
                    min_value=0,
                    max_value=MAX_DELETE_DAYS,
                ),
                reason,
            ),
            spec("unban", self.unban, member),
            spec(
                "purge",
                self.purge,
                Option(
                    "count",
                    OptionKind.INTEGER,
                    "moderation.option.count",
                    min_value=1,
                    max_value=MAX_PURGE,
                ),
                Option(
                    "member",
                    OptionKind.MEMBER,
                    "moderation.option.purge_member",
                    required=False,
                ),
            ),
            spec(
                "slowmode",
                self.slowmode,
                Option(
                    "seconds",
                    OptionKind.INTEGER,
                    "moderation.option.seconds",
                    min_value=0,
                    max_value=MAX_SLOWMODE,
                ),
            ),
            spec("modlog", self.modlog, member),
            spec(
                "case",
                self.case,
                Option(
                    "id",
                    OptionKind.INTEGER,
                    "moderation.option.case",
                    min_value=1,
                    max_value=MAX_CASE,
                ),
                Option(
                    "reason",
                    OptionKind.TEXT,
                    "moderation.option.new_reason",
                    required=False,
                    max_length=MAX_REASON,
                ),
            ),
        )
