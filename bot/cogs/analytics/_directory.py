"""The members list (search, segment, sort) and one member's page."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    LargeBinary,
    Select,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.analytics import _people as people
from bot.cogs.analytics import _ranked as ranked
from bot.cogs.analytics import _rules as rules
from bot.cogs.analytics._figures import (
    AttendanceLine,
    DayCount,
    MemberDetail,
    MemberRow,
    Members,
    MemberSort,
    PurchaseLine,
    QuestionLine,
    Segment,
)
from bot.cogs.analytics._pages import fetch
from bot.store.tables import (
    accounts,
    analytics_member_days,
    lecture_attendance,
    lecture_occurrences,
    members,
    points_balances,
    purchases,
    qa_questions,
)

MAX_LIMIT = 200


def _matches(row: MemberRow, segment: Segment, start: date, end: date) -> bool:
    match segment:
        case Segment.ALL:
            return True
        case Segment.PAYING:
            return row.paying
        case Segment.ACTIVE:
            return row.messages > 0 or row.score > 0
        case Segment.INACTIVE:
            return row.left is None and row.messages == 0 and row.score == 0
        case Segment.NEW:
            return row.joined is not None and start <= row.joined <= end
        case Segment.LEFT:
            return row.left is not None and start <= row.left <= end
        case Segment.LINKED:
            return len(row.platforms) > 1


SORTS: dict[MemberSort, Callable[[MemberRow], tuple[object, ...]]] = {
    MemberSort.ENGAGEMENT: lambda r: (-r.score, r.member_id),
    MemberSort.MESSAGES: lambda r: (-r.messages, r.member_id),
    MemberSort.POINTS: lambda r: (-r.points, r.member_id),
    MemberSort.JOINED: lambda r: (-(r.joined or date.min).toordinal(), r.member_id),
    MemberSort.NAME: lambda r: (r.name.casefold(), r.member_id),
}


TRIGRAM = 3  # the shortest piece the trigram index of account names finds


def _non_ascii(conn: AsyncConnection, column: ColumnElement[Any]) -> ColumnElement[bool]:
    """Return whether a text column holds a character outside ASCII (NULL: false).

    On SQLite, a text whose UTF-8 bytes outnumber its characters (one length read from the
    record, one count of characters: no pattern matched character by character). On
    PostgreSQL the pattern is written in the SQL, not bound: a partial index's condition must
    be seen to hold when the statement is planned.
    """
    if conn.dialect.name == "sqlite":
        return func.length(cast(column, LargeBinary)) != func.length(column)
    return column.bool_op("~")(literal_column("'[^\\x01-\\x7f]'"))


def wide_names(conn: AsyncConnection) -> ColumnElement[bool]:
    """Return whether an account's name or username holds a character outside ASCII.

    The condition of the partial index ``ix_accounts_wide_names``, written the same way.
    """
    a = accounts.c
    return or_(_non_ascii(conn, a.display_name), _non_ascii(conn, a.username))


def _contains(
    conn: AsyncConnection, column: ColumnElement[Any], needle: str
) -> ColumnElement[bool]:
    """Return whether a text column holds ``needle``, ASCII letters in any case.

    SQLite's ``LIKE`` already ignores the case of ASCII letters: no ``lower()`` of each name.
    PostgreSQL's ``ILIKE`` escapes with a backslash by default; with no ``ESCAPE`` clause the
    trigram index takes it.
    """
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if conn.dialect.name == "sqlite":
        return column.like(f"%{escaped}%", escape="\\")
    return column.ilike(f"%{escaped}%")


def _named(conn: AsyncConnection, piece: str) -> Select[Any]:
    """Return the ids of the accounts whose name or username holds ``piece`` (ASCII, 3+ long).

    Read from the trigram index ``account_names`` (0031_member_search), ASCII letters in any
    case: on SQLite an FTS5 phrase (a run of characters, every one of them literal), on
    PostgreSQL ``ILIKE`` on its ``pg_trgm`` indexes.
    """
    if conn.dialect.name == "sqlite":
        phrase = '"' + piece.replace('"', '""') + '"'
        return (
            select(literal_column("rowid"))
            .select_from(table("account_names"))
            .where(text("account_names MATCH :phrase").bindparams(phrase=phrase))
        )
    names = table("account_names", column("account_id"), column("display_name"), column("username"))
    n = names.c
    return select(n.account_id).where(
        or_(_contains(conn, n.display_name, piece), _contains(conn, n.username, piece))
    )


def _candidates(
    conn: AsyncConnection, community_id: int, piece: str
) -> Select[Any] | CompoundSelect[Any]:
    """Return the members whose names may hold ``piece`` (casefolded, without spaces).

    A name in ASCII holds it as its ASCII letters in any case; its casefold is ASCII, so it
    cannot hold a piece that is not. Every name with other characters is a candidate (the
    caller's casefold decides). A piece of three characters or more is looked up in the
    trigram index; a shorter one, which no trigram holds, is matched against every name.
    """
    a = accounts.c
    wide = select(a.member_id).where(a.community_id == community_id, wide_names(conn))
    if not piece.isascii():
        return wide
    if len(piece) < TRIGRAM:
        return select(a.member_id).where(
            a.community_id == community_id,
            or_(
                _contains(conn, a.display_name, piece),
                _contains(conn, a.username, piece),
                wide_names(conn),
            ),
        )
    ours: ColumnElement[bool] = a.community_id == community_id
    if conn.dialect.name == "sqlite":
        # Without statistics SQLite would read the community's every account by its index
        # and test each id against the list; told most are the community's, it seeks the ids.
        ours = func.likely(ours)
    named = select(a.member_id).where(ours, a.id.in_(_named(conn, piece)))
    return union_all(named, wide)


async def names_and_platforms(
    conn: AsyncConnection, community_id: int, needle: str = ""
) -> dict[int, tuple[str, tuple[str, ...], str]]:
    """Return each member's name, platforms and searchable text (names and usernames).

    With ``needle`` (casefolded), only members whose text may hold it. The text is the
    member's names and usernames joined by spaces, so the needle's longest space-free piece
    lies within one of them: the database finds the names that may hold it
    (``_candidates``), and the caller's casefold test decides.
    """
    if "\x00" in needle:
        # No name holds a NUL: PostgreSQL's text cannot (nor a query's parameter), and FTS5
        # cannot match one (its query string ends there). Typed into a form, it finds no one.
        return {}
    a = accounts.c
    query = select(a.member_id, a.platform, a.display_name, a.username).where(
        a.community_id == community_id
    )
    if needle.strip():
        piece = max(needle.split(" "), key=len)
        query = query.where(a.member_id.in_(_candidates(conn, community_id, piece)))
    found: dict[int, tuple[str, list[str], list[str]]] = {}
    for member_id, platform, name, username in await fetch(conn, query.order_by(a.member_id, a.id)):
        entry = found.setdefault(int(member_id), (name, [], []))
        entry[1].append(platform)
        entry[2].extend([name, username or ""])
    return {
        m: (name, tuple(sorted(set(platforms))), " ".join(words).casefold())
        for m, (name, platforms, words) in found.items()
    }


async def balances(
    conn: AsyncConnection, community_id: int, members: Select[Any] | None = None
) -> dict[int, int]:
    """Return every member's points balance (only those of ``members``, a query, if given)."""
    b = points_balances.c
    query = select(b.member_id, b.balance).where(b.community_id == community_id)
    if members is not None:
        query = query.where(b.member_id.in_(members))
    rows = await fetch(conn, query)
    return {int(m): int(n) for m, n in rows}


def listing(
    *,
    identities: dict[int, tuple[str, tuple[str, ...], str]],
    stays: Mapping[int, people.Stay | people.Span],
    parts: Mapping[int, people.Parts],
    points: dict[int, int],
    paying: AbstractSet[int],
    start: date,
    end: date,
    search: str,
    sort: MemberSort,
    segment: Segment,
    offset: int,
    limit: int,
) -> Members:
    """Filter, sort and cut the members list."""
    needle = search.strip().casefold()
    rows = []
    for member_id, (name, platforms, words) in identities.items():
        if needle and needle not in words:
            continue
        stay = stays.get(member_id)
        p = parts.get(member_id) or people.Parts()
        present = rules.days_present(stay.joined, stay.left, start, end) if stay is not None else 0
        row = MemberRow(
            member_id=member_id,
            name=name,
            platforms=platforms,
            joined=stay.joined if stay is not None else None,
            left=stay.left if stay is not None else None,
            messages=p.messages,
            points=points.get(member_id, 0),
            paying=member_id in paying,
            score=rules.score(p.interactions, p.discussions, p.contributions, present),
        )
        if _matches(row, segment, start, end):
            rows.append(row)
    rows.sort(key=SORTS[sort])
    limit = max(0, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    return Members(total=len(rows), rows=tuple(rows[offset : offset + limit]))


async def detail(
    conn: AsyncConnection,
    community_id: int,
    member_id: int,
    start: date,
    end: date,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    stay: people.Stay | None,
) -> MemberDetail | None:
    """Return one member's page, or None if they are not in the community."""
    known = await conn.scalar(
        select(members.c.id).where(
            members.c.id == member_id, members.c.community_id == community_id
        )
    )
    if known is None:
        return None
    a = accounts.c
    held = (
        await conn.execute(
            select(a.platform, a.display_name).where(a.member_id == member_id).order_by(a.id)
        )
    ).all()
    parts = (
        await people.parts(
            conn,
            community_id,
            start,
            end,
            since,
            until,
            members=ranked.member_list(conn, {member_id}),
        )
    ).get(member_id) or people.Parts()
    b = points_balances.c
    balance = await conn.scalar(
        select(b.balance).where(b.community_id == community_id, b.member_id == member_id)
    )
    p = purchases.c
    bought = await fetch(
        conn,
        select(p.offer_id, p.amount_minor, p.currency, p.purchased_at, p.refunded_at)
        .where(p.community_id == community_id, p.member_id == member_id)
        .order_by(p.purchased_at, p.id),
    )
    at = lecture_attendance.c
    o = lecture_occurrences.c
    came = await fetch(
        conn,
        select(o.id, o.title, o.start_at)
        .select_from(lecture_attendance.join(lecture_occurrences, o.id == at.occurrence_id))
        .where(at.member_id == member_id)
        .order_by(o.start_at, o.id),
    )
    q = qa_questions.c
    asked = await fetch(
        conn,
        select(q.id, q.title, q.state, q.created_at)
        .where(q.community_id == community_id, q.asker_id == member_id)
        .order_by(q.created_at, q.id),
    )
    d = analytics_member_days.c
    daily = dict(
        (day, int(n))
        for day, n in await fetch(
            conn,
            select(d.day, d.messages).where(
                d.community_id == community_id,
                d.member_id == member_id,
                d.day >= start,
                d.day <= end,
            ),
        )
    )
    present = rules.days_present(stay.joined, stay.left, start, end) if stay is not None else 0
    return MemberDetail(
        member_id=member_id,
        name=held[0].display_name if held else "",
        accounts=tuple((r.platform, r.display_name) for r in held),
        joined=stay.joined if stay is not None else None,
        points=int(balance or 0),
        messages=parts.messages,
        answers=parts.answers,
        score=rules.score(parts.interactions, parts.discussions, parts.contributions, present),
        purchases=tuple(
            PurchaseLine(
                r.offer_id, r.amount_minor, r.currency, r.purchased_at, r.refunded_at is not None
            )
            for r in bought
        ),
        attendance=tuple(AttendanceLine(r.id, r.title, r.start_at.astimezone(zone)) for r in came),
        questions=tuple(
            QuestionLine(r.id, r.title, r.state, r.created_at.astimezone(zone)) for r in asked
        ),
        activity=tuple(DayCount(day, daily.get(day, 0)) for day in rules.days(start, end)),
    )
