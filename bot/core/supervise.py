"""Watch long-running tasks: restart them with backoff, report their health, give up loudly.

A ``Supervisor`` runs named coroutine factories (a gateway connection, a polling loop, a
worker). When one ends, the end is logged at ERROR and classified by the classifier its owner
passed (only the adapters know their platform's errors), after python-telegram-bot's network
loop: a server's "retry after" is slept out, a transient failure is retried after a capped,
jittered backoff (or at once, for a timeout), and a fatal one (a refused token) gives up. So do
``max_failures`` failures in a row. Giving up records an exit code and sets ``gave_up`` (and the
stop event handed to ``stop_with``), so that ``cohort run`` exits non-zero for systemd or a
container runtime to restart it. Work with no task of its own (scheduled jobs) reports into the
same registry through a ``Watch``; ``report`` is what ``/healthz`` shows.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from bot.core.clock import Clock
from bot.core.config import SuperviseConfig

log = logging.getLogger(__name__)

STOP_GRACE = 30.0  # seconds a task may take to end after its owner asked it to


class FailureKind(StrEnum):
    """How a failure is retried, after python-telegram-bot's ``network_retry_loop``."""

    RETRY_AFTER = "retry_after"  # the server said how long to wait
    TRANSIENT = "transient"  # network, timeouts, 5xx: it heals by itself
    FATAL = "fatal"  # a refused token, intents switched off: only a person can fix it
    ERROR = "error"  # anything else (a bug, bad data): retried with backoff


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified failure; ``reason`` is a short label safe to show, never an error's text."""

    kind: FailureKind
    reason: str
    delay: float | None = None  # seconds to wait before the restart; None: back off

    def show(self) -> str:
        """Return ``kind:reason``, for logs."""
        return f"{self.kind}:{self.reason}"


Classifier = Callable[[BaseException], Failure]
Factory = Callable[[], Coroutine[Any, Any, None]]


def unexpected(exc: BaseException) -> Failure:
    """Classify a failure nobody knows: retried with backoff, named by its class."""
    return Failure(FailureKind.ERROR, type(exc).__name__)


class TaskState(StrEnum):
    """Where a supervised task stands."""

    RUNNING = "running"
    RETRYING = "retrying"  # failed or disconnected; coming back
    STOPPED = "stopped"  # its owner stopped it (shutdown)
    FAILED = "failed"  # given up on


class ExitCode(IntEnum):
    """What ``cohort run`` exits with."""

    OK = 0
    ERROR = 1  # the console stopped on an error
    CONFIG = 2  # bad configuration, at start or found later (a token revoked while running)
    GAVE_UP = 3  # a task failed ``max_failures`` times in a row: restart the process


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class Watch:
    """The health of one supervised task or job, and the handle its owner stops it with."""

    def __init__(self, supervisor: Supervisor, name: str) -> None:
        self.supervisor = supervisor
        self.name = name
        self.state = TaskState.RUNNING
        self.restarts = 0
        self.failures = 0  # in a row; ``ok`` resets it
        self.skipped = 0  # inputs it could not read and let go
        self.last_ok: datetime | None = None
        self.last_error: Failure | None = None
        self.last_error_at: datetime | None = None
        self.stopping = False
        self.task: asyncio.Task[None] | None = None
        self.first: asyncio.Task[None] | None = None  # an attempt started before supervision
        self.sleeping = False
        # More for ``/healthz`` from the owner (a Discord shard's latency), read when shown.
        self.details: Callable[[], dict[str, object]] | None = None

    @property
    def up(self) -> bool:
        """Tell whether the task is running (not retrying, stopped or given up)."""
        return self.state is TaskState.RUNNING

    def ok(self) -> None:
        """Record progress: the task works, its run of failures is over."""
        self.last_ok = self.supervisor.clock.now()
        self.failures = 0
        if self.state is TaskState.RETRYING:
            self.state = TaskState.RUNNING

    def lost(self, reason: str) -> None:
        """Record a dropped connection that the library restores by itself."""
        self.note(Failure(FailureKind.TRANSIENT, reason))
        if self.state is TaskState.RUNNING:
            self.state = TaskState.RETRYING

    def skip(self, reason: str) -> None:
        """Record an input the task could not read and let go of (it keeps running)."""
        self.skipped += 1
        self.note(Failure(FailureKind.ERROR, reason))

    def failed(self, exc: BaseException, classify: Classifier = unexpected) -> float | None:
        """Record a failure; return the pause before the next try, or None after giving up."""
        return self.supervisor.failed(self, classify(exc))

    def note(self, failure: Failure) -> None:
        """Record ``failure`` as the last error, now."""
        self.last_error = failure
        self.last_error_at = self.supervisor.clock.now()

    async def stop(
        self, *, cancel: bool = False, end: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        """Stop restarting the task and wait for it to end.

        ``end()`` makes it return (closes its connection); without it the owner already did,
        or ``cancel`` cancels it.
        """
        self.stopping = True
        if end is not None:
            await end()
        task = self.task
        if task is None or task.done():
            if self.state is not TaskState.FAILED:
                self.state = TaskState.STOPPED
            await self._settle_first()
            return
        if cancel or self.sleeping:
            task.cancel()
        try:
            done, _ = await asyncio.wait({task}, timeout=STOP_GRACE)
            if not done:
                log.error("%s did not end when asked; cancelling it", self.name)
                task.cancel()
                await asyncio.wait({task})
        finally:
            await self._settle_first()
        if self.state is not TaskState.FAILED:
            self.state = TaskState.STOPPED

    async def _settle_first(self) -> None:
        """Make sure the first attempt ended too (the supervision may not have begun)."""
        first = self.first
        if first is None:
            return
        if not first.done():
            first.cancel()
            await asyncio.wait({first})
        if not first.cancelled():
            first.exception()  # retrieved: its failure was logged or it is the shutdown's

    def report(self) -> dict[str, object]:
        """Describe the task for ``/healthz``: no error text, only kinds and reasons."""
        error = self.last_error
        return {
            **(self.details() if self.details is not None else {}),
            "state": self.state.value,
            "restarts": self.restarts,
            "failures": self.failures,
            "skipped": self.skipped,
            "last_ok": _iso(self.last_ok),
            "last_error": None
            if error is None
            else {"kind": error.kind.value, "reason": error.reason, "at": _iso(self.last_error_at)},
        }


class Supervisor:
    """Runs and watches the process's long-running tasks; one per ``Cohort``."""

    def __init__(
        self, config: SuperviseConfig, clock: Clock, *, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()
        self.watches: dict[str, Watch] = {}
        self.last_event: dict[str, datetime] = {}
        self.gave_up = asyncio.Event()
        self.exit_code = ExitCode.OK
        self._stop: asyncio.Event | None = None

    def stop_with(self, stop: asyncio.Event) -> None:
        """Also set ``stop`` when giving up on a task (the runtime's shutdown signal)."""
        self._stop = stop
        if self.gave_up.is_set():
            stop.set()

    def watch(self, name: str) -> Watch:
        """Return a fresh watch named ``name``; refuse a name whose task still runs."""
        old = self.watches.get(name)
        if old is not None and old.task is not None and not old.task.done():
            raise ValueError(f"task {name!r} is already supervised")
        watch = self.watches[name] = Watch(self, name)
        return watch

    def run(
        self,
        name: str,
        factory: Factory,
        *,
        classify: Classifier = unexpected,
        first: asyncio.Task[None] | None = None,
    ) -> Watch:
        """Run ``factory()`` as ``name`` and restart it whenever it ends.

        ``first`` is an attempt already under way (a connection ``start`` opened), awaited
        before the factory is called for a restart.
        """
        watch = self.watch(name)
        watch.first = first
        watch.task = asyncio.create_task(
            self._supervise(watch, factory, classify, first), name=f"supervise:{name}"
        )
        return watch

    def seen(self, platform: str) -> None:
        """Record that ``platform`` just delivered an event (cheap: called for every one)."""
        self.last_event[str(platform)] = self.clock.now()

    @property
    def healthy(self) -> bool:
        """Tell whether every task runs."""
        return all(watch.up for watch in self.watches.values())

    def report(self) -> dict[str, dict[str, object]]:
        """Describe every task, by name."""
        return {name: watch.report() for name, watch in sorted(self.watches.items())}

    def failed(self, watch: Watch, failure: Failure) -> float | None:
        """Count a failure of ``watch``; return the pause before it runs again, or give up."""
        watch.failures += 1
        watch.note(failure)
        if failure.kind is FailureKind.FATAL or watch.failures >= self.config.max_failures:
            self._give_up(watch, failure)
            return None
        if watch.task is not None:  # a job stays scheduled: it runs again on its own
            watch.state = TaskState.RETRYING
        if failure.delay is not None:
            return failure.delay
        base = min(
            self.config.backoff_max, self.config.backoff_initial * 2.0 ** (watch.failures - 1)
        )
        return base / 2 + self.rng.uniform(0, base / 2)

    def _give_up(self, watch: Watch, failure: Failure) -> None:
        watch.state = TaskState.FAILED
        code = ExitCode.CONFIG if failure.kind is FailureKind.FATAL else ExitCode.GAVE_UP
        if self.exit_code is ExitCode.OK:
            self.exit_code = code
        log.error(
            "%s cannot recover (%s, %d failure(s) in a row); stopping with exit code %d",
            watch.name,
            failure.show(),
            watch.failures,
            self.exit_code,
        )
        self.gave_up.set()
        if self._stop is not None:
            self._stop.set()

    async def _supervise(
        self,
        watch: Watch,
        factory: Factory,
        classify: Classifier,
        first: asyncio.Task[None] | None,
    ) -> None:
        attempt: Awaitable[None] = first if first is not None else factory()
        try:
            while True:
                error: Exception | None = None
                try:
                    await attempt
                except Exception as exc:
                    error = exc
                if watch.stopping:
                    watch.state = TaskState.STOPPED
                    return
                failure = (
                    classify(error) if error is not None else Failure(FailureKind.ERROR, "ended")
                )
                log.error("%s ended (%s)", watch.name, failure.show(), exc_info=error)
                delay = self.failed(watch, failure)
                if delay is None:
                    return
                log.warning("%s: restarting in %.1f s", watch.name, delay)
                watch.sleeping = True
                try:
                    await asyncio.sleep(delay)
                finally:
                    watch.sleeping = False
                watch.restarts += 1
                attempt = factory()
        except asyncio.CancelledError:
            watch.state = TaskState.STOPPED
            raise

    async def close(self) -> None:
        """Cancel whatever still runs (the owners stopped theirs first); wait for the ends."""
        for watch in list(self.watches.values()):
            await watch.stop(cancel=True)
