"""Telling a member something privately, on whichever platform still reaches them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.i18n import normalize_locale
from bot.core.ports import PlatformError
from bot.core.replies import Reply

log = logging.getLogger(__name__)

DM_TIMEOUT = 30.0


async def direct_message(
    cohort: Cohort, community: Community, member_id: int, build: Callable[[str], Reply]
) -> bool:
    """DM a member ``build(locale)`` on their most recently seen reachable account.

    Returns False when no platform took it (closed DMs, no account, a platform down).
    """
    member, linked = await cohort.identity.profile(member_id)
    for account in sorted(linked, key=lambda a: a.last_seen_at, reverse=True):
        platform = cohort.platforms.get(account.platform)
        if platform is None:
            continue
        locale = member.locale or normalize_locale(account.locale) or community.config.locale
        try:
            await asyncio.wait_for(
                platform.direct_message(account.platform_user_id, build(locale)), DM_TIMEOUT
            )
            return True
        except (PlatformError, TimeoutError) as exc:
            log.warning("could not DM member %s on %s: %s", member_id, platform.name, exc)
    return False
