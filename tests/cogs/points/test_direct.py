"""An award on SQLite's thread goes as plain SQL and writes what SQLAlchemy's path writes."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.points import _ledger as ledger
from bot.cogs.points._levels import progress
from bot.cogs.points._rules import Reason
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.store.hops import in_thread
from bot.store.tables import (
    points_balances,
    points_ledger,
    points_level_changes,
    points_period_totals,
)
from tests.conftest import START

REASONS = (Reason.MESSAGE, Reason.KUDOS, Reason.MANUAL)
NOTES = (None, "", "a note", "n" * 250)


def steps(seed: int, count: int) -> list[dict[str, Any]]:
    """Return ``count`` random awards: replays, negative deltas, level changes, cooldowns."""
    rng = random.Random(seed)
    made: list[dict[str, Any]] = []
    for _ in range(count):
        at = START + timedelta(minutes=rng.randrange(0, 60 * 24 * 70))
        made.append(
            {
                "member": rng.randrange(3),
                "actor": rng.choice((None, 0, 1, 2)),
                "delta": rng.randint(-40, 400),
                "reason": rng.choice(REASONS),
                "ref": f"r{rng.randrange(12)}" + "x" * rng.choice((0, 0, 230)),
                "note": rng.choice(NOTES),
                "at": at,
                "cooldown": rng.random() < 0.5,
            }
        )
    return made


async def dump(cohort: Cohort, members: list[int]) -> list[Any]:
    """Return the points rows of ``members``, each member named by its place in the list."""
    place = {member_id: index for index, member_id in enumerate(members)}
    found: list[Any] = []
    async with cohort.db.read() as conn:
        for table, order in (
            (points_ledger, (points_ledger.c.id,)),
            (points_balances, ()),
            (points_period_totals, (points_period_totals.c.period,)),
            (points_level_changes, (points_level_changes.c.id,)),
        ):
            rows = await conn.execute(
                select(table).where(table.c.member_id.in_(members)).order_by(*order)
            )
            lines = []
            for row in rows.mappings():
                line = {k: v for k, v in row.items() if k not in ("id", "community_id")}
                line["member_id"] = place[line["member_id"]]
                if line.get("actor_id") is not None:
                    line["actor_id"] = place[line["actor_id"]]
                if "source_ref" in line:
                    line["source_ref"] = line["source_ref"][1:]  # without the set's letter
                lines.append(line)
            found.append(sorted(lines, key=repr))
    return found


async def award(
    cohort: Cohort,
    community: Community,
    members: list[int],
    step: Mapping[str, Any],
    letter: str,
    *,
    on_thread: bool,
) -> bool:
    """Apply one step to ``members``' set, on the database thread or the usual way."""
    extra = (
        {"last_message_award_at": step["at"], "last_message_digest": f"d{step['delta']}"}
        if step["cooldown"]
        else None
    )

    async def work(conn: AsyncConnection) -> bool:
        return await ledger.award_in(
            conn,
            community,
            members[step["member"]],
            step["delta"],
            step["reason"],
            letter + step["ref"],
            at=step["at"],
            actor_id=None if step["actor"] is None else members[step["actor"]],
            note=step["note"],
            balance_extra=extra,
        )

    async with cohort.db.write() as conn:
        if on_thread:
            return await in_thread(conn, work, commit=True)
        return await work(conn)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_direct_award_writes_what_sqlalchemy_writes(
    cohort: Cohort, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    community = cohort.communities["demo"]
    sets: dict[str, list[int]] = {}
    for letter in "ab":
        sets[letter] = [
            (
                await cohort.identity.resolve(
                    community.id, Caller(PlatformName.CONSOLE, f"{letter}{i}", f"{letter}{i}")
                )
            ).member_id
            for i in range(3)
        ]
    taken: list[bool | None] = []
    real = ledger.award_direct

    def spy(*args: Any, **kwargs: Any) -> bool | None:
        outcome = real(*args, **kwargs)
        taken.append(outcome)
        return outcome

    monkeypatch.setattr(ledger, "award_direct", spy)
    sqlite = cohort.db.url.get_backend_name() == "sqlite"
    for index, step in enumerate(steps(seed, 80)):
        if index == 40:  # a season starts: later awards count in season 2's totals
            assert await ledger.start_season(
                cohort.db, community, ending=1, by=None, at=START + timedelta(days=30)
            )
        direct = await award(cohort, community, sets["a"], step, "a", on_thread=True)
        outcome = taken.pop()
        assert (outcome is not None) == sqlite  # SQLite's thread: the direct path, and only it
        usual = await award(cohort, community, sets["b"], step, "b", on_thread=False)
        assert taken.pop() is None  # off the thread: SQLAlchemy's path
        assert direct == usual
    assert await dump(cohort, sets["a"]) == await dump(cohort, sets["b"])
    async with cohort.db.read() as conn:
        changes = await conn.scalar(
            select(points_level_changes.c.id).where(points_level_changes.c.member_id.in_(sets["a"]))
        )
    assert changes is not None  # the steps crossed levels, so level changes were compared


async def test_a_replayed_message_award_writes_nothing_more(cohort: Cohort) -> None:
    community = cohort.communities["demo"]
    member = (
        await cohort.identity.resolve(community.id, Caller(PlatformName.CONSOLE, "c", "C"))
    ).member_id
    step = {
        "member": 0,
        "actor": None,
        "delta": 300,
        "reason": Reason.MESSAGE,
        "ref": "console:general:1",
        "note": None,
        "at": START,
        "cooldown": True,
    }
    assert await award(cohort, community, [member], step, "m", on_thread=True)
    before = await dump(cohort, [member])
    assert not await award(cohort, community, [member], step, "m", on_thread=True)
    assert await dump(cohort, [member]) == before
    assert await ledger.balance_of(cohort.db, community.id, member) == 300
    claimed = await ledger.claim_level_changes(cohort.db, START, member_id=member)
    config = community.config.points
    level = progress(300, config.curve, config.curve_step).level
    assert level > 0
    assert [(c.level_from, c.level_to) for c in claimed] == [(0, level)]
