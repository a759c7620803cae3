"""Three ``cohort run`` processes on one database send 1,000 reminders: each exactly once.

Each process sweeps the same due deliveries; the lease claim (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, one conditional UPDATE at a time on SQLite) gives every delivery to one of them,
a few at a time, so that all three send. The Telegram stand-in answers slowly, so that they are
sending at the same time. Several
processes of one Telegram bot run in webhook mode, each on its own port (long polling is one
process per bot: a second poller exits at start).
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.config import load_config
from bot.store.db import Database
from bot.store.tables import lecture_deliveries
from tests import _postgres
from tests.cogs.lectures.test_restart import (
    BOB,
    GROUP,
    TOKEN,
    all_confirmed,
    prepare,
    reminders,
    seed,
    start,
    title,
)
from tests.telegram_api import TelegramServer
from tests.web.test_app import free_port

pytestmark = pytest.mark.skipif(
    not _postgres.enabled(),
    reason="scale-out runs on PostgreSQL (make test's second run); test_restart.py covers "
    "SQLite's leases with two processes",
)

PROCESSES = 3
LECTURES = 500  # a reminder in the group and one to Bob each: 1,000 deliveries
# Seconds: the longest the processes may go without sending a new reminder (a start on a
# loaded machine), and then without confirming the last ones. Not a bound on the whole
# sending, which a loaded machine stretches as much as it likes.
STALL = 120.0


def webhook_config(path: Path, number: int) -> Path:
    """Write process ``number``'s config: the shared one in webhook mode on a port of its own."""
    text = path.read_text()
    for old, new in (
        (
            "[web]\nenabled = false\n",
            f'[web]\nenabled = true\nhost = "127.0.0.1"\nport = {free_port()}\n',
        ),
        (
            # The reminders came due ten minutes before the seed's clock: with the default
            # 15-minute grace, a machine taking over five minutes to seed, start and send
            # would skip the rest as late, and the test would wait for them in vain.
            'reminders = ["1h"]\n',
            'reminders = ["1h"]\nlate_grace = "1d"\n',
        ),
        (
            "[telegram]\n",
            '[telegram]\nmode = "webhook"\n'
            'webhook_url = "https://bot.example.org/telegram/webhook"\n'
            'webhook_secret = "s3cret-s3cret"\n',
        ),
    ):
        assert old in text
        text = text.replace(old, new)
    own = path.parent / f"p{number}" / "config.toml"
    own.parent.mkdir()
    own.write_text(text)
    return own


async def all_sent(tg: TelegramServer, expected: int) -> None:
    """Wait until ``expected`` reminders went out; fail when none did for ``STALL`` seconds."""
    loop = asyncio.get_running_loop()
    seen, since = 0, loop.time()
    while (sent := len(reminders(tg))) < expected:
        if sent > seen:
            seen, since = sent, loop.time()
        elif loop.time() - since > STALL:
            raise AssertionError(f"{sent} of {expected} reminders sent, none in {STALL:g}s")
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_three_processes_send_each_of_a_thousand_reminders_once(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    log = tmp_path / "cohort.log"
    processes: list[asyncio.subprocess.Process] = []
    async with TelegramServer(token=TOKEN) as tg:
        prepare(tg, path)
        await seed(path, datetime.now(UTC), LECTURES)
        try:
            for number in range(PROCESSES):
                processes.append(await start(webhook_config(path, number), log))
            await all_sent(tg, 2 * LECTURES)
            await tg.wait_for(lambda: all_confirmed(path), STALL, interval=0.2)
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                assert await asyncio.wait_for(process.wait(), 60) == 0
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        counts = reminders(tg)
        senders = Counter(message["chat_id"] for message in tg.sent())

    detail = log.read_text()[-3000:]
    expected = {
        (chat, f"⏰ {title(number)} starts in 1 hour.")
        for number in range(1, LECTURES + 1)
        for chat in (GROUP, BOB)
    }
    assert set(counts) == expected, detail  # none lost
    assert set(counts.values()) == {1}, (counts.most_common(3), detail)  # none doubled
    assert senders[GROUP] >= LECTURES and senders[BOB] >= LECTURES
    db = Database(load_config(path, env={}).database.url)
    try:
        async with db.read() as conn:
            claimants = Counter(
                str(row.claimed_by).rsplit("/", 1)[0]
                for row in await conn.execute(
                    select(lecture_deliveries.c.claimed_by).where(
                        lecture_deliveries.c.kind == "reminder"
                    )
                )
            )
            states = Counter(
                (await conn.execute(select(lecture_deliveries.c.status))).scalars().all()
            )
    finally:
        await db.close()
    assert states == {"sent": 2 * LECTURES}
    assert sum(claimants.values()) == LECTURES  # each claimed by one process...
    assert len(claimants) == PROCESSES, claimants  # ...a few at a time, so all three send
