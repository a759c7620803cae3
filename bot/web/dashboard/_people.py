"""Turn the members list and a member's page into tables and a chart (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.cogs.analytics import MemberDetail, Members
from bot.web.dashboard._format import Formatter
from bot.web.dashboard._model import Card, Chart, ChartKind, PageView, Series, Table
from bot.web.dashboard._pages import day_series, member_link


def members(fig: Members, fmt: Formatter, query: str) -> PageView:
    """Build the Members list: one row per member, linking to the member's page."""
    table = Table(
        "members",
        fmt.label("table.members", total=fig.total),
        (
            fmt.label("col.member"),
            fmt.label("col.platforms"),
            fmt.label("col.joined"),
            fmt.label("col.messages"),
            fmt.label("col.points"),
            fmt.label("col.paying"),
            fmt.label("col.score"),
        ),
        tuple(
            (
                member_link(m.member_id, m.name, query),
                ", ".join(fmt.label(f"platform.{p}") for p in m.platforms),
                fmt.day(m.joined) + (f" → {fmt.day(m.left)}" if m.left else ""),
                m.messages,
                m.points,
                fmt.label("yes") if m.paying else fmt.label("no"),
                fmt.decimal(m.score),
            )
            for m in fig.rows
        ),
    )
    return PageView(tables=(table,))


def member(fig: MemberDetail, fmt: Formatter, names: Mapping[str, str]) -> PageView:
    """Build a member's page: accounts, points, purchases, attendance, questions, activity."""
    labels, values = day_series(fig.activity)
    cards = (
        Card(fmt.label("card.points"), fmt.count(fig.points)),
        Card(fmt.label("card.messages"), fmt.count(fig.messages), "", values, "member-messages"),
        Card(fmt.label("card.answers"), fmt.count(fig.answers)),
        Card(fmt.label("card.score"), fmt.decimal(fig.score)),
        Card(fmt.label("card.joined_on"), fmt.day(fig.joined)),
    )
    chart = Chart(
        "member-activity",
        fmt.label("chart.messages"),
        ChartKind.BAR,
        fmt.label("col.day"),
        labels,
        (Series(fmt.label("col.messages"), values),),
    )
    tables = (
        Table(
            "accounts",
            fmt.label("table.accounts"),
            (fmt.label("col.platform"), fmt.label("col.name")),
            tuple((fmt.label(f"platform.{p}"), name) for p, name in fig.accounts),
        ),
        Table(
            "purchases",
            fmt.label("table.purchases"),
            (
                fmt.label("col.when"),
                fmt.label("col.offer"),
                fmt.label("col.amount"),
                fmt.label("col.refunded"),
            ),
            tuple(
                (
                    fmt.moment(p.purchased_at),
                    names.get(p.offer_id, p.offer_id),
                    fmt.money(p.amount, p.currency) if p.amount is not None and p.currency else "–",
                    fmt.label("yes") if p.refunded else fmt.label("no"),
                )
                for p in fig.purchases
            ),
        ),
        Table(
            "attendance",
            fmt.label("table.attendance"),
            (fmt.label("col.start"), fmt.label("col.title")),
            tuple((fmt.moment(a.start_at), a.title) for a in fig.attendance),
        ),
        Table(
            "questions",
            fmt.label("table.questions"),
            (fmt.label("col.when"), fmt.label("col.title"), fmt.label("col.state")),
            tuple((fmt.moment(q.asked_at), q.title, q.state) for q in fig.questions),
        ),
    )
    return PageView(cards=cards, charts=(chart,), tables=tables)
