"""Turn each analytics page's figures into cards, charts and tables (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from bot.cogs.analytics import (
    Activity,
    CurrencyRevenue,
    DayCount,
    Engagement,
    Growth,
    Lectures,
    MemberEngagement,
    Moderation,
    Overview,
    Qa,
    Recommender,
    Retention,
    Revenue,
)
from bot.web.dashboard._format import ZERO_DECIMAL, Formatter
from bot.web.dashboard._model import (
    Card,
    Chart,
    ChartKind,
    Link,
    PageView,
    Series,
    Table,
    column,
)

PREFIX = "/dashboard"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_RETENTION_WEEKS = 12


def member_link(member_id: int, name: str, query: str) -> Link:
    """Return a link to a member's page, keeping the date range."""
    return Link(name, f"{PREFIX}/members/{member_id}?{query}")


def day_series(points: Sequence[DayCount]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Return a daily figure's labels (YYYY-MM-DD) and values."""
    return tuple(p.day.isoformat() for p in points), column([p.value for p in points])


def overview(fig: Overview, fmt: Formatter) -> PageView:
    """Build the Overview page: headline cards with sparklines, members and messages."""
    member_days, member_values = day_series(fig.members_daily)
    message_days, message_values = day_series(fig.messages_daily)
    cards = [
        Card(fmt.label("card.members"), fmt.count(fig.members_total), "", member_values, "members"),
        Card(
            fmt.label("card.new_left"),
            f"+{fmt.count(fig.members_new)} / −{fmt.count(fig.members_left)}",
        ),
        Card(fmt.label("card.messages"), fmt.count(fig.messages), "", message_values, "messages"),
        Card(fmt.label("card.active"), fmt.count(fig.active_members)),
        Card(fmt.label("card.dau_mau"), f"{fmt.decimal(fig.dau)} / {fmt.count(fig.mau)}"),
        Card(
            fmt.label("card.questions"),
            f"{fmt.count(fig.questions_asked)} / {fmt.count(fig.questions_solved)}",
            fmt.label("card.questions_note"),
        ),
    ]
    cards.extend(
        Card(fmt.label("card.mrr"), fmt.money(m.amount, m.currency), m.currency.upper())
        for m in fig.mrr
    )
    charts = (
        Chart(
            "members",
            fmt.label("chart.members"),
            ChartKind.LINE,
            fmt.label("col.day"),
            member_days,
            (Series(fmt.label("col.members"), member_values),),
        ),
        Chart(
            "messages",
            fmt.label("chart.messages"),
            ChartKind.BAR,
            fmt.label("col.day"),
            message_days,
            (Series(fmt.label("col.messages"), message_values),),
        ),
    )
    return PageView(cards=tuple(cards), charts=charts)


def growth(fig: Growth, fmt: Formatter) -> PageView:
    """Build the Growth page: members per platform, joins and leaves per day."""
    labels = tuple(sorted({d.day.isoformat() for d in fig.days}))
    index = {label: n for n, label in enumerate(labels)}

    def values(platform: str, pick: Callable[[int, int, int], int]) -> tuple[float, ...]:
        out = [0.0] * len(labels)
        for d in fig.days:
            if d.platform == platform:
                out[index[d.day.isoformat()]] = float(pick(d.total, d.new, d.left))
        return tuple(out)

    everyone = fmt.label("col.all_platforms")
    totals = [Series(everyone, values("", lambda total, _new, _left: total))]
    totals += [
        Series(fmt.label(f"platform.{p}"), values(p, lambda total, _new, _left: total))
        for p in fig.platforms
        if p
    ]
    new = values("", lambda _total, new, _left: new)
    left = values("", lambda _total, _new, left: left)
    cards = (
        Card(fmt.label("card.members"), fmt.count(fig.members_total)),
        Card(fmt.label("card.new"), fmt.count(int(sum(new)))),
        Card(fmt.label("card.left"), fmt.count(int(sum(left)))),
        Card(fmt.label("card.net"), f"{int(sum(new) - sum(left)):+,}"),
        Card(
            fmt.label("card.linked"), fmt.count(fig.linked_members), fmt.label("card.linked_note")
        ),
    )
    charts = (
        Chart(
            "members-by-platform",
            fmt.label("chart.members_by_platform"),
            ChartKind.LINE,
            fmt.label("col.day"),
            labels,
            tuple(totals),
        ),
        Chart(
            "joins-and-leaves",
            fmt.label("chart.joins_leaves"),
            ChartKind.STACKED,
            fmt.label("col.day"),
            labels,
            (
                Series(fmt.label("col.new"), new),
                Series(fmt.label("col.left"), tuple(-v for v in left)),
                Series(fmt.label("col.net"), tuple(a - b for a, b in zip(new, left, strict=True))),
            ),
        ),
    )
    return PageView(cards=cards, charts=charts)


# The moderation chart's stacks, in order (the ModerationDay fields of each action).
MODERATION_ACTIONS = (
    "warn",
    "mute",
    "kick",
    "ban",
    "unmute",
    "unban",
    "purge",
    "slowmode",
    "delete",
)


def moderation(fig: Moderation, fmt: Formatter) -> tuple[tuple[Card, ...], Chart]:
    """Build the moderation cards and the chart of actions per day, stacked by action."""
    t = fig.totals
    cards = (
        Card(
            fmt.label("card.moderation"),
            fmt.count(t.done),
            fmt.label(
                "card.moderation_note", people=t.people, automod=t.automod, automatic=t.automatic
            ),
        ),
        Card(
            fmt.label("card.moderation_bans"),
            " / ".join(fmt.count(n) for n in (t.warn, t.mute, t.kick, t.ban)),
        ),
        Card(fmt.label("card.moderation_failed"), fmt.count(t.failed)),
    )
    chart = Chart(
        "moderation",
        fmt.label("chart.moderation"),
        ChartKind.STACKED,
        fmt.label("col.day"),
        tuple(d.day.isoformat() for d in fig.days),
        tuple(
            Series(fmt.label(f"col.{action}"), column([getattr(d, action) for d in fig.days]))
            for action in MODERATION_ACTIONS
        ),
    )
    return cards, chart


def activity(fig: Activity, mod: Moderation, fmt: Formatter, query: str) -> PageView:
    """Build the Activity page: messages, the heatmap, the leaders and moderation per day."""
    mod_cards, mod_chart = moderation(mod, fmt)
    labels = tuple(d.day.isoformat() for d in fig.days)
    cards = (
        Card(fmt.label("card.messages"), fmt.count(fig.messages)),
        Card(fmt.label("card.dau"), fmt.decimal(fig.dau)),
        Card(fmt.label("card.wau"), fmt.count(fig.wau)),
        Card(fmt.label("card.mau"), fmt.count(fig.mau)),
        Card(
            fmt.label("card.stickiness"),
            fmt.share(fig.stickiness),
            fmt.label("card.stickiness_note"),
        ),
        *mod_cards,
    )
    charts = (
        Chart(
            "messages-per-day",
            fmt.label("chart.messages"),
            ChartKind.BAR,
            fmt.label("col.day"),
            labels,
            (
                Series(fmt.label("col.messages"), column([d.messages for d in fig.days])),
                Series(fmt.label("col.reactions"), column([d.reactions for d in fig.days])),
                Series(fmt.label("col.active"), column([d.active_members for d in fig.days])),
            ),
        ),
        Chart(
            "heatmap",
            fmt.label("chart.heatmap"),
            ChartKind.HEATMAP,
            fmt.label("col.hour"),
            tuple(f"{h:02d}" for h in range(24)),
            tuple(
                Series(fmt.label(f"weekday.{WEEKDAYS[n]}"), column(row))
                for n, row in enumerate(fig.heatmap)
            ),
        ),
        mod_chart,
    )
    tables = (
        Table(
            "top-channels",
            fmt.label("table.top_channels"),
            (fmt.label("col.platform"), fmt.label("col.channel"), fmt.label("col.messages")),
            tuple(
                (fmt.label(f"platform.{c.platform}"), c.channel_id, c.messages)
                for c in fig.top_channels
            ),
        ),
        Table(
            "top-contributors",
            fmt.label("table.top_contributors"),
            (fmt.label("col.member"), fmt.label("col.messages"), fmt.label("col.reactions")),
            tuple(
                (member_link(c.member_id, c.name, query), c.messages, c.reactions)
                for c in fig.top_contributors
            ),
        ),
    )
    return PageView(cards=cards, charts=charts, tables=tables)


def retention(fig: Retention, fmt: Formatter) -> PageView:
    """Build the Retention page: the weekly cohort table, as a heatmap and as numbers."""
    weeks = min(MAX_RETENTION_WEEKS, max((len(c.active) for c in fig.cohorts), default=0))
    labels = tuple(fmt.label("col.week_n", n=k) for k in range(weeks))
    rows = tuple(
        Series(
            f"{c.week.isoformat()} ({c.size})",
            tuple(round(c.rate(k) * 100, 1) if k < len(c.active) else 0.0 for k in range(weeks)),
        )
        for c in fig.cohorts
    )
    table = Table(
        "cohorts",
        fmt.label("table.cohorts"),
        (fmt.label("col.cohort"), fmt.label("col.size"), *labels),
        tuple(
            (
                c.week.isoformat(),
                c.size,
                *(
                    f"{fmt.share(c.rate(k))} ({c.active[k]})" if k < len(c.active) else ""
                    for k in range(weeks)
                ),
            )
            for c in fig.cohorts
        ),
    )
    joined = sum(c.size for c in fig.cohorts)
    week1 = sum(c.active[1] for c in fig.cohorts if len(c.active) > 1)
    base1 = sum(c.size for c in fig.cohorts if len(c.active) > 1)
    cards = (
        Card(fmt.label("card.cohorts"), fmt.count(len(fig.cohorts))),
        Card(fmt.label("card.joined"), fmt.count(joined)),
        Card(fmt.label("card.week1"), fmt.share(week1 / base1 if base1 else 0.0)),
    )
    chart = Chart(
        "retention",
        fmt.label("chart.retention"),
        ChartKind.HEATMAP,
        fmt.label("col.week"),
        labels,
        rows,
    )
    return PageView(cards=cards, charts=(chart,), tables=(table,))


def _engaged(
    rows: Sequence[MemberEngagement], fmt: Formatter, query: str
) -> tuple[tuple[Link | int | str, ...], ...]:
    return tuple(
        (
            member_link(m.member_id, m.name, query),
            fmt.decimal(m.score),
            m.interactions,
            m.discussions,
            m.contributions,
            m.days,
        )
        for m in rows
    )


def engagement(fig: Engagement, rec: Recommender, fmt: Formatter, query: str) -> PageView:
    """Build the Engagement page: U, S, C and E, the distribution, the most and least engaged.

    The recommender's reach closes the cards: who has personal suggestions, shown → bought.
    """
    cards = (
        Card(fmt.label("card.members"), fmt.count(fig.members)),
        Card(fmt.label("card.mean_score"), fmt.decimal(fig.mean_score), fmt.label("card.u_note")),
        Card(fmt.label("card.paying_share"), fmt.share(fig.paying_share), fmt.label("card.s_note")),
        Card(fmt.label("card.cost"), fmt.decimal(fig.cost), fmt.label("card.c_note")),
        Card(fmt.label("card.effect"), fmt.decimal(fig.effect), fmt.label("card.e_note")),
        Card(
            fmt.label("card.suggestion_coverage"),
            fmt.share(rec.coverage),
            fmt.label(
                "card.suggestion_coverage_note",
                members=fmt.count(rec.members_with_suggestions),
                courses=f"{rec.suggested_courses} / {rec.courses}",
            ),
        ),
        Card(
            fmt.label("card.suggestion_conversion"),
            fmt.share(rec.conversion),
            fmt.label(
                "card.suggestion_conversion_note",
                shown=fmt.count(rec.shown),
                bought=fmt.count(rec.bought),
            ),
        ),
    )
    chart = Chart(
        "distribution",
        fmt.label("chart.distribution"),
        ChartKind.BAR,
        fmt.label("col.score"),
        tuple(
            f"{b.low:g}–{b.high:g}" if b.high is not None else f"≥ {b.low:g}"
            for b in fig.distribution
        ),
        (Series(fmt.label("col.members"), column([b.members for b in fig.distribution])),),
    )
    headings = (
        fmt.label("col.member"),
        fmt.label("col.score"),
        fmt.label("col.interactions"),
        fmt.label("col.discussions"),
        fmt.label("col.contributions"),
        fmt.label("col.days"),
    )
    tables = (
        Table(
            "most-engaged",
            fmt.label("table.most_engaged"),
            headings,
            _engaged(fig.most_engaged, fmt, query),
        ),
        Table(
            "least-engaged",
            fmt.label("table.least_engaged"),
            headings,
            _engaged(fig.least_engaged, fmt, query),
        ),
    )
    return PageView(cards=cards, charts=(chart,), tables=tables)


def qa(fig: Qa, fmt: Formatter) -> PageView:
    """Build the Q&A page: asked, answered, solved, the times, unanswered now."""
    cards = (
        Card(fmt.label("card.asked"), fmt.count(fig.asked)),
        Card(fmt.label("card.answered"), fmt.count(fig.answered)),
        Card(fmt.label("card.solved"), fmt.count(fig.solved)),
        Card(fmt.label("card.unanswered_now"), fmt.count(fig.unanswered_now)),
        Card(
            fmt.label("card.first_answer"),
            fmt.span(fig.median_first_answer),
            fmt.label("card.p90", value=fmt.span(fig.p90_first_answer)),
        ),
        Card(
            fmt.label("card.solve_time"),
            fmt.span(fig.median_solve),
            fmt.label("card.p90", value=fmt.span(fig.p90_solve)),
        ),
    )
    chart = Chart(
        "questions",
        fmt.label("chart.questions"),
        ChartKind.BAR,
        fmt.label("col.day"),
        tuple(d.day.isoformat() for d in fig.days),
        (
            Series(fmt.label("col.asked"), column([d.asked for d in fig.days])),
            Series(fmt.label("col.solved"), column([d.solved for d in fig.days])),
        ),
    )
    return PageView(cards=cards, charts=(chart,))


def lectures(fig: Lectures, fmt: Formatter) -> PageView:
    """Build the Lectures page: RSVPs, attendance and no-shows per session."""
    cards = (
        Card(fmt.label("card.sessions"), fmt.count(len(fig.sessions))),
        Card(fmt.label("card.going_maybe"), f"{fmt.count(fig.going)} / {fmt.count(fig.maybe)}"),
        Card(fmt.label("card.attended"), fmt.count(fig.attended)),
        Card(fmt.label("card.no_show_rate"), fmt.share(fig.no_show_rate)),
        Card(fmt.label("card.reminders"), fmt.count(fig.reminders_sent)),
    )
    labels = tuple(f"{fmt.moment(s.start_at)} {s.title}" for s in fig.sessions)
    chart = Chart(
        "sessions",
        fmt.label("chart.sessions"),
        ChartKind.BAR,
        fmt.label("col.session"),
        labels,
        (
            Series(fmt.label("col.going"), column([s.going for s in fig.sessions])),
            Series(fmt.label("col.maybe"), column([s.maybe for s in fig.sessions])),
            Series(fmt.label("col.attended"), column([s.attended for s in fig.sessions])),
        ),
    )
    table = Table(
        "session-list",
        fmt.label("table.sessions"),
        (
            fmt.label("col.start"),
            fmt.label("col.title"),
            fmt.label("col.going"),
            fmt.label("col.maybe"),
            fmt.label("col.attended"),
            fmt.label("col.no_shows"),
            fmt.label("col.reminders"),
        ),
        tuple(
            (
                fmt.moment(s.start_at),
                s.title,
                s.going,
                s.maybe,
                s.attended,
                s.no_shows,
                s.reminders_sent,
            )
            for s in fig.sessions
        ),
    )
    return PageView(cards=cards, charts=(chart,), tables=(table,))


def _major(rows: Sequence[CurrencyRevenue], amounts: Sequence[int]) -> tuple[float, ...]:
    """Return amounts in minor units as major units, per row's currency (yen stay yen)."""
    return tuple(
        amount / (1 if row.currency.lower() in ZERO_DECIMAL else 100)
        for row, amount in zip(rows, amounts, strict=True)
    )


def revenue(fig: Revenue, fmt: Formatter, names: Mapping[str, str]) -> PageView:
    """Build the Revenue page: MRR and its movements per currency, churn, offers by name."""
    cards: list[Card] = []
    for c in fig.currencies:
        cards.append(
            Card(
                fmt.label("card.mrr"),
                fmt.money(c.mrr, c.currency),
                fmt.label("card.arr", value=fmt.money(c.arr, c.currency)),
            )
        )
    cards += [
        Card(fmt.label("card.subscribers"), fmt.count(fig.subscribers)),
        Card(fmt.label("card.logo_churn"), fmt.share(fig.logo_churn_rate)),
        Card(
            fmt.label("card.trial_conversion"),
            fmt.share(fig.trial_conversion_rate),
            f"{fig.trials_converted} / {fig.trials_started}",
        ),
        Card(fmt.label("card.refunds_disputes"), f"{fig.refunds} / {fig.disputes}"),
        Card(fmt.label("card.course_sales"), fmt.count(fig.course_sales)),
    ]
    rows = fig.currencies
    movement = Chart(
        "mrr-movements",
        fmt.label("chart.mrr_movements"),
        ChartKind.BAR,
        fmt.label("col.currency"),
        tuple(c.currency.upper() for c in fig.currencies),
        (
            Series(fmt.label("col.new_mrr"), _major(rows, [c.new_mrr for c in rows])),
            Series(fmt.label("col.expansion_mrr"), _major(rows, [c.expansion_mrr for c in rows])),
            Series(
                fmt.label("col.contraction_mrr"),
                _major(rows, [-c.contraction_mrr for c in rows]),
            ),
            Series(fmt.label("col.churned_mrr"), _major(rows, [-c.churned_mrr for c in rows])),
        ),
    )
    currencies = Table(
        "currencies",
        fmt.label("table.currencies"),
        (
            fmt.label("col.currency"),
            fmt.label("col.mrr_start"),
            fmt.label("col.mrr"),
            fmt.label("col.arr"),
            fmt.label("col.revenue_churn"),
            fmt.label("col.collected"),
            fmt.label("col.refunded"),
            fmt.label("col.course_sales"),
        ),
        tuple(
            (
                c.currency.upper(),
                fmt.money(c.mrr_start, c.currency),
                fmt.money(c.mrr, c.currency),
                fmt.money(c.arr, c.currency),
                fmt.share(c.revenue_churn_rate),
                fmt.money(c.collected, c.currency),
                fmt.money(c.refunded, c.currency),
                fmt.money(c.course_sales, c.currency),
            )
            for c in fig.currencies
        ),
    )
    offers = Table(
        "offers",
        fmt.label("table.offers"),
        (
            fmt.label("col.offer"),
            fmt.label("col.purchases"),
            fmt.label("col.amount"),
            fmt.label("col.refunded"),
        ),
        tuple(
            (
                names.get(o.offer_id, o.offer_id),
                o.purchases,
                fmt.money(o.amount, o.currency),
                fmt.money(o.refunded, o.currency),
            )
            for o in fig.offers
        ),
    )
    return PageView(cards=tuple(cards), charts=(movement,), tables=(currencies, offers))
