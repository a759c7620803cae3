"""/help and its rules (``_help``): usage lines, who may run what, what /help shows."""

from __future__ import annotations

import pytest

from bot.adapters.console import ConsoleAdapter
from bot.cogs.general._help import may_run, usage, visible_commands
from bot.core.cohort import Cohort
from bot.core.commands import CommandSpec, Option, OptionKind, Permission, Role
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from tests.cogs.general._helpers import ALICE, run


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
