"""An erased member's seat at an upcoming session goes to the waitlist; a past one stays counted."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.privacy import Requester
from bot.store.tables import lecture_occurrences, lecture_rsvps, lectures
from tests.conftest import output

BOB = Caller(PlatformName.CONSOLE, "bob", "Bob")
CAROL = Caller(PlatformName.CONSOLE, "carol", "Carol")


async def session(cohort: Cohort, starts_in: timedelta, code: str) -> int:
    cid, now = cohort.communities["demo"].id, cohort.clock.now()
    start = now + starts_in
    async with cohort.db.write() as conn:
        lecture = (
            await conn.execute(
                insert(lectures).values(
                    community_id=cid,
                    title="Bread",
                    timezone="UTC",
                    start_at=start,
                    duration_s=3600,
                    capacity=1,
                    created_at=now,
                    updated_at=now,
                )
            )
        ).inserted_primary_key[0]
        return int(
            (
                await conn.execute(
                    insert(lecture_occurrences).values(
                        community_id=cid,
                        lecture_id=lecture,
                        original_start=start,
                        start_at=start,
                        duration_s=3600,
                        title="Bread",
                        capacity=1,
                        status="scheduled",
                        checkin_code=code,
                        announce_at=now,
                        scheduled_at=now,
                    )
                )
            ).inserted_primary_key[0]
        )


async def answer(cohort: Cohort, occurrence: int, member: int, status: str) -> None:
    async with cohort.db.write() as conn:
        await conn.execute(
            insert(lecture_rsvps).values(
                community_id=cohort.communities["demo"].id,
                occurrence_id=occurrence,
                member_id=member,
                status=status,
                platform="console",
                since=cohort.clock.now(),
            )
        )


async def statuses(cohort: Cohort) -> set[tuple[int, int, str]]:
    async with cohort.db.read() as conn:
        rows = await conn.execute(
            select(lecture_rsvps.c.occurrence_id, lecture_rsvps.c.member_id, lecture_rsvps.c.status)
        )
        return {(r.occurrence_id, r.member_id, r.status) for r in rows}


async def test_the_seat_goes_to_the_waitlist(console: ConsoleAdapter, cohort: Cohort) -> None:
    cid = cohort.communities["demo"].id
    bob = (await cohort.identity.resolve(cid, BOB)).member_id
    carol = (await cohort.identity.resolve(cid, CAROL)).member_id
    upcoming = await session(cohort, timedelta(days=1), "K1")
    past = await session(cohort, -timedelta(days=1), "K2")
    for occurrence in (upcoming, past):
        await answer(cohort, occurrence, bob, "going")
        await answer(cohort, occurrence, carol, "waitlist")
    output(console)
    await cohort.privacy.erase(cid, bob, Requester.SELF)
    assert await statuses(cohort) == {(upcoming, carol, "going"), (past, carol, "waitlist")}
    assert "dm-carol" in output(console)  # told she has a seat
