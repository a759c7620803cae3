"""The general cog across platforms: /help, /whoami, /link, /lang."""

from __future__ import annotations

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.cogs.general._help import may_run, usage, visible_commands
from bot.core.cohort import Cohort
from bot.core.commands import CommandSpec, Option, OptionKind, Permission, Role
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef
from bot.core.replies import Reply

ALICE = Caller(PlatformName.CONSOLE, "alice", "Alice", username="alice")
ALICE_TG = Caller(PlatformName.TELEGRAM, "501", "Alice", username="alice_tg", locale="zh-hans")
HERE = ChannelRef(PlatformName.CONSOLE, "general")


async def run(cohort: Cohort, caller: Caller, line: str) -> list[Reply]:
    """Run ``line`` as ``caller`` (on the console adapter) and return the replies."""
    replies: list[Reply] = []

    async def respond(reply: Reply) -> MessageRef | None:
        replies.append(reply)
        return None

    await cohort.dispatcher.run_line(
        cohort.platforms[PlatformName.CONSOLE],
        cohort.communities["demo"],
        caller,
        HERE,
        line,
        respond,
    )
    return replies


async def _noop(ctx: object) -> None:
    return None


def test_usage_marks_required_and_optional_options() -> None:
    spec = CommandSpec(
        "bounty",
        "x",
        _noop,
        options=(
            Option("amount", OptionKind.INTEGER, "x"),
            Option("note", OptionKind.TEXT, "x", required=False),
        ),
    )
    assert usage(spec) == "/bounty <amount> [note]"


@pytest.mark.parametrize(
    ("permission", "tiers", "role", "held", "allowed"),
    [
        (Permission.ANYONE, (), Role.MEMBER, frozenset(), True),
        (Permission.ORGANIZER, (), Role.MEMBER, frozenset(), False),
        (Permission.ORGANIZER, (), Role.ADMIN, frozenset(), True),
        (Permission.TIER, ("gold",), Role.MEMBER, frozenset(), False),
        (Permission.TIER, ("gold",), Role.MEMBER, frozenset({"gold"}), True),
        (Permission.TIER, ("gold",), Role.ORGANIZER, frozenset(), True),
    ],
)
def test_who_may_run_what(
    permission: Permission,
    tiers: tuple[str, ...],
    role: Role,
    held: frozenset[str],
    allowed: bool,
) -> None:
    spec = CommandSpec("cmd", "x", _noop, permission=permission, tiers=tiers)
    assert may_run(spec, role, held) is allowed
    assert (visible_commands([spec], role, held) == [spec]) is allowed


async def test_help_hides_commands_the_caller_may_not_run(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    cohort.registry.add(
        CommandSpec("staffonly", "general.help.description", _noop, permission=Permission.ADMIN)
    )
    bob = Caller(PlatformName.CONSOLE, "bob", "Bob")
    assert "/staffonly" not in (await run(cohort, bob, "/help"))[0].text
    assert "/staffonly" in (await run(cohort, ALICE, "/help"))[0].text
    refusal = await run(cohort, bob, "/help staffonly")
    assert refusal[0].text == "There is no command /staffonly that you can use."


async def test_help_for_one_command_lists_its_options(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    reply = (await run(cohort, ALICE, "/help /link"))[0]
    assert reply.fields[0].name == "/link [code]"
    assert "`code`: The code /link gave you on the other platform" in reply.fields[0].value


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
