"""The gating commands and platform listeners; the rules live in _rules, _access and _service."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.cogs.gating._access import AccessState
from bot.cogs.gating._rules import SourceKind, standing
from bot.cogs.gating._service import Gating, Holding, Report
from bot.core.buttons import payload_fields, payload_int
from bot.core.clock import local_time
from bot.core.cohort import Cohort
from bot.core.commands import ActionSpec, Choice, CommandSpec, Option, OptionKind, Permission
from bot.core.config import OfferConfig, OfferKind
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.events import JoinRequested, MemberJoined, MemberLeft
from bot.core.identity import Account
from bot.core.ports import PlatformError
from bot.core.replies import Button, ButtonStyle, Field, Reply

PAGE_SIZE = 10
MAX_PAGE = 10_000
MAX_DAYS = 3650
PLANS = ("monthly", "yearly", "once")


def _price(ctx: Context, offer: OfferConfig, plan: str | None) -> tuple[str, str]:
    """Return (plan, price id) for a plan of an offer, the first it sells when none is named."""
    prices = {
        "monthly": offer.price_monthly,
        "yearly": offer.price_yearly,
        "once": offer.price_once,
    }
    if plan is None:
        plan = next(p for p in PLANS if prices[p])
    price = prices.get(plan)
    if not price:
        sold = ", ".join(ctx.plain(f"gating.plan.{p}") for p in PLANS if prices[p])
        label = ctx.plain(f"gating.plan.{plan}")
        raise UserError("gating.join.no_plan", offer=offer.name, plan=label, plans=sold)
    return plan, price


class GatingCog:
    """Answers /join, /membership, /billing and the organizer commands for one bot."""

    def __init__(self, cohort: Cohort, service: Gating) -> None:
        self.cohort = cohort
        self.service = service

    def _offer(self, ctx: Context, offer_id: str) -> OfferConfig:
        offers = ctx.community.config.offers
        wanted = offer_id.strip().lower()
        found = ctx.community.config.offer(wanted) or next(
            (o for o in offers if o.name.lower() == wanted), None
        )
        if found is None:
            known = ", ".join(o.id for o in offers) or "-"
            raise UserError("gating.offer_unknown", offer=offer_id, offers=known)
        return found

    def _date(self, ctx: Context, when: datetime | None) -> str:
        return local_time(when, ctx.tz) if when else ""

    # --- members ------------------------------------------------------------------------------

    async def join(self, ctx: Context, offer: str | None = None, plan: str | None = None) -> Reply:
        """List the offers, or give a Checkout link for one."""
        offers = ctx.community.config.offers
        if not offers:
            raise UserError("gating.join.nothing")
        if offer is None:
            lines = []
            buttons = []
            for item in offers:
                kind = ctx.plain(f"gating.kind.{item.kind.value}")
                plans = ", ".join(
                    ctx.plain(f"gating.plan.{p}")
                    for p, price in zip(
                        PLANS, (item.price_monthly, item.price_yearly, item.price_once), strict=True
                    )
                    if price
                )
                trial = ctx.t("gating.join.trial", days=item.trial_days) if item.trial_days else ""
                lines.append(
                    ctx.t("gating.join.line", name=item.name, id=item.id, kind=kind, plans=plans)
                    + trial
                    + (f"\n  {item.description}" if item.description else "")
                )
                buttons.append(
                    Button(
                        ctx.plain("gating.join.button", name=item.name),
                        "gating.join",
                        item.id,
                        style=ButtonStyle.PRIMARY,
                    )
                )
            return Reply(
                title=ctx.plain("gating.join.title"),
                text="\n".join(lines) + "\n\n" + ctx.t("gating.join.how"),
                buttons=tuple(buttons[:25]),
            )
        chosen = self._offer(ctx, offer)
        if chosen.id in await self.service.offers_of(ctx.member.id, ctx.now()):
            raise UserError("gating.join.already", offer=chosen.name)
        plan_name, price = _price(ctx, chosen, plan)
        link = await self.service.billing.checkout(
            ctx.community, ctx.member.id, ctx.account.id, chosen, price, ctx.locale
        )
        pay = "pay_demo" if self.cohort.config.demo.enabled else "pay"
        return Reply(
            text=ctx.t(
                "gating.join.link", offer=chosen.name, plan=ctx.plain(f"gating.plan.{plan_name}")
            ),
            buttons=(Button(ctx.plain(f"gating.button.{pay}"), url=link.url),),
            ephemeral=True,
        )

    async def join_pressed(self, ctx: Context, payload: str) -> Reply:
        """Give a Checkout link for the offer behind a /join button."""
        return await self.join(ctx, payload)

    async def membership(self, ctx: Context) -> Reply:
        """Show what the member holds, until when, and in which state."""
        holdings = await self.service.grants.holdings(ctx.community, ctx.member.id)
        if not holdings:
            return Reply(text=ctx.t("gating.membership.none"), ephemeral=True)
        lines = [self._line(ctx, h) for h in holdings]
        buttons: list[Button] = []
        pending = await self.service.members.pending_access(ctx.community, ctx.member.id)
        reinvite = False
        for row in pending:
            if row.state == AccessState.INVITED.value and row.invite_link:
                label = ctx.plain("gating.button.enter_chat", chat=row.space_id)
                buttons.append(Button(label, url=row.invite_link))
            elif not row.role_id and row.state in (AccessState.LEFT.value, AccessState.NONE.value):
                reinvite = True
        text = "\n".join(lines)
        if reinvite and await self.service.members.reinvite(ctx.community, ctx.member.id):
            text += "\n\n" + ctx.t("gating.membership.reinvited")
        if any(row.state == AccessState.FAILED.value for row in pending):
            text += "\n\n" + ctx.t("gating.membership.stuck")
        return Reply(
            title=ctx.plain("gating.membership.title"),
            text=text,
            buttons=tuple(buttons[:25]),
            ephemeral=True,
        )

    def _line(self, ctx: Context, holding: Holding) -> str:
        offer = ctx.community.config.offer(holding.offer_id)
        name = offer.name if offer is not None else holding.offer_id
        grace = timedelta(days=offer.grace_days) if offer is not None else timedelta(0)
        where = standing(holding.state, grace, ctx.now())
        until = ""
        if holding.until is not None and (holding.entitled or holding.kind is SourceKind.MANUAL):
            until = ctx.t("gating.membership.until", date=self._date(ctx, holding.until))
        return ctx.t(
            "gating.membership.line",
            offer=name,
            state=ctx.plain(f"gating.standing.{where.value}"),
            source=ctx.plain(f"gating.source.{holding.kind.value}"),
            until=until,
        )

    async def billing(self, ctx: Context) -> Reply:
        """Give a link to the Stripe customer portal (cancel, change card, switch plan)."""
        url = await self.service.billing.portal(ctx.community, ctx.member.id)
        return Reply(
            text=ctx.t("gating.billing.link"),
            buttons=(Button(ctx.plain("gating.button.billing"), url=url),),
            ephemeral=True,
        )

    # --- organizers ---------------------------------------------------------------------------

    async def members(self, ctx: Context, offer: str, page: int = 1) -> Reply:
        """List who holds an offer now, a page at a time."""
        chosen = self._offer(ctx, offer)
        rows, more = await self.service.grants.holders(
            ctx.community, chosen.id, page=page - 1, size=PAGE_SIZE
        )
        if not rows and page > 1:
            raise UserError("gating.members.no_page", page=page)
        lines = []
        for holding in rows:
            _member, linked = await self.cohort.identity.profile(holding.member_id)
            name = linked[0].display_name if linked else f"#{holding.member_id}"
            lines.append(self._line(ctx, holding).replace(f"**{chosen.name}**", f"**{name}**", 1))
        return Reply(
            title=ctx.plain("gating.members.title", offer=chosen.name),
            text="\n".join(lines) if lines else ctx.t("gating.members.empty"),
            fields=(Field(ctx.plain("gating.members.page"), str(page), inline=True),),
            buttons=(
                (
                    Button(
                        ctx.plain("gating.members.next"),
                        "gating.members",
                        f"{chosen.id}:{page + 1}",
                    ),
                )
                if more
                else ()
            ),
        )

    async def members_page(self, ctx: Context, payload: str) -> Reply:
        """Show the page a /members "next page" button points at."""
        offer, page = payload_fields(payload, 2)
        return await self.members(ctx, offer, payload_int(page, high=MAX_PAGE))

    async def grant(
        self, ctx: Context, member: Account, offer: str, days: int | None = None
    ) -> Reply:
        """Give a member an offer by hand, for some days or for good, recorded with who did it.

        Answered to the organizer alone; the member is told by direct message. A second grant
        of an offer the member holds adds a source: the reply gives the end that now holds.
        """
        chosen = self._offer(ctx, offer)
        ends = await self.service.grants.grant(
            ctx.community, member.member_id, chosen, days, ctx.member.id
        )
        held = await self.service.grants.holdings(ctx.community, member.member_id)
        until = next((h.until for h in held if h.offer_id == chosen.id and h.entitled), ends)
        date = self._date(ctx, until)
        key = "forever" if until is None else "until"
        told = await self.service.notices.dm(
            ctx.community,
            member.member_id,
            f"gating.grant.dm_{key}",
            actor=ctx.account.display_name,
            offer=chosen.name,
            community_name=ctx.community.config.name,
            date=date,
        )
        text = ctx.t(f"gating.grant.{key}", name=member.display_name, offer=chosen.name, date=date)
        return self._private(ctx, member, text, told)

    async def revoke(self, ctx: Context, member: Account, offer: str) -> Reply:
        """End a member's manual grants of an offer (Stripe purchases stay with Stripe)."""
        chosen = self._offer(ctx, offer)
        count = await self.service.grants.revoke(
            ctx.community, member.member_id, chosen, ctx.member.id
        )
        if not count:
            raise UserError("gating.revoke.none", name=member.display_name, offer=chosen.name)
        still = chosen.id in await self.service.offers_of(member.member_id, ctx.now())
        key = "done_still" if still else "done"
        told = await self.service.notices.dm(
            ctx.community,
            member.member_id,
            f"gating.revoke.dm_{key}",
            actor=ctx.account.display_name,
            offer=chosen.name,
            community_name=ctx.community.config.name,
        )
        text = ctx.t(f"gating.revoke.{key}", name=member.display_name, offer=chosen.name)
        return self._private(ctx, member, text, told)

    def _private(self, ctx: Context, member: Account, text: str, told: bool) -> Reply:
        """Answer an organizer privately, saying so when the member could not be told."""
        if not told:
            text += "\n" + ctx.t("gating.not_told", name=member.display_name)
        return Reply(text=text, ephemeral=True)

    async def check(self, ctx: Context) -> Reply:
        """Reconcile Stripe, the database and the platforms now, and say what changed."""
        report = await self.service.reconcile()
        return Reply(title=ctx.plain("gating.check.title"), text=render_report(ctx, report))

    # --- platform events ----------------------------------------------------------------------

    async def on_joined(self, event: MemberJoined) -> None:
        """Give access on joining (Discord roles), or remove someone who should not be in."""
        account = event.account
        role = event.community.role_of(account.platform, account.platform_user_id)
        await self.service.members.joined(
            event.community, account.id, account.member_id, event.space_id, account.platform, role
        )

    async def on_left(self, event: MemberLeft) -> None:
        """Record that a person left a gated space."""
        await self.service.members.left(event.community, event.account.id, event.space_id)

    async def on_join_request(self, event: JoinRequested) -> None:
        """Approve an entitled person's request to join a gated chat; decline anyone else's."""
        platform = self.cohort.platforms.get(event.account.platform)
        if platform is None:
            return
        account = event.account
        role = event.community.role_of(account.platform, account.platform_user_id)
        allowed = role.value != "member" or await self.service.members.may_enter(
            event.community, account.id, account.member_id, event.space_id
        )
        try:
            if allowed:
                await platform.approve_join_request(event.space_id, account.platform_user_id)
            else:
                await platform.decline_join_request(event.space_id, account.platform_user_id)
        except PlatformError as exc:
            await self.service.notices.alert(
                event.community,
                "gating.alert.join_request",
                user=f"{account.platform}:{account.platform_user_id}",
                space=event.space_id,
                error=str(exc)[:200],
            )

    # --- specs --------------------------------------------------------------------------------

    def actions(self) -> tuple[ActionSpec, ...]:
        """Return the button actions of the gating commands."""
        return (
            ActionSpec("gating.join", self.join_pressed),
            ActionSpec("gating.members", self.members_page, permission=Permission.ORGANIZER),
        )

    def commands(self) -> tuple[CommandSpec, ...]:
        """Return the specs of the gating commands."""
        offer_opt = Option("offer", OptionKind.TEXT, "gating.option.offer", max_length=64)
        member_opt = Option("member", OptionKind.MEMBER, "gating.option.member")
        return (
            CommandSpec(
                "join",
                "gating.join.description",
                self.join,
                options=(
                    Option(
                        "offer",
                        OptionKind.TEXT,
                        "gating.option.offer",
                        required=False,
                        max_length=64,
                    ),
                    Option(
                        "plan",
                        OptionKind.CHOICE,
                        "gating.option.plan",
                        required=False,
                        choices=tuple(Choice(p, f"gating.plan.{p}") for p in PLANS),
                    ),
                ),
            ),
            CommandSpec("membership", "gating.membership.description", self.membership),
            CommandSpec("billing", "gating.billing.description", self.billing),
            CommandSpec(
                "members",
                "gating.members.description",
                self.members,
                options=(
                    offer_opt,
                    Option(
                        "page",
                        OptionKind.INTEGER,
                        "gating.option.page",
                        required=False,
                        min_value=1,
                        max_value=MAX_PAGE,
                    ),
                ),
                permission=Permission.ORGANIZER,
            ),
            CommandSpec(
                "grant",
                "gating.grant.description",
                self.grant,
                options=(
                    member_opt,
                    offer_opt,
                    Option(
                        "days",
                        OptionKind.INTEGER,
                        "gating.option.days",
                        required=False,
                        min_value=1,
                        max_value=MAX_DAYS,
                    ),
                ),
                permission=Permission.ORGANIZER,
            ),
            CommandSpec(
                "revoke",
                "gating.revoke.description",
                self.revoke,
                options=(member_opt, offer_opt),
                permission=Permission.ORGANIZER,
            ),
            CommandSpec(
                "gating check",
                "gating.check.description",
                self.check,
                permission=Permission.ORGANIZER,
                default=True,
            ),
        )


def render_report(ctx: Context, report: Report) -> str:
    """Say what a reconciliation pass did, in the caller's language."""
    lines = [
        ctx.t(
            "gating.check.summary",
            subscriptions=report.subscriptions,
            fixed=report.fixed_refs,
            replayed=report.replayed,
            changes=report.access_changes,
            retried=report.retried,
        )
    ]
    lines += [
        ctx.t(f"gating.check.fix.{fix.kind.value}", ref=fix.ref, before=fix.before, after=fix.after)
        for fix in report.fixed[:20]
    ]
    if report.stripe_error:
        lines.append(ctx.t("gating.check.stripe_down", error=report.stripe_error))
    for platform, where, code in report.problems:
        known = ctx.cohort.i18n.has(f"gating.problem.{code}")
        problem = ctx.plain(f"gating.problem.{code}") if known else code
        lines.append(
            ctx.t("gating.check.problem", platform=platform, target=where, problem=problem)
        )
    if not report.problems:
        lines.append(ctx.t("gating.check.rights_ok"))
    return "\n".join(lines)


__all__ = ["GatingCog", "OfferKind"]
