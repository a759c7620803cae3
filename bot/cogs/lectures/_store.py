"""Reading and writing the lecture tables: series, occurrences, their posts and check-in codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.lectures._rules import Slot, Status, new_code, plan
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import lecture_occurrences, lecture_posts, lectures

CODE_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One session of a lecture, with what it inherits from its series."""

    id: int
    lecture_id: int
    community_id: int
    title: str
    speaker: str | None
    link: str | None
    tier: str | None
    timezone: str
    original_start: datetime
    start: datetime
    duration: timedelta
    capacity: int | None
    status: Status
    checkin_code: str
    announce_at: datetime
    scheduled_at: datetime
    rrule: str | None
    origin: ChannelRef | None

    @property
    def end(self) -> datetime:
        """Return when the session ends."""
        return self.start + self.duration

    @property
    def tz(self) -> ZoneInfo:
        """Return the zone the series was scheduled in."""
        return ZoneInfo(self.timezone)

    @property
    def slot(self) -> Slot:
        """Return the times that decide its deliveries."""
        return Slot(self.start, self.end, self.announce_at, self.scheduled_at)


OCCURRENCE_COLUMNS = (
    lecture_occurrences,
    lectures.c.tier,
    lectures.c.timezone,
    lectures.c.rrule,
    lectures.c.origin_platform,
    lectures.c.origin_channel_id,
    lectures.c.origin_thread_id,
)


def occurrence_select() -> Any:
    """Return a SELECT of occurrences joined with their series."""
    return select(*OCCURRENCE_COLUMNS).select_from(
        lecture_occurrences.join(lectures, lectures.c.id == lecture_occurrences.c.lecture_id)
    )


def to_occurrence(row: Row[Any]) -> Occurrence:
    """Build an Occurrence from a row of ``occurrence_select``."""
    m = row._mapping
    origin = (
        ChannelRef(
            PlatformName(m["origin_platform"]), m["origin_channel_id"], m["origin_thread_id"]
        )
        if m["origin_platform"]
        else None
    )
    return Occurrence(
        id=m["id"],
        lecture_id=m["lecture_id"],
        community_id=m["community_id"],
        title=m["title"],
        speaker=m["speaker"],
        link=m["link"],
        tier=m["tier"],
        timezone=m["timezone"],
        original_start=m["original_start"],
        start=m["start_at"],
        duration=timedelta(seconds=m["duration_s"]),
        capacity=m["capacity"],
        status=Status(m["status"]),
        checkin_code=m["checkin_code"],
        announce_at=m["announce_at"],
        scheduled_at=m["scheduled_at"],
        rrule=m["rrule"],
        origin=origin,
    )


@dataclass(frozen=True, slots=True)
class NewLecture:
    """What an organizer asked for."""

    community_id: int
    title: str
    starts: tuple[datetime, ...]
    rrule: str | None
    timezone: str
    duration: timedelta
    speaker: str | None
    link: str | None
    tier: str | None
    capacity: int | None
    origin: ChannelRef | None
    created_by: int | None


async def create(
    db: Database, new: NewLecture, *, now: datetime, reminders: tuple[timedelta, ...]
) -> int:
    """Store a series and its occurrences; return the series id."""
    for _attempt in range(CODE_ATTEMPTS):
        try:
            async with db.write() as conn:
                return await _create_in(conn, new, now=now, reminders=reminders)
        except IntegrityError:
            continue  # a check-in code collided with a live one: draw again
    raise RuntimeError("could not draw unique check-in codes")


async def _create_in(
    conn: AsyncConnection, new: NewLecture, *, now: datetime, reminders: tuple[timedelta, ...]
) -> int:
    origin = new.origin
    lecture_id = (
        await conn.execute(
            insert(lectures).values(
                community_id=new.community_id,
                title=new.title,
                speaker=new.speaker,
                link=new.link,
                tier=new.tier,
                timezone=new.timezone,
                start_at=new.starts[0],
                duration_s=int(new.duration.total_seconds()),
                rrule=new.rrule,
                capacity=new.capacity,
                origin_platform=origin.platform.value if origin else None,
                origin_channel_id=origin.channel_id if origin else None,
                origin_thread_id=origin.thread_id if origin else None,
                created_by=new.created_by,
                created_at=now,
                updated_at=now,
            )
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    rows = []
    previous_end: datetime | None = None
    for start in new.starts:
        # The next session of a series is announced when the one before it ends.
        announce_at = now if previous_end is None else max(now, previous_end)
        slot = Slot(start, start + new.duration, announce_at, now)
        rows.append(
            {
                "community_id": new.community_id,
                "lecture_id": lecture_id,
                "original_start": start,
                "start_at": start,
                "duration_s": int(new.duration.total_seconds()),
                "title": new.title,
                "speaker": new.speaker,
                "link": new.link,
                "capacity": new.capacity,
                "status": Status.SCHEDULED.value,
                "checkin_code": new_code(),
                "announce_at": announce_at,
                "scheduled_at": now,
                "next_due_at": min(d.at for d in plan(slot, reminders)),
            }
        )
        previous_end = start + new.duration
    await conn.execute(insert(lecture_occurrences), rows)
    return int(lecture_id)


async def occurrence(db: Database, community_id: int, occurrence_id: int) -> Occurrence | None:
    """Return one occurrence of a community, or None."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                occurrence_select().where(
                    lecture_occurrences.c.id == occurrence_id,
                    lecture_occurrences.c.community_id == community_id,
                )
            )
        ).first()
    return to_occurrence(row) if row is not None else None


async def occurrences_of(
    conn: AsyncConnection, lecture_id: int, *, since: datetime | None = None
) -> list[Occurrence]:
    """Return the occurrences of a series (those not ended before ``since``), by start."""
    query = occurrence_select().where(lecture_occurrences.c.lecture_id == lecture_id)
    rows = (await conn.execute(query.order_by(lecture_occurrences.c.start_at))).all()
    found = [to_occurrence(r) for r in rows]
    return [o for o in found if since is None or o.end > since]


async def upcoming(
    db: Database, community_id: int, now: datetime, *, limit: int, scan: int = 200
) -> list[Occurrence]:
    """Return scheduled occurrences not yet over, soonest first (``scan`` at most)."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                occurrence_select()
                .where(
                    lecture_occurrences.c.community_id == community_id,
                    lecture_occurrences.c.status == Status.SCHEDULED.value,
                    lecture_occurrences.c.start_at > now - timedelta(days=1),
                )
                .order_by(lecture_occurrences.c.start_at, lecture_occurrences.c.id)
                .limit(scan)
            )
        ).all()
    found = [to_occurrence(r) for r in rows]
    return [o for o in found if o.end > now][: max(limit, 0) or None]


async def series(db: Database, community_id: int) -> list[tuple[Row[Any], list[Occurrence]]]:
    """Return every series of a community with its occurrences (for the calendar)."""
    async with db.read() as conn:
        heads = (
            await conn.execute(
                select(lectures)
                .where(lectures.c.community_id == community_id)
                .order_by(lectures.c.start_at, lectures.c.id)
            )
        ).all()
        rows = (
            await conn.execute(
                occurrence_select()
                .where(lecture_occurrences.c.community_id == community_id)
                .order_by(lecture_occurrences.c.original_start)
            )
        ).all()
    by_lecture: dict[int, list[Occurrence]] = {}
    for row in rows:
        occ = to_occurrence(row)
        by_lecture.setdefault(occ.lecture_id, []).append(occ)
    return [(head, by_lecture.get(head.id, [])) for head in heads]


# --- posts -------------------------------------------------------------------------------------


async def add_posts_in(
    conn: AsyncConnection,
    community_id: int,
    occurrence_id: int,
    refs: Sequence[MessageRef],
    now: datetime,
) -> None:
    """Remember the announcement messages of an occurrence, to edit them later."""
    if not refs:
        return
    await insert_ignore_returning(
        conn,
        lecture_posts,
        [
            {
                "community_id": community_id,
                "occurrence_id": occurrence_id,
                "platform": ref.channel.platform.value,
                "channel_id": ref.channel.channel_id,
                "thread_id": ref.channel.thread_id,
                "message_id": ref.message_id,
                "created_at": now,
            }
            for ref in refs
        ],
        keys=("occurrence_id", "platform", "channel_id", "message_id"),
    )


async def posts_of(db: Database, occurrence_id: int) -> list[MessageRef]:
    """Return the announcement messages of an occurrence."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(lecture_posts)
                .where(lecture_posts.c.occurrence_id == occurrence_id)
                .order_by(lecture_posts.c.id)
            )
        ).all()
    return [
        MessageRef(ChannelRef(PlatformName(r.platform), r.channel_id, r.thread_id), r.message_id)
        for r in rows
    ]


async def by_code(db: Database, community_id: int, code: str) -> Occurrence | None:
    """Return the occurrence with this check-in code."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                occurrence_select().where(
                    lecture_occurrences.c.community_id == community_id,
                    lecture_occurrences.c.checkin_code == code,
                )
            )
        ).first()
    return to_occurrence(row) if row is not None else None


# --- the sweep's bulk update -------------------------------------------------------------------


async def set_next_due(conn: AsyncConnection, values: list[tuple[int, datetime | None]]) -> None:
    """Store each occurrence's next due time."""
    if not values:
        return
    await conn.execute(
        update(lecture_occurrences)
        .where(lecture_occurrences.c.id == bindparam("occ_id"))
        .values(next_due_at=bindparam("due")),
        [{"occ_id": occ_id, "due": due} for occ_id, due in values],
    )
