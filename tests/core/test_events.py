"""The event bus: each subscriber in turn, a failure isolated, nothing made for an unwanted one."""

from __future__ import annotations

import pytest

from bot.core.events import EventBus

pytestmark = pytest.mark.backend_free


class Ping:
    """An event."""

    def __init__(self, n: int) -> None:
        self.n = n


async def test_a_handler_runs_only_for_the_events_it_wants_and_failures_stay_apart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    got: list[tuple[str, int]] = []
    made: list[int] = []

    def even(event: Ping) -> bool:
        return event.n % 2 == 0

    def refuses(event: Ping) -> bool:
        raise RuntimeError("a broken filter")

    async def evens(event: Ping) -> None:
        got.append(("even", event.n))

    def counted(event: Ping) -> object:  # a handler whose coroutine creation is seen
        made.append(event.n)
        return evens_coroutine(event)

    async def evens_coroutine(event: Ping) -> None:
        got.append(("counted", event.n))

    async def every(event: Ping) -> None:
        got.append(("every", event.n))

    bus.subscribe(Ping, evens, when=even)
    bus.subscribe(Ping, counted, when=even)  # type: ignore[arg-type]
    bus.subscribe(Ping, every, when=refuses)
    bus.subscribe(Ping, every)
    for n in range(3):
        await bus.publish(Ping(n))
    assert got == [
        ("even", 0),
        ("counted", 0),
        ("every", 0),
        ("every", 1),
        ("even", 2),
        ("counted", 2),
        ("every", 2),
    ]
    assert made == [0, 2]  # no coroutine made for the odd one
    failed = [r for r in caplog.records if r.exc_info and "a broken filter" in str(r.exc_info[1])]
    assert len(failed) == 3  # logged each time; the rest still ran
