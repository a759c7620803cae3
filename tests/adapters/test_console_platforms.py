"""The console playing accounts on simulated platforms: ``/as discord:alice``."""

from __future__ import annotations

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget
from tests.conftest import output


async def test_as_a_platform_account_links_with_another(console: ConsoleAdapter) -> None:
    await console.handle_line("/as discord:alice")
    printed = output(console)
    assert "You are now alice on a simulated discord" in printed
    assert console.prompt() == "discord:alice@#general> "
    await console.handle_line("/link")
    printed = output(console)
    assert printed.startswith("discord:alice@#general> /link\n[discord] (only you can see this)")
    code = printed.split("Your code is ")[1].split(".")[0]
    await console.handle_line("/as telegram:alice")
    await console.handle_line(f"/link {code}")
    assert "now follow you on: Discord, Telegram." in output(console)
    await console.handle_line("/whoami")
    printed = output(console)
    assert "Alice (@alice)" in printed and "Member: #1" in printed


async def test_as_a_plain_name_comes_back_to_the_console(console: ConsoleAdapter) -> None:
    await console.handle_line("/as telegram:bob")
    await console.handle_line("/as bob")
    assert console.prompt() == "bob@#general> "
    await console.handle_line("/link")
    code = output(console).split("Your code is ")[1].split(".")[0]
    await console.handle_line("/as telegram:bob")
    await console.handle_line(f"/link {code}")
    assert "now follow you on: Console, Telegram." in output(console)


@pytest.mark.parametrize("typed", ["/as slack:alice", "/as discord:", "/as :alice", "/as a:b:c"])
async def test_an_unknown_platform_is_explained(console: ConsoleAdapter, typed: str) -> None:
    await console.handle_line(typed)
    assert "/as discord:<name>" in output(console)
    assert console.acting is console


async def test_a_simulated_platform_is_the_cohorts_and_prints_here(
    console: ConsoleAdapter,
) -> None:
    discord = console.simulate(PlatformName.DISCORD)
    assert console.simulate(PlatformName.DISCORD) is discord
    assert console.simulate(PlatformName.CONSOLE) is console
    assert console.cohort.platforms[PlatformName.DISCORD] is discord
    assert discord.caller("alice").platform is PlatformName.DISCORD
    output(console)
    await discord.grant_access("alice", AccessTarget(PlatformName.DISCORD, "111", "222"))
    assert output(console) == "[discord] (access to 111/222 granted to alice)\n"
    assert ("alice", AccessTarget(PlatformName.DISCORD, "111", "222")) in discord.access
    assert console.access == set()
