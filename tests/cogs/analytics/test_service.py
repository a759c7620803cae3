"""Each page's figures on the hand-computed New York fixture (``world.py``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import insert

from bot.cogs import analytics
from bot.cogs.analytics import (
    Bucket,
    CurrencyRevenue,
    GrowthDay,
    MemberSort,
    Money,
    OfferRevenue,
    RetentionCohort,
    Segment,
)
from bot.cogs.analytics._rules import window
from bot.core.cohort import Cohort
from bot.store.tables import recommend_prefs
from tests.cogs.analytics.world import (
    ANA_D,
    BO,
    CY,
    END,
    MONEY_START,
    NY,
    START,
    members_over_rows,
    rollup_rows,
    utc,
)

pytestmark = pytest.mark.copied_world


def service(bot: Cohort) -> tuple[analytics.Analytics, int]:
    return analytics.service_of(bot), bot.communities["demo"].id


def d(month: int, day: int) -> date:
    return date(2026, month, day)


GROWTH = [
    # day, platform, total, new, left
    (d(10, 30), "", 1, 0, 0),
    (d(10, 30), "discord", 1, 0, 0),
    (d(10, 30), "telegram", 0, 0, 0),
    (d(10, 31), "", 2, 1, 0),
    (d(10, 31), "discord", 1, 0, 0),
    (d(10, 31), "telegram", 2, 2, 0),
    (d(11, 1), "", 3, 1, 0),
    (d(11, 1), "discord", 2, 1, 0),
    (d(11, 1), "telegram", 2, 0, 0),
    (d(11, 2), "", 2, 0, 1),
    (d(11, 2), "discord", 2, 0, 0),
    (d(11, 2), "telegram", 1, 0, 1),
    (d(11, 3), "", 2, 0, 0),
    (d(11, 3), "discord", 2, 0, 0),
    (d(11, 3), "telegram", 1, 0, 0),
]


async def test_growth_counts_members_per_day_and_platform(world: Cohort) -> None:
    page = await analytics.service_of(world).growth(world.communities["demo"].id, START, END, NY)
    assert page.platforms == ("discord", "telegram")
    assert page.days == tuple(GrowthDay(*row) for row in GROWTH)
    assert page.linked_members == 1
    assert page.members_total == 2
    assert [row.net for row in page.days if row.platform == ""] == [0, 1, 1, -1, 0]


async def test_activity_counts_days_in_new_york_across_the_dst_change(world: Cohort) -> None:
    page = await analytics.service_of(world).activity(world.communities["demo"].id, START, END, NY)
    assert [(a.day, a.messages, a.active_members) for a in page.days] == [
        (d(10, 30), 1, 1),
        (d(10, 31), 2, 2),
        (d(11, 1), 3, 2),  # both 01:30s and cy's 23:30 (04:30 UTC the next day)
        (d(11, 2), 0, 0),
        (d(11, 3), 1, 1),
    ]
    assert page.messages == 7
    assert page.dau == pytest.approx(6 / 5)
    assert (page.wau, page.mau) == (3, 3)
    assert page.stickiness == pytest.approx((6 / 30) / 3)
    expected = {(4, 20): 1, (5, 9): 1, (5, 11): 1, (6, 1): 2, (6, 23): 1, (1, 10): 1}
    cells = {
        (weekday, hour): n
        for weekday, row in enumerate(page.heatmap)
        for hour, n in enumerate(row)
        if n
    }
    assert cells == expected
    assert [(c.platform, c.channel_id, c.messages) for c in page.top_channels] == [
        ("discord", "general", 5),
        ("telegram", "-1001234567890", 2),
    ]
    assert [(c.name, c.messages) for c in page.top_contributors] == [
        ("Ana", 4),
        ("Cy", 2),
        ("Bo", 1),
    ]


async def test_rebuild_gives_what_was_kept_incrementally(world: Cohort) -> None:
    service = analytics.service_of(world)
    community = world.communities["demo"]
    before = (
        await service.growth(community.id, START, END, NY),
        await service.activity(community.id, START, END, NY),
    )
    kept = await rollup_rows(world)
    assert await analytics.rebuild(world.db, community.id, NY) == 7
    assert await rollup_rows(world) == kept
    after = (
        await service.growth(community.id, START, END, NY),
        await service.activity(community.id, START, END, NY),
    )
    assert after == before


async def test_a_build_without_events_has_empty_pages(cohort: Cohort) -> None:
    page = await analytics.service_of(cohort).activity(
        cohort.communities["demo"].id, START, END, NY
    )
    assert page.messages == 0 and page.mau == 0 and page.stickiness == 0.0


async def test_qa_times_and_unanswered(world: Cohort) -> None:
    svc, cid = service(world)
    page = await svc.qa(cid, START, END, NY)
    assert (page.asked, page.answered, page.solved, page.unanswered_now) == (3, 2, 1, 1)
    assert page.median_first_answer == timedelta(minutes=75)
    assert page.p90_first_answer == timedelta(hours=2)
    assert page.median_solve == page.p90_solve == timedelta(hours=1)
    assert [(q.day, q.asked, q.solved) for q in page.days if q.asked] == [
        (d(10, 31), 1, 1),
        (d(11, 1), 1, 0),
        (d(11, 2), 1, 0),
    ]


async def test_lectures_rsvps_attendance_and_no_shows(world: Cohort) -> None:
    svc, cid = service(world)
    page = await svc.lectures(cid, START, END, NY)
    (session,) = page.sessions
    assert session.start_at.isoformat() == "2026-11-02T18:00:00-05:00"
    assert (session.going, session.maybe, session.attended) == (3, 1, 3)
    assert (session.no_shows, session.reminders_sent) == (1, 2)  # bo; the failed one not counted
    assert session.no_show_rate == pytest.approx(1 / 3)
    assert (page.no_shows, page.no_show_rate) == (1, pytest.approx(1 / 3))


USD = CurrencyRevenue(
    currency="usd",
    mrr_start=4000,  # ana 2000 + eve 2000
    mrr=6500,  # ana 2000 + bo's yearly 24000/12 + dee 1000 + eve 1500
    arr=78000,
    new_mrr=3000,
    expansion_mrr=0,
    contraction_mrr=500,
    churned_mrr=0,
    revenue_churn_rate=0.125,
    collected=38500,
    refunded=5000,
    course_sales=10000,
)
EUR = CurrencyRevenue(
    currency="eur",
    mrr_start=3000,
    mrr=0,
    arr=0,
    new_mrr=0,
    expansion_mrr=0,
    contraction_mrr=0,
    churned_mrr=3000,
    revenue_churn_rate=1.0,
    collected=0,
    refunded=0,
    course_sales=0,
)


async def test_revenue_from_what_gating_stores(world: Cohort) -> None:
    svc, cid = service(world)
    page = await svc.revenue(cid, MONEY_START, END, NY)
    assert page.currencies == (EUR, USD)
    assert (page.subscribers_start, page.subscribers, page.churned_subscribers) == (3, 4, 1)
    assert page.logo_churn_rate == pytest.approx(1 / 3)
    assert (page.trials_started, page.trials_converted, page.trial_conversion_rate) == (1, 1, 1.0)
    assert (page.refunds, page.disputes, page.course_sales) == (1, 1, 2)
    assert page.offers == (
        OfferRevenue("club", "usd", 1, 1000, 0),
        OfferRevenue("pro", "usd", 3, 27500, 0),
        OfferRevenue("py101", "usd", 2, 10000, 5000),
    )


@pytest.mark.parametrize("way", ["_engagement_in_sql", "_engagement_of_rows"])
async def test_engagement_scores_and_effect(world: Cohort, way: str) -> None:
    """The database's scores (a range reaching now) and Python's (any range) agree."""
    svc, cid = service(world)
    assert world.clock.now() < window(START, END, NY)[1]  # the range reaches now
    page = await getattr(svc, way)(cid, START, END, NY)
    assert page == await svc.engagement(cid, START, END, NY)
    scores = {
        m.name: (m.interactions, m.discussions, m.contributions, m.days) for m in page.most_engaged
    }
    assert scores == {"Cy": (2, 1, 2, 3), "Ana": (3, 2, 2, 5), "Bo": (1, 0, 0, 3)}
    assert [m.name for m in page.most_engaged] == ["Cy", "Ana", "Bo"]
    assert [m.name for m in page.least_engaged] == ["Bo", "Ana", "Cy"]
    assert [m.score for m in page.most_engaged] == pytest.approx([5 / 3, 7 / 5, 1 / 3])
    assert page.members == 3
    assert page.paying_share == pytest.approx(2 / 3)  # ana and bo; cy pays nothing
    assert page.mean_score == pytest.approx((5 / 3 + 7 / 5 + 1 / 3) / 3)
    assert page.effect == pytest.approx(2 / 3 * (5 / 3 + 7 / 5 + 1 / 3) / 3 / 1.0)
    assert [b.members for b in page.distribution] == [0, 1, 0, 2, 0, 0, 0]
    assert page.distribution[-1] == Bucket(10.0, None, 0)


async def test_retention_weekly_cohorts(world: Cohort) -> None:
    svc, cid = service(world)
    page = await svc.retention(cid, START, END, NY)
    assert page.cohorts == (RetentionCohort(d(10, 26), 2, (2, 1)),)
    assert page.cohorts[0].rate(1) == 0.5


async def test_overview_headlines(world: Cohort) -> None:
    svc, cid = service(world)
    page = await svc.overview(cid, START, END, NY)
    assert (page.members_total, page.members_new, page.members_left) == (2, 2, 1)
    assert (page.messages, page.active_members, page.mau) == (7, 3, 3)
    assert page.dau == pytest.approx(1.2)
    assert (page.questions_asked, page.questions_solved) == (3, 1)
    assert page.mrr == (Money("usd", 6500),)
    assert [p.value for p in page.members_daily] == [1, 2, 3, 2, 2]
    assert [p.value for p in page.messages_daily] == [1, 2, 3, 0, 1]


async def test_recommender_shown_then_bought(world: Cohort) -> None:
    svc, cid = service(world)
    ana = (await world.identity.resolve(cid, ANA_D)).member_id
    await analytics.record_shown(
        world.db, cid, ana, [("py101", "py101")], personal=True, at=utc(10, 24)
    )
    page = await svc.recommender(cid, MONEY_START, END, NY)
    assert (page.courses, page.members, page.members_with_suggestions) == (1, 2, 2)
    assert (page.shown, page.bought, page.conversion) == (1, 1, 1.0)
    assert (page.suggested_courses, page.catalog_coverage) == (1, 1.0)


@pytest.mark.parametrize(
    ("search", "sort", "segment", "names"),
    [
        ("", MemberSort.ENGAGEMENT, Segment.ALL, ["Cy", "Ana", "Bo", "Dee", "Eve"]),
        ("", MemberSort.MESSAGES, Segment.ALL, ["Ana", "Cy", "Bo", "Dee", "Eve"]),
        ("", MemberSort.NAME, Segment.ALL, ["Ana", "Bo", "Cy", "Dee", "Eve"]),
        # The points cog awarded points per message: ana 4, cy 2, bo 1.
        ("", MemberSort.POINTS, Segment.ALL, ["Ana", "Cy", "Bo", "Dee", "Eve"]),
        ("", MemberSort.JOINED, Segment.NEW, ["Cy", "Bo"]),
        ("ANA t", MemberSort.ENGAGEMENT, Segment.ALL, ["Ana"]),
        ("", MemberSort.ENGAGEMENT, Segment.LINKED, ["Ana"]),
        ("", MemberSort.ENGAGEMENT, Segment.LEFT, ["Bo"]),
        ("", MemberSort.ENGAGEMENT, Segment.PAYING, ["Ana", "Bo", "Dee", "Eve"]),
        ("", MemberSort.ENGAGEMENT, Segment.ACTIVE, ["Cy", "Ana", "Bo"]),
        ("", MemberSort.ENGAGEMENT, Segment.INACTIVE, ["Dee", "Eve"]),
        ("nobody", MemberSort.ENGAGEMENT, Segment.ALL, []),
    ],
)
async def test_members_search_sort_segment(
    world: Cohort, search: str, sort: MemberSort, segment: Segment, names: list[str]
) -> None:
    svc, cid = service(world)
    page = await svc.members(cid, START, END, NY, search=search, sort=sort, segment=segment)
    assert [r.name for r in page.rows] == names
    assert page.total == len(names)
    # The database's cut (the range reaches now) is the same as Python's over every member.
    python = await members_over_rows(
        world, START, END, NY, search=search, sort=sort, segment=segment
    )
    assert page == python
    second = await svc.members(cid, START, END, NY, sort=sort, segment=segment, offset=1, limit=2)
    assert second == await members_over_rows(
        world, START, END, NY, sort=sort, segment=segment, offset=1, limit=2
    )


async def test_member_page(world: Cohort) -> None:
    svc, cid = service(world)
    ana = (await world.identity.resolve(cid, ANA_D)).member_id
    page = await svc.member(cid, ana, START, END, NY)
    assert page is not None
    assert page.accounts == (("discord", "Ana"), ("telegram", "Ana T"))
    assert (page.joined, page.messages, page.answers) == (d(10, 20), 4, 1)
    assert page.score == pytest.approx(7 / 5)
    assert [(p.offer_id, p.amount, p.refunded) for p in page.purchases] == [
        ("pro", 2000, False),
        ("pro", 2000, False),
        ("py101", 5000, False),
    ]
    assert [a.title for a in page.attendance] == ["Decorators"]
    assert [(q.title, q.state) for q in page.questions] == [("question of ana", "solved")]
    assert [p.value for p in page.activity] == [1, 1, 2, 0, 0]
    assert await svc.member(cid, 999_999, START, END, NY) is None


async def test_the_configured_cost_divides_the_effect(world: Cohort) -> None:
    svc, cid = service(world)
    base = await svc.engagement(cid, START, END, NY)
    costly = analytics.Analytics(world.db, world.clock, costs={cid: 2.0})
    page = await costly.engagement(cid, START, END, NY)
    assert (page.cost, page.effect) == (2.0, pytest.approx(base.effect / 2))


@pytest.mark.parametrize(
    ("opted_out", "personal"),
    [
        ((), 2),  # ana bought a course and wrote, cy wrote
        (("cy",), 1),
        (("ana",), 2),  # her kept course is enough
        (("ana", "cy"), 1),
        (("bo",), 2),  # bo left: not counted either way
    ],
)
async def test_recommender_coverage_leaves_out_who_turned_recommendations_off(
    world: Cohort, opted_out: tuple[str, ...], personal: int
) -> None:
    svc, cid = service(world)
    callers = {"ana": ANA_D, "bo": BO, "cy": CY}
    async with world.db.write() as conn:
        for name in opted_out:
            member = (await world.identity.resolve(cid, callers[name])).member_id
            await conn.execute(
                insert(recommend_prefs).values(
                    community_id=cid,
                    member_id=member,
                    use_messages=False,
                    digest=False,
                    last_digest="",
                    updated_at=world.clock.now(),
                )
            )
    page = await svc.recommender(cid, START, END, NY)
    assert (page.members, page.members_with_suggestions) == (2, personal)
    assert page.coverage == personal / 2
