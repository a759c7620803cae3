"""Searching the members list: what the database narrows equals Python's casefold match."""

from __future__ import annotations

import pytest
from sqlalchemy import String, literal, select

from bot.cogs import analytics
from bot.cogs.analytics import _directory
from bot.cogs.analytics import _pages as pages
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from tests._sql import statements
from tests.cogs.analytics.world import END, NY, START

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


async def test_a_search_reads_the_stays_of_members_who_may_match_only(
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
    page = await analytics.service_of(world).members(cid, START, END, NY, search="ana")
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


async def test_a_search_on_sqlite_matches_names_without_lower_or_glob(world: Cohort) -> None:
    """SQLite's LIKE ignores ASCII case itself: no function of each name but two lengths."""
    cid = world.communities["demo"].id
    with statements(world.db) as seen:
        page = await analytics.service_of(world).members(cid, START, END, NY, search="ANA")
    assert [r.name for r in page.rows] == ["Ana"]
    searched = [sql for sql in seen if "LIKE" in sql]
    assert len(searched) == 1
    assert "lower(" not in searched[0] and "GLOB" not in searched[0]


async def test_a_search_reads_the_candidates_rows_by_member(world: Cohort) -> None:
    """On SQLite the candidates' presence and days are sought by member, not by day."""
    if world.db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query planner")
    cid = world.communities["demo"].id
    with statements(world.db) as seen:
        page = await analytics.service_of(world).members(cid, START, END, NY, search="ana")
    assert [r.name for r in page.rows] == ["Ana"]
    read = [
        sql
        for sql in seen
        if "FROM analytics_presence" in sql or "FROM analytics_member_days" in sql
    ]
    assert len(read) == 2
    async with world.db.read() as conn:
        for sql in read:
            params = tuple(range(sql.count("?")))
            plan = " ".join(
                str(row[-1])
                for row in (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)).all()
            )
            assert "member_id=?" in plan, (plan, sql)
