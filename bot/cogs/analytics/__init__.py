"""Analytics for organizers: growth, activity, retention, engagement, Q&A, lectures, revenue.

The web dashboard reads every figure through the service, one method per page:

    from bot.cogs import analytics
    service = analytics.service_of(cohort)
    page = await service.growth(community.id, date(2026, 11, 1), date(2026, 11, 30), zone)

Each method takes ``(community_id, start, end, zone)`` (local days, both included) and returns
a frozen dataclass from ``_figures.py``; nothing is formatted as text. The recommend cog
tells it which courses a member was shown (``record_shown``), for the recommender page.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.cogs.analytics import _ranges as ranges
from bot.cogs.analytics._cog import AnalyticsCog
from bot.cogs.analytics._figures import (
    Activity,
    ActivityDay,
    AttendanceLine,
    Bucket,
    ChannelCount,
    Contributor,
    CurrencyRevenue,
    DayCount,
    Engagement,
    Growth,
    GrowthDay,
    Lectures,
    MemberDetail,
    MemberEngagement,
    MemberRow,
    Members,
    MemberSort,
    Moderation,
    ModerationDay,
    Money,
    OfferRevenue,
    Overview,
    PurchaseLine,
    Qa,
    QaDay,
    QuestionLine,
    Recommender,
    Retention,
    RetentionCohort,
    Revenue,
    Segment,
    Session,
)
from bot.cogs.analytics._fold import Folder
from bot.cogs.analytics._keeper import Keeper, Ledgers, keeper_of, ledgers_of
from bot.cogs.analytics._pending import hold_during_merge
from bot.cogs.analytics._period import Period, parse_period
from bot.cogs.analytics._privacy import HOLDINGS as PRIVACY_HOLDINGS
from bot.cogs.analytics._prune import Pruner, prune
from bot.cogs.analytics._report import WeeklyReport
from bot.cogs.analytics._rollup import Recorder, merge_members, rebuild
from bot.cogs.analytics._service import Analytics
from bot.cogs.analytics._suggestions import merge_members as merge_suggestions
from bot.cogs.analytics._suggestions import record_shown
from bot.core.cohort import Cohort
from bot.core.events import MemberJoined, MemberLeft, ReactionChanged

REPORT_EVERY = timedelta(minutes=5)
# How often each community's default range of closed days is checked (and made after its
# local midnight, or after a late message changed a closed day): off the request path.
RANGES_EVERY = timedelta(minutes=1)

__all__ = [
    "Activity",
    "ActivityDay",
    "Analytics",
    "AttendanceLine",
    "Bucket",
    "ChannelCount",
    "Contributor",
    "CurrencyRevenue",
    "DayCount",
    "Engagement",
    "Folder",
    "Growth",
    "GrowthDay",
    "Keeper",
    "Lectures",
    "Ledgers",
    "MemberDetail",
    "MemberEngagement",
    "MemberRow",
    "MemberSort",
    "Members",
    "Moderation",
    "ModerationDay",
    "Money",
    "OfferRevenue",
    "Overview",
    "Period",
    "Pruner",
    "PurchaseLine",
    "Qa",
    "QaDay",
    "QuestionLine",
    "Recommender",
    "Retention",
    "RetentionCohort",
    "Revenue",
    "Segment",
    "Session",
    "WeeklyReport",
    "folder_of",
    "keeper_of",
    "ledgers_of",
    "parse_period",
    "prune",
    "rebuild",
    "record_shown",
    "service_of",
    "setup",
]


def folder_of(cohort: Cohort) -> Folder | None:
    """Return the bot's fold of pending messages into the rollups (None: analytics not loaded)."""
    for hook in cohort.dispatcher.messages.after_insert:
        owner = getattr(hook, "__self__", None)
        if isinstance(owner, Folder):
            return owner
    return None


def service_of(cohort: Cohort) -> Analytics:
    """Return an analytics service reading a bot's store, its revenue ledgers kept in memory.

    The ledgers are the bot's (``ledgers_of``: made by ``setup``, owned by its keeper), shared by
    every service built here. Each read first folds the messages not yet in the rollups
    (``Folder.current``).
    """
    costs = {c.id: c.config.analytics.cost for c in cohort.communities.values()}
    zones = {c.id: c.tz for c in cohort.communities.values()}
    folder = folder_of(cohort)
    return Analytics(
        cohort.db,
        cohort.clock,
        costs=costs,
        ledgers=ledgers_of(cohort),
        zones=zones,
        current=None if folder is None else folder.current,
    )


def setup(cohort: Cohort) -> None:
    """Register /stats and the weekly report; keep the rollups in step with what happens."""
    cohort.i18n.load_dir(Path(__file__).with_name("locales"))
    cohort.privacy.declare(*PRIVACY_HOLDINGS)
    zones: dict[int, ZoneInfo] = {c.id: c.tz for c in cohort.communities.values()}
    recorder = Recorder(zones)
    # Messages are only noted as pending in the message log's transaction; a supervised fold
    # adds them to the rollups in bulk shortly after (``_fold.py``).
    folder = Folder(cohort.db, recorder)
    messages = cohort.dispatcher.messages
    messages.add_hook(folder.logged, raw=folder.logged_raw)
    messages.committed.append(folder.kick)
    cohort.on_start(partial(folder.start, cohort.supervisor))
    cohort.on_stop(folder.stop)
    # Each community's revenue ledger is read as the bot starts and kept up to date after,
    # off the request path (``_keeper.py``); the keeper owns the bot's one ``Ledgers``, which
    # every service built by ``service_of`` (the dashboard's, /stats's, the weekly report's)
    # is handed.
    ids = [c.id for c in cohort.communities.values()]
    # Its pass also prunes the deletion log of rows older than ``[work] ledger_deletions_kept``.
    pruner = Pruner(cohort.db, cohort.clock, cohort.config.work.ledger_deletions_kept)
    keeper = Keeper(cohort.db, Ledgers(cohort.versions), ids, pruner=pruner)
    cohort.on_start(partial(keeper.start, cohort.supervisor))
    cohort.on_stop(keeper.stop)
    cohort.privacy.erase_hooks.insert(0, folder.before_erasure)  # before the messages go
    cog = AnalyticsCog(service_of(cohort))
    for spec in cog.commands():
        cohort.command(spec)
    report = WeeklyReport(cohort, cog.analytics)
    cohort.every("analytics.weekly_report", REPORT_EVERY, report.sweep)

    async def keep_ranges() -> None:
        await folder.current()  # the ranges are sums of the rollups: every message in them
        await ranges.sweep(cohort.db, cohort.clock, zones)

    cohort.every("analytics.ranges", RANGES_EVERY, keep_ranges)
    cohort.identity.merge_hooks.insert(0, hold_during_merge)  # before any hook moves a row
    cohort.identity.merge_hooks.append(merge_members)
    cohort.identity.merge_hooks.append(merge_suggestions)

    async def on_reaction(event: ReactionChanged) -> None:
        if not event.added:
            return
        await recorder.reaction_added(
            cohort.db,
            community_id=event.community.id,
            member_id=event.account.member_id,
            account_id=event.account.id,
            platform=event.channel.platform.value,
            channel_id=event.channel.channel_id,
            at=cohort.clock.now(),
        )

    async def on_join(event: MemberJoined) -> None:
        await recorder.joined(
            cohort.db,
            community_id=event.community.id,
            member_id=event.account.member_id,
            account_id=event.account.id,
            platform=event.account.platform.value,
            at=cohort.clock.now(),
        )

    async def on_leave(event: MemberLeft) -> None:
        await recorder.left(
            cohort.db,
            community_id=event.community.id,
            member_id=event.account.member_id,
            account_id=event.account.id,
            platform=event.account.platform.value,
            at=cohort.clock.now(),
        )

    cohort.events.subscribe(ReactionChanged, on_reaction)
    cohort.events.subscribe(MemberJoined, on_join)
    cohort.events.subscribe(MemberLeft, on_leave)
