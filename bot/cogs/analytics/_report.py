"""The weekly report: last week's figures posted to the report channel, once per week.

A row per community and week (the week's Monday) is the natural key. A process claims it with
one conditional UPDATE (unsent, and unclaimed or its lease run out), posts, then marks it sent
while it still holds the claim: of several processes one posts, and a process killed between
posting and marking is repeated at most once, by whoever takes the lease over.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import date, datetime, time, timedelta
from functools import partial

from sqlalchemy import and_, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics._cog import SHOWS_IMAGES, chart, headline, span
from bot.cogs.analytics._keeper import ledgers_of
from bot.cogs.analytics._rules import week_of
from bot.cogs.analytics._service import Analytics
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, PlatformError
from bot.core.replies import Reply
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import analytics_reports

log = logging.getLogger(__name__)

KEYS = ("community_id", "week")


def claimant_id() -> str:
    """Return a name for this process's claims: host, pid and a random part."""
    return f"{socket.gethostname()[:60] or 'host'}:{os.getpid()}:{secrets.token_hex(4)}"


def due_week(now: datetime, community: Community) -> date | None:
    """Return the Monday of the week whose report is due at ``now``, or None before its time.

    Last week's report is due from this week's report day and hour (local time) on.
    """
    config = community.config.analytics
    zone = community.tz
    today = now.astimezone(zone).date()
    this_week = week_of(today)
    send_at = datetime.combine(
        this_week + timedelta(days=config.report_weekday), time(config.report_hour), tzinfo=zone
    )
    if now < send_at:
        return None
    return this_week - timedelta(days=7)


async def _claim(
    conn: AsyncConnection,
    community_id: int,
    week: date,
    token: str,
    now: datetime,
    lease: timedelta,
) -> bool:
    r = analytics_reports.c
    await insert_ignore_returning(
        conn, analytics_reports, [{"community_id": community_id, "week": week}], keys=KEYS
    )
    result = await conn.execute(
        update(analytics_reports)
        .where(
            r.community_id == community_id,
            r.week == week,
            r.sent_at.is_(None),
            or_(r.claimed_by.is_(None), r.lease_until < now),
        )
        .values(claimed_by=token, lease_until=now + lease)
    )
    return bool(result.rowcount)


class WeeklyReport:
    """Post each opted-in community's weekly report when it is due."""

    def __init__(self, cohort: Cohort, analytics: Analytics | None = None) -> None:
        self.cohort = cohort
        # ``/stats``'s service when given, else one on the bot's kept revenue ledgers.
        self.analytics = analytics or Analytics(cohort.db, cohort.clock, ledgers=ledgers_of(cohort))
        self.claimant = claimant_id()
        self._warned: set[tuple[int, date]] = set()

    def _where(self, community: Community) -> str | None:
        config = community.config
        return config.analytics.report_channel or config.gating.admin_channel

    async def sweep(self) -> int:
        """Send every report that is due; return how many went out."""
        sent = 0
        for community in self.cohort.communities.values():
            if community.config.analytics.weekly_report and await self.send_due(community):
                sent += 1
        return sent

    async def send_due(self, community: Community) -> bool:
        """Send a community's due report unless it went out already; return whether it was sent."""
        now = self.cohort.clock.now()
        week = due_week(now, community)
        if week is None:
            return False
        where = self._where(community)
        platform_name, _, channel_id = (where or "").partition(":")
        platform = self.cohort.platforms.get(PlatformName(platform_name)) if where else None
        if platform is None:
            if (community.id, week) not in self._warned:
                self._warned.add((community.id, week))
                log.warning(
                    "analytics: weekly report of %s not sent: %s",
                    community.slug,
                    "no report_channel or gating admin_channel"
                    if where is None
                    else f"platform {platform_name} is not running",
                )
            return False
        token = f"{self.claimant}/{week.isoformat()}"
        lease = self.cohort.config.work.lease
        async with self.cohort.db.write() as conn:
            if not await _claim(conn, community.id, week, token, now, lease):
                return False
        reply = await self.render(community, week, with_image=platform.name in SHOWS_IMAGES)
        r = analytics_reports.c
        try:
            await platform.send(ChannelRef(platform.name, channel_id), reply)
        except PlatformError:
            log.exception("analytics: could not post the weekly report of %s", community.slug)
            async with self.cohort.db.write() as conn:  # free it for the next sweep
                await conn.execute(
                    update(analytics_reports)
                    .where(r.community_id == community.id, r.week == week, r.claimed_by == token)
                    .values(claimed_by=None, lease_until=None)
                )
            return False
        async with self.cohort.db.write() as conn:
            await conn.execute(
                update(analytics_reports)
                .where(and_(r.community_id == community.id, r.week == week, r.claimed_by == token))
                .values(sent_at=self.cohort.clock.now())
            )
        return True

    async def render(self, community: Community, week: date, *, with_image: bool) -> Reply:
        """Write the report of the week starting ``week``, in the community's language."""
        i18n = self.cohort.i18n
        locale = community.config.locale
        end = week + timedelta(days=6)
        page = await self.analytics.overview(community.id, week, end, community.tz)
        title = i18n.plain(locale, "analytics.report.title", span=span(week, end))
        image = None
        if with_image:
            font = community.config.points.card_font or None
            image = await chart(partial(i18n.plain, locale), title, page, font_path=font)
        text = "\n".join(headline(partial(i18n.text, locale), page))
        return Reply(title=title, text=text, image=image)
