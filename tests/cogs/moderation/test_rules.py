"""Moderation's pure rules and what a moderator may type: hierarchy, limits, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cogs.moderation._rules import (
    MAX_REASON,
    Action,
    Refusal,
    chunks,
    clean_reason,
    escalation_action,
    escalation_step,
    mute_in_range,
    purge_since,
    refusal,
    slowmode_allows,
)
from bot.core.cohort import Cohort
from bot.core.commands import Role
from bot.core.config import EscalationAction, EscalationStep
from bot.core.errors import UserError
from bot.core.parsing import parse_arguments
from bot.core.platforms import PlatformName

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")  # west of UTC


@pytest.mark.parametrize(
    ("actor", "target", "same", "why"),
    [
        (Role.MODERATOR, Role.MEMBER, False, None),
        (Role.MODERATOR, Role.MODERATOR, False, Refusal.HIGHER),
        (Role.MODERATOR, Role.ORGANIZER, False, Refusal.HIGHER),
        (Role.ORGANIZER, Role.MODERATOR, False, None),
        (Role.ORGANIZER, Role.ADMIN, False, Refusal.HIGHER),
        (Role.ADMIN, Role.ORGANIZER, False, None),
        (Role.ADMIN, Role.ADMIN, False, Refusal.HIGHER),
        (Role.ADMIN, Role.ADMIN, True, Refusal.SELF),
    ],
)
def test_hierarchy(actor: Role, target: Role, same: bool, why: Refusal | None) -> None:
    assert refusal(1, actor, 1 if same else 2, target) == why


@pytest.mark.parametrize(
    ("duration", "fits"),
    [
        (timedelta(seconds=59), False),
        (timedelta(minutes=1), True),
        (timedelta(days=28), True),  # exactly Discord's longest timeout
        (timedelta(days=28, seconds=1), False),
    ],
)
def test_mute_limits(duration: timedelta, fits: bool) -> None:
    assert mute_in_range(duration) is fits


STEPS = (
    EscalationStep(warnings=3, action=EscalationAction.MUTE, duration=timedelta(hours=1)),
    EscalationStep(warnings=3, action=EscalationAction.MUTE, duration=timedelta(hours=2)),
    EscalationStep(warnings=5, action=EscalationAction.KICK),
    EscalationStep(warnings=5, action=EscalationAction.BAN, duration=timedelta(days=1)),
)


@pytest.mark.parametrize(
    ("warnings", "action", "duration"),
    [
        (1, None, None),
        (3, Action.MUTE, timedelta(hours=2)),  # the longer of two mutes at one count
        (4, None, None),  # between steps: nothing new
        (5, Action.BAN, timedelta(days=1)),  # ban beats kick
        (6, None, None),
    ],
)
def test_escalation_acts_once_per_threshold(
    warnings: int, action: Action | None, duration: timedelta | None
) -> None:
    step = escalation_step(STEPS, warnings)
    if action is None:
        assert step is None
    else:
        assert step is not None
        assert (escalation_action(step), step.duration) == (action, duration)


@pytest.mark.parametrize(
    ("platform", "oldest"),
    [
        (PlatformName.DISCORD, NOW - timedelta(days=14)),
        (PlatformName.TELEGRAM, NOW - timedelta(hours=48)),
        (PlatformName.CONSOLE, None),
    ],
)
def test_purge_windows(platform: PlatformName, oldest: datetime | None) -> None:
    assert purge_since(platform, NOW) == oldest


@pytest.mark.parametrize(("count", "sizes"), [(0, []), (1, [1]), (100, [100]), (101, [100, 1])])
def test_chunks_of_at_most_100(count: int, sizes: list[int]) -> None:
    assert [len(c) for c in chunks([str(i) for i in range(count)])] == sizes


@pytest.mark.parametrize(
    ("gap", "seconds", "allowed"),
    [(None, 60, True), (59, 60, False), (60, 60, True), (0, 0, True)],
)
def test_slowmode(gap: int | None, seconds: int, allowed: bool) -> None:
    last = None if gap is None else NOW - timedelta(seconds=gap)
    assert slowmode_allows(last, NOW, seconds) is allowed


@given(st.text(max_size=2000))
def test_a_reason_is_one_bounded_line(text: str) -> None:
    reason = clean_reason(text)
    assert len(reason) <= MAX_REASON
    assert "\n" not in reason
    assert clean_reason(reason) == reason


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    duration=st.one_of(
        st.from_regex(r"\A[0-9]{1,4}[smhdw]([0-9]{1,3}[smhdw])?\Z"), st.text(max_size=12)
    ),
    reason=st.text(max_size=300),
)
def test_typed_mutes_parse_or_are_refused_clearly(
    cohort: Cohort, duration: str, reason: str
) -> None:
    spec = cohort.registry.get("mute")
    assert spec is not None
    line = f"@bob {duration} {reason}"
    try:
        values = parse_arguments(spec.options, line, tz=NEW_YORK, now=NOW)
    except UserError as exc:
        assert exc.key.startswith(("parse.", "member.")), exc.key
        return
    assert isinstance(values["duration"], timedelta)
    assert values["duration"] > timedelta(0)
    assert isinstance(values["reason"], str) and values["reason"].strip()
