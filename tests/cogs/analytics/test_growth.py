"""Growth counted in the database, in any zone, equals the plain count from presence rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.cogs import analytics
from bot.cogs.analytics import GrowthDay
from bot.cogs.analytics._growth import offsets
from bot.cogs.analytics._rules import days, window
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.store.tables import analytics_presence
from tests.cogs.analytics.world import END, NY, START

pytestmark = pytest.mark.copied_world

ZONES = [
    NY,  # west of UTC, DST ends 2026-11-01
    ZoneInfo("UTC"),
    ZoneInfo("Asia/Kolkata"),  # +05:30
    ZoneInfo("Australia/Adelaide"),  # +09:30, +10:30 in summer (from 2026-10-04)
    ZoneInfo("Australia/Lord_Howe"),  # +10:30, a half-hour DST to +11 (from 2026-10-04)
    ZoneInfo("America/St_Johns"),  # -03:30 / -02:30, DST ends 2026-11-01
]
PEOPLE = [
    Caller(PlatformName.DISCORD if n % 3 else PlatformName.TELEGRAM, str(5000 + n), f"G{n}")
    for n in range(14)
]


def schedule() -> list[tuple[datetime, str, int]]:
    """Return (when, "join" or "leave", who): joins and leaves near local midnights.

    Person n joins on 2026-11-04 plus n days at UTC minute 0, 15, 30 or 45 of hour 5n mod 24;
    every third leaves two days and 11 hours later, and every sixth comes back a day after.
    """
    events = []
    for n in range(len(PEOPLE)):
        joined = datetime(2026, 11, 4, (5 * n) % 24, 15 * (n % 4), tzinfo=UTC)
        joined += timedelta(days=n)
        events.append((joined, "join", n))
        if n % 3 == 0:
            gone = joined + timedelta(days=2, hours=11)
            events.append((gone, "leave", n))
            if n % 6 == 0:
                events.append((gone + timedelta(days=1), "join", n))
    return sorted(events)


async def play(bot: Cohort, clock: ManualClock) -> None:
    """Feed the schedule to the bot as the adapters would."""
    community = bot.communities["demo"]
    space = {
        PlatformName.DISCORD: community.config.discord_guilds[0],
        PlatformName.TELEGRAM: community.config.telegram_chats[0],
    }
    for at, what, who in schedule():
        clock.advance(at - clock.now())
        caller = PEOPLE[who]
        if what == "join":
            await bot.dispatcher.member_joined(community, caller, space[caller.platform])
        else:
            await bot.dispatcher.member_left(community, caller, space[caller.platform])


async def plainly(bot: Cohort, cid: int, start: date, end: date, zone: ZoneInfo) -> list[GrowthDay]:
    """Count growth the slow, obvious way, from every presence row."""
    until = window(start, end, zone)[1]
    p = analytics_presence.c
    async with bot.db.read() as conn:
        rows = (
            await conn.execute(
                select(p.member_id, p.platform, p.joined_at, p.left_at).where(
                    p.community_id == cid, p.joined_at < until
                )
            )
        ).all()
    held: dict[int, list[tuple[datetime, datetime | None]]] = {}
    for member_id, _, joined_at, left_at in rows:
        held.setdefault(member_id, []).append((joined_at, left_at))
    members = [
        (
            "",
            min(j for j, _ in stays),
            None if any(g is None for _, g in stays) else max(g for _, g in stays if g is not None),
        )
        for stays in held.values()
    ]
    accounts = [(str(platform), j, g) for _, platform, j, g in rows]
    out: list[GrowthDay] = []
    for day in days(start, end):
        first, after = window(day, day, zone)
        for platform in ["", *sorted({a[0] for a in accounts})]:
            stays = members if platform == "" else [a for a in accounts if a[0] == platform]
            total = sum(1 for _, j, g in stays if j < after and (g is None or g >= after))
            new = sum(1 for _, j, _ in stays if first <= j < after)
            gone = sum(1 for _, _, g in stays if g is not None and first <= g < after)
            out.append(GrowthDay(day, platform, total, new, gone))
    return out


@pytest.mark.parametrize("zone", ZONES, ids=str)
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START, END),
        (date(2026, 10, 25), date(2026, 11, 25)),
        (date(2026, 11, 8), date(2026, 11, 12)),
    ],
)
async def test_growth_equals_the_plain_count(
    world: Cohort, clock: ManualClock, zone: ZoneInfo, start: date, end: date
) -> None:
    await play(world, clock)
    cid = world.communities["demo"].id
    page = await analytics.service_of(world).growth(cid, start, end, zone)
    assert list(page.days) == await plainly(world, cid, start, end, zone)
    assert any(row.new for row in page.days)


@pytest.mark.backend_free
@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_offset_spans_give_each_instant_its_zone_offset(zone: ZoneInfo) -> None:
    since, until = window(date(2026, 3, 1), date(2026, 11, 30), zone)
    spans = offsets(since, until, zone)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    at = since
    while at < until:
        second = int((at - epoch).total_seconds())
        shift = [offset for start, offset in spans if start <= second][-1]
        expected = at.astimezone(zone).utcoffset()
        assert expected is not None and shift == expected.total_seconds(), at
        at += timedelta(minutes=15)
    for (start, offset), (_, before) in zip(spans[1:], spans, strict=False):
        assert (epoch + timedelta(seconds=start)).astimezone(zone).utcoffset() == timedelta(
            seconds=offset
        )
        assert (epoch + timedelta(seconds=start - 1)).astimezone(zone).utcoffset() == timedelta(
            seconds=before
        )
    assert len(spans) == (1 if str(zone) in ("UTC", "Asia/Kolkata") else 3)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 10, 25), date(2026, 11, 25)),  # reaches now: present from the kept stays
        (date(2026, 11, 8), date(2026, 11, 30)),
        (date(2026, 11, 8), date(2026, 11, 12)),  # ended: present counted from the accounts
    ],
)
async def test_the_overviews_members_equal_the_plain_count(
    world: Cohort, clock: ManualClock, start: date, end: date
) -> None:
    await play(world, clock)
    cid = world.communities["demo"].id
    page = await analytics.service_of(world).overview(cid, start, end, NY)
    together = [row for row in await plainly(world, cid, start, end, NY) if row.platform == ""]
    assert [p.value for p in page.members_daily] == [row.total for row in together]
    assert page.members_total == together[-1].total
    assert (page.members_new, page.members_left) == (
        sum(row.new for row in together),
        sum(row.left for row in together),
    )


async def plain_present(bot: Cohort, cid: int, until: datetime) -> tuple[int, int, dict[str, int]]:
    """Return the members present at ``until``, those on two platforms, accounts per platform."""
    p = analytics_presence.c
    async with bot.db.read() as conn:
        rows = (
            await conn.execute(
                select(p.member_id, p.platform, p.joined_at, p.left_at).where(p.community_id == cid)
            )
        ).all()
    here = [(m, str(pl)) for m, pl, j, g in rows if j < until and (g is None or g >= until)]
    platforms: dict[int, set[str]] = {}
    for member_id, platform in here:
        platforms.setdefault(member_id, set()).add(platform)
    per = {str(pl): 0 for _, pl, _, _ in rows}
    for _, platform in here:
        per[platform] += 1
    return len(platforms), sum(1 for s in platforms.values() if len(s) > 1), per


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START, END),  # reaches now: the accounts with no leave, counted flat
        (date(2026, 10, 30), date(2026, 10, 31)),  # bo leaves later: grouped per member
    ],
)
async def test_present_and_linked_members_equal_the_plain_count(
    world: Cohort, start: date, end: date
) -> None:
    community = world.communities["demo"]
    page = await analytics.service_of(world).growth(community.id, start, end, NY)
    total, linked, per = await plain_present(world, community.id, window(start, end, NY)[1])
    assert (page.members_total, page.linked_members) == (total, linked)
    last = {row.platform: row.total for row in page.days if row.day == end and row.platform}
    assert last == per
    assert linked == 1  # ana, on Discord and Telegram


async def test_with_nobody_linked_the_present_members_equal_the_plain_count(
    cohort: Cohort, clock: ManualClock
) -> None:
    """One account a member: as many members as accounts, nobody linked, no pairs counted."""
    await play(cohort, clock)
    cid = cohort.communities["demo"].id
    end = clock.now().date()
    page = await analytics.service_of(cohort).growth(cid, end - timedelta(days=29), end, NY)
    total, linked, per = await plain_present(cohort, cid, window(end, end, NY)[1])
    assert (page.members_total, page.linked_members, linked) == (total, 0, 0)
    assert {row.platform: row.total for row in page.days if row.day == end and row.platform} == per
    assert total > 0
