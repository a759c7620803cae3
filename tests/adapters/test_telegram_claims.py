"""Webhook update claims: of two processes given one update, one handles it, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.adapters.telegram._claims import CLAIM_LEASE, KEEP_CLAIMS, PRUNE_EVERY, Claim, UpdateClaims
from bot.store.db import Database
from bot.store.tables import telegram_updates
from tests import _postgres

BOT_ID, OTHER_BOT = 123456, 654321
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[UpdateClaims, UpdateClaims]]:
    """Return the claims of two processes on one database, for one bot."""
    url = _postgres.database_url(tmp_path)
    first, second = Database(url), Database(url)
    await first.upgrade()
    try:
        yield (
            UpdateClaims(first, BOT_ID, claimant="host:1:a"),
            UpdateClaims(second, BOT_ID, claimant="host:2:b"),
        )
    finally:
        await first.close()
        await second.close()


async def rows(claims: UpdateClaims) -> int:
    """Return how many claims the database holds."""
    async with claims.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(telegram_updates)) or 0)


async def test_the_first_claim_owns_an_update_and_a_copy_waits_then_is_a_duplicate(
    two: tuple[UpdateClaims, UpdateClaims],
) -> None:
    a, b = two
    assert await a.claim(7, NOW) is Claim.OWN
    assert await b.claim(7, NOW + timedelta(seconds=1)) is Claim.BUSY  # a is handling it
    assert await a.claim(7, NOW + timedelta(seconds=1)) is Claim.BUSY  # so is a's own copy
    await a.handled(7, NOW + timedelta(seconds=2))
    assert await b.claim(7, NOW + timedelta(seconds=3)) is Claim.HANDLED
    later = NOW + CLAIM_LEASE + timedelta(hours=1)
    assert await b.claim(7, later) is Claim.HANDLED  # handled stays handled
    assert await b.claim(8, NOW) is Claim.OWN  # another update is another claim


async def test_an_owner_that_died_unhandled_is_taken_over_once_its_lease_ran_out(
    two: tuple[UpdateClaims, UpdateClaims],
) -> None:
    a, b = two
    assert await a.claim(7, NOW) is Claim.OWN
    assert await b.claim(7, NOW + CLAIM_LEASE - timedelta(seconds=1)) is Claim.BUSY
    assert await b.claim(7, NOW + CLAIM_LEASE) is Claim.OWN
    await a.handled(7, NOW + CLAIM_LEASE)  # too late: no longer a's claim
    assert await a.claim(7, NOW + CLAIM_LEASE + timedelta(seconds=1)) is Claim.BUSY
    await b.handled(7, NOW + CLAIM_LEASE + timedelta(seconds=2))
    assert await a.claim(7, NOW + CLAIM_LEASE + timedelta(seconds=3)) is Claim.HANDLED


async def test_a_released_claim_goes_to_the_next_copy(
    two: tuple[UpdateClaims, UpdateClaims],
) -> None:
    a, b = two
    assert await a.claim(7, NOW) is Claim.OWN
    await b.release(7)  # not b's to release
    assert await b.claim(7, NOW) is Claim.BUSY
    await a.release(7)
    assert await b.claim(7, NOW) is Claim.OWN


async def test_claims_are_per_bot(two: tuple[UpdateClaims, UpdateClaims]) -> None:
    a, _ = two
    other = UpdateClaims(a.db, OTHER_BOT, claimant="host:1:a")
    assert await a.claim(7, NOW) is Claim.OWN
    assert await other.claim(7, NOW) is Claim.OWN


async def test_old_claims_are_pruned_at_most_once_an_hour(
    two: tuple[UpdateClaims, UpdateClaims],
) -> None:
    a, b = two
    for update_id in (1, 2):
        assert await a.claim(update_id, NOW) is Claim.OWN
        await a.handled(update_id, NOW)
    assert await a.claim(3, NOW + KEEP_CLAIMS) is Claim.OWN
    assert await b.prune(NOW + KEEP_CLAIMS) == 0  # exactly KEEP_CLAIMS old: kept
    assert await b.prune(NOW + KEEP_CLAIMS + timedelta(minutes=1)) == 0  # pruned just now
    assert await rows(a) == 3
    assert await b.prune(NOW + KEEP_CLAIMS + PRUNE_EVERY) == 2
    assert await rows(a) == 1
