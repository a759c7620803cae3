"""Who holds an offer: a pure function of a source's state, its grace period and the time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class SourceKind(StrEnum):
    """Why a member may hold an offer."""

    SUBSCRIPTION = "subscription"  # a Stripe subscription (tiers)
    PAYMENT = "payment"  # a one-time Stripe Checkout payment (courses)
    MANUAL = "manual"  # given by an organizer with /grant


class SubStatus(StrEnum):
    """A Stripe subscription's status."""

    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    PAUSED = "paused"


class PaymentStatus(StrEnum):
    """A one-time payment's status, as Checkout reports it."""

    PAID = "paid"
    PROCESSING = "processing"  # an asynchronous method (a bank debit) not settled yet
    FAILED = "failed"


class ManualStatus(StrEnum):
    """A manual grant's status."""

    GRANTED = "granted"
    REVOKED = "revoked"


class Standing(StrEnum):
    """What /membership shows for one source."""

    TRIAL = "trial"
    ACTIVE = "active"
    GRACE = "grace"
    CANCELING = "canceling"
    OWNED = "owned"
    PENDING = "pending"
    COMPED = "comped"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class SourceState:
    """Everything access depends on for one source."""

    kind: SourceKind
    status: str
    cancel_at_period_end: bool = False
    period_start: datetime | None = None
    period_end: datetime | None = None
    ends_at: datetime | None = None
    refunded: bool = False
    disputed: bool = False


def entitled(state: SourceState, grace: timedelta, now: datetime) -> bool:
    """Say whether ``state`` gives access at ``now``.

    A full refund or an open (or lost) dispute takes access away whatever else holds. A trial
    or an active subscription gives access, until its period end when it cancels at period
    end. A past-due subscription keeps access for ``grace`` after the renewal that failed (the
    start of its current period). Every other subscription status gives none.
    """
    return _access(state, grace, now)[0]


def access_until(state: SourceState, grace: timedelta, now: datetime) -> datetime | None:
    """Return when access given at ``now`` lapses with no new event (None: it does not)."""
    return _access(state, grace, now)[1]


def _access(state: SourceState, grace: timedelta, now: datetime) -> tuple[bool, datetime | None]:
    if state.refunded or state.disputed:
        return False, None
    if state.kind is SourceKind.MANUAL:
        if state.status != ManualStatus.GRANTED:
            return False, None
        return state.ends_at is None or now < state.ends_at, state.ends_at
    if state.kind is SourceKind.PAYMENT:
        return state.status == PaymentStatus.PAID, None
    status = state.status
    if status in (SubStatus.TRIALING, SubStatus.ACTIVE):
        if state.cancel_at_period_end and state.period_end is not None:
            return now < state.period_end, state.period_end
        return True, None
    if status == SubStatus.PAST_DUE:
        anchor = state.period_start or state.period_end
        if anchor is None:
            return True, None  # nothing to count grace from: never an error against the payer
        return now < anchor + grace, anchor + grace
    return False, None


def standing(state: SourceState, grace: timedelta, now: datetime) -> Standing:
    """Say in one word where a source stands, for people."""
    if state.disputed:
        return Standing.DISPUTED
    if state.refunded:
        return Standing.REFUNDED
    if not entitled(state, grace, now):
        if state.kind is SourceKind.PAYMENT and state.status == PaymentStatus.PROCESSING:
            return Standing.PENDING
        if state.kind is SourceKind.SUBSCRIPTION and state.status == SubStatus.INCOMPLETE:
            return Standing.PENDING
        return Standing.ENDED
    if state.kind is SourceKind.MANUAL:
        return Standing.COMPED
    if state.kind is SourceKind.PAYMENT:
        return Standing.OWNED
    if state.status == SubStatus.PAST_DUE:
        return Standing.GRACE
    if state.cancel_at_period_end:
        return Standing.CANCELING
    if state.status == SubStatus.TRIALING:
        return Standing.TRIAL
    return Standing.ACTIVE
