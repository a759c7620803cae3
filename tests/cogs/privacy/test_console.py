"""The /privacy commands on the console: info, export, forget with its confirm button."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, insert, select

from bot.adapters.console import ConsoleAdapter
from bot.adapters.console._adapter import iterate
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.store.tables import accounts, members, message_log, purchases
from tests.conftest import output


async def run(console: ConsoleAdapter, *lines: str) -> str:
    """Feed the console ``lines`` as a script and return what it printed."""
    await console.run(iterate(line + "\n" for line in lines))
    return output(console)


async def member_of(cohort: Cohort, user: str) -> int | None:
    async with cohort.db.read() as conn:
        found = await conn.scalar(
            select(accounts.c.member_id).where(
                accounts.c.platform == PlatformName.CONSOLE.value,
                accounts.c.platform_user_id == user,
            )
        )
    return int(found) if found is not None else None


async def buy(cohort: Cohort, member_id: int, ref: str, amount: int) -> None:
    async with cohort.db.write() as conn:
        await conn.execute(
            insert(purchases).values(
                community_id=cohort.communities["demo"].id,
                member_id=member_id,
                offer_id="gold",
                source="manual",
                source_ref=ref,
                amount_minor=amount,
                currency="eur",
                purchased_at=cohort.clock.now(),
            )
        )


async def test_info_counts_what_is_held(console: ConsoleAdapter) -> None:
    text = await run(console, "/as bob", "hello there", "second message", "/privacy")
    assert "Your data" in text
    assert "2 messages, each kept for 365 days" in text
    assert "Console" in text


async def test_export_is_sent_privately_as_json(console: ConsoleAdapter) -> None:
    text = await run(console, "/as bob", "my secret hobby is knitting", "/privacy export")
    assert "your data is in your private messages" in text
    [name] = [n for n in console.files if n.endswith(".json")]
    document = json.loads(console.files[name])
    assert document["format"] == "cohort-export/1"
    assert document["community"] == "demo"
    [logged] = document["data"]["message_log.member_id"]
    assert logged["text"] == "my secret hobby is knitting"
    assert document["data"]["accounts.member_id"][0]["platform_user_id"] == "bob"


async def test_forget_erases_after_confirm_and_keeps_money(
    console: ConsoleAdapter, cohort: Cohort
) -> None:
    await run(console, "/as bob", "remember me")
    bob = await member_of(cohort, "bob")
    assert bob is not None
    await buy(cohort, bob, "grant-1", 4900)
    text = await run(console, "/privacy forget")
    assert "Erase for good" in text
    number = text.split("[", 2)[-1].split("]")[0]
    text = await run(console, "/as alice", f"/press {number}")
    assert "Only the person who asked for this erasure can confirm it." in text
    text = await run(console, "/as bob", f"/press {number}")
    assert "Your purchases are kept for the books under an anonymous id" in text
    assert await member_of(cohort, "bob") is None
    async with cohort.db.read() as conn:
        logged = await conn.scalar(
            select(func.count()).select_from(message_log).where(message_log.c.member_id == bob)
        )
        owner, total = (
            await conn.execute(
                select(purchases.c.member_id, func.sum(purchases.c.amount_minor)).group_by(
                    purchases.c.member_id
                )
            )
        ).one()
        gone = await conn.scalar(select(func.count()).where(members.c.id == bob))
    assert (logged, gone) == (0, 0)
    assert total == 4900 and owner != bob
    text = await run(console, f"/press {number}")
    assert "This erasure is already done." in text
    await run(console, "hello again")
    again = await member_of(cohort, "bob")
    assert again is not None and again != bob


async def test_forget_confirm_expires(
    console: ConsoleAdapter, cohort: Cohort, clock: ManualClock
) -> None:
    text = await run(console, "/as bob", "/privacy forget")
    number = text.split("[", 2)[-1].split("]")[0]
    clock.advance(timedelta(minutes=10))
    text = await run(console, f"/press {number}")
    assert "This confirmation has expired." in text
    assert await member_of(cohort, "bob") is not None


async def test_info_and_forget_speak_chinese(console: ConsoleAdapter) -> None:
    text = await run(console, "/as bob", "/lang zh", "你好", "/privacy", "/privacy forget")
    assert "你的数据" in text and "1 条消息，每条保存 365 天" in text
    assert "永久删除" in text and "请在 10 分钟内按下按钮继续。" in text
