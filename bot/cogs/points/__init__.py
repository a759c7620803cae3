"""Points, levels and leaderboards: the community's incentive system.

Other cogs award points only through this module's API, never by writing balances:

    from bot.cogs import points
    await points.award(cohort.db, community, member_id, 50, points.Reason.ACCEPTED_ANSWER,
                       f"qa:answer:{answer_id}", at=cohort.clock.now())

``award_in(conn, ...)`` does the same inside a write transaction the caller already holds, so
points go in with (or not at all without) the caller's own rows.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.cogs.points._cog import PointsCog
from bot.cogs.points._ledger import (
    Period,
    award,
    award_in,
    balance_of,
    leaderboard,
    rank_of,
)
from bot.cogs.points._levels import progress, total_for
from bot.cogs.points._privacy import HOLDINGS as PRIVACY_HOLDINGS
from bot.cogs.points._referrals import merge_referrals
from bot.cogs.points._rules import Reason
from bot.cogs.points._upkeep import Difference, decay, merge_members, rebuild
from bot.core.cohort import Cohort
from bot.core.events import MemberJoined, MemberLeft, MessageDeleted, MessagePosted

DECAY_EVERY = timedelta(hours=6)
LEVELS_EVERY = timedelta(seconds=30)  # level changes from other cogs' awards
REFERRALS_EVERY = timedelta(minutes=10)

__all__ = [
    "Difference",
    "Period",
    "PointsCog",
    "Reason",
    "award",
    "award_in",
    "balance_of",
    "decay",
    "leaderboard",
    "progress",
    "rank_of",
    "rebuild",
    "setup",
    "total_for",
]


def setup(cohort: Cohort) -> None:
    """Register the points commands, the message listener and the merge hook."""
    cohort.i18n.load_dir(Path(__file__).with_name("locales"))
    cog = PointsCog(cohort)
    for spec in cog.commands():
        cohort.command(spec)
    for action in cog.actions():
        cohort.action(action)
    cohort.events.subscribe(MessagePosted, cog.on_message, when=cog.wants_message)
    cohort.events.subscribe(MessagePosted, cog.on_thanks, when=cog.wants_thanks)
    cohort.events.subscribe(MessageDeleted, cog.on_deleted)
    cohort.events.subscribe(MemberJoined, cog.on_joined)
    cohort.events.subscribe(MemberLeft, cog.on_left)
    cohort.identity.merge_hooks.append(merge_referrals)
    cohort.identity.merge_hooks.append(merge_members)
    cohort.privacy.declare(*PRIVACY_HOLDINGS)

    async def decay_all() -> None:
        for community in cohort.communities.values():
            await decay(cohort.db, community, cohort.clock.now())

    cohort.every("points.decay", DECAY_EVERY, decay_all)
    cohort.every("points.levels", LEVELS_EVERY, cog.settle_levels)
    cohort.every("points.referrals", REFERRALS_EVERY, cog.settle_referrals)
