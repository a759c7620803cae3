"""Resolving callers, and linking accounts across platforms into one member."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.errors import UserError
from bot.core.identity import Account, Caller, normalize_code
from bot.core.parsing import Mention, MentionKind
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from bot.store.tables import accounts, link_codes, members, message_log

ALICE = Caller(PlatformName.CONSOLE, "alice", "Alice", username="alice")
ALICE_TG = Caller(PlatformName.TELEGRAM, "500", "Alice T", username="alice_t", locale="zh-hans")
BOB_TG = Caller(PlatformName.TELEGRAM, "600", "Bob", username="bob")
BOB_DC = Caller(PlatformName.DISCORD, "700000000000000001", "Bob D")


async def resolve(cohort: Cohort, caller: Caller) -> Account:
    """Resolve ``caller`` in the demo community."""
    return await cohort.identity.resolve(cohort.communities["demo"].id, caller)


async def post(cohort: Cohort, caller: Caller, message_id: str, text: str) -> None:
    """Post a message as ``caller`` on its platform."""
    channel = ChannelRef(caller.platform, "general")
    await cohort.dispatcher.message_posted(
        cohort.communities["demo"], caller, channel, message_id, text, cohort.clock.now()
    )


async def count(cohort: Cohort, table: object, **where: object) -> int:
    """Count rows of ``table`` matching ``where``."""
    statement = select(func.count()).select_from(table)  # type: ignore[arg-type]
    for column, value in where.items():
        statement = statement.where(table.c[column] == value)  # type: ignore[attr-defined]
    async with cohort.db.read() as conn:
        return int(await conn.scalar(statement) or 0)


async def test_first_sight_creates_one_member_even_when_concurrent(cohort: Cohort) -> None:
    results = await asyncio.gather(*(resolve(cohort, BOB_TG) for _ in range(10)))
    assert len({r.id for r in results}) == 1
    assert await count(cohort, accounts, platform_user_id="600") == 1
    assert await count(cohort, members) == 1


async def test_profile_changes_are_saved(cohort: Cohort, clock: ManualClock) -> None:
    first = await resolve(cohort, BOB_TG)
    clock.advance(timedelta(minutes=1))
    renamed = await resolve(cohort, Caller(PlatformName.TELEGRAM, "600", "Robert", username="rob"))
    assert renamed.id == first.id
    assert renamed.display_name == "Robert"
    found = await cohort.identity.find(
        first.community_id, PlatformName.TELEGRAM, Mention(MentionKind.USERNAME, "ROB")
    )
    assert found is not None and found.id == first.id


async def test_link_pairs_two_platforms(cohort: Cohort) -> None:
    alice = await resolve(cohort, ALICE)
    alice_tg = await resolve(cohort, ALICE_TG)
    issued = await cohort.identity.create_link_code(alice)
    survivor = await cohort.identity.redeem_link_code(alice_tg, issued.code.lower())
    assert survivor == alice.member_id
    linked = await cohort.identity.accounts_of(survivor)
    assert [(a.platform, a.platform_user_id) for a in linked] == [
        (PlatformName.CONSOLE, "alice"),
        (PlatformName.TELEGRAM, "500"),
    ]
    assert await count(cohort, members) == 1
    again = await resolve(cohort, ALICE_TG)
    assert again.member_id == survivor


@pytest.mark.parametrize(
    ("advance", "redeemer", "reuse", "error"),
    [
        (timedelta(minutes=10), ALICE_TG, False, "link.code_expired"),
        (timedelta(minutes=9, seconds=59), ALICE_TG, True, "link.code_used"),
        (timedelta(0), Caller(PlatformName.CONSOLE, "carol", "Carol"), False, "link.same_platform"),
    ],
    ids=["expired", "reused", "same-platform"],
)
async def test_link_code_refusals(
    cohort: Cohort,
    clock: ManualClock,
    advance: timedelta,
    redeemer: Caller,
    reuse: bool,
    error: str,
) -> None:
    alice = await resolve(cohort, ALICE)
    issued = await cohort.identity.create_link_code(alice)
    clock.advance(advance)
    account = await resolve(cohort, redeemer)
    if reuse:
        await cohort.identity.redeem_link_code(account, issued.code)
        account = await resolve(cohort, BOB_DC)
    with pytest.raises(UserError) as caught:
        await cohort.identity.redeem_link_code(account, issued.code)
    assert caught.value.key == error


@pytest.mark.parametrize("typed", ["", "NOPE", "ABCD-EFGH", "😀" * 8, "' OR 1=1 --"])
async def test_unknown_codes_are_refused(cohort: Cohort, typed: str) -> None:
    bob = await resolve(cohort, BOB_TG)
    with pytest.raises(UserError) as caught:
        await cohort.identity.redeem_link_code(bob, typed)
    assert caught.value.key == "link.code_unknown"


def test_typed_codes_are_normalised() -> None:
    assert normalize_code(" abcd-ef 23 ") == "ABCDEF23"


async def test_a_new_code_voids_the_previous_one(cohort: Cohort) -> None:
    alice = await resolve(cohort, ALICE)
    old = await cohort.identity.create_link_code(alice)
    await cohort.identity.create_link_code(alice)
    bob = await resolve(cohort, BOB_TG)
    with pytest.raises(UserError, match=r"link\.code_unknown"):
        await cohort.identity.redeem_link_code(bob, old.code)


async def test_merging_members_with_history_loses_nothing(cohort: Cohort) -> None:
    await post(cohort, ALICE, "1", "hello from the console")
    await post(cohort, ALICE, "2", "second")
    await post(cohort, ALICE_TG, "9", "你好 from telegram")
    alice = await resolve(cohort, ALICE)
    alice_tg = await resolve(cohort, ALICE_TG)
    await cohort.identity.set_locale(alice_tg.member_id, "zh_CN")
    pending = await cohort.identity.create_link_code(alice_tg)
    issued = await cohort.identity.create_link_code(alice)
    assert pending.code != issued.code

    survivor = await cohort.identity.redeem_link_code(alice_tg, issued.code)

    assert survivor == alice.member_id < alice_tg.member_id
    assert await count(cohort, message_log) == 3
    assert await count(cohort, message_log, member_id=survivor) == 3
    assert await count(cohort, link_codes, member_id=survivor) == 2
    assert await count(cohort, members, id=alice_tg.member_id) == 0
    member, _ = await cohort.identity.profile(survivor)
    assert member.locale == "zh_CN"


async def test_merge_refuses_two_accounts_on_one_platform(cohort: Cohort) -> None:
    alice = await resolve(cohort, ALICE)
    alice_tg = await resolve(cohort, ALICE_TG)
    await cohort.identity.redeem_link_code(
        alice_tg, (await cohort.identity.create_link_code(alice)).code
    )
    bob_dc = await resolve(cohort, BOB_DC)
    bob_tg = await resolve(cohort, BOB_TG)
    await cohort.identity.redeem_link_code(
        bob_tg, (await cohort.identity.create_link_code(bob_dc)).code
    )
    code = (await cohort.identity.create_link_code(await resolve(cohort, ALICE))).code
    with pytest.raises(UserError) as caught:
        await cohort.identity.redeem_link_code(await resolve(cohort, BOB_DC), code)
    assert caught.value.key == "link.platform_taken"
    assert await count(cohort, members) == 2


async def test_a_failed_merge_changes_nothing(cohort: Cohort) -> None:
    await post(cohort, ALICE_TG, "9", "hi")
    alice = await resolve(cohort, ALICE)
    alice_tg = await resolve(cohort, ALICE_TG)

    async def broken_hook(conn: AsyncConnection, survivor: int, absorbed: int) -> None:
        await conn.execute(members.update().where(members.c.id == survivor).values(locale="en"))
        raise RuntimeError("a cog's merge failed")

    cohort.identity.merge_hooks.append(broken_hook)
    issued = await cohort.identity.create_link_code(alice)
    with pytest.raises(RuntimeError):
        await cohort.identity.redeem_link_code(alice_tg, issued.code)
    assert await count(cohort, members) == 2
    assert await count(cohort, message_log, member_id=alice_tg.member_id) == 1
    async with cohort.db.read() as conn:
        used = await conn.scalar(
            select(link_codes.c.used_at).where(link_codes.c.code == issued.code)
        )
        locale = await conn.scalar(select(members.c.locale).where(members.c.id == alice.member_id))
    assert used is None
    assert locale is None


async def test_expired_codes_are_purged(cohort: Cohort, clock: ManualClock) -> None:
    await cohort.identity.create_link_code(await resolve(cohort, ALICE))
    clock.advance(timedelta(hours=2))
    assert await cohort.identity.purge_link_codes() == 0
    clock.advance(timedelta(days=1))
    assert await cohort.identity.purge_link_codes() == 1
