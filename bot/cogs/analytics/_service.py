"""The analytics service: one method per page, each over local days ``start``..``end``.

Every method takes ``(community_id, start, end, zone)``; ``start`` and ``end`` are local days
of ``zone``, both included. Pages read the rollups and the feature tables (questions, lectures,
purchases), never the message log. Member-day rollups are kept in the community's zone, which
is the zone the pages are meant to be asked in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _directory as directory
from bot.cogs.analytics import _growth as growth_of
from bot.cogs.analytics import _lectures as lectures_of
from bot.cogs.analytics import _members as members_of
from bot.cogs.analytics import _moderation as moderation_of
from bot.cogs.analytics import _pages as pages
from bot.cogs.analytics import _people as people
from bot.cogs.analytics import _ranges as ranges
from bot.cogs.analytics import _ranked as ranked
from bot.cogs.analytics import _revenue as revenue_of
from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics import _steady as steady
from bot.cogs.analytics import _suggestions as suggestions
from bot.cogs.analytics import _weeks as weeks_of
from bot.cogs.analytics._figures import (
    Activity,
    ActivityDay,
    Bucket,
    ChannelCount,
    Contributor,
    DayCount,
    Engagement,
    Growth,
    GrowthDay,
    Lectures,
    MemberDetail,
    MemberEngagement,
    Members,
    MemberSort,
    Moderation,
    Overview,
    Qa,
    QaDay,
    Recommender,
    Retention,
    RetentionCohort,
    Revenue,
    Segment,
    Session,
)
from bot.cogs.analytics._keeper import LEDGERS_CACHED, Ledgers
from bot.core.clock import Clock
from bot.store.db import Database
from bot.store.tables import qa_questions

TOP = 10


async def _whole(ledgers: Ledgers, conn: AsyncConnection, community_id: int) -> revenue_of.Ledger:
    """Return the community's kept ledger, read or brought up to date if its data changed."""
    return (await ledgers.get(conn, community_id)).ledger


class Analytics:
    """Figures for organizers, read from the rollups and the feature tables."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        costs: Mapping[int, float] | None = None,
        ledgers: Ledgers | None = None,
        zones: Mapping[int, ZoneInfo] | None = None,
        current: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.db = db
        # Called before each read: messages logged and not yet in the rollups are folded in.
        self.current = current
        self.clock = clock
        # C of the community effect E = S * U / C, per community id (1.0 if not given).
        self.costs: Mapping[int, float] = costs or {}
        # Each community's zone, the zone its stays are kept in (none given: not known).
        self.zones: Mapping[int, ZoneInfo] = zones or {}
        # With ``ledgers``, each community's whole revenue ledger stays in memory, shared by
        # every service handed the same ``Ledgers`` (the bot's: ``_keeper.ledgers_of``); after
        # a purchase, a payment or an access source of any community changes or goes, the next
        # read takes only the rows changed or deleted since (``_ledger.refresh``).
        self._ledgers = ledgers
        # The members paying at a range's end, per community, with the kept ledger and the
        # instant they were found from: good while the cache hands out the same ledger.
        self._paying: dict[int, tuple[revenue_of.Ledger, datetime, frozenset[int]]] = {}

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """Open a read transaction on rollups that hold every message logged so far."""
        await self._current()
        async with self.db.read() as conn:
            yield conn

    async def _current(self) -> None:
        """Fold the messages not yet in the rollups (before anything reads them)."""
        if self.current is not None:
            await self.current()

    async def _ledger(
        self, conn: AsyncConnection, community_id: int, since: datetime, until: datetime
    ) -> revenue_of.Ledger:
        """Return the revenue ledger a range ``[since, until)`` reads."""
        if self._ledgers is None:
            ledger = await revenue_of.load(conn, community_id, since - revenue_of.LOOKBACK)
        else:
            ledger = await _whole(self._ledgers, conn, community_id)
        return ledger.window(since, until)

    async def _paying_at(
        self, conn: AsyncConnection, community_id: int, until: datetime
    ) -> frozenset[int]:
        """Return the members paying at the end of a range ending at ``until``."""
        at = until - timedelta(microseconds=1)
        if self._ledgers is None:
            ledger = await self._ledger(conn, community_id, until, until)
            return frozenset(revenue_of.paying_members(ledger, at))
        whole = await _whole(self._ledgers, conn, community_id)
        kept = self._paying.get(community_id)
        if kept is not None and kept[0] is whole and kept[1] == at:
            return kept[2]
        paying = frozenset(revenue_of.paying_members(whole.window(until, until), at))
        if len(self._paying) >= LEDGERS_CACHED:
            self._paying.clear()
        self._paying[community_id] = (whole, at, paying)
        return paying

    async def overview(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Overview:
        """Return the headline cards and their sparklines."""
        async with self._read() as conn:
            growth = await growth_of.growth(
                conn,
                community_id,
                start,
                end,
                zone,
                platforms=False,
                present_now=rules.window(start, end, zone)[1] > self.clock.now(),
            )
        activity = await self._activity(community_id, start, end, zone, full=False)
        moderation = await self.moderation(community_id, start, end, zone)
        together = [growth.together[day] for day in rules.days(start, end)]
        since, until = rules.window(start, end, zone)
        async with self._read() as conn:
            active = await pages.active_members(conn, community_id, start, end)
            # Counts only: the Q&A page's times and days, and the revenue page's movements,
            # are not shown here.
            asked, solved = await pages.questions(conn, community_id, since, until)
            ledger = await self._ledger(conn, community_id, since, until)
        mrr = revenue_of.mrr_per_currency(ledger, since, until)
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
            questions_asked=asked,
            questions_solved=solved,
            mrr=tuple(pages.money(currency, amount) for currency, amount in mrr),
            members_daily=tuple(DayCount(d.day, d.total) for d in together),
            messages_daily=tuple(DayCount(d.day, d.messages) for d in activity.days),
            moderation=moderation.totals,
        )

    async def growth(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Growth:
        """Return members per day (total, new, left), per platform and all together."""
        mine = community_id in self.zones and self.zones[community_id].key == zone.key
        async with self._read() as conn:
            found = await growth_of.growth(
                conn,
                community_id,
                start,
                end,
                zone,
                present_now=mine and rules.window(start, end, zone)[1] > self.clock.now(),
            )
        rows: list[GrowthDay] = []
        for day in rules.days(start, end):
            rows.append(found.together[day])
            rows.extend(found.per_platform[(day, platform)] for platform in found.platforms)
        return Growth(
            start=start,
            end=end,
            platforms=found.platforms,
            days=tuple(rows),
            linked_members=found.linked_members,
            members_total=found.members_total,
        )

    async def activity(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Activity:
        """Return messages per day, DAU/WAU/MAU, stickiness, the heatmap and the leaders."""
        return await self._activity(community_id, start, end, zone, full=True)

    async def _activity(
        self, community_id: int, start: date, end: date, zone: ZoneInfo, *, full: bool
    ) -> Activity:
        """Compute the activity page; without ``full``, no WAU, heatmap nor leaders (the overview).

        Days come from the community's day totals (its zone is the pages' zone), the heatmap
        and the channels from the hour rows summed in SQL: O(days), never O(members).
        """
        messages: Counter[date] = Counter()
        reactions: Counter[date] = Counter()
        daily_active: dict[date, int] = {}
        heat = [[0] * rules.HEATMAP_HOURS for _ in range(rules.HEATMAP_DAYS)]
        top_channels: list[tuple[str, str, int]] = []
        kept = None
        if full and rules.window(start, end, zone)[1] > self.clock.now():
            kept = await self._keep_closed_days(community_id, start, end, zone)
        async with self._read() as conn:
            for day, n, r, active in await pages.day_totals(
                conn, community_id, min(start, end - timedelta(days=rules.MAU_DAYS - 1)), end
            ):
                messages[day], reactions[day], daily_active[day] = n, r, active
            mau = await pages.active_members(
                conn, community_id, end - timedelta(days=rules.MAU_DAYS - 1), end
            )
            wau, leaders = 0, []
            if full:
                since, until = rules.window(start, end, zone)
                for hour, n in await pages.hour_totals(conn, community_id, since, until):
                    local = hour.astimezone(zone)
                    heat[local.weekday()][local.hour] += n
                top_channels = await pages.top_channels(conn, community_id, since, until, TOP)
                wau = await pages.active_members(
                    conn, community_id, end - timedelta(days=rules.WAU_DAYS - 1), end
                )
                leaders = await pages.top_members(conn, community_id, start, end, TOP, kept=kept)
        span = rules.days(start, end)
        month = rules.days(end - timedelta(days=rules.MAU_DAYS - 1), end)
        dau = rules.ratio(sum(daily_active.get(day, 0) for day in span), len(span))
        month_dau = rules.ratio(sum(daily_active.get(day, 0) for day in month), len(month))
        return Activity(
            start=start,
            end=end,
            days=tuple(
                ActivityDay(day, messages[day], reactions[day], daily_active.get(day, 0))
                for day in span
            ),
            messages=sum(messages[day] for day in span),
            dau=dau,
            wau=wau,
            mau=mau,
            stickiness=rules.ratio(month_dau, mau),
            heatmap=tuple(tuple(row) for row in heat),
            top_channels=tuple(
                ChannelCount(platform, channel, n) for platform, channel, n in top_channels
            ),
            top_contributors=tuple(
                Contributor(member_id, name, n, r) for member_id, name, n, r in leaders
            ),
        )

    async def retention(
        self, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> Retention:
        """Return the weekly cohorts that joined in the range and their activity since."""
        await self._current()
        kept = await weeks_of.keep(
            self.db,
            community_id,
            weeks_of.closed_weeks(start, end, rules.local_day(self.clock.now(), zone)),
        )
        async with self._read() as conn:
            found = await people.cohorts(conn, community_id, start, end, kept=kept)
        return Retention(
            start=start,
            end=end,
            cohorts=tuple(RetentionCohort(week, size, active) for week, size, active in found),
        )

    async def _scores(
        self, conn: AsyncConnection, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> tuple[dict[int, people.Stay], dict[int, people.Parts], dict[int, float]]:
        """Return the member stays, score parts and scores U of members present in the range."""
        since, until = rules.window(start, end, zone)
        stays = people.stays(await pages.presence(conn, community_id, until), zone, until)
        parts = await people.parts(conn, community_id, start, end, since, until)
        scores: dict[int, float] = {}
        for member_id, stay in stays.items():
            present = rules.days_present(stay.joined, stay.left, start, end)
            if present <= 0:
                continue
            p = parts.get(member_id) or people.Parts()
            scores[member_id] = rules.score(p.interactions, p.discussions, p.contributions, present)
        return stays, parts, scores

    async def _keep_closed_days(
        self, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> date | None:
        """Keep members' sums over the range's days before today; return the last (None: none)."""
        last = min(end, rules.local_day(self.clock.now(), zone) - timedelta(days=1))
        if last < start:
            return None
        await self._current()
        await ranges.keep(self.db, community_id, start, last)
        return last

    async def engagement(
        self, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> Engagement:
        """Return the participation scores, the community effect and who is most engaged."""
        if rules.window(start, end, zone)[1] > self.clock.now():
            return await self._engagement_in_sql(community_id, start, end, zone)
        return await self._engagement_of_rows(community_id, start, end, zone)

    async def _engagement_in_sql(
        self, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> Engagement:
        """Compute the engagement page in the database from the stays kept now."""
        since, until = rules.window(start, end, zone)
        kept = await self._keep_closed_days(community_id, start, end, zone)
        async with self._read() as conn:
            paying = await self._paying_at(conn, community_id, until)
            found = await steady.spread(
                conn, community_id, start, end, since, until, top=TOP, paying=paying, kept=kept
            )
            names = await pages.names_of(
                conn, sorted({r.member_id for r in (*found.most, *found.least)})
            )
        cost = self.costs.get(community_id, 1.0)
        share = rules.ratio(found.paying_present, found.population)

        def line(r: ranked.Ranked) -> MemberEngagement:
            return MemberEngagement(
                member_id=r.member_id,
                name=names.get(r.member_id, ""),
                interactions=r.messages - r.thread_messages + r.reactions,
                discussions=r.thread_messages + r.answers,
                contributions=r.accepted + r.attended + r.kudos,
                days=r.days,
                score=r.score,
            )

        return Engagement(
            start=start,
            end=end,
            members=found.population,
            paying_share=share,
            mean_score=found.mean,
            cost=cost,
            effect=rules.ratio(share * found.mean, cost),
            distribution=found.distribution,
            most_engaged=tuple(line(r) for r in found.most),
            least_engaged=tuple(line(r) for r in found.least),
        )

    async def _engagement_of_rows(
        self, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> Engagement:
        """Compute the engagement page in Python from the stays as they were at its end."""
        _, until = rules.window(start, end, zone)
        async with self._read() as conn:
            stays, parts, scores = await self._scores(conn, community_id, start, end, zone)
            ledger = await self._ledger(conn, community_id, until, until)
            ranked = sorted(scores, key=lambda m: (-scores[m], m))
            shown = set(ranked[:TOP]) | set(ranked[-TOP:])
            names = await pages.names_of(conn, sorted(shown))
        paying = revenue_of.paying_members(ledger, until - timedelta(microseconds=1))
        cost = self.costs.get(community_id, 1.0)
        population = len(scores)
        share = rules.ratio(len(paying & set(scores)), population)
        numerators: Counter[int] = Counter()
        for member_id in scores:
            p = parts.get(member_id) or people.Parts()
            stay = stays[member_id]
            present = rules.days_present(stay.joined, stay.left, start, end)
            numerators[present] += p.interactions + p.discussions + p.contributions
        mean = rules.mean_score(numerators, population)
        counts = Counter(rules.bucket_index(v) for v in scores.values())
        edges = rules.SCORE_EDGES

        def line(member_id: int) -> MemberEngagement:
            p = parts.get(member_id) or people.Parts()
            stay = stays[member_id]
            return MemberEngagement(
                member_id=member_id,
                name=names.get(member_id, ""),
                interactions=p.interactions,
                discussions=p.discussions,
                contributions=p.contributions,
                days=rules.days_present(stay.joined, stay.left, start, end),
                score=scores[member_id],
            )

        return Engagement(
            start=start,
            end=end,
            members=population,
            paying_share=share,
            mean_score=mean,
            cost=cost,
            effect=rules.ratio(share * mean, cost),
            distribution=tuple(
                Bucket(edge, edges[n + 1] if n + 1 < len(edges) else None, counts[n])
                for n, edge in enumerate(edges)
            ),
            most_engaged=tuple(line(m) for m in ranked[:TOP]),
            least_engaged=tuple(line(m) for m in reversed(ranked[-TOP:])),
        )

    async def qa(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Qa:
        """Return questions asked in the range, answer and solve times, and unanswered now."""
        since, until = rules.window(start, end, zone)
        q = qa_questions.c
        async with self._read() as conn:
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
        since, until = rules.window(start, end, zone)
        now = self.clock.now()
        async with self._read() as conn:
            rows = await lectures_of.sessions(conn, community_id, since, until)
        sessions = tuple(
            Session(
                occurrence_id=r.occurrence_id,
                title=r.title,
                start_at=r.start_at.astimezone(zone),
                status=r.status,
                going=r.going,
                maybe=r.maybe,
                attended=r.attended,
                no_shows=r.no_shows if r.start_at <= now else 0,
                reminders_sent=r.reminders_sent,
            )
            for r in rows
        )
        past_going = sum(x.going for x in sessions if x.start_at <= now)
        no_shows = sum(x.no_shows for x in sessions)
        return Lectures(
            start=start,
            end=end,
            sessions=sessions,
            going=sum(x.going for x in sessions),
            maybe=sum(x.maybe for x in sessions),
            attended=sum(x.attended for x in sessions),
            no_shows=no_shows,
            no_show_rate=rules.ratio(no_shows, past_going),
            reminders_sent=sum(x.reminders_sent for x in sessions),
        )

    async def moderation(
        self, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> Moderation:
        """Return moderation cases per day: done by action, by people or automod, and failed."""
        since, until = rules.window(start, end, zone)
        async with self._read() as conn:
            rows = await moderation_of.cases(conn, community_id, since, until)
        return moderation_of.page(rows, start, end, zone)

    async def revenue(self, community_id: int, start: date, end: date, zone: ZoneInfo) -> Revenue:
        """Return MRR and its movements, churn, conversion, refunds and sales by offer."""
        since, until = rules.window(start, end, zone)
        async with self._read() as conn:
            ledger = await self._ledger(conn, community_id, since, until)
        return revenue_of.revenue(ledger, start, end, since, until)

    async def recommender(
        self, community_id: int, start: date, end: date, zone: ZoneInfo
    ) -> Recommender:
        """Return the recommender's coverage and how suggestions turned into purchases."""
        since, until = rules.window(start, end, zone)
        kept = None
        if until > self.clock.now():
            kept = await self._keep_closed_days(community_id, start, end, zone)
        async with self._read() as conn:
            return await suggestions.page(conn, community_id, start, end, since, until, kept=kept)

    async def member(
        self, community_id: int, member_id: int, start: date, end: date, zone: ZoneInfo
    ) -> MemberDetail | None:
        """Return one member's page, or None if the member is not in the community."""
        since, until = rules.window(start, end, zone)
        async with self._read() as conn:
            stays = people.stays(
                await pages.presence(conn, community_id, until, members=[member_id]), zone, until
            )
            return await directory.detail(
                conn,
                community_id,
                member_id,
                start,
                end,
                since,
                until,
                zone,
                stays.get(member_id),
            )

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
        """Return a page of members matching ``search`` (a name) and ``segment``, sorted.

        A range reaching now is read from its kept member sums (``_members``): cut in the
        database with no search and a sort other than by name, the matching members alone
        with a search; anything else, in Python over every member.
        """
        _, until = rules.window(start, end, zone)
        now = self.clock.now()
        kept = None
        if until > now and (search.strip() or sort in ranked.SORTABLE):
            kept = await self._keep_closed_days(community_id, start, end, zone)
        async with self._read() as conn:
            paying = await self._paying_at(conn, community_id, until)
            return await members_of.members(
                conn,
                community_id,
                start,
                end,
                zone,
                now=now,
                kept=kept,
                paying=paying,
                search=search,
                sort=sort,
                segment=segment,
                offset=offset,
                limit=limit,
            )
