"""What the lectures cog holds about a member: RSVPs go, attendance is kept as a count.

A seat an erased member held at an upcoming session goes to the waitlist, as when they answer
"no": the hook frees it in the erasure's transaction and tells who moved up after the commit.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.lectures import _members as members
from bot.cogs.lectures import _store as store
from bot.cogs.lectures._rules import Status
from bot.cogs.lectures._service import LectureService
from bot.core.privacy import Erase, EraseHook, Erasure, Holding
from bot.store.tables import (
    lecture_attendance,
    lecture_member_settings,
    lecture_occurrences,
    lecture_rsvps,
    lectures,
)

HOLDINGS = (
    Holding(lecture_rsvps.c.member_id, Erase.DELETE, "RSVPs (a seat goes to the waitlist)"),
    Holding(
        lecture_attendance.c.member_id,
        Erase.KEEP_AGGREGATE,
        "attendance: kept under an anonymous id so a lecture's attendance still adds up",
    ),
    Holding(lecture_attendance.c.marked_by, Erase.DETACH, "attendance an organizer marked"),
    Holding(
        lecture_member_settings.c.member_id,
        Erase.DELETE,
        "reminder settings and the private calendar link",
        hidden=("calendar_token",),
    ),
    Holding(lectures.c.created_by, Erase.DETACH, "lectures an organizer scheduled"),
)


def free_seats(service: LectureService) -> EraseHook:
    """Return the hook that gives an erased member's seats to the waitlist and says so."""

    async def hook(conn: AsyncConnection, erasure: Erasure) -> None:
        rows = (
            await conn.execute(
                store.occurrence_select()
                .join(lecture_rsvps, lecture_rsvps.c.occurrence_id == lecture_occurrences.c.id)
                .where(
                    lecture_rsvps.c.member_id == erasure.member_id,
                    lecture_occurrences.c.community_id == erasure.community_id,
                    lecture_occurrences.c.status != Status.CANCELLED.value,
                )
            )
        ).all()
        upcoming = [o for o in map(store.to_occurrence, rows) if o.end > erasure.at]
        if not upcoming:
            return
        await conn.execute(
            delete(lecture_rsvps).where(
                lecture_rsvps.c.member_id == erasure.member_id,
                lecture_rsvps.c.occurrence_id.in_([o.id for o in upcoming]),
            )
        )
        moved = {o.id: await members.promote(conn, o.id, o.capacity, erasure.at) for o in upcoming}

        async def tell() -> None:
            community = service.community(erasure.community_id)
            for occ in upcoming:
                await service.refresh(occ)  # the counts on the announcements
                await service.tell_promoted(community, occ, moved[occ.id])

        erasure.after.append(tell)

    return hook
