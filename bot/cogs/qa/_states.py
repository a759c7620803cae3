"""The question lifecycle: states, why a question moves, and which moves are allowed."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a question is in its life."""

    OPEN = "open"  # asked, no answer yet
    ANSWERED = "answered"  # someone other than the asker answered
    SOLVED = "solved"  # an answer was accepted, or the asker said it is solved
    DORMANT = "dormant"  # nobody wrote for a while; a new message wakes it
    CLOSED = "closed"  # a duplicate, off-topic, or its thread is gone


class Why(StrEnum):
    """Why a question changed state (kept with each transition for statistics)."""

    ASKED = "asked"
    FIRST_ANSWER = "first_answer"
    ACCEPTED = "accepted"
    MARKED_SOLVED = "marked_solved"
    IDLE = "idle"
    REVIVED = "revived"
    ANSWER_DELETED = "answer_deleted"
    DUPLICATE = "duplicate"
    OFF_TOPIC = "off_topic"
    OTHER = "other"
    THREAD_DELETED = "thread_deleted"


LIVE = frozenset({State.OPEN, State.ANSWERED, State.DORMANT})
CLOSING = frozenset({Why.DUPLICATE, Why.OFF_TOPIC, Why.OTHER, Why.THREAD_DELETED})


class NotAllowed(Exception):
    """A transition the lifecycle does not have."""

    def __init__(self, state: State, why: Why) -> None:
        super().__init__(f"{state} cannot move for {why}")
        self.state = state
        self.why = why


def next_state(state: State, why: Why, *, has_answers: bool) -> State:
    """Return where ``state`` goes for ``why``; raise NotAllowed for a move that does not exist.

    ``has_answers`` says whether live (undeleted) answers remain; a revived question returns
    to ``answered`` or ``open`` by it, and so does an ``answered`` one that lost its answers.
    """
    if why in CLOSING and state in LIVE | {State.SOLVED}:
        return State.CLOSED
    match why, state:
        case Why.FIRST_ANSWER, State.OPEN:
            return State.ANSWERED
        case Why.ACCEPTED, (State.ANSWERED | State.DORMANT) if has_answers:
            return State.SOLVED
        case Why.MARKED_SOLVED, (State.OPEN | State.ANSWERED | State.DORMANT):
            return State.SOLVED
        case Why.IDLE, (State.OPEN | State.ANSWERED):
            return State.DORMANT
        case Why.REVIVED, State.DORMANT:
            return State.ANSWERED if has_answers else State.OPEN
        case Why.ANSWER_DELETED, State.ANSWERED if not has_answers:
            return State.OPEN
    raise NotAllowed(state, why)
