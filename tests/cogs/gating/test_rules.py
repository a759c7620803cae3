"""Gating ``_rules``: access is a pure function of a source's state (rule 3); standing in words."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.cogs.gating import SourceKind, SourceState, Standing, entitled, standing
from tests.cogs.gating._world import DAY, NOW

# --- rule 3: access is a pure function of state ------------------------------------------------

GRACE = timedelta(days=3)


END = NOW + timedelta(days=10)


START = NOW - timedelta(days=1)


def sub(status: str, **extra: Any) -> SourceState:
    return SourceState(SourceKind.SUBSCRIPTION, status, period_start=START, period_end=END, **extra)


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        (sub("trialing"), NOW, True),
        (sub("active"), NOW, True),
        (sub("active"), END + DAY, True),  # no event yet about the renewal: never held against
        (sub("active", cancel_at_period_end=True), END - timedelta(seconds=1), True),
        (sub("active", cancel_at_period_end=True), END, False),
        (sub("trialing", cancel_at_period_end=True), END + DAY, False),
        (sub("past_due"), START + GRACE - timedelta(seconds=1), True),
        (sub("past_due"), START + GRACE, False),
        (sub("unpaid"), NOW, False),
        (sub("canceled"), NOW, False),
        (sub("incomplete"), NOW, False),
        (sub("incomplete_expired"), NOW, False),
        (sub("paused"), NOW, False),
        (sub("active", refunded=True), NOW, False),
        (sub("active", disputed=True), NOW, False),
        (SourceState(SourceKind.PAYMENT, "paid"), NOW + timedelta(days=9999), True),
        (SourceState(SourceKind.PAYMENT, "processing"), NOW, False),
        (SourceState(SourceKind.PAYMENT, "failed"), NOW, False),
        (SourceState(SourceKind.PAYMENT, "paid", refunded=True), NOW, False),
        (SourceState(SourceKind.PAYMENT, "paid", disputed=True), NOW, False),
        (SourceState(SourceKind.MANUAL, "granted"), NOW, True),
        (SourceState(SourceKind.MANUAL, "granted", ends_at=NOW), NOW, False),
        (SourceState(SourceKind.MANUAL, "granted", ends_at=NOW + DAY), NOW, True),
        (SourceState(SourceKind.MANUAL, "revoked"), NOW, False),
    ],
)
def test_entitled_is_a_function_of_state(state: SourceState, now: datetime, expected: bool) -> None:
    assert entitled(state, GRACE, now) is expected


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        (sub("trialing"), NOW, Standing.TRIAL),
        (sub("active"), NOW, Standing.ACTIVE),
        (sub("active", cancel_at_period_end=True), NOW, Standing.CANCELING),
        (sub("past_due"), NOW, Standing.GRACE),
        (sub("past_due"), END, Standing.ENDED),
        (sub("canceled"), NOW, Standing.ENDED),
        (sub("incomplete"), NOW, Standing.PENDING),
        (sub("active", refunded=True), NOW, Standing.REFUNDED),
        (sub("active", disputed=True), NOW, Standing.DISPUTED),
        (SourceState(SourceKind.PAYMENT, "paid"), NOW, Standing.OWNED),
        (SourceState(SourceKind.PAYMENT, "processing"), NOW, Standing.PENDING),
        (SourceState(SourceKind.MANUAL, "granted"), NOW, Standing.COMPED),
    ],
)
def test_standing_in_words(state: SourceState, now: datetime, expected: Standing) -> None:
    assert standing(state, GRACE, now) is expected
