"""Three ``cohort run`` processes in webhook mode behind one URL: each update handled once.

The Telegram stand-in posts each update to the three processes in turn (the load balancer in
front of them) and ignores the answer to a third of its first posts, as when an answer comes
too late: those updates come again, to another process. The claims (``_claims``) let one
process handle each; the end state (messages logged, points, the bot's replies in each chat)
is the one a single process reaches with the same updates.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.config import load_config
from bot.runtime import build
from bot.store.db import Database
from bot.store.tables import accounts, message_log, points_balances, telegram_updates
from tests import _postgres
from tests.telegram_api import TelegramServer
from tests.web.test_app import free_port

pytestmark = pytest.mark.skipif(
    not _postgres.enabled(),
    reason="scale-out runs on PostgreSQL (make test's second run); test_telegram_claims.py "
    "covers the claims on both backends",
)

TOKEN = "123456:TEST-token"
SECRET = "hook-secret_1"
CHATS = (-1001000000001, -1001000000002, -1001000000003)
USERS_PER_CHAT = 4
ROUNDS = 25  # each user: a message, then every fifth round /points instead
LOSE_EVERY = 3  # the answer to every third update's first post is lost: it comes again
BOUND = 240.0  # seconds: the longest the handling may take on a loaded machine
ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
[database]
url = "{database_url}"

[web]
enabled = true
host = "127.0.0.1"
port = {port}

[telegram]
base_url = "{base_url}"
mode = "webhook"
webhook_url = "https://bot.example.org/telegram/webhook"
webhook_secret = "{secret}"
messages_per_second = 1000
messages_per_minute_per_group = 1000

[[communities]]
id = "demo"
name = "Demo Community"
locale = "en"
timezone = "Europe/Berlin"
telegram_chats = [{chats}]

[communities.points]
message_min = 20
message_max = 20
message_cooldown = "1d"
"""


@dataclass(frozen=True)
class EndState:
    """What the bot left: messages logged, balances, replies per chat, claims."""

    logged: frozenset[tuple[str, str, str, str]]  # (chat, message id, author, text)
    balances: dict[str, int]  # Telegram user id -> points
    replies: dict[int, list[str]]  # chat -> the bot's messages there, in order
    claims: int
    unhandled: int


def user_ids(chat_index: int) -> list[int]:
    """Return the people who talk in one chat (each in one chat only: no cross-chat race)."""
    return [1000 + chat_index * 10 + n for n in range(USERS_PER_CHAT)]


def arrange(tg: TelegramServer) -> None:
    """Add the three groups and their people to the stand-in."""
    for index, chat in enumerate(CHATS):
        tg.add_chat(chat, "supergroup", title=f"Group {index}")
        for user in user_ids(index):
            tg.add_user(user, f"User {user}", username=f"user{user}", language_code="en")
            tg.add_member(chat, user)


def talk(tg: TelegramServer) -> tuple[int, int]:
    """Queue the updates; lose the first answer to every LOSE_EVERY-th. Return (all, commands)."""
    commands = 0
    for round_ in range(ROUNDS):
        for index, chat in enumerate(CHATS):
            for user in user_ids(index):
                if round_ % 5 == 4:
                    tg.user_says(chat, user, "/points")
                    commands += 1
                else:
                    tg.user_says(chat, user, f"round {round_} from {user}: hello everyone")
    updates = [update["update_id"] for update in tg.pending_updates]
    tg.webhook_sender.lose_answer(*updates[::LOSE_EVERY])
    return len(updates), commands


async def start(path: Path) -> asyncio.subprocess.Process:
    """Start ``cohort run`` on the config, as an operator would; its log goes beside it."""
    env = dict(os.environ, COHORT_TELEGRAM_TOKEN=TOKEN, PYTHONPATH=str(ROOT))
    with (path.parent / "cohort.log").open("ab") as out:
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


async def end_state(path: Path) -> EndState:
    """Read what the bot left in the database."""
    db = Database(load_config(path, env={}).database.url)
    author = accounts.c.platform_user_id
    try:
        async with db.read() as conn:
            logged = frozenset(
                (row.channel_id, row.message_id, row.platform_user_id, row.text)
                for row in await conn.execute(
                    select(message_log, author).join(
                        accounts, accounts.c.id == message_log.c.account_id
                    )
                )
            )
            balances = {
                str(row.platform_user_id): int(row.balance)
                for row in await conn.execute(
                    select(author, points_balances.c.balance).join(
                        points_balances, points_balances.c.member_id == accounts.c.member_id
                    )
                )
            }
            claims = await conn.scalar(select(func.count()).select_from(telegram_updates))
            unhandled = await conn.scalar(
                select(func.count()).where(telegram_updates.c.handled_at.is_(None))
            )
    finally:
        await db.close()
    return EndState(logged, balances, {}, int(claims or 0), int(unhandled or 0))


async def run_bot(directory: Path, processes: int) -> tuple[EndState, Counter[str], int, int]:
    """Run ``processes`` bots on one database through the updates; return what they left.

    Also return how many posts each process got, how many updates and how many posts in all.
    """
    directory.mkdir()  # noqa: ASYNC240 - a test's own directory, before anything runs
    database_url = _postgres.database_url(directory)
    running: list[asyncio.subprocess.Process] = []
    async with TelegramServer(token=TOKEN) as tg:
        arrange(tg)
        tg.webhook_sender.retry_delay = 0.02
        ports, paths = [], []
        for number in range(processes):
            ports.append(free_port())
            paths.append(directory / f"p{number}" / "config.toml")
            paths[-1].parent.mkdir()
            paths[-1].write_text(
                CONFIG.format(
                    database_url=database_url,
                    port=ports[-1],
                    base_url=tg.base_url,
                    secret=SECRET,
                    chats=", ".join(map(str, CHATS)),
                )
            )
        # The operator's first start (or ``cohort db upgrade``): the schema and the community
        # rows exist before the processes start side by side.
        cohort = await build(load_config(paths[0], env={}))
        await cohort.db.close()
        try:
            for path in paths:
                running.append(await start(path))
            # Every process sets the same webhook (idempotent); then Telegram starts posting.
            await tg.wait_for(
                lambda: len(tg.called("setWebhook")) == processes, BOUND, interval=0.2
            )
            targets = [f"http://127.0.0.1:{port}/telegram/webhook" for port in ports]
            tg.webhook_sender.targets = targets
            updates, commands = talk(tg)
            tg.notify()
            await tg.wait_for(lambda: not tg.pending_updates, BOUND, interval=0.2)
            await tg.wait_for(lambda: len(tg.sent()) >= commands, BOUND, interval=0.2)
            for process in running:
                process.send_signal(signal.SIGTERM)
            for process in running:
                assert await asyncio.wait_for(process.wait(), 60) == 0
        finally:
            for process in running:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        hooks = {json.dumps(params, sort_keys=True) for params in tg.called("setWebhook")}
        assert len(hooks) == 1  # all set the same URL and secret
        replies = {chat: [m["plain"] for m in tg.sent(chat)] for chat in CHATS}
        per_process = Counter(
            f"p{targets.index(target)}" for _, target, status in tg.webhook_sender.posts if status
        )
        posts = len(tg.webhook_sender.posts)
    state = await end_state(paths[0])
    return (
        EndState(state.logged, state.balances, replies, state.claims, state.unhandled),
        per_process,
        updates,
        posts,
    )


@pytest.mark.slow
async def test_three_webhook_processes_handle_each_update_once_as_one_process_would(
    tmp_path: Path,
) -> None:
    three, per_process, updates, posts = await run_bot(tmp_path / "three", 3)
    log = "".join((tmp_path / "three" / f"p{n}" / "cohort.log").read_text() for n in range(3))
    users = USERS_PER_CHAT * len(CHATS)
    messages = users * ROUNDS * 4 // 5
    assert posts >= updates + updates // LOSE_EVERY  # the lost answers' updates came again
    assert set(per_process) == {"p0", "p1", "p2"}  # every process took posts
    assert "came again; handled once already" in log
    assert len(three.logged) == messages, log[-3000:]  # each message logged (none lost)
    assert set(three.balances.values()) == {20}  # one award each (cooldown 1d), none doubled
    for chat in CHATS:
        # Each /points answered once, in order: none doubled, none lost.
        assert len(three.replies[chat]) == USERS_PER_CHAT * ROUNDS // 5, three.replies[chat]
    assert (three.claims, three.unhandled) == (updates, 0)

    one, _, _, _ = await run_bot(tmp_path / "one", 1)
    assert one == three
