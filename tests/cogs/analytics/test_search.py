"""Searching the members list: what the database narrows equals Python's casefold match."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import String, literal, select, update

from bot.cogs import analytics
from bot.cogs.analytics import MemberSort, _directory
from bot.cogs.analytics import _pages as pages
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.store.tables import accounts
from tests._sql import queries, statements
from tests.cogs.analytics.world import END, NY, START

pytestmark = pytest.mark.copied_world

YESTERDAY = END - timedelta(days=1)  # a range ending before today: computed in Python

# Names whose casefold differs from an ASCII lower case, and the LIKE wildcards.
NAMES = [
    Caller(PlatformName.DISCORD, "3001", "Straße", username="strasse_fan"),
    Caller(PlatformName.DISCORD, "3002", "ÉMILE"),
    Caller(PlatformName.TELEGRAM, "3003", "100% Kelvin"),
    Caller(PlatformName.TELEGRAM, "3004", "axb"),
    Caller(PlatformName.DISCORD, "3005", "a_b", username="under_score"),
    Caller(PlatformName.DISCORD, "3006", "小明"),
]


@pytest.mark.parametrize(
    ("search", "names"),
    [
        ("STRASSE", ["Straße"]),  # "ß" casefolds to "ss"
        ("straße", ["Straße"]),
        ("émile", ["ÉMILE"]),
        ("0% k", ["100% Kelvin"]),  # a "%" is itself, and the piece after the space counts
        ("a_b", ["a_b"]),  # a "_" is itself, not any character
        ("SCORE", ["a_b"]),  # the username
        ("fan", ["Straße"]),
        ("明", ["小明"]),
        ("ana t", ["Ana"]),  # her Telegram name, "Ana T"
        ("zzz", []),
    ],
)
async def test_search_finds_what_casefold_finds(
    world: Cohort, search: str, names: list[str]
) -> None:
    cid = world.communities["demo"].id
    for caller in NAMES:
        await world.identity.resolve(cid, caller)
    service = analytics.service_of(world)
    page = await service.members(cid, START, END, NY, search=search)
    assert [r.name for r in page.rows] == names
    assert page.total == len(names)


async def test_a_search_of_a_past_range_reads_the_stays_of_members_who_may_match_only(
    world: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = world.communities["demo"].id
    for caller in NAMES:
        await world.identity.resolve(cid, caller)
    read: list[int] = []
    presence = pages.presence

    async def spy(*args: object, **kwargs: object) -> list[pages.Presence]:
        found = await presence(*args, **kwargs)  # type: ignore[arg-type]
        read.extend(p.member_id for p in found)
        return found

    monkeypatch.setattr(pages, "presence", spy)
    page = await analytics.service_of(world).members(cid, START, YESTERDAY, NY, search="ana")
    assert [r.name for r in page.rows] == ["Ana"]
    assert set(read) == {page.rows[0].member_id}


@pytest.mark.parametrize("name", ["Ana", "Straße", "小明", "a~b", "é"])
async def test_the_database_passes_on_exactly_the_names_outside_ascii(
    world: Cohort, name: str
) -> None:
    """SQLite tells a name outside ASCII by its byte and character lengths."""
    async with world.db.read() as conn:
        column = literal(name, String())
        found = await conn.scalar(select(_directory._non_ascii(conn, column)))
    assert bool(found) == (not name.isascii())


@pytest.mark.parametrize(
    ("search", "how"),
    [
        ("AN", "LIKE"),  # two characters: no trigram holds them, every name is matched
        ("ANA", "MATCH"),  # three: the trigram index
    ],
)
async def test_a_search_on_sqlite_matches_names_without_lower_or_glob(
    world: Cohort, search: str, how: str
) -> None:
    """SQLite's LIKE and FTS5 ignore ASCII case themselves: no function of each name."""
    if world.db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's LIKE and FTS5")
    cid = world.communities["demo"].id
    with statements(world.db) as seen:
        page = await analytics.service_of(world).members(cid, START, END, NY, search=search)
    assert "Ana" in [r.name for r in page.rows]
    searched = [sql for sql in seen if "LIKE" in sql or "MATCH" in sql]
    assert len(searched) == 1
    assert how in searched[0]
    assert "lower(" not in searched[0] and "GLOB" not in searched[0]


async def test_a_long_search_reads_the_indexes_only(world: Cohort) -> None:
    """Three characters or more: the trigram index, the accounts by id, the wide names' index."""
    if world.db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query planner")
    async with world.db.read() as conn:
        a = accounts.c
        query = select(a.member_id).where(a.member_id.in_(_directory._candidates(conn, 1, "ana")))
        sql = str(query.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
        plan = [
            str(row[-1]) for row in (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")).all()
        ]
    assert any("account_names VIRTUAL TABLE INDEX 0:M" in step for step in plan), plan
    assert any("accounts USING INTEGER PRIMARY KEY (rowid=?)" in step for step in plan), plan
    assert any("accounts USING INDEX ix_accounts_wide_names" in step for step in plan), plan
    assert not any(step.startswith("SCAN accounts") for step in plan), plan


async def test_a_search_reaching_now_reads_the_matching_members_kept_rows_by_key(
    world: Cohort,
) -> None:
    """The matching members go to SQL as one parameter; their kept rows are sought by key."""
    cid = world.communities["demo"].id
    for caller in NAMES:
        await world.identity.resolve(cid, caller)
    svc = analytics.service_of(world)
    await svc.members(cid, START, END, NY, search="ana")  # the range of closed days is kept
    with statements(world.db) as seen:
        page = await svc.members(cid, START, END, NY, search="ana")
    assert [r.name for r in page.rows] == ["Ana"]
    read = [sql for sql in queries(seen) if "analytics_" in sql and "analytics_range" in sql]
    scored = [sql for sql in read if "analytics_range_members" in sql]
    assert len(scored) == 1
    assert not [sql for sql in queries(seen) if "analytics_presence" in sql]
    assert not [sql for sql in queries(seen) if "analytics_member_totals" in sql]
    one = "json_each(" if world.db.engine.dialect.name == "sqlite" else "unnest("
    for sql in [*scored, *(sql for sql in queries(seen) if "points_balances" in sql)]:
        assert one in sql, sql
        assert " IN (?" not in sql and " IN ($" not in sql and "POSTCOMPILE" not in sql, sql
    if world.db.engine.dialect.name != "sqlite":
        return
    async with world.db.read() as conn:
        params = tuple(range(scored[0].count("?")))
        plan = [
            str(row[-1])
            for row in (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {scored[0]}", params)).all()
        ]
    kept = [step for step in plan if "analytics_range_members" in step]
    assert kept and all("member_id=?" in step for step in kept), plan
    # The days after the kept range (today's), by member or by day: never the range's days.
    days = [step for step in plan if "analytics_member_days" in step]
    assert days and all("member_id=?" in step or "day>?" in step for step in days), plan


async def test_a_search_of_a_past_range_reads_the_candidates_rows_by_member(world: Cohort) -> None:
    """On SQLite the candidates' presence and days are sought by member, not by day.

    The candidates go to SQL as one parameter: as an ``IN`` list of a thousand, the member
    days were read by day over the whole range (50 ms at full size, not 5).
    """
    if world.db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query planner")
    cid = world.communities["demo"].id
    with statements(world.db) as seen:
        page = await analytics.service_of(world).members(cid, START, YESTERDAY, NY, search="ana")
    assert [r.name for r in page.rows] == ["Ana"]
    read = [
        sql
        for sql in seen
        if "FROM analytics_presence" in sql or "FROM analytics_member_days" in sql
    ]
    assert len(read) == 2
    async with world.db.read() as conn:
        for sql in read:
            assert "json_each(" in sql, sql
            params = tuple(range(sql.count("?")))
            plan = " ".join(
                str(row[-1])
                for row in (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)).all()
            )
            assert "member_id=?" in plan, (plan, sql)


# --- the indexed search finds what the plain scan finds ----------------------------------------

# Names that test the trigram index: casefolds that differ from ASCII's, a name in ASCII and one
# outside it on one member, quotes, wildcards, CJK, emoji, an FTS5 operator, a tab.
MANY = [
    *NAMES,
    Caller(PlatformName.DISCORD, "3101", "Ｆｕｌｌ ｗｉｄｔｈ", username="fullwidth"),
    Caller(PlatformName.DISCORD, "3102", 'O\'Brien "Bob"', username="obrien"),
    Caller(PlatformName.TELEGRAM, "3103", "ﬁle KELVIN", username="kelvin_k"),
    Caller(PlatformName.DISCORD, "3104", "İstanbul ΣΊΣΥΦΟΣ"),
    Caller(PlatformName.TELEGRAM, "3105", "🎉 party 🎉", username="party_time"),
    Caller(PlatformName.DISCORD, "3106", "王小明 Wang", username="wang_xm"),
    Caller(PlatformName.DISCORD, "3107", "NEAR AND OR NOT", username="fts_words"),
    Caller(PlatformName.TELEGRAM, "3108", "50%_off\tdeal", username="deal_50"),
    Caller(PlatformName.DISCORD, "3109", "aaa", username="AAAA"),
    Caller(PlatformName.TELEGRAM, "3110", "Großmann"),
]
TYPED = "ab_%'\"\\*^:()+-. \tAaEeIiKkSsßẞİıΣσςﬁ王小明🎉ＦｕＷ0123456789"


def plain_scan(rows: list[tuple[int, str, str | None]], search: str) -> set[int]:
    """Return the members whose names and usernames, casefolded, hold the search's casefold."""
    words: dict[int, list[str]] = {}
    for member_id, name, username in rows:
        words.setdefault(member_id, []).extend([name, username or ""])
    needle = search.strip().casefold()
    return {m for m, w in words.items() if needle in " ".join(w).casefold()}


@pytest.fixture
async def named(world: Cohort) -> list[tuple[int, str, str | None]]:
    """Add the names above, rename one, and return every account's names, by account id."""
    cid = world.communities["demo"].id
    for caller in MANY:
        await world.identity.resolve(cid, caller)
    async with world.db.write() as conn:  # a rename: the trigger keeps the index
        await conn.execute(
            update(accounts)
            .where(accounts.c.community_id == cid, accounts.c.display_name == "aaa")
            .values(display_name="Renamed Ünïcode")
        )
    async with world.db.read() as conn:
        a = accounts.c
        found = await conn.execute(
            select(a.member_id, a.display_name, a.username)
            .where(a.community_id == cid)
            .order_by(a.member_id, a.id)
        )
        return [(int(m), str(n), u) for m, n, u in found.all()]


def searches(rows: list[tuple[int, str, str | None]]) -> st.SearchStrategy[str]:
    """Typed text: any, from the awkward characters, or a piece of a name in another case."""
    texts = [t for _, name, username in rows for t in (name, username or "") if t]

    @st.composite
    def piece(draw: st.DrawFn) -> str:
        text = draw(st.sampled_from(texts))
        start = draw(st.integers(0, len(text)))
        cut = text[start : start + draw(st.integers(1, 6))]
        cases = [cut, cut.upper(), cut.lower(), cut.casefold(), cut.swapcase(), f" {cut} "]
        return draw(st.sampled_from(cases))

    return st.one_of(
        piece(),
        st.text(alphabet=TYPED, min_size=1, max_size=5),
        st.text(min_size=1, max_size=4),
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_the_indexed_search_finds_what_the_plain_scan_finds(
    world: Cohort, named: list[tuple[int, str, str | None]], data: st.DataObject
) -> None:
    search = data.draw(searches(named))
    assume(search.strip())
    cid = world.communities["demo"].id
    page = await analytics.service_of(world).members(
        cid, START, END, NY, search=search, sort=MemberSort.NAME, limit=200
    )
    assert {r.member_id for r in page.rows} == plain_scan(named, search)
    assert page.total == len(page.rows)


@pytest.mark.parametrize(
    ("search", "name"),
    [
        ("renamed", "Renamed Ünïcode"),  # the new name is in the index
        ("FILE", "ﬁle KELVIN"),  # the ligature casefolds to "fi": found as a name outside ASCII
        ("grossm", "Großmann"),
        ("AAAA", "Renamed Ünïcode"),  # the username kept
        ("k\u212a", None),  # the Kelvin sign casefolds to "k": no name holds "kk"
        ("ＦＵＬＬ", "Ｆｕｌｌ ｗｉｄｔｈ"),
        ('"bob"', 'O\'Brien "Bob"'),
        ("and or", "NEAR AND OR NOT"),  # FTS5's operators are words of the name here
        ("0%_o", "50%_off\tdeal"),
        ("明 w", "王小明 Wang"),
        ("🎉 p", "🎉 party 🎉"),
        ("a\x00b", None),  # a NUL, as a form may send it: PostgreSQL refused the query
        ("\x00", None),
    ],
)
async def test_awkward_searches(
    world: Cohort, named: list[tuple[int, str, str | None]], search: str, name: str | None
) -> None:
    cid = world.communities["demo"].id
    page = await analytics.service_of(world).members(cid, START, END, NY, search=search)
    assert [r.name for r in page.rows] == ([name] if name else [])
    assert {r.member_id for r in page.rows} == plain_scan(named, search)


async def test_a_long_search_can_read_the_indexes_on_postgresql(world: Cohort) -> None:
    """The trigram indexes take ``ILIKE``, the partial index its written-out pattern."""
    if world.db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner")
    async with world.db.read() as conn:
        a = accounts.c
        query = select(a.member_id).where(a.member_id.in_(_directory._candidates(conn, 1, "ana")))
        sql = str(query.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
        # A test database is small: told scans cost more, the planner shows the indexes it can use.
        for setting in ("enable_seqscan", "enable_indexscan", "enable_nestloop"):
            await conn.exec_driver_sql(f"SET LOCAL {setting} = off")
        plan = "\n".join(
            str(row[0]) for row in (await conn.exec_driver_sql(f"EXPLAIN {sql}")).all()
        )
    assert "account_names_display_name" in plan and "account_names_username" in plan, plan
    assert "ix_accounts_wide_names" in plan, plan
