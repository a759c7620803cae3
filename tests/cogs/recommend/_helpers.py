"""What the recommend tests share: the catalog, fast training, members who buy, typing commands."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bot.adapters.console import ConsoleAdapter
from bot.cogs import recommend
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.recommend import TrainParams
from bot.store.tables import purchases
from tests.conftest import make_config, output

FAST = TrainParams(validation_members=50, text_members=50, ease_lambdas=(5.0,), knn_ks=(10,))


CATALOG: list[dict[str, Any]] = [
    {"id": "python", "title": "Python Basics", "tags": ["code"], "language": "en"},
    {
        "id": "pandas",
        "title": "Data Analysis with Pandas",
        "description": "dataframes, groupby, cleaning data with pandas",
        "tags": ["code", "data"],
        "language": "en",
        "offer": "pandas-course",
    },
    {"id": "sql", "title": "SQL for Analysts", "tags": ["data"], "language": "en"},
    {
        "id": "ml",
        "title": "机器学习入门",
        "description": "机器学习 模型 训练 与 评估",
        "tags": ["ai"],
        "language": "zh_CN",
    },
    {
        "id": "vip",
        "title": "Founders' Masterclass",
        "tags": ["business"],
        "tiers": ["gold"],
    },
]


class Tiers:
    """Entitlements that say a fixed set of members hold ``gold``."""

    def __init__(self, gold: set[int]) -> None:
        self.gold = gold

    async def tiers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        return frozenset({"gold"}) if member_id in self.gold else frozenset()


def config_with(tmp_path: Path, **recommend_settings: Any) -> Any:
    return make_config(tmp_path, community={"courses": CATALOG, "recommend": recommend_settings})


def service(bot: Cohort) -> recommend.Recommender:
    spec = bot.registry.get("recommend show")
    assert spec is not None
    cog = spec.handler.__self__  # type: ignore[attr-defined]
    return cog.services[bot.communities["demo"].id]


def cog_of(bot: Cohort) -> recommend.RecommendCog:
    spec = bot.registry.get("recommend show")
    assert spec is not None
    return spec.handler.__self__  # type: ignore[attr-defined,no-any-return]


async def member(bot: Cohort, name: str) -> int:
    caller = Caller(PlatformName.CONSOLE, name, name.title(), username=name)
    account = await bot.identity.resolve(bot.communities["demo"].id, caller)
    return account.member_id


async def buy(
    bot: Cohort, member_id: int, offer: str, at: datetime, refunded: bool = False
) -> None:
    async with bot.db.write() as conn:
        await conn.execute(
            insert(purchases).values(
                community_id=bot.communities["demo"].id,
                member_id=member_id,
                offer_id=offer,
                source="manual",
                source_ref=f"{member_id}:{offer}",
                purchased_at=at,
                refunded_at=at if refunded else None,
            )
        )


async def say(con: ConsoleAdapter, name: str, text: str) -> None:
    con.user = name
    await con.handle_line(text)


async def run(con: ConsoleAdapter, name: str, line: str) -> str:
    con.user = name
    output(con)
    await con.handle_line(line)
    return output(con)


async def community_of_buyers(bot: Cohort, clock: ManualClock) -> None:
    """Ten members who took python then pandas; four who took sql alone; ann took python."""
    start = clock.now() - timedelta(days=30)
    for i in range(10):
        who = await member(bot, f"p{i}")
        await buy(bot, who, "python", start + timedelta(hours=i))
        await buy(bot, who, "pandas-course", start + timedelta(days=1, hours=i))
    for i in range(4):
        await buy(bot, await member(bot, f"s{i}"), "sql", start)
    await buy(bot, await member(bot, "ann"), "python", start)


def suggested(found: recommend.Suggestions) -> list[str]:
    return [s.course_id for s in found.items]
