"""Telegram figures: updates handled per second and update-to-reply latency, end to end.

The real python-telegram-bot long-polls the loopback Bot API stand-in from ``tests/``; flood
limits are raised so that the figures measure Cohort, not Telegram's pacing. The benchmark
looks up what the bot sent in constant time (``sent_count``, ``sent_since``), and each phase
prints the main thread's CPU beside the part the stand-in spent building its answers.
Run: ``.venv/bin/python -m benchmarks.telegram [--messages N] [--commands N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.foundation import percentile
from bot.adapters.telegram import TelegramAdapter
from bot.core.cohort import Cohort
from bot.core.config import parse_config
from bot.core.events import MessagePosted
from bot.core.platforms import PlatformName
from bot.runtime import build
from tests.telegram_api import TelegramServer

TOKEN = "123456:BENCH"
GROUP = -1001000000001
USERS = range(10_000, 10_050)


async def run(messages: int, commands: int) -> None:
    """Inject messages, then commands, and print what the bot made of them."""
    async with TelegramServer(token=TOKEN, max_poll_wait=0.5) as tg:
        tg.add_chat(GROUP, "supergroup", title="Bench")
        for user_id in USERS:
            tg.add_user(user_id, f"User {user_id}", username=f"u{user_id}")
            tg.add_member(GROUP, user_id)
            tg.add_chat(user_id, "private")
        with tempfile.TemporaryDirectory() as folder:
            config = parse_config(
                {
                    "web": {"enabled": False},
                    "telegram": {
                        "token": TOKEN,
                        "base_url": tg.base_url,
                        "messages_per_second": 1000,
                        "messages_per_minute_per_group": 1000,
                    },
                    "communities": [{"id": "bench", "name": "Bench", "telegram_chats": [GROUP]}],
                },
                source="bench",
                base_dir=Path(folder),
                env={},
            )
            cohort = await build(config)
            adapter = TelegramAdapter(cohort, config.telegram, poll_timeout=1)
            cohort.platforms[PlatformName.TELEGRAM] = adapter
            await adapter.start()
            try:
                for phase in (
                    lambda: bench_messages(cohort, tg, messages),
                    lambda: bench_commands(tg, commands),
                    lambda: bench_one_at_a_time(tg, 200),
                ):
                    cpu, stand_in = time.thread_time(), tg.cpu_seconds
                    await phase()
                    cpu, stand_in = time.thread_time() - cpu, tg.cpu_seconds - stand_in
                    print(
                        f"  main-thread CPU {cpu:.2f} s: the stand-in's answers {stand_in:.2f} s "
                        f"({stand_in / cpu:.0%}), Cohort and PTB {cpu - stand_in:.2f} s"
                    )
            finally:
                await adapter.stop()
                await cohort.db.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS, bot and stand-in together): {peak:.0f} MiB")


async def bench_messages(cohort: Cohort, tg: TelegramServer, count: int) -> None:
    """Post ``count`` group messages from 50 members; time until each reaches the core."""
    injected: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()

    async def seen(event: MessagePosted) -> None:
        latencies.append(time.perf_counter() - injected[event.message_id])
        if len(latencies) == count:
            done.set()

    cohort.events.subscribe(MessagePosted, seen)
    users = list(USERS)
    started = time.perf_counter()
    for n in range(count):
        message = tg.user_says(GROUP, users[n % len(users)], f"message {n} about calculus")
        injected[str(message["message_id"])] = time.perf_counter()
        if n % 100 == 99:
            await asyncio.sleep(0)  # let the bot poll while people keep talking
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - started
    print(
        f"telegram messages: {count} from {len(users)} members, {count / elapsed:.0f} updates/s, "
        f"update to core p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )


async def bench_commands(tg: TelegramServer, count: int) -> None:
    """Send ``count`` /help commands in private chats; time from update to the bot's reply."""
    users = list(USERS)
    injected: dict[tuple[int, int], float] = {}
    replied: dict[tuple[int, int], float] = {}
    started = time.perf_counter()
    for n in range(count):
        user = users[n % len(users)]
        message = tg.user_says(user, user, "/help")
        injected[(user, message["message_id"])] = time.perf_counter()
    seen = 0
    deadline = time.monotonic() + 300
    while len(replied) < count and time.monotonic() < deadline:
        for message in tg.sent_since(seen):  # only what is new: the lookup costs nothing
            seen += 1
            key = (message["chat_id"], message.get("reply_to_message_id"))
            if key in injected and key not in replied:
                replied[key] = time.perf_counter()
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    latencies = [replied[k] - injected[k] for k in replied]
    print(
        f"telegram commands: {len(replied)}/{count} answered, {len(replied) / elapsed:.0f} "
        f"commands/s, update to reply p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )


async def bench_one_at_a_time(tg: TelegramServer, count: int) -> None:
    """Send ``count`` /help commands one after another: latency without a queue."""
    latencies: list[float] = []
    user = USERS[0]
    for _ in range(count):
        before = tg.sent_count(user)
        tg.user_says(user, user, "/help")
        started = time.perf_counter()
        await tg.wait_for(lambda b=before: tg.sent_count(user) > b, interval=0.0005)
        latencies.append(time.perf_counter() - started)
    print(
        f"telegram commands one at a time: {count}, update to reply "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--commands", type=int, default=1_000)
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.commands))
