"""Live lectures: schedule once, announce everywhere, remind exactly once, count who came.

The web app serves the calendar through this module's API:

    from bot.cogs import lectures
    text = await lectures.feed(cohort, "demo", token=None)   # None: no such community or token
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.cogs.lectures import _ical as ical
from bot.cogs.lectures import _members as members
from bot.cogs.lectures import _store as store
from bot.cogs.lectures._cog import LecturesCog
from bot.cogs.lectures._deliveries import SweepResult
from bot.cogs.lectures._privacy import HOLDINGS as PRIVACY_HOLDINGS
from bot.cogs.lectures._privacy import free_seats
from bot.cogs.lectures._rules import Kind, Rsvp, Scope, Skip, Status
from bot.cogs.lectures._service import Changes, LectureService
from bot.cogs.lectures._store import NewLecture, Occurrence
from bot.core.cohort import Cohort
from bot.core.commands import Role

SWEEP_EVERY = timedelta(seconds=10)

__all__ = [
    "SWEEP_EVERY",
    "Changes",
    "Kind",
    "LectureService",
    "LecturesCog",
    "NewLecture",
    "Occurrence",
    "Rsvp",
    "Scope",
    "Skip",
    "Status",
    "SweepResult",
    "feed",
    "setup",
]


async def feed(cohort: Cohort, slug: str, *, token: str | None) -> str | None:
    """Return a community's iCalendar feed (a member's private one with ``token``), or None."""
    community = cohort.communities.get(slug)
    if community is None:
        return None
    now = cohort.clock.now()
    tiers: frozenset[str] = frozenset()
    staff = False
    if token is not None:
        member_id = await members.member_of_token(cohort.db, community.id, token)
        if member_id is None:
            return None
        held = {
            community.role_of(a.platform, a.platform_user_id)
            for a in await cohort.identity.accounts_of(member_id)
        }
        staff = bool(held & {Role.ORGANIZER, Role.ADMIN})
        tiers = await cohort.entitlements.tiers_of(member_id, now)
    heads = []
    for head, occurrences in await store.series(cohort.db, community.id):
        if head.tier is not None and not (staff or head.tier in tiers):
            continue
        heads.append(
            ical.Series(
                id=head.id,
                title=head.title,
                speaker=head.speaker,
                link=head.link,
                tier=head.tier,
                timezone=head.timezone,
                start=head.start_at,
                duration=timedelta(seconds=head.duration_s),
                rrule=head.rrule,
                created_at=head.created_at,
                updated_at=head.updated_at,
                occurrences=tuple(occurrences),
            )
        )
    labels = {"speaker": cohort.i18n.plain(community.config.locale, "lectures.ical.speaker")}
    return ical.calendar(
        community.config.name,
        f"{slug}.cohort",
        heads,
        now=now,
        labels=labels,
        show_links=token is not None,
    )


def setup(cohort: Cohort) -> None:
    """Register the lecture commands, the RSVP action, the merge hook and the sweep."""
    cohort.i18n.load_dir(Path(__file__).with_name("locales"))
    service = LectureService(cohort)
    cog = LecturesCog(cohort, service)
    for spec in cog.commands():
        cohort.command(spec)
    for action in cog.actions():
        cohort.action(action)
    cohort.identity.merge_hooks.append(members.merge_members)
    cohort.privacy.declare(*PRIVACY_HOLDINGS)
    cohort.privacy.erase_hooks.append(free_seats(service))
    cohort.every("lectures.due", SWEEP_EVERY, service.sweep, shared=True)  # leased rows
    cohort.on_start(service.start)
    cohort.on_stop(service.stop)
