"""Data rights: every cog declares what it holds about a member, and how it is exported and erased.

A cog declares a ``Holding`` for each column of its tables that references a member, with the
``Erase`` policy that applies to those rows; ``Privacy.unclaimed`` names every member column no
holding covers (a test keeps it empty). Adding a table is a few lines in the cog's setup:

    cohort.privacy.declare(
        Holding(tables.thing_votes.c.voter_id, Erase.DELETE, "votes on things"),
        Holding(tables.things.c.author_id, Erase.KEEP_AGGREGATE, "things others answered",
                scrub={"body": ""}),
    )

Work a table walk cannot do (a search index, platform calls after the commit) goes in an
``EraseHook``; data outside the tables in an ``ExportHook``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    Row,
    Table,
    and_,
    cast,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import String

from bot.core.clock import Clock
from bot.core.identity import Identity, member_columns
from bot.store.db import Database
from bot.store.tables import (
    accounts,
    link_codes,
    members,
    message_days,
    message_log,
    metadata,
    privacy_downloads,
    privacy_erasures,
)
from bot.store.types import UTCDateTime

log = logging.getLogger(__name__)

EXPORT_FORMAT = "cohort-export/1"


class Erase(StrEnum):
    """What erasing a member does to the rows of one holding."""

    DELETE = "delete"  # the rows go
    ANONYMISE = "anonymise"  # bookkeeping: kept whole, the member replaced by an anonymous id
    KEEP_AGGREGATE = "keep_aggregate"  # kept to be counted: anonymous id, personal columns cleared
    DETACH = "detach"  # someone else's row that names the member (as actor): the name is cleared


class Requester(StrEnum):
    """Who asked for an erasure."""

    SELF = "self"
    ORGANIZER = "organizer"


@dataclass(frozen=True, slots=True)
class Holding:
    """One member column of one table, what it holds and what erasing does to its rows."""

    column: Column[Any]
    erase: Erase
    why: str  # what the rows are, in English, for docs/privacy.md
    scrub: Mapping[str, object] = field(default_factory=dict)  # set on rows that are kept
    hidden: tuple[str, ...] = ()  # columns left out of the export (secrets)

    def __post_init__(self) -> None:
        if self.erase is Erase.DETACH and not self.column.nullable:
            raise ValueError(f"{self.key}: DETACH needs a nullable column")
        if self.scrub and self.erase is not Erase.KEEP_AGGREGATE:
            raise ValueError(f"{self.key}: only KEEP_AGGREGATE rows are scrubbed")
        unknown = sorted(set(self.scrub) - set(self.table.c.keys()))
        if unknown:
            raise ValueError(f"{self.key}: no column {', '.join(unknown)} to scrub")

    @property
    def table(self) -> Table:
        """Return the table of the column."""
        table = self.column.table
        assert isinstance(table, Table)
        return table

    @property
    def key(self) -> str:
        """Return ``table.column``."""
        return f"{self.table.name}.{self.column.name}"


@dataclass(slots=True)
class Erasure:
    """One erasure in progress, handed to erase hooks inside its write transaction."""

    community_id: int
    member_id: int
    requester: Requester
    at: datetime
    counts: dict[str, int] = field(default_factory=dict)
    anonymous_id: int | None = None
    # Work for after the commit (platform calls); each is awaited once the rows are gone.
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def anonymous(self, conn: AsyncConnection) -> int:
        """Return the anonymous member that keeps this erasure's kept rows, creating it once."""
        if self.anonymous_id is None:
            result = await conn.execute(
                insert(members).values(community_id=self.community_id, created_at=self.at)
            )
            self.anonymous_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return self.anonymous_id


EraseHook = Callable[[AsyncConnection, Erasure], Awaitable[None]]
Guard = Callable[[AsyncConnection], Awaitable[None]]
ExportHook = Callable[[AsyncConnection, int], Awaitable[Mapping[str, list[dict[str, Any]]]]]


def _plain(value: object) -> object:
    """Return a JSON-ready value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def _records(columns: list[Column[Any]], rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """Return rows as JSON-ready dicts, converting only the columns that hold dates."""
    names = [c.name for c in columns]
    dated = [i for i, c in enumerate(columns) if isinstance(c.type, UTCDateTime | Date)]
    records = []
    for row in rows:
        values = list(row)
        for i in dated:
            if values[i] is not None:
                values[i] = values[i].isoformat()
        records.append(dict(zip(names, values, strict=True)))
    return records


def _day(conn: AsyncConnection, column: Column[Any]) -> Any:
    """Return an SQL expression for the UTC day of a timestamp column.

    On SQLite it is ``YYYY-MM-DD`` text (how SQLite stores a date), on PostgreSQL a date.
    """
    if conn.dialect.name == "sqlite":  # stored as "YYYY-MM-DD HH:MM:SS" in UTC
        return func.substr(type_coerce(column, String), 1, 10)
    return cast(func.timezone("UTC", column), Date)


async def fold_messages(conn: AsyncConnection, where: Any) -> None:
    """Add the message-log rows matching ``where`` to the per-channel day counts.

    One INSERT ... SELECT ... GROUP BY with an upsert, so the rows never leave the database;
    the caller deletes them in the same transaction.
    """
    day = _day(conn, message_log.c.posted_at)
    grouped = (
        select(
            message_log.c.community_id,
            message_log.c.platform,
            message_log.c.channel_id,
            day,
            func.count(),
        )
        .where(where)
        .group_by(message_log.c.community_id, message_log.c.platform, message_log.c.channel_id, day)
    )
    statement = (
        postgresql.insert(message_days)
        if conn.dialect.name == "postgresql"
        else sqlite.insert(message_days)
    )
    columns = ["community_id", "platform", "channel_id", "day", "messages"]
    await conn.execute(
        statement.from_select(columns, grouped).on_conflict_do_update(
            index_elements=columns[:4],
            set_={"messages": message_days.c.messages + statement.excluded.messages},
        )
    )


async def _fold_erased_messages(conn: AsyncConnection, erasure: Erasure) -> None:
    await fold_messages(conn, message_log.c.member_id == erasure.member_id)


# What the core itself holds: accounts, the message log, link codes and download links.
CORE_HOLDINGS = (
    Holding(accounts.c.member_id, Erase.DELETE, "platform accounts: ids, names, language"),
    Holding(
        message_log.c.member_id,
        Erase.DELETE,
        "messages logged for points, Q&A and recommendations (day counts per channel are kept)",
    ),
    Holding(link_codes.c.member_id, Erase.DELETE, "codes for linking accounts across platforms"),
    Holding(
        privacy_downloads.c.member_id,
        Erase.DELETE,
        "download links of exports",
        hidden=("token_hash",),
    ),
)


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What an erasure did: rows touched by holding, and the anonymous member that kept some."""

    counts: Mapping[str, int]
    anonymous_id: int | None
    bookkeeping: int = 0  # money rows kept whole under the anonymous id (ANONYMISE holdings)


class Privacy:
    """The registry of holdings and hooks, and the export and erase that walk it."""

    def __init__(self, db: Database, clock: Clock, identity: Identity) -> None:
        self.db = db
        self.clock = clock
        self.identity = identity
        self.holdings: dict[str, Holding] = {}
        self.erase_hooks: list[EraseHook] = [_fold_erased_messages]
        self.export_hooks: list[ExportHook] = []
        self.declare(*CORE_HOLDINGS)

    def declare(self, *holdings: Holding) -> None:
        """Register holdings; a column declared twice is an error."""
        for holding in holdings:
            if holding.key in self.holdings:
                raise ValueError(f"{holding.key} is declared twice")
            self.holdings[holding.key] = holding

    def unclaimed(self) -> list[str]:
        """Return every member column (``table.column``) that no holding covers."""
        keys = (f"{c.table.name}.{c.name}" for c in member_columns())
        return sorted(k for k in keys if k not in self.holdings)

    def ordered(self) -> list[Holding]:
        """Return the holdings in erase order: detached names first, then children first."""
        rank = {t.name: i for i, t in enumerate(reversed(metadata.sorted_tables))}
        return sorted(
            self.holdings.values(),
            key=lambda h: (h.erase is not Erase.DETACH, rank.get(h.table.name, -1), h.key),
        )

    async def export(self, member_id: int) -> dict[str, Any]:
        """Return everything held about a member, by ``table.column``, in one read."""
        data: dict[str, list[dict[str, Any]]] = {}
        async with self.db.read() as conn:
            member = (await conn.execute(select(members).where(members.c.id == member_id))).first()
            if member is None:
                raise LookupError(f"no member {member_id}")
            for key, holding in sorted(self.holdings.items()):
                shown = [c for c in holding.table.columns if c.name not in holding.hidden]
                pk = list(holding.table.primary_key.columns)
                rows = (
                    await conn.execute(
                        select(*shown).where(holding.column == member_id).order_by(*pk)
                    )
                ).all()
                if rows:
                    data[key] = _records(shown, rows)
            for hook in self.export_hooks:
                for key, rows_of_hook in (await hook(conn, member_id)).items():
                    data.setdefault(key, []).extend(rows_of_hook)
        return {
            "format": EXPORT_FORMAT,
            "member": {k: _plain(v) for k, v in member._mapping.items()},
            "exported_at": self.clock.now().isoformat(),
            "data": data,
        }

    async def census(self, member_id: int) -> dict[str, int]:
        """Return how many rows each holding has about a member (the empty ones left out)."""
        counts: dict[str, int] = {}
        async with self.db.read() as conn:
            for key, holding in sorted(self.holdings.items()):
                n = await conn.scalar(
                    select(func.count())
                    .select_from(holding.table)
                    .where(holding.column == member_id)
                )
                if n:
                    counts[key] = int(n)
        return counts

    async def erase(
        self,
        community_id: int,
        member_id: int,
        requester: Requester,
        *,
        guard: Guard | None = None,
    ) -> ErasureReport:
        """Erase a member in one transaction: hooks, then every holding, then the member row.

        ``guard`` runs first in the transaction; what it raises rolls everything back (a
        confirm request spent in the same transaction as the erasure it allowed).
        """
        erasure = Erasure(community_id, member_id, requester, self.clock.now())
        async with self.db.write(bulk=True) as conn:
            if guard is not None:
                await guard(conn)
            found = await conn.scalar(
                select(members.c.id).where(
                    members.c.id == member_id, members.c.community_id == community_id
                )
            )
            if found is None:
                raise LookupError(f"no member {member_id} in community {community_id}")
            for hook in self.erase_hooks:
                await hook(conn, erasure)
            for holding in self.ordered():
                erasure.counts[holding.key] = await self._erase_one(conn, holding, erasure)
            await conn.execute(delete(members).where(members.c.id == member_id))
            await conn.execute(
                insert(privacy_erasures).values(
                    community_id=community_id,
                    anonymous_id=erasure.anonymous_id,
                    requester=requester.value,
                    counts=json.dumps({k: v for k, v in erasure.counts.items() if v}),
                    erased_at=erasure.at,
                )
            )
        self.identity.forget_cached(member_id)
        for run in erasure.after:
            try:
                await run()
            except Exception:
                log.exception("privacy: work after erasing member %s failed", member_id)
        bookkeeping = sum(
            n
            for key, n in erasure.counts.items()
            if key in self.holdings and self.holdings[key].erase is Erase.ANONYMISE
        )
        return ErasureReport(dict(erasure.counts), erasure.anonymous_id, bookkeeping)

    async def _erase_one(self, conn: AsyncConnection, holding: Holding, erasure: Erasure) -> int:
        table, column = holding.table, holding.column
        where = column == erasure.member_id
        if "community_id" in table.c:  # lets (community_id, member) indexes serve the lookup
            where = and_(where, table.c.community_id == erasure.community_id)
        match holding.erase:
            case Erase.DELETE:
                result = await conn.execute(delete(table).where(where))
            case Erase.DETACH:
                result = await conn.execute(update(table).where(where).values({column.name: None}))
            case Erase.ANONYMISE | Erase.KEEP_AGGREGATE:
                exists = await conn.scalar(select(func.count()).select_from(table).where(where))
                if not exists:
                    return 0
                anonymous = await erasure.anonymous(conn)
                values = {column.name: anonymous, **holding.scrub}
                result = await conn.execute(update(table).where(where).values(values))
        return int(result.rowcount)
