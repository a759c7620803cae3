"""Which Discord shards this process opens, how fast it identifies them, and their health.

Discord sends a guild's events only on shard ``(guild_id >> 22) % shard_count``, and DMs on
shard 0. ``[discord] shard_count`` (else Discord's recommendation from ``GET /gateway/bot``)
and ``shard_ids`` (else all) say which shards this process opens; discord.py's
``AutoShardedClient`` opens them. Discord lets ``max_concurrency`` shards identify at once:
shard ``i`` is in bucket ``i % max_concurrency``, one IDENTIFY per bucket every 5 seconds.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from bot.core.config import DiscordConfig
from bot.core.errors import ConfigError
from bot.core.supervise import Supervisor, TaskState, Watch

IDENTIFY_WINDOW = 5.0  # seconds between two IDENTIFYs of one bucket (Discord's rule)
# Gateway close codes that say the shard count does not fit the bot (Discord's close codes).
SHARD_CLOSES = {4010: "invalid shard", 4011: "sharding required"}


def shard_of(guild_id: int, shard_count: int) -> int:
    """Return the shard that carries a guild's events."""
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """The shards of the whole bot, and the ones this process opens."""

    count: int
    ids: tuple[int, ...]

    @classmethod
    def of(cls, config: DiscordConfig, recommended: int) -> ShardPlan:
        """Plan from the config; an absent ``shard_count`` takes Discord's recommendation."""
        count = config.shard_count or max(1, recommended)
        ids = config.shard_ids if config.shard_ids is not None else tuple(range(count))
        return cls(count, ids)

    @property
    def all(self) -> bool:
        """Tell whether this process opens every shard."""
        return len(self.ids) == self.count

    def describe(self) -> str:
        """Return ``shard 0 of 1`` or ``shards 0, 2 of 4``, for the log."""
        names = ", ".join(map(str, self.ids))
        return f"shard{'s' if len(self.ids) > 1 else ''} {names} of {self.count}"


class IdentifyPacer:
    """Space IDENTIFYs as Discord asks: one per bucket (``shard % max_concurrency``) per 5 s."""

    def __init__(
        self,
        max_concurrency: int = 1,
        *,
        window: float | None = None,
        now: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.max_concurrency = max(1, max_concurrency)
        # Read when built, not when defined: a test not about the spacing shortens it.
        self.window = IDENTIFY_WINDOW if window is None else window
        self._now = now
        self._sleep = sleep
        self._last: dict[int, float] = {}  # bucket -> when its last IDENTIFY was allowed
        self._locks: dict[int, asyncio.Lock] = {}

    def spread(self, shard_ids: tuple[int, ...]) -> float:
        """Return how long identifying all of ``shard_ids`` takes at most (the pauses)."""
        buckets: dict[int, int] = {}
        for shard_id in shard_ids:
            buckets[self.bucket(shard_id)] = buckets.get(self.bucket(shard_id), 0) + 1
        return self.window * (max(buckets.values(), default=1) - 1)

    def bucket(self, shard_id: int) -> int:
        """Return the bucket a shard identifies in."""
        return shard_id % self.max_concurrency

    def _time(self) -> float:
        return self._now() if self._now is not None else asyncio.get_running_loop().time()

    async def wait(self, shard_id: int) -> float:
        """Wait until ``shard_id`` may IDENTIFY; return how long that took (seconds)."""
        bucket = self.bucket(shard_id)
        lock = self._locks.setdefault(bucket, asyncio.Lock())
        async with lock:
            last = self._last.get(bucket)
            pause = 0.0 if last is None else max(0.0, last + self.window - self._time())
            if pause > 0:
                await self._sleep(pause)
            self._last[bucket] = self._time()
            return pause


def shard_count_error(plan: ShardPlan, code: int) -> ConfigError:
    """Return the config error for a gateway that refused the shard count (4010, 4011)."""
    return ConfigError(
        "discord.shard_count",
        "enough shards for the bot's servers (Discord allows 2,500 on one; leave it out to use "
        "Discord's recommendation)",
        f"{plan.count} ({SHARD_CLOSES[code]}, close code {code})",
    )


def latency_ms(seconds: float) -> float | None:
    """Return a heartbeat latency in milliseconds, or None before the first one came back."""
    if not math.isfinite(seconds):
        return None
    return round(seconds * 1000, 1)


Probe = Callable[[int], tuple[bool, float]]  # shard id -> (connected, latency in seconds)


class ShardHealth:
    """One ``/healthz`` entry per shard this process opens: ``discord.shard.<id>``.

    A shard shows ``retrying`` until its session is READY and while its connection is down
    (discord.py reconnects it by itself); its entry also shows whether it is connected and
    its heartbeat latency.
    """

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.watches: dict[int, Watch] = {}

    def open(self, plan: ShardPlan, probe: Probe) -> None:
        """Add the entries of the planned shards, each waiting for its READY."""
        for shard_id in plan.ids:
            watch = self.supervisor.watch(f"discord.shard.{shard_id}")
            watch.state = TaskState.RETRYING
            watch.details = partial(_details, shard_id, plan.count, probe)
            self.watches[shard_id] = watch

    def ready(self, shard_id: int) -> None:
        """Note that a shard's session began or resumed."""
        watch = self.watches.get(shard_id)
        if watch is not None:
            watch.ok()

    def lost(self, shard_id: int) -> None:
        """Note that a shard's connection dropped."""
        watch = self.watches.get(shard_id)
        if watch is not None and not watch.stopping:
            watch.lost("disconnected")

    async def stop(self) -> None:
        """Show every shard as stopped (the process is shutting down)."""
        for watch in self.watches.values():
            await watch.stop()


def _details(shard_id: int, count: int, probe: Probe) -> dict[str, object]:
    connected, latency = probe(shard_id)
    return {"shard": [shard_id, count], "connected": connected, "latency_ms": latency_ms(latency)}
