"""From sources to platform targets: what each account should have, as rows of a durable queue.

``recompute`` runs inside the caller's write transaction: it evaluates every source of a
member (``_rules.entitled``), takes the union of the targets of the offers held (so a target
owed by two offers, or by an offer and a manual grant, stays while either holds) and marks the
``gating_access`` rows whose desire changed as due. The worker (``_service``) makes the
platform calls later and records what the platform confirmed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.gating._rules import SourceKind, SourceState, access_until, entitled
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.config import OfferConfig
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget
from bot.store.tables import access_sources, accounts, gating_access, members

log = logging.getLogger(__name__)

# A transaction that lost a race with another process's (both made the same subscription row,
# or locked two members in opposite orders) is tried again at once this often.
RACE_RETRIES = 3

T = TypeVar("T")


class AccessState(StrEnum):
    """What the platform last confirmed for one account and target."""

    NONE = "none"  # no access (never had it, or it was taken away)
    GRANTED = "granted"  # the role is on / the person is in the chat
    INVITED = "invited"  # Telegram: an invite link was sent, not used yet
    WAITING = "waiting"  # Discord: paid, not in the guild yet; the role follows on join
    LEFT = "left"  # left the chat themselves while still entitled
    FAILED = "failed"  # the platform refused for good; reported, parked until a check


HOLDING = frozenset({AccessState.GRANTED, AccessState.INVITED})


@dataclass(frozen=True, slots=True)
class Target:
    """One place an offer unlocks: a Discord role, a Telegram chat or a console channel."""

    platform: PlatformName
    space_id: str
    role_id: str = ""

    def port(self) -> AccessTarget:
        """Return the target as the Platform port takes it."""
        return AccessTarget(self.platform, self.space_id, self.role_id or None)


def targets_of(offer: OfferConfig) -> frozenset[Target]:
    """Return every target an offer unlocks."""
    found = {Target(PlatformName.DISCORD, r.guild_id, r.role_id) for r in offer.discord_roles}
    found |= {Target(PlatformName.TELEGRAM, chat) for chat in offer.telegram_chats}
    found |= {Target(PlatformName.CONSOLE, channel) for channel in offer.console_channels}
    return frozenset(found)


class NotLoaded(LookupError):
    """A row names a community the config no longer has (removed; it may come back)."""

    def __init__(self, community_id: int) -> None:
        super().__init__(f"community {community_id} is not loaded")
        self.community_id = community_id


def loaded_community(cohort: Cohort, community_id: int) -> Community | None:
    """Return a loaded community by its row id, or None if the config has no such community."""
    for community in cohort.communities.values():
        if community.id == community_id:
            return community
    return None


def community_by_id(cohort: Cohort, community_id: int) -> Community:
    """Return a loaded community by its row id; raise ``NotLoaded`` if there is none."""
    community = loaded_community(cohort, community_id)
    if community is None:
        raise NotLoaded(community_id)
    return community


def loaded_ids(cohort: Cohort) -> list[int]:
    """Return the loaded communities' ids (the lead column of the natural-key indexes)."""
    return [community.id for community in cohort.communities.values()]


def gated_targets(community: Community) -> frozenset[Target]:
    """Return every target any offer of the community unlocks."""
    found: set[Target] = set()
    for offer in community.config.offers:
        found |= targets_of(offer)
    return frozenset(found)


def state_of(row: Row[tuple[object, ...]]) -> SourceState:
    """Read a source row into the state the rules take."""
    m = row._mapping
    return SourceState(
        kind=SourceKind(m["kind"]),
        status=m["status"],
        cancel_at_period_end=bool(m["cancel_at_period_end"]),
        period_start=m["period_start"],
        period_end=m["period_end"],
        ends_at=m["ends_at"],
        refunded=bool(m["refunded"]),
        disputed=bool(m["disputed"]),
    )


def grace_of(community: Community, offer_id: str) -> timedelta:
    """Return an offer's grace period (a removed offer has none)."""
    offer = community.config.offer(offer_id)
    return timedelta(days=offer.grace_days) if offer is not None else timedelta(0)


async def held_offers(
    conn: AsyncConnection, community: Community, member_id: int, now: datetime
) -> set[str]:
    """Return the offers a member holds at ``now``, from any source."""
    rows = (
        await conn.execute(
            select(access_sources).where(
                access_sources.c.community_id == community.id,
                access_sources.c.member_id == member_id,
            )
        )
    ).all()
    return offers_held(community, rows, now)


def offers_held(
    community: Community, rows: Iterable[Row[tuple[object, ...]]], now: datetime
) -> set[str]:
    """Return the offers a member's access-source rows entitle them to at ``now``."""
    return {
        row.offer_id
        for row in rows
        if community.config.offer(row.offer_id) is not None
        and entitled(state_of(row), grace_of(community, row.offer_id), now)
    }


async def lock_members(conn: AsyncConnection, member_ids: Iterable[int]) -> None:
    """Hold the members' rows, in id order, until the transaction ends (PostgreSQL only).

    Every transaction that changes a member's access sources or recomputes the member takes
    it first, so of two processes one waits for the other's commit and then reads what it
    wrote: a recompute never writes what it decided from sources another process has changed
    since it read them (``tests/cogs/gating/test_access.py``). ``FOR NO KEY UPDATE``: rows
    that refer to the member (a message, a ledger entry) are still written meanwhile. SQLite
    has one writer at a time, so there is nothing to hold there.
    """
    ids = sorted(set(member_ids))
    if ids and conn.dialect.name == "postgresql":
        await conn.execute(
            select(members.c.id)
            .where(members.c.id.in_(ids))
            .order_by(members.c.id)
            .with_for_update(key_share=True)
        )


async def write_retrying(
    cohort: Cohort, what: str, work: Callable[[AsyncConnection], Awaitable[T]]
) -> T:
    """Run ``work`` in a write transaction; if it loses a race, run it again whole at once.

    On PostgreSQL another process's transaction may hold some of the members ``work`` locks
    and wait for one it holds (a batch of events takes its members in event order, a lapse
    pass or a reconciliation all of theirs in id order): PostgreSQL fails one of the two. The
    transaction is rolled back, so ``work`` starts again from what is committed, the other's
    writes included, ``RACE_RETRIES`` times at most; the last failure is raised. ``work`` must
    be safe to run again: it writes only through ``conn`` and returns what it did, so a caller
    counts only the run that committed.
    """
    for race in range(RACE_RETRIES + 1):
        try:
            async with cohort.db.write() as conn:
                return await work(conn)
        except DBAPIError as exc:
            if race == RACE_RETRIES:
                raise
            log.info("gating: %s lost a race (%s); again", what, exc.orig)
    raise AssertionError("unreachable")  # the last try returns or raises


async def recompute(
    conn: AsyncConnection, community: Community, member_id: int, now: datetime
) -> int:
    """Bring a member's access rows in line with their sources; return how many changed."""
    return await recompute_many(conn, community, [member_id], now)


async def recompute_pairs(
    conn: AsyncConnection, cohort: Cohort, pairs: Iterable[tuple[int, int]], now: datetime
) -> int:
    """Recompute ``(community id, member id)`` pairs, a community at a time; return the changes.

    Pairs of a community the config no longer has are left as they are (see ``_orphans``).
    """
    by_community: dict[int, set[int]] = {}
    for community_id, member_id in pairs:
        by_community.setdefault(community_id, set()).add(member_id)
    changed = 0
    for community_id, member_ids in by_community.items():
        community = loaded_community(cohort, community_id)
        if community is not None:
            changed += await recompute_many(conn, community, member_ids, now)
    return changed


async def recompute_many(
    conn: AsyncConnection, community: Community, member_ids: Iterable[int], now: datetime
) -> int:
    """Bring several members' access rows in line with their sources; return how many changed.

    Reads each table once per chunk of members (``IN``) and writes each kind of change as one
    ``executemany``, so a batch of events costs a few statements, not a few per member.
    """
    wanted_ids = sorted(set(member_ids))
    changed = 0
    for start in range(0, len(wanted_ids), CHUNK):
        changed += await _recompute_chunk(conn, community, wanted_ids[start : start + CHUNK], now)
    return changed


async def _recompute_chunk(
    conn: AsyncConnection, community: Community, member_ids: list[int], now: datetime
) -> int:
    await lock_members(conn, member_ids)
    rows = (
        await conn.execute(
            select(access_sources).where(
                access_sources.c.community_id == community.id,
                access_sources.c.member_id.in_(member_ids),
            )
        )
    ).all()
    held: dict[int, set[str]] = {m: set() for m in member_ids}
    flags: list[dict[str, object]] = []
    for row in rows:
        offer = community.config.offer(row.offer_id)
        grace = grace_of(community, row.offer_id)
        state = state_of(row)
        now_entitled = offer is not None and entitled(state, grace, now)
        until = access_until(state, grace, now) if now_entitled else None
        if now_entitled:
            held[row.member_id].add(row.offer_id)
        if bool(row.entitled) != now_entitled or row.access_until != until:
            flags.append({"b_id": row.id, "b_entitled": now_entitled, "b_until": until})
    if flags:
        await conn.execute(_SET_FLAGS, flags)
    gated = gated_targets(community)
    if not gated:
        return 0
    member_accounts = (
        await conn.execute(
            select(
                accounts.c.id,
                accounts.c.member_id,
                accounts.c.platform,
                accounts.c.platform_user_id,
            ).where(accounts.c.member_id.in_(member_ids))
        )
    ).all()
    existing = {
        (r.account_id, r.space_id, r.role_id): r
        for r in (
            await conn.execute(
                select(
                    gating_access.c.id,
                    gating_access.c.account_id,
                    gating_access.c.space_id,
                    gating_access.c.role_id,
                    gating_access.c.desired,
                ).where(gating_access.c.member_id.in_(member_ids))
            )
        ).all()
    }
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    for account in member_accounts:
        wanted: set[Target] = set()
        for offer_id in held[account.member_id]:
            offer = community.config.offer(offer_id)
            if offer is not None:
                wanted |= targets_of(offer)
        for target in gated:
            if target.platform.value != account.platform:
                continue
            desired = target in wanted
            held_row = existing.get((account.id, target.space_id, target.role_id))
            if held_row is None:
                if desired:
                    inserts.append(
                        {
                            "community_id": community.id,
                            "member_id": account.member_id,
                            "account_id": account.id,
                            "platform": target.platform.value,
                            "user_id": account.platform_user_id,
                            "space_id": target.space_id,
                            "role_id": target.role_id,
                            "desired": True,
                            "state": AccessState.NONE.value,
                            "attempts": 0,
                            "next_attempt_at": now,
                            "updated_at": now,
                        }
                    )
            elif bool(held_row.desired) != desired:
                updates.append(
                    {"b_id": held_row.id, "b_desired": desired, "b_next": now, "b_updated": now}
                )
    if inserts:
        await conn.execute(gating_access.insert(), inserts)
    if updates:
        await conn.execute(_SET_DESIRED, updates)
    return len(inserts) + len(updates)


# Members per statement: far below SQLite's limit on bound parameters.
CHUNK = 500
_SET_FLAGS = (
    update(access_sources)
    .where(access_sources.c.id == bindparam("b_id"))
    .values(entitled=bindparam("b_entitled"), access_until=bindparam("b_until"))
)
_SET_DESIRED = (
    update(gating_access)
    .where(gating_access.c.id == bindparam("b_id"))
    .values(
        desired=bindparam("b_desired"),
        attempts=0,
        next_attempt_at=bindparam("b_next"),
        updated_at=bindparam("b_updated"),
    )
)
