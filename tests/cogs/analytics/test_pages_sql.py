"""The pages' figures the database now counts: buckets, the exact mean, growth's statements."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest
from sqlalchemy import Float, literal, select

from bot.cogs import analytics
from bot.cogs.analytics import Money
from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics import _service as service_module
from bot.cogs.analytics import _spread as spread_of
from bot.core.cohort import Cohort
from tests._sql import queries, statements
from tests.cogs.analytics.world import END, NY, START

pytestmark = pytest.mark.copied_world


async def _growth(world: Cohort, svc: analytics.Analytics) -> tuple[analytics.Growth, list[str]]:
    """Ask ``svc`` for the demo community's growth page, with the SQL it sent."""
    with statements(world.db) as seen:
        page = await svc.growth(world.communities["demo"].id, START, END, NY)
    return page, seen


@pytest.mark.parametrize(
    ("sums", "members", "mean"),
    [
        # Ten members at 1/10 each: adding the floats gives 0.9999999999999999, not 1.
        ({10: 10}, 10, 0.1),
        ({7: 3}, 1, 3 / 7),  # one member
        ({3: 1, 5: 2}, 2, float((Fraction(1, 3) + Fraction(2, 5)) / 2)),
        ({1: 0}, 4, 0.0),
        ({}, 0, 0.0),
    ],
)
def test_the_mean_score_is_the_exact_sum_rounded_once(
    sums: dict[int, int], members: int, mean: float
) -> None:
    assert rules.mean_score(sums, members) == mean


@pytest.mark.parametrize(
    "score", [0.0, 0.0999, 0.1, 0.3, 0.5, 0.99, 1.0, 2.0, 4.99, 5.0, 10.0, 250.5]
)
async def test_the_database_buckets_scores_as_python_does(world: Cohort, score: float) -> None:
    value = literal(score, Float)
    edges = range(1, len(rules.SCORE_EDGES))
    async with world.db.read() as conn:
        found = await conn.scalar(select(sum(spread_of._at_least(value, n) for n in edges)))
    assert found == rules.bucket_index(score)


@pytest.mark.parametrize("top", [1, 2, 3, 10])
async def test_the_top_and_bottom_cut_in_sql_equal_pythons(
    world: Cohort, monkeypatch: pytest.MonkeyPatch, top: int
) -> None:
    monkeypatch.setattr(service_module, "TOP", top)
    svc = analytics.service_of(world)
    cid = world.communities["demo"].id
    in_sql = await svc._engagement_in_sql(cid, START, END, NY)
    assert len(in_sql.most_engaged) == min(top, 3)
    assert in_sql == await svc._engagement_of_rows(cid, START, END, NY)


async def test_engagement_reads_a_row_per_bucket_and_shown_member(world: Cohort) -> None:
    """No statement of the page reads a row per member: the ends are cut by LIMIT."""
    svc = analytics.service_of(world)
    cid = world.communities["demo"].id
    await svc.engagement(cid, START, END, NY)
    with statements(world.db) as seen:
        await svc.engagement(cid, START, END, NY)
    spread = [sql for sql in queries(seen) if "present_scores" in sql]
    assert len(spread) == 1
    assert spread[0].count("LIMIT") == 2
    # Members present all the range are counted in one row of conditional sums; only those
    # present part of it are grouped, by days alone (no sort of every member by bucket).
    assert "bucket" not in spread[0]
    assert "GROUP BY present_scores.days UNION" in " ".join(spread[0].split())


async def test_growth_counts_present_accounts_flat_when_none_comes_or_goes_later(
    world: Cohort,
) -> None:
    """No account joins or leaves after the range: those with no leave are counted flat."""
    page, seen = await _growth(world, analytics.service_of(world))
    assert page.linked_members == 1  # Ana, on Discord and Telegram
    flat = [" ".join(sql.split()) for sql in queries(seen)]
    # The platforms come with the counts (no DISTINCT over every account first), the members
    # and the linked ones from distinct pairs in index order, not grouped per member.
    assert not any(
        sql.startswith("SELECT DISTINCT analytics_presence.platform")
        and "left_at IS NOT NULL" not in sql
        for sql in flat
    )
    assert not any("anon_1.p0 > " in sql for sql in flat)
    assert any(
        "FROM (SELECT DISTINCT analytics_presence.member_id AS member_id" in sql for sql in flat
    )


async def test_the_members_list_groups_accounts_without_a_distinct_count(world: Cohort) -> None:
    """A member's platforms are grouped in index order; only whether they differ is asked."""
    svc = analytics.service_of(world)
    cid = world.communities["demo"].id
    with statements(world.db) as seen:
        page = await svc.members(cid, START, END, NY, segment=analytics.Segment.LINKED)
    assert [r.name for r in page.rows] == ["Ana"]
    assert not any("count(distinct" in sql.lower() for sql in queries(seen))


async def test_the_members_list_joins_each_members_kept_row_without_a_window(
    world: Cohort,
) -> None:
    """With a range kept, the list looks each member's row up; all members are counted apart."""
    svc = analytics.service_of(world)
    cid = world.communities["demo"].id
    await svc.members(cid, START, END, NY)
    with statements(world.db) as seen:
        page = await svc.members(cid, START, END, NY)
    assert page.total == len(page.rows) == 5  # Dee and Eve have accounts, no stay
    listed = [sql for sql in queries(seen) if "points_balances" in sql]
    assert len(listed) == 1
    assert "LEFT OUTER JOIN analytics_range_members ON" in listed[0]
    assert "analytics_member_totals" not in listed[0]
    assert "max(accounts.platform)" not in listed[0]  # platforms compared for "linked" only
    assert not any(" OVER " in sql for sql in queries(seen))


@pytest.mark.parametrize("days_before", [0, 3, 20, 40])
async def test_the_overview_counts_members_from_the_kept_stays_as_growth_does(
    world: Cohort, days_before: int
) -> None:
    """A range reaching now: members per day from two index reads of the stays, no presence."""
    svc = analytics.service_of(world)
    cid = world.communities["demo"].id
    start = START - timedelta(days=days_before)
    with statements(world.db) as seen:
        overview = await svc.overview(cid, start, END, NY)
    growth = await svc.growth(cid, start, END, NY)
    together = [d for d in growth.days if d.platform == ""]
    assert [(d.day, d.value) for d in overview.members_daily] == [
        (d.day, d.total) for d in together
    ]
    assert overview.members_new == sum(d.new for d in together)
    assert overview.members_left == sum(d.left for d in together)
    assert overview.members_total == growth.members_total
    assert not any("analytics_presence" in sql for sql in queries(seen))


@pytest.mark.parametrize("days_before", [0, 5, 33, 90])
async def test_the_overview_counts_questions_and_mrr_as_their_pages_do(
    world: Cohort, days_before: int
) -> None:
    """The overview counts questions in SQL and takes MRR alone, equal to the full pages'."""
    svc = analytics.service_of(world)
    cid = world.communities["demo"].id
    start = START - timedelta(days=days_before)
    with statements(world.db) as seen:
        overview = await svc.overview(cid, start, END, NY)
    qa = await svc.qa(cid, start, END, NY)
    revenue = await svc.revenue(cid, start, END, NY)
    assert (overview.questions_asked, overview.questions_solved) == (qa.asked, qa.solved)
    assert overview.mrr == tuple(Money(c.currency, c.mrr) for c in revenue.currencies)
    assert overview.mrr  # the fixture's subscriptions pay in every range
    read = [sql for sql in queries(seen) if "FROM qa_questions" in sql]
    assert not any("first_answer_at" in sql for sql in read)  # no row per question


@pytest.mark.parametrize(
    ("zones", "folded"),
    [
        (True, False),  # the community's zone known and asked: the kept stays
        (False, True),  # not known: every mover's accounts folded
    ],
)
async def test_growth_reaching_now_counts_members_from_the_kept_stays_in_their_zone(
    world: Cohort, zones: bool, folded: bool
) -> None:
    cid = world.communities["demo"].id
    svc = analytics.Analytics(world.db, world.clock, zones={cid: NY} if zones else None)
    page, seen = await _growth(world, svc)
    assert page == await analytics.Analytics(world.db, world.clock).growth(cid, START, END, NY)
    # The movers' stays folded from presence: a leave only when every account has one.
    assert any("count(analytics_presence.left_at)" in sql for sql in seen) is folded
