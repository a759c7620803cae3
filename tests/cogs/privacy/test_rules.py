"""The privacy cog's pure rules: who may confirm, when, and how an export is packed."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cogs.privacy._rules import (
    ZIP_ABOVE,
    Refusal,
    digest,
    new_token,
    pack,
    refusal,
    requester_key,
)

pytestmark = pytest.mark.backend_free

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
ME = requester_key("telegram", "4242")


@pytest.mark.parametrize(
    ("found", "presser", "done", "expires_at", "expected"),
    [
        (True, ME, False, NOW + timedelta(seconds=1), None),
        (True, ME, False, NOW, Refusal.EXPIRED),  # exactly at expiry: too late
        (True, ME, False, NOW - timedelta(days=1), Refusal.EXPIRED),
        (True, ME, True, NOW + timedelta(minutes=5), Refusal.DONE),
        (
            True,
            requester_key("discord", "4242"),
            False,
            NOW + timedelta(minutes=5),
            Refusal.NOT_YOURS,
        ),
        (True, requester_key("telegram", "42420"), True, NOW, Refusal.NOT_YOURS),
        (False, ME, False, NOW + timedelta(minutes=5), Refusal.UNKNOWN),
    ],
)
def test_who_may_confirm_and_when(
    found: bool, presser: str, done: bool, expires_at: datetime, expected: Refusal | None
) -> None:
    why = refusal(
        found=found, requested_by=ME, presser=presser, done=done, expires_at=expires_at, now=NOW
    )
    assert why is expected


def document_of(size: int) -> dict[str, Any]:
    """Return a document whose JSON (as ``pack`` writes it) is exactly ``size`` bytes."""
    empty = len(json.dumps({"t": ""}, ensure_ascii=False, sort_keys=True).encode())
    return {"t": "x" * (size - empty)}


@pytest.mark.parametrize(
    ("size", "zipped"), [(ZIP_ABOVE, False), (ZIP_ABOVE + 1, True), (100, False)]
)
def test_an_export_is_zipped_only_above_the_limit(size: int, zipped: bool) -> None:
    packed = pack(document_of(size), "cohort-demo-7")
    if zipped:
        assert packed.filename == "cohort-demo-7.zip" and packed.mime == "application/zip"
        with zipfile.ZipFile(io.BytesIO(packed.data)) as archive:
            assert archive.namelist() == ["cohort-demo-7.json"]
            assert len(archive.read("cohort-demo-7.json")) == size
    else:
        assert packed.filename == "cohort-demo-7.json" and len(packed.data) == size


@given(st.text())
def test_any_text_a_member_wrote_survives_the_round_trip(text: str) -> None:
    packed = pack({"data": {"message_log.member_id": [{"text": text}]}}, "x")
    assert json.loads(packed.data)["data"]["message_log.member_id"][0]["text"] == text


def test_tokens_are_fresh_and_only_their_hash_is_kept() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == 43 for t in tokens)
    token = tokens.pop()
    assert digest(token) != token and len(digest(token)) == 64
