"""``/stats``: the headline figures for organizers, with a chart on Discord and Telegram."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date

from bot.cogs.analytics._figures import Overview
from bot.cogs.analytics._period import MAX_LENGTH, parse_period
from bot.cogs.analytics._rules import format_money
from bot.cogs.analytics._service import Analytics
from bot.core.commands import CommandSpec, Option, OptionKind, Permission
from bot.core.context import Context
from bot.core.platforms import PlatformName
from bot.core.replies import Image, Reply

SHOWS_IMAGES = frozenset({PlatformName.DISCORD, PlatformName.TELEGRAM})
Translate = Callable[..., str]


def headline(t: Translate, page: Overview) -> list[str]:
    """Write an overview's figures as lines of text, through ``t`` (a locale's translate)."""
    mrr = ", ".join(format_money(m.amount, m.currency) for m in page.mrr if m.amount)
    return [
        t(
            "analytics.stats.members",
            total=page.members_total,
            new=page.members_new,
            left=page.members_left,
        ),
        t(
            "analytics.stats.activity",
            messages=page.messages,
            active=page.active_members,
            dau=f"{page.dau:.1f}",
            mau=page.mau,
        ),
        t("analytics.stats.questions", asked=page.questions_asked, solved=page.questions_solved),
        t("analytics.stats.mrr", mrr=mrr) if mrr else t("analytics.stats.no_mrr"),
        t(
            "analytics.stats.moderation",
            warns=page.moderation.warn,
            mutes=page.moderation.mute,
            kicks=page.moderation.kick,
            bans=page.moderation.ban,
        ),
    ]


async def chart(plain: Translate, title: str, page: Overview, *, font_path: str | None) -> Image:
    """Draw the growth and activity chart of an overview (Pillow loads on first use)."""
    from bot.cogs.analytics._chart import render_chart  # noqa: PLC0415 (Pillow: first chart)

    data = await asyncio.to_thread(
        render_chart,
        title,
        plain("analytics.chart.members"),
        plain("analytics.chart.messages"),
        page.members_daily,
        page.messages_daily,
        font_path=font_path,
    )
    return Image(data=data, filename=f"stats-{page.start}-{page.end}.png")


def span(start: date, end: date) -> str:
    """Write a range of days."""
    return start.isoformat() if start == end else f"{start.isoformat()} – {end.isoformat()}"


class AnalyticsCog:
    """Answers /stats."""

    def __init__(self, analytics: Analytics) -> None:
        # One service for every /stats (and the weekly report): as on the dashboard, each
        # community's revenue ledger stays in memory until what it holds changes.
        self.analytics = analytics

    def commands(self) -> tuple[CommandSpec, ...]:
        """Return the analytics commands."""
        return (
            CommandSpec(
                "stats",
                "analytics.stats.description",
                self.stats,
                options=(
                    Option(
                        "period",
                        OptionKind.TEXT,
                        "analytics.option.period",
                        required=False,
                        max_length=MAX_LENGTH,
                    ),
                ),
                permission=Permission.ORGANIZER,
            ),
        )

    async def stats(self, ctx: Context, period: str | None = None) -> Reply:
        """Show the community's headline figures over a period (the last 30 days by default)."""
        zone = ctx.community.tz
        chosen = parse_period(period, ctx.now().astimezone(zone).date())
        page = await self.analytics.overview(ctx.community.id, chosen.start, chosen.end, zone)
        title = ctx.plain("analytics.stats.title", span=span(chosen.start, chosen.end))
        image = None
        if ctx.platform.name in SHOWS_IMAGES:
            font = ctx.community.config.points.card_font or None
            image = await chart(ctx.plain, title, page, font_path=font)
        return Reply(title=title, text="\n".join(headline(ctx.t, page)), image=image)
