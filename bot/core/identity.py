"""Members and their platform accounts: resolving who is speaking, linking, merging."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Row, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import Clock
from bot.core.errors import UserError
from bot.core.parsing import Mention, MentionKind
from bot.core.platforms import PlatformName
from bot.core.versions import CacheName, VersionedCache, Versions
from bot.store.db import Database
from bot.store.tables import accounts, communities, link_codes, members, metadata

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
# A member's last-seen time is written at most this often, to keep message ingestion cheap.
SEEN_RESOLUTION = timedelta(minutes=5)

# Profiles kept in memory (each a member and its few accounts), least recently used dropped.
PROFILES_CACHED = 10_000

MergeHook = Callable[[AsyncConnection, int, int], Awaitable[None]]


def member_columns() -> tuple[Column[Any], ...]:
    """Return every column of every table that references a member (merge and erase walk it)."""
    return tuple(
        column
        for table in metadata.sorted_tables
        for column in table.columns
        if any(fk.column is members.c.id for fk in column.foreign_keys)
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """Who an adapter says is acting, as the platform describes them."""

    platform: PlatformName
    user_id: str
    display_name: str
    username: str | None = None
    locale: str | None = None
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class Account:
    """One platform account of a member."""

    id: int
    community_id: int
    member_id: int
    platform: PlatformName
    platform_user_id: str
    username: str | None
    display_name: str
    locale: str | None
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    """A person in a community, across platforms."""

    id: int
    community_id: int
    locale: str | None
    timezone: str | None


@dataclass(frozen=True, slots=True)
class LinkCode:
    """A one-time code that pairs an account on another platform with this member."""

    code: str
    expires_at: datetime


def _account(row: Row[tuple[object, ...]]) -> Account:
    m = row._mapping
    return Account(
        id=m["id"],
        community_id=m["community_id"],
        member_id=m["member_id"],
        platform=PlatformName(m["platform"]),
        platform_user_id=m["platform_user_id"],
        username=m["username"],
        display_name=m["display_name"],
        locale=m["locale"],
        last_seen_at=m["last_seen_at"],
    )


def normalize_code(text: str) -> str:
    """Upper-case a typed code and drop spaces and dashes."""
    return "".join(ch for ch in text.upper() if ch not in " -")


class Identity:
    """Resolve callers to members, and link and merge members."""

    def __init__(
        self, db: Database, clock: Clock, versions: Versions, *, link_code_ttl: timedelta
    ) -> None:
        self.db = db
        self.clock = clock
        self.link_code_ttl = link_code_ttl
        self.merge_hooks: list[MergeHook] = []
        self._cache: dict[tuple[int, PlatformName, str], Account] = {}
        self._profiles: VersionedCache[int, tuple[Member, tuple[Account, ...]]] = VersionedCache(
            versions, (CacheName.PROFILE,), size=PROFILES_CACHED
        )

    async def ensure_community(self, slug: str, name: str) -> int:
        """Return the id of community ``slug``, creating or renaming its row."""
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(communities.c.id, communities.c.name).where(communities.c.slug == slug)
                )
            ).first()
            if row is None:
                result = await conn.execute(
                    insert(communities).values(slug=slug, name=name, created_at=self.clock.now())
                )
                return int(result.inserted_primary_key[0])  # type: ignore[index]
            if row.name != name:
                await conn.execute(
                    update(communities).where(communities.c.id == row.id).values(name=name)
                )
            return int(row.id)

    def known(self, community_id: int, caller: Caller, now: datetime) -> Account | None:
        """Return ``caller``'s cached account when ``resolve`` would, unchanged; else None.

        A plain call: the message path asks it first, and awaits ``resolve`` only on a miss.
        """
        cached = self._cache.get((community_id, caller.platform, caller.user_id))
        if (
            cached is not None
            and cached.display_name == caller.display_name
            and cached.username == caller.username
            and (caller.locale is None or cached.locale == caller.locale)
            and now - cached.last_seen_at < SEEN_RESOLUTION
        ):
            return cached
        return None

    async def resolve(self, community_id: int, caller: Caller) -> Account:
        """Return the account for ``caller``, creating the member on first sight."""
        key = (community_id, caller.platform, caller.user_id)
        now = self.clock.now()
        cached = self.known(community_id, caller, now)
        if cached is not None:
            return cached
        for _attempt in range(2):
            try:
                account = await self._upsert(community_id, caller, now)
            except IntegrityError:
                # Another task created the same account between our read and our insert.
                continue
            self._cache[key] = account
            return account
        raise RuntimeError(f"could not resolve account {caller.platform}:{caller.user_id}")

    def forget(self, community_id: int, caller: Caller) -> None:
        """Drop the cached account of ``caller`` (its member changed in another process)."""
        self._cache.pop((community_id, caller.platform, caller.user_id), None)

    async def _upsert(self, community_id: int, caller: Caller, now: datetime) -> Account:
        username_key = caller.username.lower() if caller.username else None
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(accounts).where(
                        accounts.c.community_id == community_id,
                        accounts.c.platform == caller.platform.value,
                        accounts.c.platform_user_id == caller.user_id,
                    )
                )
            ).first()
            if row is not None:
                account = _account(row)
                changes: dict[str, object] = {"last_seen_at": now}
                if account.display_name != caller.display_name:
                    changes["display_name"] = caller.display_name
                if account.username != caller.username:
                    changes["username"] = caller.username
                    changes["username_key"] = username_key
                if caller.locale is not None and account.locale != caller.locale:
                    changes["locale"] = caller.locale
                await conn.execute(
                    update(accounts).where(accounts.c.id == account.id).values(**changes)
                )
                return replace(
                    account,
                    display_name=caller.display_name,
                    username=caller.username,
                    locale=caller.locale if caller.locale is not None else account.locale,
                    last_seen_at=now,
                )
            member_id = (
                await conn.execute(
                    insert(members).values(community_id=community_id, created_at=now)
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            account_id = (
                await conn.execute(
                    insert(accounts).values(
                        community_id=community_id,
                        member_id=member_id,
                        platform=caller.platform.value,
                        platform_user_id=caller.user_id,
                        username=caller.username,
                        username_key=username_key,
                        display_name=caller.display_name,
                        locale=caller.locale,
                        created_at=now,
                        last_seen_at=now,
                    )
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            return Account(
                id=int(account_id),
                community_id=community_id,
                member_id=int(member_id),
                platform=caller.platform,
                platform_user_id=caller.user_id,
                username=caller.username,
                display_name=caller.display_name,
                locale=caller.locale,
                last_seen_at=now,
            )

    async def find(
        self, community_id: int, platform: PlatformName, mention: Mention
    ) -> Account | None:
        """Return the account a mention names on ``platform``, if Cohort has seen it."""
        where = [accounts.c.community_id == community_id, accounts.c.platform == platform.value]
        if mention.kind is MentionKind.USER_ID:
            where.append(accounts.c.platform_user_id == mention.value)
        else:
            where.append(accounts.c.username_key == mention.value.lower())
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(accounts).where(*where).order_by(accounts.c.last_seen_at.desc())
                )
            ).all()
        return _account(rows[0]) if rows else None

    async def profile(self, member_id: int) -> tuple[Member, list[Account]]:
        """Return a member and its accounts, by platform; cached while neither changes.

        Accounts' ``last_seen_at`` may be older than the database's (it does not invalidate).
        """
        member, linked = await self._profiles.get(member_id, lambda: self._read_profile(member_id))
        return member, list(linked)

    async def _read_profile(self, member_id: int) -> tuple[Member, tuple[Account, ...]]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        members.c.locale.label("member_locale"),
                        members.c.timezone.label("member_timezone"),
                        members.c.community_id.label("member_community_id"),
                        accounts,
                    )
                    .select_from(members.outerjoin(accounts, accounts.c.member_id == members.c.id))
                    .where(members.c.id == member_id)
                    .order_by(accounts.c.platform, accounts.c.id)
                )
            ).all()
        if not rows:
            raise LookupError(f"no member {member_id}")
        first = rows[0]._mapping
        member = Member(
            member_id,
            first["member_community_id"],
            first["member_locale"],
            first["member_timezone"],
        )
        return member, tuple(_account(r) for r in rows if r._mapping["id"] is not None)

    async def accounts_of(self, member_id: int) -> list[Account]:
        """Return a member's accounts, by platform (none for an unknown member)."""
        try:
            return (await self.profile(member_id))[1]
        except LookupError:
            return []

    async def set_locale(self, member_id: int, locale: str | None) -> None:
        """Set (or with None, clear) a member's own choice of language."""
        async with self.db.write() as conn:
            await conn.execute(
                update(members).where(members.c.id == member_id).values(locale=locale)
            )

    async def create_link_code(self, account: Account) -> LinkCode:
        """Issue a fresh one-time code for ``account``, voiding its earlier unused ones."""
        now = self.clock.now()
        expires = now + self.link_code_ttl
        async with self.db.write() as conn:
            await conn.execute(
                delete(link_codes).where(
                    link_codes.c.account_id == account.id, link_codes.c.used_at.is_(None)
                )
            )
            for _attempt in range(5):
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
                taken = await conn.scalar(
                    select(func.count()).where(
                        link_codes.c.community_id == account.community_id,
                        link_codes.c.code == code,
                    )
                )
                if not taken:
                    break
            else:  # pragma: no cover - 32**8 codes make this practically impossible
                raise RuntimeError("could not find a free link code")
            await conn.execute(
                insert(link_codes).values(
                    community_id=account.community_id,
                    code=code,
                    member_id=account.member_id,
                    account_id=account.id,
                    platform=account.platform.value,
                    created_at=now,
                    expires_at=expires,
                )
            )
        return LinkCode(code=code, expires_at=expires)

    async def redeem_link_code(self, account: Account, typed: str) -> int:
        """Pair ``account`` with the member who issued ``typed``; return the surviving member id.

        The older member survives; every row of the other is re-pointed to it in the same
        transaction as the code is spent, so a failure leaves both members as they were.
        """
        code = normalize_code(typed)
        now = self.clock.now()
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(link_codes).where(
                        link_codes.c.community_id == account.community_id,
                        link_codes.c.code == code,
                    )
                )
            ).first()
            if row is None:
                raise UserError("link.code_unknown")
            issued = row._mapping
            if issued["used_at"] is not None:
                raise UserError("link.code_used")
            if issued["expires_at"] <= now:
                raise UserError("link.code_expired")
            if issued["platform"] == account.platform.value:
                raise UserError("link.same_platform", platform=account.platform.value)
            spent = await conn.execute(
                update(link_codes)
                .where(and_(link_codes.c.id == issued["id"], link_codes.c.used_at.is_(None)))
                .values(used_at=now, used_by_account_id=account.id)
            )
            if spent.rowcount != 1:
                raise UserError("link.code_used")
            other = int(issued["member_id"])
            if other == account.member_id:
                raise UserError("link.already_linked")
            platforms = (
                await conn.execute(
                    select(accounts.c.member_id, accounts.c.platform).where(
                        accounts.c.member_id.in_((other, account.member_id))
                    )
                )
            ).all()
            mine = {p for m, p in platforms if m == account.member_id}
            theirs = {p for m, p in platforms if m == other}
            if mine & theirs:
                raise UserError("link.platform_taken", platform=sorted(mine & theirs)[0])
            survivor, absorbed = sorted((other, account.member_id))
            await self._merge(conn, survivor, absorbed)
        self._cache = {k: v for k, v in self._cache.items() if v.member_id != absorbed}
        return survivor

    async def _merge(self, conn: AsyncConnection, survivor: int, absorbed: int) -> None:
        """Re-point every row of ``absorbed`` to ``survivor`` and delete ``absorbed``."""
        for hook in self.merge_hooks:
            await hook(conn, survivor, absorbed)
        kept = (
            await conn.execute(
                select(members.c.id, members.c.locale, members.c.timezone).where(
                    members.c.id.in_((survivor, absorbed))
                )
            )
        ).all()
        by_id = {r.id: r for r in kept}
        await conn.execute(
            update(members)
            .where(members.c.id == survivor)
            .values(
                locale=by_id[survivor].locale or by_id[absorbed].locale,
                timezone=by_id[survivor].timezone or by_id[absorbed].timezone,
            )
        )
        for column in member_columns():
            await conn.execute(
                update(column.table).where(column == absorbed).values({column.name: survivor})
            )
        await conn.execute(delete(members).where(members.c.id == absorbed))

    def forget_cached(self, member_id: int) -> None:
        """Drop the cached accounts of a member whose accounts were erased."""
        self._cache = {k: v for k, v in self._cache.items() if v.member_id != member_id}

    async def purge_link_codes(self) -> int:
        """Delete codes that expired over a day ago; return how many."""
        cutoff = self.clock.now() - timedelta(days=1)
        async with self.db.write() as conn:
            result = await conn.execute(delete(link_codes).where(link_codes.c.expires_at < cutoff))
        return int(result.rowcount)
