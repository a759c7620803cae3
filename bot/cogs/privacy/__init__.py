"""Members' data rights: /privacy info, export and forget, download links, message retention.

What each cog holds is declared in ``cohort.privacy`` (``bot.core.privacy``); this cog turns
it into commands. The web app serves download links through this module's API:

    packed = await privacy.download(cohort, "demo", token)   # None: unknown, used or expired
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.cogs.privacy._cog import PrivacyCog
from bot.cogs.privacy._retention import Purged, Retention
from bot.cogs.privacy._rules import Packed
from bot.cogs.privacy._service import PrivacyService
from bot.core.cohort import Cohort

CHECK_EVERY = timedelta(hours=1)

__all__ = ["Packed", "PrivacyCog", "PrivacyService", "Purged", "Retention", "download", "setup"]


async def download(cohort: Cohort, slug: str, token: str) -> Packed | None:
    """Spend a download link and return the export; None if unknown, used or expired."""
    return await PrivacyService(cohort).download(slug, token)


def setup(cohort: Cohort) -> None:
    """Register the /privacy commands, the confirm button and the nightly retention purge."""
    cohort.i18n.load_dir(Path(__file__).with_name("locales"))
    service = PrivacyService(cohort)
    cog = PrivacyCog(cohort, service)
    for spec in cog.commands():
        cohort.command(spec)
    for action in cog.actions():
        cohort.action(action)
    retention = Retention(cohort.db, cohort.clock)

    async def purge() -> None:
        for community in cohort.communities.values():
            await retention.run(community)
            await service.purge_spent(community, cohort.clock.now())

    cohort.every("privacy.retention", CHECK_EVERY, purge)
