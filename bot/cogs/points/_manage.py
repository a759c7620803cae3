"""The organizers' points commands: give, take (down to the floor), history, season, export.

What an organizer does to one member is answered to the organizer alone, and the member is
told by direct message; when that cannot reach them, the organizer is told so.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from bot.cogs.points import _ledger as ledger
from bot.cogs.points._export import board_csv
from bot.cogs.points._history import history_page, take_to_floor
from bot.cogs.points._rules import Reason
from bot.core import markup
from bot.core.buttons import payload_fields, payload_int
from bot.core.cohort import Cohort
from bot.core.commands import ActionSpec, Choice, CommandSpec, Option, OptionKind, Permission
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.identity import Account
from bot.core.notify import direct_message
from bot.core.replies import Attachment, Button, ButtonStyle, Field, Reply

if TYPE_CHECKING:
    from bot.cogs.points._cog import PointsCog

HISTORY_PAGE = 10
MAX_AMOUNT = 1_000_000
MAX_PAGE = 100_000
MAX_SEASON = 100_000
PAGE_OPTION = Option(
    "page",
    OptionKind.INTEGER,
    "points.option.page",
    required=False,
    min_value=1,
    max_value=MAX_PAGE,
)
PERIOD_OPTION = Option(
    "period",
    OptionKind.CHOICE,
    "points.option.period",
    required=False,
    choices=tuple(Choice(p.value, f"points.board.title_{p.value}") for p in ledger.Period),
)


class ManagePoints:
    """Answers the organizers' points commands for one bot."""

    def __init__(self, cohort: Cohort, cog: PointsCog) -> None:
        self.cohort = cohort
        self.cog = cog  # settles the level changes a manual award causes

    # --- give and take ------------------------------------------------------------------------

    def _ref(self, ctx: Context) -> str:
        return f"manual:{ctx.member.id}:{ctx.now().isoformat()}:{secrets.token_hex(4)}"

    async def give(self, ctx: Context, member: Account, amount: int, reason: str) -> Reply:
        """Add points to a member by hand, recorded with who did it and why."""
        await ledger.award(
            self.cohort.db,
            ctx.community,
            member.member_id,
            amount,
            Reason.MANUAL,
            self._ref(ctx),
            at=ctx.now(),
            actor_id=ctx.member.id,
            note=reason,
        )
        balance = await ledger.balance_of(self.cohort.db, ctx.community.id, member.member_id)
        return await self._done(ctx, member, amount, balance, reason, [])

    async def take(self, ctx: Context, member: Account, amount: int, reason: str) -> Reply:
        """Take points from a member by hand, never below the floor, recorded with why."""
        floor = ctx.community.config.points.floor
        taken = await take_to_floor(
            self.cohort.db,
            ctx.community,
            member.member_id,
            amount,
            self._ref(ctx),
            at=ctx.now(),
            actor_id=ctx.member.id,
            note=reason,
        )
        if not taken.taken:
            raise UserError(
                "points.manual.at_floor",
                name=member.display_name,
                balance=f"{taken.balance:,}",
                floor=f"{floor:,}",
            )
        extra = []
        if taken.taken < taken.asked:
            extra.append(
                ctx.t(
                    "points.manual.floor",
                    taken=f"{taken.taken:,}",
                    asked=f"{taken.asked:,}",
                    name=member.display_name,
                    floor=f"{floor:,}",
                )
            )
        return await self._done(ctx, member, -taken.taken, taken.balance, reason, extra)

    async def _done(
        self,
        ctx: Context,
        member: Account,
        delta: int,
        balance: int,
        reason: str,
        extra: list[str],
    ) -> Reply:
        """Settle levels, tell the member privately, and answer the organizer privately."""
        await self.cog.settle_levels(member_id=member.member_id)
        i18n = self.cohort.i18n
        key = "points.manual.dm_give" if delta > 0 else "points.manual.dm_take"
        told = await direct_message(
            self.cohort,
            ctx.community,
            member.member_id,
            lambda locale: Reply(
                text=i18n.text(
                    locale,
                    key,
                    actor=ctx.account.display_name,
                    community=ctx.community.config.name,
                    points=f"{abs(delta):,}",
                    reason=reason,
                    balance=f"{balance:,}",
                )
            ),
        )
        if not told:
            extra.append(ctx.t("points.manual.not_told", name=member.display_name))
        text = ctx.t(
            "points.manual.done",
            delta=f"{delta:+,}",
            name=member.display_name,
            balance=f"{balance:,}",
        )
        return Reply(text="\n".join([text, *extra]), ephemeral=True)

    # --- history -------------------------------------------------------------------------------

    async def history(self, ctx: Context, member: Account, page: int = 1) -> Reply:
        """Show a member's ledger, newest first, with reasons and who gave or took what."""
        return await self._history(ctx, member.member_id, member.display_name, page)

    async def history_pressed(self, ctx: Context, payload: str) -> Reply:
        """Show the page of a member's ledger that a history button points at."""
        member_text, page_text = payload_fields(payload, 2)
        member_id = payload_int(member_text)
        page = payload_int(page_text, high=MAX_PAGE)
        linked = await self.cohort.identity.accounts_of(member_id)
        here = [a for a in linked if a.community_id == ctx.community.id]
        if not here:
            raise UserError("action.unknown")
        name = max(here, key=lambda a: a.last_seen_at).display_name
        return await self._history(ctx, member_id, name, page)

    async def _history(self, ctx: Context, member_id: int, name: str, page: int) -> Reply:
        entries, actors, total = await history_page(
            self.cohort.db, ctx.community.id, member_id, page=page - 1, size=HISTORY_PAGE
        )
        pages = max(1, -(-total // HISTORY_PAGE))
        if page > pages:
            raise UserError("points.history.no_page", page=page, pages=pages)
        lines = []
        for entry in entries:
            by = ""
            if entry.actor_id is not None:
                who = actors.get(entry.actor_id, f"#{entry.actor_id}")
                by = ctx.t("points.history.by", name=who)
            lines.append(
                ctx.t(
                    "points.history.line",
                    date=entry.created_at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M"),
                    delta=f"{entry.delta:+,}",
                    reason=ctx.plain(f"points.reason.{entry.reason.value}"),
                    note=f" — {markup.escape(entry.note)}" if entry.note else "",
                    by=by,
                )
            )
        buttons = []
        if page > 1:
            label = ctx.plain("points.history.previous")
            buttons.append(Button(label, "points.history", f"{member_id}:{page - 1}"))
        if page < pages:
            label = ctx.plain("points.history.next")
            buttons.append(Button(label, "points.history", f"{member_id}:{page + 1}"))
        return Reply(
            title=ctx.plain("points.history.title", name=name),
            text="\n".join(lines) if lines else ctx.t("points.history.empty"),
            fields=(
                Field(
                    ctx.plain("points.history.page"),
                    ctx.plain("points.history.page_of", page=page, pages=pages),
                    inline=True,
                ),
            ),
            buttons=tuple(buttons),
            ephemeral=True,
        )

    # --- seasons and export --------------------------------------------------------------------

    async def reset(self, ctx: Context, what: str) -> Reply:
        """Ask an organizer to confirm ending the season (``what`` is "season")."""
        season = await ledger.current_season(self.cohort.db, ctx.community, ctx.now())
        ranked = await ledger.board_size(
            self.cohort.db, ctx.community, ledger.Period.SEASON, ctx.now()
        )
        return Reply(
            text=ctx.t("points.season.confirm", season=season, next=season + 1, ranked=ranked),
            buttons=(
                Button(
                    ctx.plain("points.season.confirm_button", season=season),
                    "points.reset",
                    str(season),
                    style=ButtonStyle.DANGER,
                ),
            ),
            ephemeral=True,
        )

    async def confirm_reset(self, ctx: Context, payload: str) -> Reply:
        """End the season the confirmation named and start the next, once."""
        season, now = payload_int(payload, high=MAX_SEASON), ctx.now()
        if not await ledger.start_season(
            self.cohort.db, ctx.community, ending=season, by=ctx.member.id, at=now
        ):
            raise UserError("points.season.already", season=season)
        board = await ledger.standings(
            self.cohort.db, ctx.community, ledger.Period.SEASON, now, season=season
        )
        winners = [
            ctx.t("points.board.line", rank=r.rank, name=r.name, points=f"{r.total:,}")
            for r, _ in board[:3]
        ]
        return Reply(
            title=ctx.plain("points.season.ended_title", season=season),
            text="\n".join(
                [*winners, "", ctx.t("points.season.started", season=season + 1)]
                if winners
                else [ctx.t("points.season.started", season=season + 1)]
            ),
        )

    async def export(
        self, ctx: Context, period: str | None = None, season: int | None = None
    ) -> Reply:
        """Send a board as a CSV file: the week, month, season, all time, or a past season."""
        board_period = ledger.Period(period or ledger.Period.ALL)
        now = ctx.now()
        if season is not None and period not in (None, ledger.Period.SEASON):
            raise UserError("points.export.season_needs_season", period=period, season=season)
        if season is not None:
            current = await ledger.current_season(self.cohort.db, ctx.community, now)
            if season > current:
                raise UserError("points.season.unknown", season=season, current=current)
            board_period = ledger.Period.SEASON
        board = await ledger.standings(
            self.cohort.db, ctx.community, board_period, now, season=season
        )
        label = f"season-{season}" if season is not None else board_period.value
        filename = f"points-{ctx.community.config.id}-{label}-{now.astimezone(ctx.tz):%Y%m%d}.csv"
        return Reply(
            text=ctx.t("points.export.done", rows=len(board)),
            attachment=Attachment(board_csv(board), filename, "text/csv"),
            ephemeral=True,
        )

    # --- specs ---------------------------------------------------------------------------------

    def actions(self) -> tuple[ActionSpec, ...]:
        """Return the button actions of the organizers' points commands."""
        return (
            ActionSpec("points.reset", self.confirm_reset, Permission.ORGANIZER),
            ActionSpec("points.history", self.history_pressed, Permission.ORGANIZER),
        )

    def commands(self) -> tuple[CommandSpec, ...]:
        """Return the specs of the organizers' points commands."""
        member_opt = Option("member", OptionKind.MEMBER, "points.option.member")
        amount = Option(
            "amount", OptionKind.INTEGER, "points.option.amount", min_value=1, max_value=MAX_AMOUNT
        )
        why = Option("reason", OptionKind.TEXT, "points.option.reason", max_length=200)
        return (
            CommandSpec(
                "points give",
                "points.manual.give_description",
                self.give,
                options=(member_opt, amount, why),
                permission=Permission.ORGANIZER,
            ),
            CommandSpec(
                "points take",
                "points.manual.take_description",
                self.take,
                options=(member_opt, amount, why),
                permission=Permission.ORGANIZER,
            ),
            CommandSpec(
                "points history",
                "points.history.description",
                self.history,
                options=(
                    Option("member", OptionKind.MEMBER, "points.option.history_member"),
                    PAGE_OPTION,
                ),
                permission=Permission.ORGANIZER,
            ),
            CommandSpec(
                "points reset",
                "points.season.description",
                self.reset,
                options=(
                    Option(
                        "what",
                        OptionKind.CHOICE,
                        "points.option.reset_what",
                        choices=(Choice("season", "points.season.choice"),),
                    ),
                ),
                permission=Permission.ORGANIZER,
            ),
            CommandSpec(
                "points export",
                "points.export.description",
                self.export,
                options=(
                    PERIOD_OPTION,
                    Option(
                        "season",
                        OptionKind.INTEGER,
                        "points.option.season",
                        required=False,
                        min_value=1,
                        max_value=MAX_SEASON,
                    ),
                ),
                permission=Permission.ORGANIZER,
            ),
        )
