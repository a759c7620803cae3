"""A hand-computed community in America/New_York across the end of daylight saving time.

Local days 2026-10-30 (Friday, EDT, UTC-4) to 2026-11-03 (Tuesday, EST, UTC-5); the clocks went
back at 02:00 on Sunday 2026-11-01, so 01:30 happened twice that night.

- ana: Discord since 2026-10-20, links her Telegram account on 2026-10-31 (one member).
- bo: joins Telegram 2026-10-31, leaves 2026-11-02.
- cy: Discord, first seen by a message at 23:30 on 2026-11-01 (04:30 UTC on 2026-11-02).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from bot.cogs import analytics
from bot.cogs.analytics import Members, MemberSort, Segment
from bot.cogs.analytics import _members as members_of
from bot.cogs.analytics._rules import window
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.runtime import build
from bot.store.tables import (
    access_sources,
    analytics_days,
    analytics_hours,
    analytics_member_days,
    analytics_member_totals,
    analytics_presence,
    courses,
    lecture_attendance,
    lecture_deliveries,
    lecture_occurrences,
    lecture_rsvps,
    lectures,
    points_ledger,
    purchases,
    qa_answers,
    qa_questions,
    stripe_payments,
)
from tests.conftest import make_config

NY = ZoneInfo("America/New_York")
START = date(2026, 10, 30)
END = date(2026, 11, 3)
CLOCK_START = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)

ANA_D = Caller(PlatformName.DISCORD, "1001", "Ana")
ANA_T = Caller(PlatformName.TELEGRAM, "2001", "Ana T")
BO = Caller(PlatformName.TELEGRAM, "2002", "Bo")
CY = Caller(PlatformName.DISCORD, "1003", "Cy")
GENERAL = ChannelRef(PlatformName.DISCORD, "general")
GROUP = ChannelRef(PlatformName.TELEGRAM, "-1001234567890")
TOPIC = ChannelRef(PlatformName.TELEGRAM, "-1001234567890", "7")


def ny(y: int, mo: int, d: int, h: int, mi: int = 0, *, fold: int = 0) -> datetime:
    """Return a New York wall-clock time as a UTC instant."""
    return datetime(y, mo, d, h, mi, tzinfo=NY, fold=fold).astimezone(UTC)


def world_config(tmp_path: Path, **community: object) -> Config:
    """Return the test config with the community in New York (and ``community`` keys)."""
    return make_config(tmp_path, community={"timezone": "America/New_York", **community})


# (when, what, who, where) in time order; "link" pairs the caller with ana's Discord account.
EVENTS: list[tuple[datetime, str, Caller, ChannelRef | None]] = [
    (ny(2026, 10, 20, 9), "join", ANA_D, None),
    (ny(2026, 10, 30, 20, 30), "message", ANA_D, GENERAL),
    (ny(2026, 10, 31, 8), "join", ANA_T, None),
    (ny(2026, 10, 31, 8, 30), "link", ANA_T, None),
    (ny(2026, 10, 31, 9), "message", ANA_T, TOPIC),
    (ny(2026, 10, 31, 10), "join", BO, None),
    (ny(2026, 10, 31, 11), "message", BO, GROUP),
    (ny(2026, 11, 1, 1, 30, fold=0), "message", ANA_D, GENERAL),
    (ny(2026, 11, 1, 1, 30, fold=1), "message", ANA_D, GENERAL),
    (ny(2026, 11, 1, 23, 30), "message", CY, GENERAL),
    (ny(2026, 11, 2, 12), "leave", BO, None),
    (ny(2026, 11, 3, 10), "message", CY, GENERAL),
]


PLAYED_TO = EVENTS[-1][0]  # the clock after ``play``


async def play(cohort: Cohort, clock: ManualClock) -> None:
    """Feed the events to the bot as the adapters would, moving the clock along."""
    community = cohort.communities["demo"]
    space = {
        PlatformName.DISCORD: community.config.discord_guilds[0],
        PlatformName.TELEGRAM: community.config.telegram_chats[0],
    }
    dispatcher = cohort.dispatcher
    for n, (at, what, who, where) in enumerate(EVENTS):
        clock.advance(at - clock.now())
        if what == "join":
            await dispatcher.member_joined(community, who, space[who.platform])
        elif what == "leave":
            await dispatcher.member_left(community, who, space[who.platform])
        elif what == "link":
            ana = await cohort.identity.resolve(community.id, ANA_D)
            code = await cohort.identity.create_link_code(ana)
            mine = await cohort.identity.resolve(community.id, who)
            await cohort.identity.redeem_link_code(mine, code.code)
        else:
            assert where is not None
            await dispatcher.message_posted(community, who, where, f"m{n}", f"hello {n}", at)
    await folded(cohort)  # what the bot's fold does shortly after (messages before the link too)


async def folded(cohort: Cohort) -> None:
    """Fold the messages logged so far into the rollups, as the bot's worker does."""
    folder = analytics.folder_of(cohort)
    assert folder is not None
    await folder.catch_up()


async def played_world(directory: Path) -> None:
    """Build the bot on ``directory``'s database, play the events and stock it, then close it."""
    clock = ManualClock(CLOCK_START)
    bot = await build(world_config(directory), clock=clock)
    try:
        await play(bot, clock)
        await stock(bot)
    finally:
        await bot.db.close()


# --- what the other cogs store: money (as gating writes it), Q&A, lectures, kudos ------------

DEE = Caller(PlatformName.DISCORD, "1004", "Dee")
EVE = Caller(PlatformName.TELEGRAM, "2005", "Eve")
# The accounts ``stock`` resolves, by name, when playing is over.
CALLERS = {"ana": ANA_D, "bo": BO, "cy": CY, "dee": DEE, "eve": EVE}
MONEY_START = date(2026, 10, 1)  # the revenue page's range: 2026-10-01 .. 2026-11-03


def utc(mo: int, d: int, h: int = 10, y: int = 2026) -> datetime:
    """Return a UTC instant."""
    return datetime(y, mo, d, h, tzinfo=UTC)


# Subscriptions: (ref, who, offer, status, created, period start, period end, ends_at)
SUBSCRIPTIONS = [
    ("sub_ana", "ana", "pro", "active", utc(8, 15), utc(10, 15), utc(11, 15), None),
    ("sub_bo_year", "bo", "pro", "active", utc(10, 20), utc(10, 20), utc(10, 20, y=2027), None),
    ("sub_dee_trial", "dee", "club", "active", utc(10, 5), utc(10, 19), utc(11, 19), None),
    ("sub_dee_eur", "dee", "vip", "canceled", utc(8, 1), utc(9, 10), utc(10, 10), utc(10, 10)),
    ("sub_eve", "eve", "pro", "active", utc(8, 20), utc(10, 20), utc(11, 20), None),
]
# Paid invoices and payments: (ref, who, offer, source ref, minor units, currency, paid,
# refunded at, disputed)
PAYMENTS: list[tuple[str, str, str, str, int, str, datetime, datetime | None, bool]] = [
    ("in_ana_sep", "ana", "pro", "sub_ana", 2000, "usd", utc(9, 15), None, False),
    ("in_ana_oct", "ana", "pro", "sub_ana", 2000, "usd", utc(10, 15), None, False),
    ("in_bo_year", "bo", "pro", "sub_bo_year", 24000, "usd", utc(10, 20), None, False),
    ("in_dee_first", "dee", "club", "sub_dee_trial", 1000, "usd", utc(10, 19), None, False),
    ("in_dee_eur", "dee", "vip", "sub_dee_eur", 3000, "eur", utc(9, 10), None, False),
    ("in_eve_sep", "eve", "pro", "sub_eve", 2000, "usd", utc(9, 20), None, False),
    ("in_eve_oct", "eve", "pro", "sub_eve", 1500, "usd", utc(10, 20), None, True),
    ("cs_ana_course", "ana", "py101", "cs_ana_course", 5000, "usd", utc(10, 25), None, False),
    ("cs_bo_course", "bo", "py101", "cs_bo_course", 5000, "usd", utc(10, 26), utc(10, 27), False),
]


async def stock(cohort: Cohort) -> dict[str, int]:
    """Write the other cogs' rows for the fixture; return the member ids by name."""
    community = cohort.communities["demo"]
    cid = community.id
    who = {
        name: (await cohort.identity.resolve(cid, caller)).member_id
        for name, caller in CALLERS.items()
    }
    now = cohort.clock.now()
    async with cohort.db.write() as conn:
        source_ids: dict[str, int] = {}
        for ref, name, offer, status, created, p_start, p_end, ends in SUBSCRIPTIONS:
            result = await conn.execute(
                insert(access_sources).values(
                    community_id=cid,
                    member_id=who[name],
                    offer_id=offer,
                    kind="subscription",
                    ref=ref,
                    livemode=False,
                    customer_id=f"cus_{name}",
                    status=status,
                    cancel_at_period_end=False,
                    period_start=p_start,
                    period_end=p_end,
                    ends_at=ends,
                    refunded=False,
                    disputed=False,
                    version=1,
                    entitled=status == "active",
                    created_at=created,
                    updated_at=ends or created,
                )
            )
            source_ids[ref] = int(result.inserted_primary_key[0])  # type: ignore[index]
        for ref, name, offer, source, amount, currency, paid, refunded, disputed in PAYMENTS:
            if source not in source_ids:  # a one-time course payment is its own source
                result = await conn.execute(
                    insert(access_sources).values(
                        community_id=cid,
                        member_id=who[name],
                        offer_id=offer,
                        kind="payment",
                        ref=source,
                        livemode=False,
                        status="paid",
                        cancel_at_period_end=False,
                        refunded=refunded is not None,
                        disputed=False,
                        version=1,
                        entitled=refunded is None,
                        created_at=paid,
                        updated_at=paid,
                    )
                )
                source_ids[source] = int(result.inserted_primary_key[0])  # type: ignore[index]
            await conn.execute(
                insert(purchases).values(
                    community_id=cid,
                    member_id=who[name],
                    offer_id=offer,
                    source="stripe",
                    source_ref=ref,
                    amount_minor=amount,
                    currency=currency,
                    purchased_at=paid,
                    refunded_at=refunded,
                )
            )
            await conn.execute(
                insert(stripe_payments).values(
                    community_id=cid,
                    payment_intent=f"pi_{ref}",
                    source_id=source_ids[source],
                    purchase_ref=ref,
                    paid_at=int(paid.timestamp()),
                    refunded=refunded is not None,
                    dispute_id=f"dp_{ref}" if disputed else None,
                    dispute_status="needs_response" if disputed else None,
                    dispute_version=1 if disputed else None,
                )
            )
        await conn.execute(
            insert(courses).values(
                community_id=cid,
                course_id="py101",
                offer_id="py101",
                position=0,
                title="Python 101",
                description="",
                tags="python",
                language=None,
                tiers="",
                updated_at=now,
            )
        )
        # Q&A: q1 answered in 30 min and solved in 1 h (cy's answer); q2 answered in 2 h;
        # q3 never answered.
        questions = [
            ("ana", ny(2026, 10, 31, 10), ny(2026, 10, 31, 10, 30), ny(2026, 10, 31, 11), "solved"),
            ("bo", ny(2026, 11, 1, 12), ny(2026, 11, 1, 14), None, "open"),
            ("cy", ny(2026, 11, 2, 9), None, None, "open"),
        ]
        qids = []
        for name, asked, first, solved, state in questions:
            result = await conn.execute(
                insert(qa_questions).values(
                    community_id=cid,
                    asker_id=who[name],
                    platform="discord",
                    channel_id="help",
                    thread_id=f"t-{name}",
                    title=f"question of {name}",
                    body="…",
                    state=state,
                    created_at=asked,
                    active_at=asked,
                    first_answer_at=first,
                    solved_at=solved,
                )
            )
            qids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
        answers = [(qids[0], "cy", ny(2026, 10, 31, 10, 30)), (qids[1], "ana", ny(2026, 11, 1, 14))]
        aids = []
        for qid, name, at in answers:
            result = await conn.execute(
                insert(qa_answers).values(
                    community_id=cid,
                    question_id=qid,
                    author_id=who[name],
                    platform="discord",
                    channel_id="help",
                    message_id=f"ans-{qid}",
                    text="…",
                    posted_at=at,
                )
            )
            aids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
        await conn.execute(
            qa_questions.update()
            .where(qa_questions.c.id == qids[0])
            .values(accepted_answer_id=aids[0])
        )
        # One lecture on 2026-11-02 at 18:00: ana, bo, cy going, dee maybe; ana, cy and eve
        # checked in; two reminders sent and one that failed.
        start = ny(2026, 11, 2, 18)
        result = await conn.execute(
            insert(lectures).values(
                community_id=cid,
                title="Decorators",
                timezone="America/New_York",
                start_at=start,
                duration_s=3600,
                created_at=now,
                updated_at=now,
            )
        )
        lecture_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        result = await conn.execute(
            insert(lecture_occurrences).values(
                community_id=cid,
                lecture_id=lecture_id,
                original_start=start,
                start_at=start,
                duration_s=3600,
                title="Decorators",
                status="scheduled",
                checkin_code="DECO1234",
                announce_at=start,
                scheduled_at=start,
            )
        )
        occurrence = int(result.inserted_primary_key[0])  # type: ignore[index]
        for name, status in (("ana", "going"), ("bo", "going"), ("cy", "going"), ("dee", "maybe")):
            await conn.execute(
                insert(lecture_rsvps).values(
                    community_id=cid,
                    occurrence_id=occurrence,
                    member_id=who[name],
                    status=status,
                    platform="discord",
                    since=start,
                )
            )
        for name in ("ana", "cy", "eve"):
            await conn.execute(
                insert(lecture_attendance).values(
                    community_id=cid,
                    occurrence_id=occurrence,
                    member_id=who[name],
                    method="code",
                    at=start,
                )
            )
        for offset, status in ((86400, "sent"), (3600, "sent"), (600, "failed")):
            await conn.execute(
                insert(lecture_deliveries).values(
                    community_id=cid,
                    occurrence_id=occurrence,
                    occurrence_start=start,
                    kind="reminder",
                    offset_s=offset,
                    due_at=start,
                    claimed_at=start,
                    status=status,
                )
            )
        # Kudos from cy to ana on 2026-11-02.
        await conn.execute(
            insert(points_ledger).values(
                community_id=cid,
                member_id=who["ana"],
                delta=5,
                reason="kudos",
                source_ref="kudos:1",
                actor_id=who["cy"],
                created_at=ny(2026, 11, 2, 15),
            )
        )
    return who


async def rollup_rows(bot: Cohort) -> tuple[list[tuple[object, ...]], ...]:
    """Return every rollup and totals row, in a fixed order (every message folded first)."""
    await folded(bot)
    async with bot.db.read() as conn:
        found = []
        for table in (
            analytics_hours,
            analytics_member_days,
            analytics_presence,
            analytics_days,
            analytics_member_totals,
        ):
            ordered = select(table).order_by(*table.primary_key.columns)
            found.append([tuple(r) for r in (await conn.execute(ordered)).all()])
    return tuple(found)


async def members_over_rows(
    bot: Cohort,
    start: date,
    end: date,
    zone: ZoneInfo,
    *,
    search: str = "",
    sort: MemberSort = MemberSort.ENGAGEMENT,
    segment: Segment = Segment.ALL,
    offset: int = 0,
    limit: int = 50,
) -> Members:
    """Return the members list computed in Python over every member's presence and days."""
    svc = analytics.service_of(bot)
    cid = bot.communities["demo"].id
    async with bot.db.read() as conn:
        paying = await svc._paying_at(conn, cid, window(start, end, zone)[1])
        return await members_of.over_rows(
            conn,
            cid,
            start,
            end,
            zone,
            paying=paying,
            search=search,
            sort=sort,
            segment=segment,
            offset=offset,
            limit=limit,
        )
