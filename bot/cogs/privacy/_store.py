"""The privacy cog's queries: confirm requests, download links and the retention job's lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.privacy import Requester
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import privacy_downloads, privacy_jobs, privacy_requests

RETENTION_JOB = "retention"


@dataclass(frozen=True, slots=True)
class Request:
    """A pending (or spent) erasure request."""

    id: int
    community_id: int
    member_id: int
    requester: Requester
    requested_by: str
    expires_at: datetime
    done_at: datetime | None


async def add_request(
    db: Database,
    community_id: int,
    member_id: int,
    requester: Requester,
    requested_by: str,
    now: datetime,
    ttl: timedelta,
) -> int:
    """Record an erasure request waiting for its confirm button; return its id."""
    async with db.write() as conn:
        result = await conn.execute(
            insert(privacy_requests).values(
                community_id=community_id,
                member_id=member_id,
                requester=requester.value,
                requested_by=requested_by,
                created_at=now,
                expires_at=now + ttl,
            )
        )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def get_request(db: Database, community_id: int, request_id: int) -> Request | None:
    """Return a request of a community."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(privacy_requests).where(
                    privacy_requests.c.id == request_id,
                    privacy_requests.c.community_id == community_id,
                )
            )
        ).first()
    if row is None:
        return None
    m = row._mapping
    return Request(
        id=m["id"],
        community_id=m["community_id"],
        member_id=m["member_id"],
        requester=Requester(m["requester"]),
        requested_by=m["requested_by"],
        expires_at=m["expires_at"],
        done_at=m["done_at"],
    )


async def spend_request(conn: AsyncConnection, request_id: int, now: datetime) -> bool:
    """Mark a request done unless it already is or has expired; say whether this did it."""
    result = await conn.execute(
        update(privacy_requests)
        .where(
            privacy_requests.c.id == request_id,
            privacy_requests.c.done_at.is_(None),
            privacy_requests.c.expires_at > now,
        )
        .values(done_at=now)
    )
    return bool(result.rowcount == 1)


async def add_download(
    db: Database,
    community_id: int,
    member_id: int,
    token_hash: str,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Record a download link by the hash of its token."""
    async with db.write() as conn:
        await conn.execute(
            insert(privacy_downloads).values(
                community_id=community_id,
                member_id=member_id,
                token_hash=token_hash,
                created_at=now,
                expires_at=now + ttl,
            )
        )


async def take_download(
    db: Database, community_id: int, token_hash: str, now: datetime
) -> int | None:
    """Spend a download link that is unused and unexpired; return its member, else None."""
    async with db.write() as conn:
        row = (
            await conn.execute(
                select(privacy_downloads.c.id, privacy_downloads.c.member_id).where(
                    privacy_downloads.c.community_id == community_id,
                    privacy_downloads.c.token_hash == token_hash,
                    privacy_downloads.c.used_at.is_(None),
                    privacy_downloads.c.expires_at > now,
                )
            )
        ).first()
        if row is None:
            return None
        spent = await conn.execute(
            update(privacy_downloads)
            .where(privacy_downloads.c.id == row.id, privacy_downloads.c.used_at.is_(None))
            .values(used_at=now)
        )
        return int(row.member_id) if spent.rowcount == 1 else None


async def purge_spent(db: Database, community_id: int, before: datetime) -> int:
    """Delete requests and download links that expired before ``before``; return how many."""
    async with db.write() as conn:
        requests = await conn.execute(
            delete(privacy_requests).where(
                privacy_requests.c.community_id == community_id,
                privacy_requests.c.expires_at < before,
            )
        )
        downloads = await conn.execute(
            delete(privacy_downloads).where(
                privacy_downloads.c.community_id == community_id,
                privacy_downloads.c.expires_at < before,
            )
        )
    return int(requests.rowcount) + int(downloads.rowcount)


# --- the retention job's lease -------------------------------------------------------------


async def claim_job(
    db: Database,
    community_id: int,
    claimant: str,
    now: datetime,
    lease: timedelta,
    every: timedelta,
) -> bool:
    """Claim the community's retention run if it is due and no live lease holds it."""
    async with db.write() as conn:
        await insert_ignore_returning(
            conn,
            privacy_jobs,
            [{"community_id": community_id, "job": RETENTION_JOB}],
            keys=("community_id", "job"),
        )
        result = await conn.execute(
            update(privacy_jobs)
            .where(
                privacy_jobs.c.community_id == community_id,
                privacy_jobs.c.job == RETENTION_JOB,
                or_(privacy_jobs.c.lease_until.is_(None), privacy_jobs.c.lease_until <= now),
                or_(
                    privacy_jobs.c.last_done_at.is_(None),
                    privacy_jobs.c.last_done_at <= now - every,
                ),
            )
            .values(claimed_by=claimant, lease_until=now + lease)
        )
    return bool(result.rowcount == 1)


async def renew_job(
    conn: AsyncConnection, community_id: int, claimant: str, now: datetime, lease: timedelta
) -> bool:
    """Extend this process's lease; say whether it still held it."""
    result = await conn.execute(
        update(privacy_jobs)
        .where(
            privacy_jobs.c.community_id == community_id,
            privacy_jobs.c.job == RETENTION_JOB,
            privacy_jobs.c.claimed_by == claimant,
        )
        .values(lease_until=now + lease)
    )
    return bool(result.rowcount == 1)


async def finish_job(db: Database, community_id: int, claimant: str, now: datetime) -> None:
    """Record the run as done and free the lease, if this process still held it."""
    async with db.write() as conn:
        await conn.execute(
            update(privacy_jobs)
            .where(
                privacy_jobs.c.community_id == community_id,
                privacy_jobs.c.job == RETENTION_JOB,
                privacy_jobs.c.claimed_by == claimant,
            )
            .values(claimed_by=None, lease_until=None, last_done_at=now)
        )
