"""A real ``cohort run`` killed in the middle of a batch of reminders, and started again.

The bot runs as a subprocess against the Telegram stand-in (in this process, on loopback),
which answers sendMessage slowly so that the kill lands mid-batch, with a message the stand-in
has taken but the bot has not heard back about. After the restart every reminder is delivered:
none is lost, and at most that one message is sent twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cogs.lectures import LectureService, NewLecture, Rsvp
from bot.core.clock import ManualClock
from bot.core.commands import Role
from bot.core.config import load_config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.runtime import build
from bot.store.db import Database
from bot.store.tables import lecture_deliveries
from tests import _postgres
from tests.telegram_api import TelegramServer

TOKEN = "123456:TEST-token"
GROUP = -1001234567890
OLGA, BOB = 500, 600
LECTURES = 40
KILL_AFTER = 5  # messages the stand-in has taken when the first process is killed
ANSWER_AFTER = 0.05  # seconds the stand-in takes to answer a sendMessage
BOUND = 60.0  # seconds: the longest any one wait below may take (a loaded machine)
ROOT = Path(__file__).resolve().parents[3]

CONFIG = """\
[database]
url = "{database_url}"

[web]
enabled = false

[telegram]
base_url = "{base_url}"
messages_per_second = 1000
messages_per_minute_per_group = 1000

[work]
lease = "1s"

[[communities]]
id = "demo"
name = "Demo Community"
locale = "en"
timezone = "Europe/Berlin"
organizers = ["telegram:{olga}"]
admins = ["telegram:{olga}"]
telegram_chats = [{group}]

[communities.lectures]
announce_channels = ["telegram:{group}"]
reminders = ["1h"]
"""


def title(number: int) -> str:
    """Return the title of lecture ``number``."""
    return f"Talk {number:02d}"


async def seed(path: Path, now: datetime, count: int = LECTURES) -> None:
    """Schedule the lectures 15 minutes ago, announced then; their 1h reminders are due now.

    Bob, who started the bot on Telegram, is going to each: every reminder is a post in the
    group and a private message to him.
    """
    clock = ManualClock(now - timedelta(minutes=15))
    cohort = await build(load_config(path, env={}), clock=clock)
    try:
        job = next(job for job in cohort.jobs if job.id == "lectures.due")
        service = job.run.__self__  # type: ignore[attr-defined]
        assert isinstance(service, LectureService)
        community = cohort.communities["demo"]
        bob = await cohort.identity.resolve(
            community.id, Caller(PlatformName.TELEGRAM, str(BOB), "Bob", username="bob")
        )
        for number in range(1, count + 1):
            (occ,) = await service.schedule(
                NewLecture(
                    community_id=community.id,
                    title=title(number),
                    starts=(now + timedelta(minutes=50),),
                    rrule=None,
                    timezone="Europe/Berlin",
                    duration=timedelta(hours=1),
                    speaker=None,
                    link=None,
                    tier=None,
                    capacity=None,
                    origin=None,
                    created_by=None,
                )
            )
            await service.rsvp(
                community, occ.id, bob.member_id, Role.MEMBER, PlatformName.TELEGRAM, Rsvp.GOING
            )
    finally:
        await cohort.db.close()


def reminders(tg: TelegramServer) -> Counter[tuple[int, str]]:
    """Return how often each reminder reached each chat (the group, or Bob privately)."""
    counts: Counter[tuple[int, str]] = Counter()
    for message in tg.sent():
        head = message["plain"].splitlines()[0]
        if head.endswith(" starts in 1 hour."):
            counts[(message["chat_id"], head)] += 1
    return counts


async def start(path: Path, log: Path) -> asyncio.subprocess.Process:
    """Start ``cohort run`` on the config, as an operator would; its log goes to ``log``."""
    env = dict(os.environ, COHORT_TELEGRAM_TOKEN=TOKEN, PYTHONPATH=str(ROOT))
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--log-level",
            "INFO",
            "run",
            "--config",
            str(path),
            cwd=path.parent,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )


async def unconfirmed(path: Path) -> tuple[int, datetime | None]:
    """Return how many deliveries are claimed and not confirmed, and when the last lease ends."""
    db = Database(load_config(path, env={}).database.url)
    sending = lecture_deliveries.c.status == "sending"
    try:
        async with db.read() as conn:
            left = await conn.scalar(select(func.count()).where(sending))
            until = await conn.scalar(
                select(func.max(lecture_deliveries.c.lease_until)).where(sending)
            )
    finally:
        await db.close()
    return int(left or 0), until


async def leases_ran_out(path: Path) -> bool:
    """Say whether deliveries are left unconfirmed and no live lease holds them any more."""
    left, until = await unconfirmed(path)
    return left > 0 and until is not None and until <= datetime.now(UTC)


async def all_confirmed(path: Path) -> bool:
    """Say whether every delivery is confirmed."""
    return (await unconfirmed(path))[0] == 0


def prepare(tg: TelegramServer, path: Path) -> None:
    """Set up the group and both people on the stand-in, and write the bot's config."""
    tg.add_chat(GROUP, "supergroup", title="Demo")
    for user_id, name in ((OLGA, "Olga"), (BOB, "Bob")):
        tg.add_user(user_id, name, username=name.lower(), language_code="en")
        tg.add_member(GROUP, user_id)
        tg.add_chat(user_id, "private")  # both started the bot
    tg.answer_slowly("sendMessage", ANSWER_AFTER)
    path.write_text(
        CONFIG.format(
            base_url=tg.base_url,
            olga=OLGA,
            group=GROUP,
            database_url=_postgres.database_url(path.parent),
        )
    )


@pytest.mark.slow
async def test_a_bot_killed_mid_batch_loses_no_reminder_and_repeats_at_most_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    log = tmp_path / "cohort.log"
    processes: list[asyncio.subprocess.Process] = []
    async with TelegramServer(token=TOKEN) as tg:
        prepare(tg, path)
        await seed(path, datetime.now(UTC))
        try:
            processes.append(await start(path, log))
            await tg.wait_for(lambda: sum(reminders(tg).values()) >= KILL_AFTER, BOUND)
            processes[0].kill()  # SIGKILL: no clean-up, no goodbye
            await asyncio.wait_for(processes[0].wait(), BOUND)
            before_restart = sum(reminders(tg).values())
            assert before_restart < 2 * LECTURES  # the kill landed mid-batch

            # Once the dead process's claims have run out, the next one takes them over.
            await tg.wait_for(lambda: leases_ran_out(path), BOUND, interval=0.1)
            processes.append(await start(path, log))
            await tg.wait_for(lambda: len(reminders(tg)) == 2 * LECTURES, BOUND)
            await tg.wait_for(lambda: all_confirmed(path), BOUND, interval=0.1)
            processes[1].send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(processes[1].wait(), BOUND) == 0
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        counts = reminders(tg)

    detail = log.read_text()[-3000:]
    for number in range(1, LECTURES + 1):
        head = f"⏰ {title(number)} starts in 1 hour."
        assert counts[(GROUP, head)] >= 1, detail  # nothing lost: the post...
        assert counts[(BOB, head)] >= 1, detail  # ...and Bob's private message
    assert len(counts) == 2 * LECTURES
    # One kill: at most the one message the stand-in had taken when the process died.
    assert sum(counts.values()) - 2 * LECTURES <= 1, (counts.most_common(3), detail)
    db = Database(load_config(path, env={}).database.url)
    try:
        async with db.read() as conn:
            states = Counter(
                (await conn.execute(select(lecture_deliveries.c.status))).scalars().all()
            )
    finally:
        await db.close()
    assert states == {"sent": 2 * LECTURES}  # the announcements, then the reminders


@pytest.mark.slow
async def test_a_bot_stopped_mid_batch_posts_what_it_holds_and_the_next_one_sends_the_rest(
    tmp_path: Path,
) -> None:
    """SIGTERM while reminders go out: the one in hand is posted, the rest wait for the next run."""
    path = tmp_path / "config.toml"
    log = tmp_path / "cohort.log"
    processes: list[asyncio.subprocess.Process] = []
    async with TelegramServer(token=TOKEN) as tg:
        prepare(tg, path)
        await seed(path, datetime.now(UTC))
        try:
            processes.append(await start(path, log))
            await tg.wait_for(lambda: sum(reminders(tg).values()) >= KILL_AFTER, BOUND)
            processes[0].send_signal(signal.SIGTERM)  # a clean stop in the middle of the batch
            assert await asyncio.wait_for(processes[0].wait(), BOUND) == 0
            assert sum(reminders(tg).values()) < 2 * LECTURES  # it stopped mid-batch
            processes.append(await start(path, log))
            await tg.wait_for(lambda: len(reminders(tg)) == 2 * LECTURES, BOUND)
            await tg.wait_for(lambda: all_confirmed(path), BOUND, interval=0.1)
            processes[1].send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(processes[1].wait(), BOUND) == 0
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        counts = reminders(tg)

    detail = log.read_text()[-3000:]
    missing = [
        (chat, head)
        for number in range(1, LECTURES + 1)
        for chat in (GROUP, BOB)
        if counts[(chat, head := f"⏰ {title(number)} starts in 1 hour.")] == 0
    ]
    assert missing == [], detail  # nothing dropped at the stop
    assert sum(counts.values()) == 2 * LECTURES, (counts.most_common(3), detail)  # none twice
