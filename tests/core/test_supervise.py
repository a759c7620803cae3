"""The supervisor: restarts with backoff, gives up on fatal or repeated failures, reports health."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from bot.core.clock import ManualClock
from bot.core.config import SuperviseConfig
from bot.core.supervise import (
    ExitCode,
    Failure,
    FailureKind,
    Supervisor,
    TaskState,
    unexpected,
)
from tests.conftest import START

pytestmark = pytest.mark.backend_free

FAST = SuperviseConfig(backoff_initial=0.01, backoff_max=0.04, max_failures=3)


class Boom(Exception):
    """A failure the test classifies by its text."""


def classify(exc: BaseException) -> Failure:
    """Read the failure's kind from its text, as a platform's classifier reads its errors."""
    kinds = {
        "token": Failure(FailureKind.FATAL, "invalid_token"),
        "wait": Failure(FailureKind.RETRY_AFTER, "rate_limited", delay=0.02),
        "timeout": Failure(FailureKind.TRANSIENT, "timeout", delay=0.0),
    }
    return kinds.get(str(exc), unexpected(exc))


def supervisor(config: SuperviseConfig = FAST) -> Supervisor:
    """Return a supervisor on a fixed clock with seeded jitter."""
    return Supervisor(config, ManualClock(START), rng=random.Random(7))


def scripted(*outcomes: str) -> tuple[Callable[[], Any], asyncio.Event, list[int]]:
    """Return a factory whose runs fail with ``outcomes`` in turn, then run until released."""
    release = asyncio.Event()
    runs: list[int] = []

    async def run() -> None:
        runs.append(len(runs))
        if len(runs) <= len(outcomes):
            raise Boom(outcomes[len(runs) - 1])
        await release.wait()
        release.clear()

    return run, release, runs


async def settled(predicate: Callable[[], bool]) -> None:
    """Yield to the loop until ``predicate`` holds (each wait is the supervisor's own pause)."""
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the supervisor never got there")


async def test_a_failing_task_is_restarted_until_it_runs(
    unhandled: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    sup = supervisor()
    factory, release, runs = scripted("glitch", "timeout")
    watch = sup.run("worker", factory, classify=classify)
    await settled(lambda: len(runs) == 3)
    assert (watch.restarts, watch.failures, watch.state) == (2, 2, TaskState.RETRYING)
    assert watch.last_error == Failure(FailureKind.TRANSIENT, "timeout", delay=0.0)
    watch.ok()
    assert (watch.failures, watch.state) == (0, TaskState.RUNNING)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == [
        "worker ended (error:Boom)",
        "worker ended (transient:timeout)",
    ]
    release.set()  # it returns without being asked to stop: that is a failure too
    await settled(lambda: watch.failures == 1)
    assert watch.last_error is not None and watch.last_error.reason == "ended"
    await watch.stop(cancel=True)
    assert watch.state is TaskState.STOPPED
    assert sup.exit_code is ExitCode.OK and not sup.gave_up.is_set()


async def test_a_fatal_failure_gives_up_at_once_with_the_config_exit_code(
    unhandled: list[dict[str, Any]],
) -> None:
    sup = supervisor()
    stop = asyncio.Event()
    sup.stop_with(stop)
    factory, _release, runs = scripted("token")
    watch = sup.run("gateway", factory, classify=classify)
    await asyncio.wait_for(stop.wait(), 5)
    assert runs == [0]
    assert watch.state is TaskState.FAILED and not watch.up
    assert sup.exit_code is ExitCode.CONFIG and sup.gave_up.is_set()
    assert not sup.healthy
    await sup.close()
    assert watch.state is TaskState.FAILED


async def test_too_many_failures_in_a_row_give_up(unhandled: list[dict[str, Any]]) -> None:
    sup = supervisor()
    factory, _release, runs = scripted("a", "b", "c", "d")
    watch = sup.run("poller", factory, classify=classify)
    await asyncio.wait_for(sup.gave_up.wait(), 5)
    assert len(runs) == FAST.max_failures
    assert (watch.state, watch.restarts) == (TaskState.FAILED, FAST.max_failures - 1)
    assert sup.exit_code is ExitCode.GAVE_UP
    await sup.close()


def test_the_pause_doubles_with_jitter_up_to_the_cap_and_honours_the_server() -> None:
    config = SuperviseConfig(backoff_initial=1.0, backoff_max=8.0, max_failures=100)
    sup = supervisor(config)
    watch = sup.watch("job.x")
    pauses = [sup.failed(watch, Failure(FailureKind.TRANSIENT, "net")) for _ in range(6)]
    for n, pause in enumerate(pauses, start=1):
        base = min(8.0, 2.0 ** (n - 1))
        assert pause is not None and base / 2 <= pause <= base
    assert sup.failed(watch, Failure(FailureKind.RETRY_AFTER, "429", delay=42.0)) == 42.0
    assert sup.failed(watch, Failure(FailureKind.TRANSIENT, "timeout", delay=0.0)) == 0.0
    assert watch.state is TaskState.RUNNING  # a job stays scheduled between its runs


async def test_stop_cancels_a_pause_and_waits_for_a_task_that_returns(
    unhandled: list[dict[str, Any]],
) -> None:
    slow = SuperviseConfig(backoff_initial=60.0, backoff_max=60.0, max_failures=5)
    sup = supervisor(slow)
    factory, _release, runs = scripted("x")
    pausing = sup.run("pausing", factory)
    await settled(lambda: pausing.sleeping)
    await asyncio.wait_for(pausing.stop(), 5)  # no minute-long wait
    assert pausing.state is TaskState.STOPPED and runs == [0]

    release = asyncio.Event()

    async def until_released() -> None:
        await release.wait()

    returning = sup.run("returning", until_released)
    await asyncio.sleep(0)
    stopping = asyncio.create_task(returning.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()  # it waits for the owner's signal, it does not cancel
    release.set()
    await stopping
    assert returning.state is TaskState.STOPPED and returning.failures == 0


async def test_a_first_attempt_is_adopted_and_cancelled_even_before_supervision_began(
    unhandled: list[dict[str, Any]],
) -> None:
    sup = supervisor()

    async def fail_soon() -> None:
        await asyncio.sleep(0)
        raise Boom("late")

    first = asyncio.create_task(fail_soon())
    watch = sup.run("adopted", asyncio.Event().wait, first=first)
    await sup.close()  # before the supervision task took its first step
    assert first.done() and watch.state is TaskState.STOPPED


async def test_a_name_runs_once_at_a_time() -> None:
    sup = supervisor()
    watch = sup.run("gateway", asyncio.Event().wait)
    with pytest.raises(ValueError, match="already supervised"):
        sup.run("gateway", asyncio.Event().wait)
    await watch.stop(cancel=True)
    again = sup.run("gateway", asyncio.Event().wait)  # a restarted adapter takes the name
    await again.stop(cancel=True)


async def test_the_report_names_kinds_and_reasons_and_never_error_text() -> None:
    sup = supervisor()
    watch = sup.watch("telegram.polling")
    watch.failed(Boom("token sk_live_secret in a message"), classify=unexpected)
    watch.skip("unreadable update")
    sup.seen("telegram")
    report = sup.report()
    assert report == {
        "telegram.polling": {
            "state": "running",
            "restarts": 0,
            "failures": 1,
            "skipped": 1,
            "last_ok": None,
            "last_error": {
                "kind": "error",
                "reason": "unreadable update",
                "at": START.isoformat(),
            },
        }
    }
    assert "secret" not in json.dumps(report)
    assert sup.last_event == {"telegram": START}


def test_a_watch_shows_its_owners_details_read_when_reported() -> None:
    watch = supervisor().watch("discord.shard.1")
    latency = [None, 41.5]
    watch.details = lambda: {"shard": [1, 2], "latency_ms": latency[0]}
    assert watch.report()["latency_ms"] is None
    latency[0] = latency[1]
    report = watch.report()
    assert (report["shard"], report["latency_ms"], report["state"]) == ([1, 2], 41.5, "running")
