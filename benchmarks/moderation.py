"""Moderation figures: what automod costs on the message path.

Posts the same messages (from 50 concurrent members; one in twenty holds an allowed link, one
in ten mentions someone) into two bots on fresh SQLite files: automod off (the anchor) and
automod on with every rule on, tuned so that nothing breaks a rule (every check runs, nothing
is deleted). Rounds alternate off/on and the best round of each counts, so that a noisy
neighbour hurts both alike. Goal: with every rule on, ingestion at most 15% slower.
Run: ``.venv/bin/python -m benchmarks.moderation [--messages 5000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.core.config import parse_config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.runtime import build
from bot.store.tables import moderation_cases

SENDERS = 50
GOAL = 1.15
AUTOMOD_ON: dict[str, Any] = {
    "enabled": True,
    "flood": {"messages": 100_000, "within": "10s"},
    "repeats": {"count": 1000, "within": "1m"},
    "links": {"on": True, "allow": ["example.com"]},
    "invites": {"on": True},
    "mentions": {"most": 20},
    "new_accounts": {"younger_than": "1m"},
}


def text_of(n: int) -> tuple[str, tuple[str, ...]]:
    """Return message ``n`` and whom it mentions."""
    if n % 20 == 0:
        return f"see https://docs.example.com/page/{n} for the pandas answer", ()
    if n % 10 == 5:
        return f"thanks @member{n % SENDERS} for message {n}", (f"member{n % SENDERS}",)
    return f"message number {n} about pandas and calculus", ()


async def ingest(folder: Path, count: int, automod: bool) -> tuple[float, float]:
    """Post ``count`` messages into a fresh bot; return messages per second and CPU µs each.

    CPU time (this process, every thread) is what neighbours on a shared machine disturb least.
    """
    path = folder / f"{'on' if automod else 'off'}-{time.monotonic_ns()}.db"
    moderation = {"automod": AUTOMOD_ON} if automod else {}
    config = parse_config(
        {
            "database": {"url": f"sqlite+aiosqlite:///{path}"},
            "web": {"enabled": False},
            "communities": [
                {"id": "bench", "name": "Bench", "timezone": "UTC", "moderation": moderation}
            ],
        },
        source="bench",
        base_dir=folder,
        env={},
    )
    cohort = await build(config)
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        community = cohort.communities["bench"]
        cohort.platforms[PlatformName.CONSOLE] = ConsoleAdapter(
            cohort, community, user="member0", out=io.StringIO()
        )
        channel = ChannelRef(PlatformName.CONSOLE, "general")
        callers = [
            Caller(PlatformName.CONSOLE, f"member{i}", f"Member {i}", username=f"member{i}")
            for i in range(SENDERS)
        ]
        for caller in callers:
            await cohort.identity.resolve(community.id, caller)
        later = datetime.now(UTC) + timedelta(hours=1)  # accounts are old enough by then

        async def sender(index: int) -> None:
            for n in range(index, count, SENDERS):
                text, mentions = text_of(n)
                await cohort.dispatcher.message_posted(
                    community,
                    callers[index],
                    channel,
                    f"m{n}",
                    text,
                    later + timedelta(microseconds=n),
                    mentions=mentions,
                )

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(sender(i) for i in range(SENDERS)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        async with cohort.db.read() as conn:
            cases = (await conn.execute(select(func.count(moderation_cases.c.id)))).scalar_one()
        if cases:
            raise SystemExit(f"automod acted on {cases} messages: the figure would not be fair")
        if errors.count:
            raise SystemExit(f"{errors.count} errors were logged: the figure would not be true")
    finally:
        logging.getLogger().removeHandler(errors)
        await cohort.db.close()
    return count / elapsed, cpu / count * 1e6


async def main(messages: int, rounds: int) -> None:
    """Alternate rounds off and on; print the best of each and their ratio."""
    off: list[float] = []
    on: list[float] = []
    cpu_off: list[float] = []
    cpu_on: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(rounds):
            rate, cpu = await ingest(Path(folder), messages, automod=False)
            off.append(rate)
            cpu_off.append(cpu)
            rate, cpu = await ingest(Path(folder), messages, automod=True)
            on.append(rate)
            cpu_on.append(cpu)
    best_off, best_on = max(off), max(on)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load}")
    print(f"anchor, automod off: {best_off:.0f} messages/s (rounds: {_list(off)})")
    print(f"automod on, every rule: {best_on:.0f} messages/s (rounds: {_list(on)})")
    print(f"CPU per message, off: {min(cpu_off):.0f} µs (rounds: {_list(cpu_off)})")
    print(f"CPU per message, on: {min(cpu_on):.0f} µs (rounds: {_list(cpu_on)})")
    for what, ratio in (
        ("wall time", best_off / best_on),
        ("CPU time", min(cpu_on) / min(cpu_off)),
    ):
        verdict = "met" if ratio <= GOAL else "NOT met"
        print(
            f"automod cost in {what}: {100 * (ratio - 1):+.1f}% per message "
            f"(goal at most +{100 * (GOAL - 1):.0f}%: {verdict})"
        )


class _Errors(logging.Handler):
    """Count the errors logged (a failing event handler is logged, not raised)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
