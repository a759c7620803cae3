"""The recommend commands, the privacy switch and the weekly digest; the model lives in _service."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, desc, or_, select

from bot.cogs import analytics
from bot.cogs.recommend._service import Recommender, Suggestions
from bot.cogs.recommend._store import get_prefs, set_prefs
from bot.core.clock import local_time
from bot.core.cohort import Cohort
from bot.core.commands import ActionSpec, Choice, CommandSpec, Option, OptionKind, Permission
from bot.core.community import Community
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.i18n import DEFAULT_LOCALE
from bot.core.platforms import PlatformName
from bot.core.ports import PlatformError
from bot.core.replies import Button, ButtonStyle, Field, Reply, as_reply
from bot.recommend import Algorithm, Reason, Suggestion
from bot.recommend._store import member_counts
from bot.store.tables import accounts, members, message_log, purchases, recommend_prefs

log = logging.getLogger(__name__)

SHOWN = 5
# The command a member runs to buy or join an offer (the gating cog's); the one line to change
# if gating later offers a direct button instead.
JOIN_COMMAND = "/join {offer}"
GATING_JOIN = "gating.join"  # the gating cog's button action that answers with a Checkout link
ON_OFF = (Choice("on", "recommend.choice.on"), Choice("off", "recommend.choice.off"))


class RecommendCog:
    """Answers /recommend, /recommend stats, /recommend digest and /privacy recommendations."""

    def __init__(self, cohort: Cohort, services: dict[int, Recommender]) -> None:
        self.cohort = cohort
        self.services = services

    def service(self, community: Community) -> Recommender:
        """Return the recommender of a community."""
        return self.services[community.id]

    # --- what a member sees -------------------------------------------------------------------

    def _line(self, ctx: Context, number: int, suggestion: Suggestion) -> tuple[str, str]:
        course = ctx.community.config.courses[self._position(ctx, suggestion.course_id)]
        why = self._why(ctx, suggestion)
        title = ctx.t("recommend.item", number=number, title=course.title)
        return title, why

    @staticmethod
    def _position(ctx: Context, course_id: str) -> int:
        for position, course in enumerate(ctx.community.config.courses):
            if course.id == course_id:
                return position
        raise KeyError(course_id)

    def _title(self, ctx: Context, course_id: str) -> str:
        return ctx.community.config.courses[self._position(ctx, course_id)].title

    def _why(self, ctx: Context, suggestion: Suggestion) -> str:
        match suggestion.reason:
            case Reason.ALSO_TOOK:
                return ctx.t(
                    "recommend.reason.also_took", course=self._title(ctx, suggestion.because)
                )
            case Reason.WROTE_ABOUT:
                return ctx.t("recommend.reason.wrote_about", topic=suggestion.because)
            case Reason.MATCHES_TEXT:
                return ctx.t("recommend.reason.matches_text")
            case _:
                return ctx.t("recommend.reason.popular")

    async def suggestions_for(
        self, community: Community, member_id: int, locale: str
    ) -> Suggestions:
        """Return a member's suggestions with the tiers they hold now."""
        tiers = await self.cohort.entitlements.tiers_of(member_id, self.cohort.clock.now())
        return await self.service(community).suggest(
            member_id, tiers=tiers, language=locale, k=SHOWN
        )

    def render(self, ctx: Context, found: Suggestions, title_key: str) -> Reply:
        """Show suggestions as fields, with a join button for each."""
        fields = []
        buttons = []
        courses = ctx.community.config.courses
        for number, suggestion in enumerate(found.items, start=1):
            title, why = self._line(ctx, number, suggestion)
            fields.append(Field(title, why))
            offer = courses[self._position(ctx, suggestion.course_id)].offer_id
            buttons.append(
                Button(
                    ctx.plain("recommend.join_button", number=number),
                    "recommend.join",
                    offer,
                    style=ButtonStyle.PRIMARY,
                )
            )
        text = "" if found.personalised else ctx.t("recommend.generic")
        return Reply(
            title=ctx.plain(title_key), text=text, fields=tuple(fields), buttons=tuple(buttons)
        )

    async def show(self, ctx: Context) -> Reply:
        """Show the member's top courses and why."""
        if not ctx.community.config.courses:
            raise UserError("recommend.no_catalog")
        found = await self.suggestions_for(ctx.community, ctx.member.id, ctx.locale)
        if not found.items:
            return Reply(text=ctx.t("recommend.nothing"), ephemeral=True)
        reply = self.render(ctx, found, "recommend.title")
        await self._record_shown(ctx.community, ctx.member.id, found.items, found.personalised)
        return Reply(
            title=reply.title,
            text=reply.text,
            fields=reply.fields,
            buttons=reply.buttons,
            ephemeral=True,
        )

    async def join(self, ctx: Context, payload: str) -> Reply:
        """Give a Checkout link for the course behind a pressed button (or say how to join)."""
        if all(c.offer_id != payload for c in ctx.community.config.courses):
            raise UserError("action.unknown")
        checkout = self.cohort.registry.action(GATING_JOIN)
        if checkout is not None and ctx.community.config.offer(payload) is not None:
            answer = await checkout.handler(ctx, payload)  # the gating cog sells it
            return as_reply(answer) if answer is not None else Reply(ephemeral=True)
        return Reply(
            text=ctx.t("recommend.join_hint", command=JOIN_COMMAND.format(offer=payload)),
            ephemeral=True,
        )

    # --- organizers ---------------------------------------------------------------------------

    async def stats(self, ctx: Context) -> Reply:
        """Show model age, what it was trained on, coverage and who gets personal results."""
        service = self.service(ctx.community)
        await service.open()
        config = ctx.community.config.recommend
        async with self.cohort.db.read() as conn:
            counts = await member_counts(conn, ctx.community.id, ctx.now() - config.text_window)
        model = service.model
        if model is None:
            age = ctx.t("recommend.stats.no_model")
        else:
            hours = max(0, int((ctx.now() - model.info.trained_at) / timedelta(hours=1)))
            age = ctx.t(
                "recommend.stats.age_value",
                hours=hours,
                when=local_time(model.info.trained_at, ctx.tz),
            )
        current = service.current()
        # Only a trained model that is more than popularity tells one member from another.
        personal = model is not None and model.info.algorithm is not Algorithm.POPULARITY
        coverage = current.info.validation.get("coverage")
        fields = [
            Field(ctx.plain("recommend.stats.age"), age),
            Field(
                ctx.plain("recommend.stats.algorithm"),
                ctx.plain(f"recommend.algorithm.{current.info.algorithm.value}"),
                inline=True,
            ),
            Field(
                ctx.plain("recommend.stats.trained_on"),
                ctx.t(
                    "recommend.stats.trained_on_value",
                    purchases=current.info.purchases,
                    members=current.info.members,
                ),
                inline=True,
            ),
            Field(
                ctx.plain("recommend.stats.coverage"),
                f"{coverage:.0%}" if coverage is not None else "—",
                inline=True,
            ),
            Field(
                ctx.plain("recommend.stats.personalised"),
                ctx.t(
                    "recommend.stats.personalised_value",
                    warm=counts["warm"],
                    text=counts["text_only"],
                    total=counts["members"],
                )
                if personal
                else ctx.t("recommend.stats.personalised_none", total=counts["members"]),
            ),
        ]
        if service.training:
            fields.append(
                Field(ctx.plain("recommend.stats.training"), ctx.t("recommend.stats.now"))
            )
        return Reply(title=ctx.plain("recommend.stats.title"), fields=tuple(fields))

    # --- switches -----------------------------------------------------------------------------

    async def privacy(self, ctx: Context, setting: str) -> Reply:
        """Let or stop the recommender reading the member's messages."""
        await set_prefs(
            self.cohort.db, ctx.community.id, ctx.member.id, ctx.now(), use_messages=setting == "on"
        )
        key = "recommend.privacy.on" if setting == "on" else "recommend.privacy.off"
        return Reply(text=ctx.t(key), ephemeral=True)

    async def digest_switch(self, ctx: Context, setting: str) -> Reply:
        """Turn the member's weekly digest on or off."""
        if not ctx.community.config.recommend.digest:
            raise UserError("recommend.digest.disabled")
        await set_prefs(
            self.cohort.db, ctx.community.id, ctx.member.id, ctx.now(), digest=setting == "on"
        )
        key = "recommend.digest.on" if setting == "on" else "recommend.digest.off"
        return Reply(text=ctx.t(key), ephemeral=True)

    # --- the digest ---------------------------------------------------------------------------

    async def send_digests(self, community: Community) -> int:
        """DM due members their new suggestions; return how many were sent (rate-limited)."""
        config = community.config.recommend
        if not config.digest or not community.config.courses:
            return 0
        now = self.cohort.clock.now()
        due_before = now - config.digest_every
        active = (
            select(purchases.c.member_id)
            .where(purchases.c.community_id == community.id)
            .union(
                select(message_log.c.member_id).where(
                    message_log.c.community_id == community.id,
                    message_log.c.posted_at >= now - config.text_window,
                )
            )
        )
        due = (
            select(members.c.id, members.c.locale)
            .outerjoin(
                recommend_prefs,
                and_(
                    recommend_prefs.c.community_id == members.c.community_id,
                    recommend_prefs.c.member_id == members.c.id,
                ),
            )
            .where(
                members.c.community_id == community.id,
                members.c.id.in_(active),
                or_(recommend_prefs.c.digest.is_(None), recommend_prefs.c.digest.is_(True)),
                or_(
                    recommend_prefs.c.last_digest_at.is_(None),
                    recommend_prefs.c.last_digest_at <= due_before,
                ),
            )
            .order_by(members.c.id)
            .limit(config.digest_per_run)
        )
        async with self.cohort.db.read() as conn:
            rows = (await conn.execute(due)).all()
        sent = 0
        for member_id, member_locale in rows:
            if await self._digest_one(community, member_id, member_locale):
                sent += 1
        return sent

    async def _digest_one(self, community: Community, member_id: int, locale: str | None) -> bool:
        now = self.cohort.clock.now()
        async with self.cohort.db.read() as conn:
            prefs = await get_prefs(conn, community.id, member_id)
            targets = (
                await conn.execute(
                    select(accounts.c.platform, accounts.c.platform_user_id, accounts.c.locale)
                    .where(accounts.c.member_id == member_id)
                    .order_by(desc(accounts.c.last_seen_at))
                )
            ).all()
        locale = locale or next((t.locale for t in targets if t.locale), None)
        locale = locale or community.config.locale or DEFAULT_LOCALE
        found = await self.suggestions_for(community, member_id, locale)
        fresh = [s for s in found.items if s.course_id not in prefs.last_digest]
        record = {"last_digest_at": now}
        if not fresh or not found.personalised:
            await set_prefs(self.cohort.db, community.id, member_id, now, **record)
            return False
        reply = self._digest_reply(community, locale, fresh)
        delivered = False
        for target in targets:
            platform = self.cohort.platforms.get(PlatformName(target.platform))
            if platform is None:
                continue
            try:
                await platform.direct_message(target.platform_user_id, reply)
            except PlatformError as exc:
                log.info("recommend digest: member %s on %s: %s", member_id, target.platform, exc)
                continue
            delivered = True
            break
        if delivered:
            await self._record_shown(community, member_id, fresh, personal=True)
        last = ",".join(s.course_id for s in found.items)
        await set_prefs(self.cohort.db, community.id, member_id, now, last_digest=last, **record)
        return delivered

    async def _record_shown(
        self, community: Community, member_id: int, items: list[Suggestion], personal: bool
    ) -> None:
        """Tell the analytics which courses a member was shown (for shown -> bought)."""
        offers = {c.id: c.offer_id for c in community.config.courses}
        await analytics.record_shown(
            self.cohort.db,
            community.id,
            member_id,
            [(s.course_id, offers[s.course_id]) for s in items if s.course_id in offers],
            personal=personal,
            at=self.cohort.clock.now(),
        )

    def _digest_reply(self, community: Community, locale: str, items: list[Suggestion]) -> Reply:
        i18n = self.cohort.i18n
        titles = {c.id: c.title for c in community.config.courses}
        offers = {c.id: c.offer_id for c in community.config.courses}
        lines = []
        for number, s in enumerate(items, start=1):
            lines.append(
                i18n.text(locale, "recommend.item", number=number, title=titles[s.course_id])
            )
        return Reply(
            title=i18n.plain(locale, "recommend.digest.title"),
            text="\n".join(lines) + "\n\n" + i18n.text(locale, "recommend.digest.footer"),
            buttons=tuple(
                Button(
                    i18n.plain(locale, "recommend.join_button", number=number),
                    "recommend.join",
                    offers[s.course_id],
                )
                for number, s in enumerate(items, start=1)
            ),
        )

    # --- registration -------------------------------------------------------------------------

    def actions(self) -> tuple[ActionSpec, ...]:
        """Return the button actions."""
        return (ActionSpec("recommend.join", self.join),)

    def commands(self) -> tuple[CommandSpec, ...]:
        """Return the command specs."""
        setting = Option("setting", OptionKind.CHOICE, "recommend.option.setting", choices=ON_OFF)
        return (
            CommandSpec("recommend show", "recommend.description", self.show, default=True),
            CommandSpec(
                "recommend stats",
                "recommend.stats.description",
                self.stats,
                permission=Permission.ORGANIZER,
            ),
            CommandSpec(
                "recommend digest",
                "recommend.digest.description",
                self.digest_switch,
                options=(setting,),
            ),
            CommandSpec(
                "privacy recommendations",
                "recommend.privacy.description",
                self.privacy,
                options=(setting,),
            ),
        )
