"""What the lectures cog holds about a member: RSVPs go, attendance is kept as a count."""

from __future__ import annotations

from bot.core.privacy import Erase, Holding
from bot.store.tables import lecture_attendance, lecture_member_settings, lecture_rsvps, lectures

HOLDINGS = (
    Holding(lecture_rsvps.c.member_id, Erase.DELETE, "RSVPs (the seat is freed)"),
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
