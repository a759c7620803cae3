"""Appeals: the button in a member's notice opens one thread per case for the moderators."""

from __future__ import annotations

import logging

from sqlalchemy import update

from bot.cogs.moderation import _store as store
from bot.cogs.moderation._rules import APPEAL_ACTION, APPEALABLE, State
from bot.cogs.moderation._service import ModerationService
from bot.core.buttons import payload_int
from bot.core.commands import ActionSpec
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.ports import ChannelRef, PlatformError, PlatformErrorReason
from bot.core.replies import Reply
from bot.store.tables import moderation_cases

log = logging.getLogger(__name__)

MAX_CASE = 10_000_000


class Appeals:
    """Opens a thread in the appeal channel when a member appeals their case, once."""

    def __init__(self, service: ModerationService) -> None:
        self.service = service
        self.cohort = service.cohort

    def actions(self) -> tuple[ActionSpec, ...]:
        """Return the appeal button's action."""
        return (ActionSpec(APPEAL_ACTION, self.pressed),)

    async def pressed(self, ctx: Context, payload: str) -> Reply:
        """Open the appeal of the case the button names, if it is the presser's and not open."""
        number = payload_int(payload, high=MAX_CASE)
        community = ctx.community
        where = community.config.moderation.appeal_channel
        case = await store.case_by_number(self.cohort.db, community.id, number)
        if case is None or case.member_id != ctx.member.id:
            raise UserError("moderation.appeal.not_yours")
        if where is None or case.action not in APPEALABLE or case.state is not State.DONE:
            raise UserError("moderation.appeal.closed")
        c = moderation_cases.c
        async with self.cohort.db.write() as conn:
            claimed = await conn.execute(
                update(moderation_cases)
                .where(c.id == case.id, c.appealed_at.is_(None))
                .values(appealed_at=ctx.now())
            )
        if not claimed.rowcount:
            raise UserError("moderation.appeal.already", number=number)
        moderator = "Cohort"
        if case.moderator_id is not None:
            accounts = await self.cohort.identity.accounts_of(case.moderator_id)
            moderator = accounts[0].display_name if accounts else moderator
        locale = community.config.locale
        i18n = self.cohort.i18n
        name = ctx.account.display_name
        opening = Reply(
            text=i18n.text(locale, "moderation.appeal.opening", name=name)
            + "\n"
            + self.service.describe(locale, case, moderator, name)
        )
        title = i18n.plain(locale, "moderation.appeal.title", number=number, name=name)
        platform = self.cohort.platforms.get(where.platform)
        try:
            if platform is None:
                raise PlatformError(PlatformErrorReason.UNAVAILABLE, f"{where.platform} is off")
            thread = await platform.create_thread(
                ChannelRef(where.platform, where.channel_id, where.thread_id), title, opening
            )
        except PlatformError as exc:
            log.warning("moderation: could not open the appeal of case %s: %s", number, exc)
            async with self.cohort.db.write() as conn:
                await conn.execute(
                    update(moderation_cases).where(c.id == case.id).values(appealed_at=None)
                )
            raise UserError("moderation.appeal.failed") from exc
        async with self.cohort.db.write() as conn:
            await conn.execute(
                update(moderation_cases)
                .where(c.id == case.id)
                .values(appeal_thread=f"{thread.channel_id}/{thread.thread_id or ''}")
            )
        return Reply(text=ctx.t("moderation.appeal.opened", number=number), ephemeral=True)
