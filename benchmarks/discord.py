"""Discord figures: gateway events handled per second and dispatch-to-response latency.

The real discord.py connects to the loopback REST + gateway stand-in from ``tests/`` (zlib
stream compression on, as against Discord); both run in this one process. Messages are timed
from their MESSAGE_CREATE dispatch to the core's MessagePosted; slash commands from their
INTERACTION_CREATE dispatch to the bot's interaction callback. Each phase prints the main
thread's CPU beside the part the stand-in spent (answering REST calls, serialising and
compressing gateway frames, making the events it injects), so the rest is Cohort's and
discord.py's.
Run: ``.venv/bin/python -m benchmarks.discord [--messages N] [--interactions N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.foundation import percentile
from bot.adapters.discord import DiscordAdapter
from bot.core.cohort import Cohort
from bot.core.config import parse_config
from bot.core.events import MessagePosted
from bot.core.platforms import PlatformName
from bot.runtime import build
from tests.discord_api import DEFAULT_TOKEN, DiscordServer

GUILD = 500_000_000_000_000_001
CHANNELS = range(500_000_000_000_001_000, 500_000_000_000_001_005)
USERS = range(500_000_000_000_010_000, 500_000_000_000_010_050)


async def run(messages: int, interactions: int) -> None:
    """Dispatch messages, then interactions, and print what the bot made of them."""
    async with DiscordServer() as dc:
        for user_id in USERS:
            dc.add_user(user_id, f"User{user_id % 1000}")
        dc.add_guild(GUILD, "Bench", owner_id=USERS[0])
        for channel_id in CHANNELS:
            dc.add_channel(GUILD, channel_id, f"room-{channel_id % 10}")
        for user_id in USERS:
            dc.add_member(GUILD, user_id)
        with tempfile.TemporaryDirectory() as folder:
            config = parse_config(
                {
                    "web": {"enabled": False},
                    "discord": {"token": DEFAULT_TOKEN, "api_base": dc.api_base},
                    "communities": [{"id": "bench", "name": "Bench", "discord_guilds": [GUILD]}],
                },
                source="bench",
                base_dir=Path(folder),
                env={},
            )
            cohort = await build(config)
            adapter = DiscordAdapter(cohort, config.discord, guild_ready_timeout=0.1)
            cohort.platforms[PlatformName.DISCORD] = adapter
            await adapter.start()
            try:
                phases: list[Callable[[], Awaitable[float]]] = [
                    lambda: bench_messages(cohort, dc, messages),
                    lambda: bench_interactions(dc, interactions),
                    lambda: bench_one_at_a_time(dc, 200),
                ]
                for phase in phases:
                    cpu, stand_in = time.thread_time(), dc.cpu_seconds
                    injecting = await phase()
                    cpu = time.thread_time() - cpu
                    stand_in = dc.cpu_seconds - stand_in + injecting
                    print(
                        f"  main-thread CPU {cpu:.2f} s: the stand-in's {stand_in:.2f} s "
                        f"({stand_in / cpu:.0%}), Cohort and discord.py {cpu - stand_in:.2f} s"
                    )
            finally:
                await adapter.stop()
                await cohort.db.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS, bot and stand-in together): {peak:.0f} MiB")


async def bench_messages(cohort: Cohort, dc: DiscordServer, count: int) -> float:
    """Dispatch ``count`` messages from 50 members in 5 channels; time each to the core.

    Return the CPU seconds spent making the messages (the stand-in's work).
    """
    injected: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()

    async def seen(event: MessagePosted) -> None:
        latencies.append(time.perf_counter() - injected[event.message_id])
        if len(latencies) == count:
            done.set()

    cohort.events.subscribe(MessagePosted, seen)
    users, channels = list(USERS), list(CHANNELS)
    started = time.perf_counter()
    injecting = 0.0
    for n in range(count):
        cpu = time.thread_time()
        message = dc.user_says(channels[n % len(channels)], users[n % len(users)], f"msg {n} sql")
        injecting += time.thread_time() - cpu
        injected[message["id"]] = time.perf_counter()
        if n % 100 == 99:
            await asyncio.sleep(0)  # let the gateway writer run while people keep talking
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - started
    print(
        f"discord messages: {count} from {len(users)} members in {len(channels)} channels, "
        f"{count / elapsed:.0f} events/s, dispatch to core "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )
    return injecting


async def bench_interactions(dc: DiscordServer, count: int) -> float:
    """Dispatch ``count`` /help interactions at once; time each to its callback.

    The bot gives up on a first response it cannot make within Discord's 3 s and answers
    by message instead, so the phase ends when every interaction has one or the other.
    Return the CPU seconds spent making the interactions (the stand-in's work).
    """
    users, channels = list(USERS), list(CHANNELS)
    calls = len(dc.calls)
    started = time.perf_counter()
    cpu = time.thread_time()
    ids = [
        dc.run_command(GUILD, channels[n % len(channels)], users[n % len(users)], "help")
        for n in range(count)
    ]
    injecting = time.thread_time() - cpu

    def by_message() -> int:
        return sum(name == "create_message" for name, _, _ in dc.calls[calls:])

    await dc.wait_for(
        lambda: sum(dc.interactions[i].answered for i in ids) + by_message() >= count,
        timeout=600,
        interval=0.05,
    )
    elapsed = time.perf_counter() - started
    latencies = [latency for i in ids if (latency := dc.interactions[i].answered_after) is not None]
    print(
        f"discord interactions: {count} at once, {count / elapsed:.0f} interactions/s; "
        f"{len(latencies)}/{count} answered within Discord's 3 s, "
        f"dispatch to response p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms; {by_message()} answered by message "
        "after the window"
    )
    return injecting


async def bench_one_at_a_time(dc: DiscordServer, count: int) -> float:
    """Run ``count`` /help commands one after another: latency without a queue.

    Return the CPU seconds spent making the interactions (the stand-in's work).
    """
    latencies: list[float] = []
    injecting = 0.0
    for _ in range(count):
        cpu = time.thread_time()
        interaction = dc.run_command(GUILD, CHANNELS[0], USERS[0], "help")
        injecting += time.thread_time() - cpu
        await dc.wait_for(lambda i=interaction: dc.interactions[i].answered, interval=0.0005)
        latencies.append(dc.interactions[interaction].answered_after or 0.0)
    print(
        f"discord interactions one at a time: {count}, dispatch to response "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )
    return injecting


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--interactions", type=int, default=1_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(args.messages, args.interactions))
