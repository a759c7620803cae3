"""The page builders: figures in, cards, charts and tables out (hand-made figures)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.cogs.analytics import (
    CurrencyRevenue,
    Engagement,
    Growth,
    GrowthDay,
    OfferRevenue,
    Recommender,
    Retention,
    RetentionCohort,
    Revenue,
)
from bot.core.cohort import Cohort
from bot.web.dashboard import _pages as pages
from bot.web.dashboard._format import Formatter
from bot.web.dashboard._model import PageView

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(params=["en", "zh_CN"])
def fmt(cohort: Cohort, request: pytest.FixtureRequest) -> Formatter:
    return Formatter(cohort.i18n, request.param, NEW_YORK)


def _card(view: PageView, label: str) -> str:
    return next(c.value for c in view.cards if c.label == label)


def test_growth_counts_everyone_once_and_each_platform(fmt: Formatter) -> None:
    fig = Growth(
        D1,
        D2,
        ("discord", "telegram"),
        (
            GrowthDay(D1, "", 3, 3, 0),
            GrowthDay(D1, "discord", 2, 2, 0),
            GrowthDay(D1, "telegram", 2, 2, 0),  # one member on both
            GrowthDay(D2, "", 2, 0, 1),
            GrowthDay(D2, "discord", 1, 0, 1),
            GrowthDay(D2, "telegram", 2, 0, 0),
        ),
        linked_members=1,
        members_total=2,
    )
    view = pages.growth(fig, fmt)
    members, moves = view.charts
    assert members.labels == ("2026-11-01", "2026-11-02")
    assert [s.values for s in members.series] == [(3.0, 2.0), (2.0, 1.0), (2.0, 2.0)]
    assert [s.values for s in moves.series] == [(3.0, 0.0), (-0.0, -1.0), (3.0, -1.0)]
    assert _card(view, fmt.label("card.net")) == "+2"
    assert _card(view, fmt.label("card.linked")) == "1"


def test_retention_rates_per_week_after_joining(fmt: Formatter) -> None:
    fig = Retention(
        D1,
        D2,
        (
            RetentionCohort(date(2026, 10, 26), 4, (4, 2, 1)),
            RetentionCohort(date(2026, 11, 2), 2, (2,)),
        ),
    )
    view = pages.retention(fig, fmt)
    (chart,) = view.charts
    assert [s.values for s in chart.series] == [(100.0, 50.0, 25.0), (100.0, 0.0, 0.0)]
    (table,) = view.tables
    assert table.rows[0][2:] == ("100.0% (4)", "50.0% (2)", "25.0% (1)")
    assert table.rows[1][2:] == ("100.0% (2)", "", "")
    assert _card(view, fmt.label("card.week1")) == "50.0%"  # 2 of the 4 with a week 1


@pytest.mark.parametrize(
    ("currency", "mrr", "written", "charted"),
    [
        ("usd", 12345, "123.45 USD", 123.45),
        ("eur", 1900, "19.00 EUR", 19.0),
        ("jpy", 1900, "1,900 JPY", 1900.0),  # a zero-decimal currency: no cents
    ],
)
def test_revenue_writes_money_in_each_currencys_unit(
    fmt: Formatter, currency: str, mrr: int, written: str, charted: float
) -> None:
    fig = Revenue(
        D1,
        D2,
        (CurrencyRevenue(currency, 0, mrr, mrr * 12, mrr, 0, 0, mrr, 1.0, mrr, 0, 0),),
        subscribers_start=1,
        subscribers=1,
        churned_subscribers=1,
        logo_churn_rate=1.0,
        trials_started=2,
        trials_converted=1,
        trial_conversion_rate=0.5,
        refunds=1,
        disputes=0,
        course_sales=0,
        offers=(OfferRevenue("pro", currency, 1, mrr, 0),),
    )
    view = pages.revenue(fig, fmt, {"pro": "Pro"})
    assert view.cards[0].value == written
    (chart,) = view.charts
    new, _expansion, _contraction, churned = chart.series
    assert new.values == (charted,) and churned.values == (-charted,)
    assert _card(view, fmt.label("card.trial_conversion")) == "50.0%"
    assert view.tables[1].rows == (("Pro", 1, written, fmt.money(0, currency)),)  # by name


def test_recommender_reach_closes_the_engagement_cards(cohort: Cohort) -> None:
    fmt = Formatter(cohort.i18n, "en", NEW_YORK)
    fig = Engagement(D1, D2, 10, 0.3, 1.5, 2.0, 0.225, (), (), ())
    rec = Recommender(D1, D2, 4, 10, 6, 0.6, 3, 0.75, 8, 2, 0.25)
    view = pages.engagement(fig, rec, fmt, "")
    assert [c.value for c in view.cards[-2:]] == ["60.0%", "25.0%"]
    assert view.cards[-2].note == "6 members; courses suggested: 3 / 4"
    assert view.cards[-1].note == "8 shown, 2 bought"
    assert _card(view, "Community effect E") == "0.23"  # 0.225, two decimals


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (None, "–"),
        (timedelta(seconds=42), "42 seconds"),
        (timedelta(hours=1, minutes=30, seconds=59), "1 hour 30 minutes"),
        (timedelta(days=8), "1 week 1 day"),
    ],
)
def test_durations_are_words_to_the_minute(
    cohort: Cohort, span: timedelta | None, words: str
) -> None:
    assert Formatter(cohort.i18n, "en", NEW_YORK).span(span) == words


def test_instants_are_written_in_the_communitys_zone(cohort: Cohort) -> None:
    fmt = Formatter(cohort.i18n, "en", NEW_YORK)
    assert fmt.moment(datetime(2026, 11, 1, 5, 30, tzinfo=UTC)) == "2026-11-01 01:30"  # EDT
    assert fmt.moment(datetime(2026, 11, 2, 5, 30, tzinfo=UTC)) == "2026-11-02 00:30"  # EST
