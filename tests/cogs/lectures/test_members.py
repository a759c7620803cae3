"""What members do with lectures (``_members``): RSVPs and the waitlist, check-in, merges."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.cogs.lectures import _members as lecture_members
from bot.cogs.lectures._rules import Rsvp
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.commands import Role
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.store.tables import lecture_rsvps, points_ledger
from tests.cogs.lectures._helpers import SCHEDULE, at, checkin_code, say, sweeper

# --- RSVPs ---------------------------------------------------------------------------------------


async def test_capacity_waitlist_and_promotion(cohort: Cohort, console: ConsoleAdapter) -> None:
    await say(console, SCHEDULE + " capacity:2")
    assert "You are going" in await say(console, "/press 1", user="bob")
    assert "You are going" in await say(console, "/press 1", user="carol")
    text = await say(console, "/press 1", user="dave")
    assert "you are on the waitlist" in text
    await say(console, "/lang zh", user="dave")
    assert "2/2 places taken · 1 on the waitlist" in text  # the announcement, edited in place
    assert "(message 1 edited)" in text
    erin = await say(console, "/press 1", user="erin")
    assert "1 on the waitlist" not in erin and "2 on the waitlist" in erin
    # Bob drops out: Dave, first on the waitlist, moves up and is told privately.
    text = await say(console, "/press 3", user="bob")
    assert "Noted: not going" in text
    assert "[#dm-dave] cohort:" in text and "有名额空出" in text  # in Dave's language
    assert "2/2 places taken · 1 on the waitlist" in text
    assert "你：参加" in await say(console, "/lectures", user="dave")
    # Raising the capacity lets Erin in too.
    text = await say(console, "/lecture edit 1 capacity:3")
    assert "[#dm-erin] cohort:" in text and "A place opened up" in text
    async with cohort.db.read() as conn:
        rows = dict(
            (await conn.execute(select(lecture_rsvps.c.member_id, lecture_rsvps.c.status))).all()
        )
    assert sorted(rows.values()) == ["going", "going", "going", "no"]


async def test_no_answers_after_a_lecture_ends(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await say(console, SCHEDULE)
    clock.advance(at("2026-11-22 20:30") - clock.now())
    assert "That lecture is over." in await say(console, "/press 1", user="bob")


# --- check-in ------------------------------------------------------------------------------------


async def test_checkin_window_points_once_and_by_hand(
    cohort: Cohort, console: ConsoleAdapter, clock: ManualClock
) -> None:
    await say(console, SCHEDULE)
    code = await checkin_code(cohort)
    assert "opens when it starts" in await say(console, f"/checkin {code}", user="bob")
    clock.advance(at("2026-11-22 19:45") - clock.now())
    shown = await say(console, "/lecture code 1")
    assert f"`{code}`" in shown and "until Sun 2026-11-22 20:45" in shown
    text = await say(console, f"/checkin {code.lower()[:3]} {code.lower()[3:]}", user="bob")
    assert "Checked in to Intro to Rust: +30 points" in text
    assert "already checked in" in await say(console, f"/checkin {code}", user="bob")
    clock.advance(at("2026-11-22 20:45") - clock.now())  # end + 15 min: still open
    assert "+30 points" in await say(console, f"/checkin {code}", user="carol")
    clock.advance(timedelta(seconds=1))
    assert "has closed" in await say(console, f"/checkin {code}", user="dave")
    await say(console, "/as dave", user="dave")  # dave exists now
    assert "Marked Dave as present" in await say(console, "/lecture attend 1 @dave")
    assert "already marked present" in await say(console, "/lecture attend 1 @dave")
    async with cohort.db.read() as conn:
        entries = (
            await conn.execute(
                select(points_ledger.c.reason, points_ledger.c.delta, points_ledger.c.source_ref)
            )
        ).all()
    assert [(r, d) for r, d, _ in entries] == [("attendance", 30)] * 3
    assert len({ref for _, _, ref in entries}) == 3


# --- merges --------------------------------------------------------------------------------------


async def test_linking_two_accounts_that_both_answered_keeps_one_answer(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await say(console, SCHEDULE)
    await say(console, "/press 1", "/lecture reminders off", user="bob")
    tg = Caller(PlatformName.TELEGRAM, "600", "Bob", username="bob_tg")
    community = cohort.communities["demo"]
    tg_account = await cohort.identity.resolve(community.id, tg)
    service = sweeper(cohort).__self__
    await service.rsvp(
        community, 1, tg_account.member_id, Role.MEMBER, PlatformName.TELEGRAM, Rsvp.MAYBE
    )
    await lecture_members.set_dm_reminders(cohort.db, community.id, tg_account.member_id, True)
    bob = await cohort.identity.resolve(community.id, console.caller("bob"))
    issued = await cohort.identity.create_link_code(bob)
    survivor = await cohort.identity.redeem_link_code(tg_account, issued.code)
    async with cohort.db.read() as conn:
        rows = (await conn.execute(select(lecture_rsvps.c.member_id, lecture_rsvps.c.status))).all()
    assert [tuple(r) for r in rows] == [(survivor, "going")]
    assert await lecture_members.dm_settings(cohort.db, community.id, [survivor]) == {
        survivor: False
    }
