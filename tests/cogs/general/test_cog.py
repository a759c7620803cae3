"""The general commands across platforms (``_cog``): /link, /whoami, /lang."""

from __future__ import annotations

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from tests.cogs.general._helpers import ALICE, run

ALICE_TG = Caller(PlatformName.TELEGRAM, "501", "Alice", username="alice_tg", locale="zh-hans")


async def test_link_across_platforms_then_whoami_shows_both(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    issued = (await run(cohort, ALICE, "/link"))[0]
    assert issued.ephemeral
    code = issued.text.split("**")[1]
    first = await run(cohort, ALICE_TG, "/whoami")  # Telegram says zh-hans: Chinese by default
    assert first[0].title == "你在这里的身份"
    done = await run(cohort, ALICE_TG, f"/link {code}")
    assert done[0].text == "已关联。你的积分、购买记录和历史现在会跟随你出现在：控制台, Telegram。"
    whoami = (await run(cohort, ALICE, "/whoami"))[0]
    accounts = next(f for f in whoami.fields if f.name == "Accounts").value
    assert "Console: Alice (@alice)" in accounts
    assert "Telegram: Alice (@alice_tg)" in accounts
    role = next(f for f in whoami.fields if f.name == "Role").value
    assert role == "admin"
    # The Telegram account now has the console account's admin role too.
    tg_role = next(
        f for f in (await run(cohort, ALICE_TG, "/whoami"))[0].fields if f.name == "角色"
    )
    assert tg_role.value == "管理员"


async def test_lang_auto_follows_the_platform_again(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    await run(cohort, ALICE_TG, "/lang en")
    assert (await run(cohort, ALICE_TG, "/whoami"))[0].title == "Who you are here"
    reply = (await run(cohort, ALICE_TG, "/lang auto"))[0]
    assert reply.text == "从现在起我会用中文和你交流。"
    current = (await run(cohort, ALICE_TG, "/lang"))[0]
    assert [b.payload for b in current.buttons] == ["en", "zh_CN"]


async def test_lang_refuses_an_unknown_language(cohort: Cohort, console: ConsoleAdapter) -> None:
    reply = (await run(cohort, ALICE, "/lang fr"))[0]
    assert reply.text == "**language** must be one of en, zh, auto, not “fr”."
