"""The real-time lateness benchmarks run end to end at a tiny size (a run, not a timed test).

Each delivery kind must be printed for the old grid and for the timer, every one fired: a
benchmark that silently measured fewer deliveries (one skipped as late, one never planned)
would print figures of something else.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from benchmarks import lectures, timers

pytestmark = pytest.mark.backend_free


def fired(out: str, label: str) -> list[tuple[int, int]]:
    """Return ``(fired, wanted)`` of each printed line for ``label``."""
    return [(int(a), int(b)) for a, b in re.findall(rf"{re.escape(label)}.*?: (\d+)/(\d+) ", out)]


@pytest.mark.slow
async def test_lectures_real_time_measures_every_kind_on_the_grid_and_the_alarm(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await lectures.real_time(2, 0.5, spacing=1, lead=0.5, grid=timedelta(seconds=0.5))
    out = capsys.readouterr().out
    for kind, wanted in (("announcements", 2), ("reminders", 2), ("starting now", 4)):
        lines = fired(out, f"  {kind}, ")
        assert lines == [(wanted, wanted)] * 2, out  # the grid (before), then the alarm (after)
    assert "0.5 s sweep grid (before)" in out
    assert "alarm (after)" in out


async def test_qa_reminders_are_measured_on_the_grid_and_the_alarm(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await timers.qa(3, 0.5, 0.5)
    out = capsys.readouterr().out
    assert fired(out, "q&a reminders, ") == [(3, 3)] * 2, out
    assert "5 min sweep grid (before), by the clock" in out
    assert "alarm (after), wall clock" in out


async def test_gating_expiries_are_measured_on_the_poll_and_the_next_lapse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await timers.gating(3, 0.5, 0.5)
    out = capsys.readouterr().out
    assert fired(out, "gating expiries, ") == [(3, 3)] * 2, out
    assert "5 s poll (before)" in out
    assert "next lapse (after)" in out


@pytest.mark.slow
async def test_gating_retries_of_deferred_events_are_measured_on_the_poll_and_the_timer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await timers.retries(3, 0.5, 0.5)
    out = capsys.readouterr().out
    assert fired(out, "gating retries, ") == [(3, 3)] * 2, out
    assert "5 s poll (before)" in out
    assert "timer (after)" in out
