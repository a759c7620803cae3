"""The points commands and the message listener; the rules live in _rules, _ledger and _levels."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.points import _kudos as kudos
from bot.cogs.points import _ledger as ledger
from bot.cogs.points import _referrals as referrals
from bot.cogs.points._levels import progress
from bot.cogs.points._manage import MAX_PAGE, PAGE_OPTION, PERIOD_OPTION, ManagePoints
from bot.cogs.points._rewards import crossed, roles_for
from bot.cogs.points._rules import (
    Reason,
    digest,
    ineligible,
    message_points,
    says_thanks,
)
from bot.core import markup
from bot.core.buttons import payload_fields, payload_int
from bot.core.cohort import Cohort
from bot.core.commands import ActionSpec, CommandSpec, Option, OptionKind
from bot.core.community import Community
from bot.core.config import AccountRef, ChannelAddress, CommunityConfig, LevelUpMessage
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.events import MemberJoined, MemberLeft, MessageDeleted, MessagePosted
from bot.core.identity import Account
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget, ChannelRef, PlatformError
from bot.core.replies import Button, Field, Image, Reply
from bot.store.dialect import upsert_add
from bot.store.tables import points_balances

log = logging.getLogger(__name__)

PAGE_SIZE = 10
ACTIVITY_RESOLUTION = timedelta(hours=1)
SEEN_LIMIT = 100_000
BAR = 10
SHOWS_IMAGES = frozenset({PlatformName.DISCORD, PlatformName.TELEGRAM})


def _channel(address: ChannelAddress) -> ChannelRef:
    """Return where a configured channel address points."""
    return ChannelRef(address.platform, address.channel_id, address.thread_id)


def _space_for(
    config: CommunityConfig, platform: PlatformName, channel: ChannelRef | None
) -> str | None:
    """Return the guild or chat an invite made on ``platform`` leads into."""
    if platform is PlatformName.TELEGRAM:
        here = channel.channel_id if channel is not None else None
        if here in config.telegram_chats:
            return here
        return config.telegram_chats[0] if config.telegram_chats else None
    if platform is PlatformName.DISCORD:
        return config.discord_guilds[0] if config.discord_guilds else None
    return platform.value  # the console is one room


def _bar(percent: int) -> str:
    filled = percent * BAR // 100
    return "█" * filled + "░" * (BAR - filled)


class PointsCog:
    """Listens to messages and answers the points commands for one bot."""

    def __init__(self, cohort: Cohort, rng: random.Random | None = None) -> None:
        self.cohort = cohort
        self.rng = rng or random.Random()
        # (community, member) -> (last message award, last time marked active): a shortcut
        # only; the write transaction re-checks the stored cooldown, so a restart loses nothing.
        self._seen: dict[tuple[int, int], tuple[datetime, datetime]] = {}
        self.manage = ManagePoints(cohort, self)

    def _remember(
        self, community_id: int, member_id: int, award: datetime, active: datetime
    ) -> None:
        if len(self._seen) > SEEN_LIMIT:
            self._seen.clear()
        self._seen[(community_id, member_id)] = (award, active)

    # --- earning from messages ----------------------------------------------------------------

    def wants_message(self, event: MessagePosted) -> bool:
        """Tell whether a message may earn points or mark its author active (else: no write)."""
        config = event.community.config.points
        account = event.account
        if config.excluded_channels or config.muted:  # most communities have neither
            author = AccountRef(account.platform, account.platform_user_id)
            if ineligible(config, channel_id=event.channel.channel_id, author=author) is not None:
                return False
        seen = self._seen.get((event.community.id, account.member_id))
        if seen is None:
            return True
        now = self.cohort.clock.now()
        # surely still cooling down, and recently marked active: nothing to write
        return not (now - seen[0] < config.message_cooldown and now - seen[1] < ACTIVITY_RESOLUTION)

    async def on_message(self, event: MessagePosted) -> None:
        """Award message points when the rules allow it, and announce a new level."""
        if not self.wants_message(event):
            return
        community = event.community
        config = community.config.points
        account = event.account
        now = self.cohort.clock.now()
        keys = {"community_id": community.id, "member_id": account.member_id}
        ref = f"{event.channel.platform}:{event.channel.channel_id}:{event.message_id}"

        async def award(conn: AsyncConnection) -> tuple[int, int | None, datetime | None]:
            """Mark the member active and award the message; return balance, points, last."""
            row = await upsert_add(  # the row as it is now: one statement, not a second read
                conn,
                points_balances,
                keys,
                column="balance",
                amount=0,
                extra={"last_active_at": now},
                returning=("balance", "last_message_award_at", "last_message_digest"),
            )
            assert row is not None
            earned = message_points(
                config,
                text=event.text,
                now=now,
                last_award_at=row.last_message_award_at,
                last_digest=row.last_message_digest,
                rng=self.rng,
            )
            if not isinstance(earned, int):
                return row.balance, None, row.last_message_award_at
            cooldown = {"last_message_award_at": now, "last_message_digest": digest(event.text)}
            if not await ledger.award_in(
                conn,
                community,
                account.member_id,
                earned,
                Reason.MESSAGE,
                ref,
                at=now,
                balance_extra=cooldown,  # with the balance, not in a statement of its own
            ):
                return row.balance, None, None
            return row.balance, earned, now

        # In the message log's batch: a burst of first messages shares its transactions.
        balance, earned, last = await self.cohort.dispatcher.messages.run(award)
        if earned is None:
            if last is not None:
                self._remember(community.id, account.member_id, last, now)
            return
        self._remember(community.id, account.member_id, now, now)
        before = progress(balance, config.curve, config.curve_step).level
        after = progress(balance + earned, config.curve, config.curve_step).level
        if after != before:
            await self.settle_levels(member_id=account.member_id, where=event.channel)

    # --- level changes: announcements and reward roles -----------------------------------------

    async def settle_levels(
        self, *, member_id: int | None = None, where: ChannelRef | None = None
    ) -> int:
        """Announce and reward the pending level changes (one member's, or all); return how many.

        Changes are queued with the award that caused them, whichever cog made it; a message's
        level-up is announced where it was posted, the rest by the periodic job.
        """
        changes = await ledger.claim_level_changes(
            self.cohort.db, self.cohort.clock.now(), member_id=member_id
        )
        by_id = {c.id: c for c in self.cohort.communities.values()}
        for change in changes:
            community = by_id.get(change.community_id)
            if community is None:
                continue
            try:
                await self._settle(community, change, where)
            except Exception:
                log.exception("points: could not settle level change %s", change)
        return len(changes)

    async def _settle(
        self, community: Community, change: ledger.LevelChange, where: ChannelRef | None
    ) -> None:
        config = community.config.points
        member, accounts = await self.cohort.identity.profile(change.member_id)
        if not accounts:
            return
        if config.level_rewards:
            await self._sync_roles(community, accounts, change.level_to)
        if change.level_to <= change.level_from or config.level_up_message is LevelUpMessage.OFF:
            return
        latest = max(accounts, key=lambda a: a.last_seen_at)
        private = config.level_up_message is LevelUpMessage.DM
        # A channel hears the community's language; a DM the member's own.
        locale = (member.locale or latest.locale if private else None) or community.config.locale
        reward = crossed(config.level_rewards, change.level_from, change.level_to)
        params = {"name": latest.display_name, "level": change.level_to}
        text = (
            self.cohort.i18n.text(locale, "points.level_up_reward", title=reward.title, **params)
            if reward is not None
            else self.cohort.i18n.text(locale, "points.level_up", **params)
        )
        if private:
            platform = self.cohort.platforms.get(latest.platform)
            if platform is not None:
                try:
                    await platform.direct_message(latest.platform_user_id, Reply(text=text))
                except PlatformError as exc:
                    log.info("points: level-up DM to member %s failed: %s", member.id, exc)
            return
        targets = [where] if where is not None else [_channel(c) for c in config.level_up_channels]
        for channel in targets:
            platform = self.cohort.platforms.get(channel.platform)
            if platform is None:
                continue
            try:
                await platform.send(channel, Reply(text=text))
            except PlatformError as exc:
                log.warning("points: could not announce a level-up in %s: %s", channel, exc)

    async def _sync_roles(self, community: Community, accounts: list[Account], level: int) -> None:
        """Give the reward roles a member's level earns on Discord and take the others."""
        platform = self.cohort.platforms.get(PlatformName.DISCORD)
        discord = [a for a in accounts if a.platform is PlatformName.DISCORD]
        if platform is None or not discord:
            return
        config = community.config.points
        keep, drop = roles_for(config.level_rewards, level, stack=config.level_rewards_stack)
        for account in discord:
            for roles, change in ((keep, platform.grant_access), (drop, platform.revoke_access)):
                for role in sorted(roles):
                    guild, _, role_id = role.partition(":")
                    try:
                        await change(
                            account.platform_user_id,
                            AccessTarget(PlatformName.DISCORD, guild, role_id),
                        )
                    except PlatformError as exc:
                        log.warning(
                            "points: reward role %s for %s not changed: %s",
                            role,
                            account.platform_user_id,
                            exc,
                        )

    # --- commands -----------------------------------------------------------------------------

    async def show(self, ctx: Context, member: Account | None = None) -> Reply:
        """Show a member's balance, level, rank and latest entries."""
        target = member or ctx.account
        config = ctx.community.config.points
        db = self.cohort.db
        ranked = await ledger.rank_of(
            db, ctx.community, target.member_id, ledger.Period.ALL, ctx.now()
        )
        # A ranked member's total is their balance; only the unranked need another read.
        if ranked is not None:
            balance = ranked[1]
        else:
            balance = await ledger.balance_of(db, ctx.community.id, target.member_id)
        level = progress(balance, config.curve, config.curve_step)
        entries = await ledger.recent(db, ctx.community.id, target.member_id)
        lines = [
            ctx.t(
                "points.entry",
                delta=f"{e.delta:+d}",
                reason=ctx.plain(f"points.reason.{e.reason.value}"),
                date=e.created_at.astimezone(ctx.tz).strftime("%Y-%m-%d"),
            )
            for e in entries
        ]
        return Reply(
            title=ctx.plain("points.show.title", name=target.display_name),
            fields=(
                Field(ctx.plain("points.show.balance"), f"{balance:,}", inline=True),
                Field(
                    ctx.plain("points.show.level"),
                    ctx.t(
                        "points.show.level_value",
                        level=level.level,
                        bar=_bar(level.percent),
                        into=level.into,
                        needed=level.needed,
                    ),
                    inline=True,
                ),
                Field(
                    ctx.plain("points.show.rank"),
                    f"#{ranked[0]}" if ranked else ctx.t("points.show.unranked"),
                    inline=True,
                ),
                Field(
                    ctx.plain("points.show.recent"),
                    "\n".join(lines) if lines else ctx.t("points.show.no_entries"),
                ),
            ),
        )

    async def leaderboard(self, ctx: Context, period: str = "week", page: int = 1) -> Reply:
        """Show one page of the week's, month's or all-time ranking, and the caller's place."""
        board = ledger.Period(period)
        rows, more = await ledger.leaderboard(
            self.cohort.db, ctx.community, board, ctx.now(), page=page - 1, size=PAGE_SIZE
        )
        if not rows and page > 1:
            count = await ledger.board_size(self.cohort.db, ctx.community, board, ctx.now())
            pages = max(1, -(-count // PAGE_SIZE))
            raise UserError("points.board.no_page", page=page, pages=pages)
        lines = [
            ctx.t("points.board.line", rank=r.rank, name=r.name, points=f"{r.total:,}")
            for r in rows
        ]
        if not lines:
            lines = [ctx.t("points.board.empty")]
        if all(r.member_id != ctx.member.id for r in rows):
            mine = await ledger.rank_of(
                self.cohort.db, ctx.community, ctx.member.id, board, ctx.now()
            )
            if mine is not None:
                lines += ["", ctx.t("points.board.you", rank=mine[0], points=f"{mine[1]:,}")]
        title = ctx.plain(f"points.board.title_{board.value}")
        config = ctx.community.config.points
        card = None
        if rows and config.leaderboard_card and ctx.platform.name in SHOWS_IMAGES:
            from bot.cogs.points._card import render_card  # noqa: PLC0415 (Pillow: first card)

            data = await asyncio.to_thread(
                render_card,
                f"{title} · {page}",
                rows,
                highlight=ctx.member.id,
                font_path=config.card_font or None,
            )
            card = Image(data=data, filename=f"leaderboard-{board.value}-{page}.png")
        return Reply(
            title=title,
            text="\n".join(lines),
            image=card,
            fields=(Field(ctx.plain("points.board.page"), str(page), inline=True),),
            buttons=(
                (
                    Button(
                        ctx.plain("points.board.next"), "points.page", f"{board.value}:{page + 1}"
                    ),
                )
                if more
                else ()
            ),
        )

    async def next_page(self, ctx: Context, payload: str) -> Reply:
        """Show the page a leaderboard's "next page" button points at."""
        period, page = payload_fields(payload, 2)
        if period not in {p.value for p in ledger.Period}:
            raise UserError("action.unknown")
        return await self.leaderboard(ctx, period, payload_int(page, high=MAX_PAGE))

    async def _kudos(
        self,
        community: Community,
        giver: int,
        receiver: Account,
        ref: str,
        *,
        now: datetime,
        tz: ZoneInfo,
        note: str | None,
    ) -> bool:
        """Give kudos (``kudos.give``), then settle the receiver's level; False for a replay."""
        added = await kudos.give(
            self.cohort, community, giver, receiver, ref, now=now, tz=tz, note=note
        )
        if added:
            await self.settle_levels(member_id=receiver.member_id)
        return added

    @staticmethod
    def wants_thanks(event: MessagePosted) -> bool:
        """Tell whether a message says thanks where thanks in messages give kudos."""
        config = event.community.config.points
        return config.thanks_in_messages and says_thanks(event.text, config.thanks_words)

    async def on_thanks(self, event: MessagePosted) -> None:
        """Give kudos for a message that says thanks and replies to or mentions someone."""
        if not self.wants_thanks(event):
            return
        community = event.community
        config = community.config.points
        author = AccountRef(event.account.platform, event.account.platform_user_id)
        if ineligible(config, channel_id=event.channel.channel_id, author=author) is not None:
            return
        thanked = await kudos.thanked(self.cohort, event)
        giver = event.account.member_id
        for receiver, message_id in thanked:
            # Keyed by the message the thanks is for: deleting it takes the kudos back.
            ref = f"{kudos.message_prefix(event.channel, message_id)}{giver}"
            try:
                added = await self._kudos(
                    community, giver, receiver, ref, now=event.posted_at, tz=community.tz, note=None
                )
            except UserError as refusal:
                log.debug("points: no kudos from message %s: %s", event.message_id, refusal.key)
                continue
            if added:
                await self._say(
                    event.channel,
                    community,
                    "points.kudos.done",
                    {
                        "giver": event.account.display_name,
                        "name": receiver.display_name,
                        "points": config.kudos,
                        "reason": "",
                    },
                )

    async def on_deleted(self, event: MessageDeleted) -> None:
        """Take back the kudos given for a message that was deleted."""
        members = await ledger.reverse_matching(
            self.cohort.db,
            event.community,
            Reason.KUDOS,
            kudos.message_prefix(event.channel, event.message_id),
            at=self.cohort.clock.now(),
            note="message deleted",
        )
        for member_id in set(members):
            await self.settle_levels(member_id=member_id)

    async def _say(
        self, channel: ChannelRef, community: Community, key: str, params: dict[str, object]
    ) -> None:
        platform = self.cohort.platforms.get(channel.platform)
        if platform is None:
            return
        text = self.cohort.i18n.text(community.config.locale, key, **params)
        try:
            await platform.send(channel, Reply(text=text))
        except PlatformError as exc:
            log.warning("points: could not post in %s: %s", channel, exc)

    async def thanks(self, ctx: Context, member: Account, reason: str | None = None) -> Reply:
        """Give a member kudos, within the daily limit and the per-person cooldown."""
        config = ctx.community.config.points
        giver, now = ctx.member.id, ctx.now()
        ref = f"thanks:{giver}:{member.member_id}:{now.isoformat()}:{secrets.token_hex(4)}"
        await self._kudos(ctx.community, giver, member, ref, now=now, tz=ctx.tz, note=reason)
        return Reply(
            text=ctx.t(
                "points.kudos.done",
                giver=ctx.account.display_name,
                name=member.display_name,
                points=config.kudos,
                reason=f" — {markup.escape(reason)}" if reason else "",
            )
        )

    # --- referrals ------------------------------------------------------------------------------

    async def invite(self, ctx: Context) -> Reply:
        """Give the caller their own invite link, and how their referrals are doing."""
        config = ctx.community.config
        name = ctx.platform.name
        space = _space_for(config, name, ctx.channel)
        if space is None:
            raise UserError("points.invite.nowhere")
        db = self.cohort.db
        link = await referrals.invite_of(db, ctx.community.id, ctx.member.id, name, space)
        if link is None:
            try:
                link = await ctx.platform.create_invite(
                    AccessTarget(name, space), member_limit=None
                )
            except PlatformError as exc:
                log.warning("points: no invite link into %s:%s: %s", name, space, exc)
                raise UserError("points.invite.failed") from exc
            await referrals.save_invite(
                db, ctx.community.id, ctx.member.id, name, space, link, ctx.now()
            )
        joined, rewarded = await referrals.counts(db, ctx.community.id, ctx.member.id)
        return Reply(
            text=ctx.t(
                "points.invite.link",
                link=link,
                points=config.points.referral,
                stay=ctx.duration(config.points.referral_stay),
                joined=joined,
                rewarded=rewarded,
            ),
            ephemeral=True,
        )

    async def on_joined(self, event: MemberJoined) -> None:
        """Record a referral when a new member came in through someone's invite link."""
        if event.invite_link is None:
            return
        await referrals.record_join(
            self.cohort.db,
            event.community.id,
            event.account.member_id,
            event.account.platform.value,
            event.invite_link,
            self.cohort.clock.now(),
        )

    async def on_left(self, event: MemberLeft) -> None:
        """A referred member who leaves before the referral paid never pays it."""
        await referrals.record_leave(
            self.cohort.db, event.community.id, event.account.member_id, self.cohort.clock.now()
        )

    async def settle_referrals(self) -> int:
        """Pay the referrals that are due, in every community; return how many."""
        paid = 0
        for community in self.cohort.communities.values():
            inviters = await referrals.settle(self.cohort.db, community, self.cohort.clock.now())
            for inviter in set(inviters):
                await self.settle_levels(member_id=inviter)
            paid += len(inviters)
        return paid

    def actions(self) -> tuple[ActionSpec, ...]:
        """Return the button actions of the points commands."""
        return (ActionSpec("points.page", self.next_page), *self.manage.actions())

    def commands(self) -> tuple[CommandSpec, ...]:
        """Return the specs of the points commands."""
        member_opt = Option("member", OptionKind.MEMBER, "points.option.member")
        return (
            CommandSpec(
                "points show",
                "points.show.description",
                self.show,
                options=(
                    Option("member", OptionKind.MEMBER, "points.option.member", required=False),
                ),
                default=True,
            ),
            CommandSpec("invite", "points.invite.description", self.invite),
            CommandSpec(
                "leaderboard",
                "points.board.description",
                self.leaderboard,
                options=(PERIOD_OPTION, PAGE_OPTION),
            ),
            CommandSpec(
                "thanks",
                "points.kudos.description",
                self.thanks,
                options=(
                    member_opt,
                    Option(
                        "reason",
                        OptionKind.TEXT,
                        "points.option.kudos_reason",
                        required=False,
                        max_length=200,
                    ),
                ),
            ),
            *self.manage.commands(),
        )
