"""The question lifecycle (``_states``): every move it allows, and the moves it refuses."""

from __future__ import annotations

import pytest

from bot.cogs import qa
from tests.cogs.qa._helpers import OP, A, C, D, S

pytestmark = pytest.mark.backend_free

W = qa.Why


@pytest.mark.parametrize(
    ("state", "why", "has_answers", "expected"),
    [
        (OP, W.FIRST_ANSWER, True, A),
        (A, W.ACCEPTED, True, S),
        (D, W.ACCEPTED, True, S),
        (OP, W.MARKED_SOLVED, False, S),
        (A, W.MARKED_SOLVED, True, S),
        (D, W.MARKED_SOLVED, False, S),
        (OP, W.IDLE, False, D),
        (A, W.IDLE, True, D),
        (D, W.REVIVED, True, A),
        (D, W.REVIVED, False, OP),
        (A, W.ANSWER_DELETED, False, OP),
        *[(s, w, False, C) for s in (OP, A, D, S) for w in (W.DUPLICATE, W.OFF_TOPIC, W.OTHER)],
        (S, W.THREAD_DELETED, True, C),
        (OP, W.THREAD_DELETED, False, C),
    ],
)
def test_every_transition(
    state: qa.State, why: qa.Why, has_answers: bool, expected: qa.State
) -> None:
    assert qa.next_state(state, why, has_answers=has_answers) is expected


@pytest.mark.parametrize(
    ("state", "why", "has_answers"),
    [
        (OP, W.ACCEPTED, False),  # nothing to accept
        (S, W.ACCEPTED, True),  # a double accept
        (C, W.ACCEPTED, True),
        (S, W.FIRST_ANSWER, True),
        (C, W.DUPLICATE, False),  # closed twice
        (S, W.IDLE, True),  # solved questions never go dormant
        (OP, W.REVIVED, False),
        (A, W.ANSWER_DELETED, True),  # other answers remain
        (S, W.MARKED_SOLVED, True),
    ],
)
def test_moves_the_lifecycle_does_not_have(state: qa.State, why: qa.Why, has_answers: bool) -> None:
    with pytest.raises(qa.NotAllowed):
        qa.next_state(state, why, has_answers=has_answers)
