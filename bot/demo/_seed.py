"""Give the demo community a past: members who talked, asked, answered, bought and thanked.

The history is played through the real commands, as console members typing, on a clock that
starts weeks ago (``_history``: chat on every platform, for the dashboard's charts) and moves
forward between lines, the last hours scripted below; purchases are dated days back;
lectures are scheduled last, at the real time, so they lie ahead; the recommender is trained
on it all. Seeding runs once: a community with members is left alone.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bot.adapters.console import ConsoleAdapter
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.platforms import PlatformName
from bot.demo._history import HISTORY_IDS, play_history
from bot.runtime import build
from bot.store.db import Database
from bot.store.tables import accounts, purchases

HISTORY = timedelta(hours=3)  # this week's leaderboard has them
PAST_DAYS = 35  # weeks of chat before that, for the dashboard
STEP = timedelta(minutes=10)
SEED_IDS = 9001  # the seeding's console message and thread numbers, apart from a session's

# (who, channel, what they type), in order.
SCRIPT: tuple[tuple[str, str, str], ...] = (
    ("bob", "general", "Hi all! I am learning Python to analyse data, and pandas confuses me."),
    ("carol", "general", "Welcome Bob! I draw charts with matplotlib and seaborn every day."),
    ("dave", "general", "Is anyone here training models with scikit-learn? Regression is fun."),
    ("erin", "general", "I want to plot my pandas data frames nicely, any tips on charts?"),
    (
        "bob",
        "general",
        "/ask How do I group rows in pandas? | I want the mean per category #python",
    ),
    (
        "carol",
        "general/thread-9001",
        "Use df.groupby('category')['value'].mean() and you are done.",
    ),
    ("bob", "general/thread-9001", "/accept @carol"),
    ("bob", "general", "/thanks @carol for the groupby tip"),
    ("dave", "general", "/ask Which model should I try first for classification? #ml"),
    ("erin", "general", "Machine learning looks great, and I love a good chart of the results."),
    ("carol", "general", "Loops, functions and pandas basics are worth learning well first."),
)
# Who bought what, days before now: the purchases the recommender learns from.
PURCHASES: tuple[tuple[str, str, int], ...] = (
    ("carol", "python-101", 12),
    ("carol", "data-viz", 10),
    ("dave", "python-101", 11),
    ("dave", "ml-basics", 9),
    ("erin", "python-101", 8),
    ("erin", "data-viz", 6),
)
# Lectures, scheduled by the organizer at the real time.
LECTURES: tuple[str, ...] = (
    '/lecture schedule "Pandas in practice" "in 2d" 1h speaker:Carol',
    '/lecture schedule "Office hours" "in 4d" 45m repeat:"weekly for 4"',
    '/lecture schedule "Model evaluation, live" "in 6d" 1h30m speaker:Dave tier:pro',
)


def script_times(now: datetime, tz: ZoneInfo) -> tuple[datetime, timedelta]:
    """Return when the scripted chat starts and its step, all of it in the week of ``now``.

    ``HISTORY`` before now, ``STEP`` apart; in the first hours of a week (the community's zone)
    it starts at the week's start instead, the steps shortened to fit, so that this week's
    leaderboard has them whenever the demo is seeded.
    """
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).date()
    week_start = datetime.combine(monday, time(), tz).astimezone(UTC)
    start = max(now - HISTORY, week_start)
    return start, min(STEP, (now - start) / (len(SCRIPT) + 1))


async def seed(config: Config, now: datetime) -> bool:
    """Seed the console community unless it has members; return whether it seeded."""
    clock = ManualClock(now - timedelta(days=PAST_DAYS) - HISTORY)
    cohort = await build(config, clock=clock)
    try:
        community = cohort.communities[config.console_community().id]
        async with cohort.db.read() as conn:
            seen = await conn.scalar(
                select(func.count())
                .select_from(accounts)
                .where(accounts.c.community_id == community.id)
            )
        if seen:
            return False
        past = ConsoleAdapter(
            cohort, community, user="alice", out=io.StringIO(), first_id=HISTORY_IDS
        )
        cohort.platforms[PlatformName.CONSOLE] = past  # where a purchase's grant goes
        await play_history(past, clock, PAST_DAYS)
        console = ConsoleAdapter(
            cohort, community, user="alice", out=io.StringIO(), first_id=SEED_IDS
        )
        start, step = script_times(now, community.tz)
        clock.advance(max(start - clock.now(), timedelta(0)))
        for who, where, line in SCRIPT:
            clock.advance(step)
            for typed in (f"/as {who}", f"/channel {where}", line):
                await console.handle_line(typed)
        await cohort.dispatcher.drain()
        member_of = await _members(cohort.db, community.id)
        async with cohort.db.write() as conn:
            for who, offer, days in PURCHASES:
                await conn.execute(
                    insert(purchases).values(
                        community_id=community.id,
                        member_id=member_of[who],
                        offer_id=offer,
                        source="demo",
                        source_ref=f"demo-{who}-{offer}",
                        amount_minor=4900,
                        currency="usd",
                        purchased_at=now - timedelta(days=days),
                    )
                )
        clock.advance(now - clock.now())
        for typed in ("/as alice", "/channel general", *LECTURES):
            await console.handle_line(typed)
        await cohort.dispatcher.drain()
        await _train(cohort, config)
        return True
    finally:
        await cohort.db.close()


async def _members(db: Database, community_id: int) -> dict[str, int]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(accounts.c.platform_user_id, accounts.c.member_id).where(
                    accounts.c.community_id == community_id, accounts.c.platform == "console"
                )
            )
        ).all()
    return {row.platform_user_id: row.member_id for row in rows}


async def _train(cohort: Cohort, config: Config) -> None:
    """Train the recommender once, so that /recommend is personal from the start."""
    # numpy and scikit-learn load here only, as for `cohort recommend train`.
    from bot.cogs import recommend  # noqa: PLC0415

    for community in cohort.communities.values():
        path = recommend.model_path(
            config.database.url, community.config.recommend.model_dir, community.slug
        )
        await recommend.Recommender(cohort.db, community, cohort.clock, path).retrain()
