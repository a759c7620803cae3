"""/stats through python-telegram-bot and the Bot API stand-in: text and a chart photo."""

from __future__ import annotations

from bot.cogs._fonts import load_font
from bot.core.cohort import Cohort
from tests.adapters.test_telegram import BOB, GROUP, OLGA, bot, said, tg
from tests.telegram_api import TelegramServer

__all__ = ["bot", "tg"]  # the Telegram fixtures, reused


async def test_an_organizer_gets_figures_and_a_chart_photo(bot: Cohort, tg: TelegramServer) -> None:
    for size in (28, 20, 15):  # the CJK font is big: load it before the stand-in's clock runs
        load_font(None, size)
    tg.user_says(GROUP, BOB, "hello everyone")
    tg.user_says(GROUP, OLGA, "/stats 7d")
    shown = await said(tg, GROUP, "Community stats")
    assert shown["method"] == "sendPhoto"
    assert shown["photo"].startswith(b"\x89PNG")
    assert "Messages: <b>1</b>" in shown["text"]


async def test_a_member_is_refused(bot: Cohort, tg: TelegramServer) -> None:
    tg.user_says(GROUP, BOB, "/stats")
    await said(tg, BOB, "Only organizers may run /stats.")  # privately
    assert not any("Community stats" in m["text"] for m in tg.sent())
