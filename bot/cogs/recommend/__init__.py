"""Course recommendations: /recommend, /recommend stats, the digest and the privacy switch.

The model (``bot.recommend``) is trained in a worker thread on a schedule (``retrain_every``,
nightly by default) and by ``cohort recommend train``; the bot serves the previous model, or
popularity when there is none, meanwhile. Other signals (course completions, attended lectures)
can add weight to a member's course through ``bot.recommend.Dataset.event_weights``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.cogs.recommend._cog import JOIN_COMMAND, RecommendCog
from bot.cogs.recommend._privacy import HOLDINGS as PRIVACY_HOLDINGS
from bot.cogs.recommend._service import Recommender, Suggestions, model_path
from bot.cogs.recommend._store import merge_prefs, sync_catalog
from bot.core.cohort import Cohort

CHECK_EVERY = timedelta(hours=1)

__all__ = [
    "JOIN_COMMAND",
    "RecommendCog",
    "Recommender",
    "Suggestions",
    "model_path",
    "setup",
    "sync_catalog",
]


def setup(cohort: Cohort) -> None:
    """Register the commands, the merge hook, and the hourly training and digest checks."""
    cohort.i18n.load_dir(Path(__file__).with_name("locales"))
    url = cohort.db.url.render_as_string(hide_password=False)
    services = {
        community.id: Recommender(
            cohort.db,
            community,
            cohort.clock,
            model_path(url, community.config.recommend.model_dir, community.slug),
            cohort.versions,
        )
        for community in cohort.communities.values()
    }
    cog = RecommendCog(cohort, services)
    for spec in cog.commands():
        cohort.command(spec)
    for action in cog.actions():
        cohort.action(action)
    cohort.identity.merge_hooks.append(merge_prefs)
    cohort.privacy.declare(*PRIVACY_HOLDINGS)

    async def train_due() -> None:
        for service in services.values():
            if service.community.config.courses and await service.due():
                await service.retrain()

    async def digests() -> None:
        for community in cohort.communities.values():
            await cog.send_digests(community)

    cohort.every("recommend.train", CHECK_EVERY, train_due)
    cohort.every("recommend.digest", CHECK_EVERY, digests)
