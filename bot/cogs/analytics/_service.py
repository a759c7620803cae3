"""The analytics service: one method per page, each over local days ``start``..``end``.

Every method takes ``(community_id, start, end, zone)``; ``start`` and ``end`` are local days
of ``zone``, both included. Pages read the rollups and the feature tables (questions, lectures,
purchases), never the message log. Member-day rollups are kept in the community's zone, which
is the zone the pages are meant to be asked in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.cogs.analytics import _pages as pages
from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._figures import (
    Activity,
    ActivityDay,
    ChannelCount,
    Contributor,
    DayCount,
    Engagement,
    Growth,
    GrowthDay,
    Lectures,
    MemberDetail,
    Members,
    MemberSort,
    Overview,
    Qa,
    QaDay,
    Recommender,
    Retention,
    Revenue,
    Segment,
)
from bot.core.clock import Clock
from bot.store.db import Database
from bot.store.tables import analytics_hours, analytics_member_days, qa_questions

TOP = 10


class Analytics:
    """Figures for organizers, read from the rollups and the feature tables."""

    def __init__(self, db: Database, clock: Clock, *, cost: float = 1.0) -> None:
        self.db = db
        self.clock = clock
        self.cost = cost  # C of the community effect E = S * U / C

    async def overview(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Overview:
        """Return the headline cards and their sparklines."""
        growth = await self.growth(community_id, start, end, zone)
        activity = await self.activity(community_id, start, end, zone)
        qa = await self.qa(community_id, start, end, zone)
        revenue = await self.revenue(community_id, start, end, zone)
        together = [d for d in growth.days if d.platform == ""]
        async with self.db.read() as conn:
            active = await pages.active_members(conn, community_id, start, end)
        return Overview(
            start=start,
            end=end,
            members_total=growth.members_total,
            members_new=sum(d.new for d in together),
            members_left=sum(d.left for d in together),
            messages=activity.messages,
            active_members=active,
            dau=activity.dau,
            mau=activity.mau,
            questions_asked=qa.asked,
            questions_solved=qa.solved,
            mrr=tuple(pages.money(c.currency, c.mrr) for c in revenue.currencies),
            members_daily=tuple(DayCount(d.day, d.total) for d in together),
            messages_daily=tuple(DayCount(d.day, d.messages) for d in activity.days),
        )

    async def growth(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Growth:
        """Return members per day (total, new, left), per platform and all together."""
        _, until = rules.window(start, end, zone)
        async with self.db.read() as conn:
            presence = await pages.presence(conn, community_id, until)
        per_platform, together = pages.growth_days(presence, start, end, zone)
        platforms = tuple(sorted({p.platform for p in presence}))
        rows: list[GrowthDay] = []
        for day in rules.days(start, end):
            rows.append(together[day])
            rows.extend(per_platform[(day, platform)] for platform in platforms)
        members_now: dict[int, set[str]] = defaultdict(set)
        for p in presence:
            if p.left_at is None or p.left_at >= until:
                members_now[p.member_id].add(p.platform)
        return Growth(
            start=start,
            end=end,
            platforms=platforms,
            days=tuple(rows),
            linked_members=sum(1 for held in members_now.values() if len(held) > 1),
            members_total=len(members_now),
        )

    async def activity(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Activity:
        """Return messages per day, DAU/WAU/MAU, stickiness, the heatmap and the leaders."""
        since, until = rules.window(start, end, zone)
        h = analytics_hours.c
        d = analytics_member_days.c
        messages: Counter[date] = Counter()
        reactions: Counter[date] = Counter()
        heat = [[0] * rules.HEATMAP_HOURS for _ in range(rules.HEATMAP_DAYS)]
        channels: Counter[tuple[str, str]] = Counter()
        async with self.db.read() as conn:
            hours = (
                await conn.execute(
                    select(h.hour, h.platform, h.channel_id, h.messages, h.reactions).where(
                        h.community_id == community_id, h.hour >= since, h.hour < until
                    )
                )
            ).all()
            daily_active: dict[date, int] = {
                day: int(n)
                for day, n in (
                    await conn.execute(
                        select(d.day, func.count())
                        .where(
                            d.community_id == community_id,
                            d.day >= start - timedelta(days=rules.MAU_DAYS - 1),
                            d.day <= end,
                        )
                        .group_by(d.day)
                    )
                ).all()
            }
            wau = await pages.active_members(
                conn, community_id, end - timedelta(days=rules.WAU_DAYS - 1), end
            )
            mau = await pages.active_members(
                conn, community_id, end - timedelta(days=rules.MAU_DAYS - 1), end
            )
            leaders = await pages.top_members(conn, community_id, start, end, TOP)
        for hour, platform, channel_id, n, r in hours:
            local = hour.astimezone(zone)
            messages[local.date()] += n
            reactions[local.date()] += r
            heat[local.weekday()][local.hour] += n
            channels[(platform, channel_id)] += n
        span = rules.days(start, end)
        month = rules.days(end - timedelta(days=rules.MAU_DAYS - 1), end)
        dau = rules.ratio(sum(daily_active.get(day, 0) for day in span), len(span))
        month_dau = rules.ratio(sum(daily_active.get(day, 0) for day in month), len(month))
        top_channels = sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
        return Activity(
            start=start,
            end=end,
            days=tuple(
                ActivityDay(day, messages[day], reactions[day], daily_active.get(day, 0))
                for day in span
            ),
            messages=sum(messages.values()),
            dau=dau,
            wau=wau,
            mau=mau,
            stickiness=rules.ratio(month_dau, mau),
            heatmap=tuple(tuple(row) for row in heat),
            top_channels=tuple(
                ChannelCount(platform, channel, n) for (platform, channel), n in top_channels if n
            ),
            top_contributors=tuple(
                Contributor(member_id, name, n, r) for member_id, name, n, r in leaders
            ),
        )

    async def retention(
        self, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> Retention:
        """Return the weekly cohorts that joined in the range and their activity since."""
        raise NotImplementedError

    async def engagement(
        self, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> Engagement:
        """Return the participation scores, the community effect and who is most engaged."""
        raise NotImplementedError

    async def qa(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Qa:
        """Return questions asked in the range, answer and solve times, and unanswered now."""
        since, until = rules.window(start, end, zone)
        q = qa_questions.c
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(q.state, q.created_at, q.first_answer_at, q.solved_at).where(
                        q.community_id == community_id,
                        q.created_at >= since,
                        q.created_at < until,
                    )
                )
            ).all()
            unanswered = await conn.scalar(
                select(func.count()).where(
                    q.community_id == community_id,
                    q.state == "open",
                    q.first_answer_at.is_(None),
                )
            )
        first = [r.first_answer_at - r.created_at for r in rows if r.first_answer_at is not None]
        solve = [r.solved_at - r.created_at for r in rows if r.solved_at is not None]
        asked: Counter[date] = Counter()
        solved: Counter[date] = Counter()
        for r in rows:
            day = rules.local_day(r.created_at, zone)
            asked[day] += 1
            if r.solved_at is not None:
                solved[day] += 1
        return Qa(
            start=start,
            end=end,
            asked=len(rows),
            answered=len(first),
            solved=len(solve),
            median_first_answer=rules.median(first),
            p90_first_answer=rules.percentile(first, 0.9),
            median_solve=rules.median(solve),
            p90_solve=rules.percentile(solve, 0.9),
            unanswered_now=int(unanswered or 0),
            days=tuple(QaDay(day, asked[day], solved[day]) for day in rules.days(start, end)),
        )

    async def lectures(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Lectures:
        """Return the sessions that started in the range: RSVPs, attendance, reminders."""
        raise NotImplementedError

    async def revenue(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Revenue:
        """Return MRR and its movements, churn, conversion, refunds and sales by offer."""
        return Revenue(
            start=start,
            end=end,
            currencies=(),
            subscribers_start=0,
            subscribers=0,
            churned_subscribers=0,
            logo_churn_rate=0.0,
            trials_started=0,
            trials_converted=0,
            trial_conversion_rate=0.0,
            refunds=0,
            disputes=0,
            course_sales=0,
            offers=(),
        )

    async def recommender(
        self, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> Recommender:
        """Return the recommender's coverage and how suggestions turned into purchases."""
        raise NotImplementedError

    async def member(
        self, community_id: int, member_id: int, start: date, end: date, zone: ZoneInfo
    ) -> MemberDetail | None:
        """Return one member's page, or None if the member is not in the community."""
        raise NotImplementedError

    async def members(
        self,
        community_id: int,
        start: date,
        end: date,
        zone: ZoneInfo,
        *,
        search: str = "",
        sort: MemberSort = MemberSort.ENGAGEMENT,
        segment: Segment = Segment.ALL,
        offset: int = 0,
        limit: int = 50,
    ) -> Members:
        """Return a page of members matching ``search`` (a name) and ``segment``, sorted."""
        raise NotImplementedError
