"""Command specs and the registry: names both platforms accept, and no collisions."""

from __future__ import annotations

import pytest

from bot.cogs import DEFAULT_COGS
from bot.core.clock import SystemClock
from bot.core.cohort import Cohort
from bot.core.commands import (
    ActionSpec,
    Choice,
    CommandRegistry,
    CommandSpec,
    Option,
    OptionKind,
    Permission,
    Role,
)
from bot.core.config import Config
from bot.store.db import Database


async def _noop(ctx: object, **options: object) -> None:
    return None


async def _press(ctx: object, payload: str) -> None:
    return None


def spec(name: str, **kwargs: object) -> CommandSpec:
    """Return a command called ``name`` that does nothing."""
    return CommandSpec(name=name, description_key="x.y", handler=_noop, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["Help", "help!", "a" * 33, "", "one two three", "9lives", "as", "press x"]
)
def test_bad_command_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        spec(name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"options": (Option("a", OptionKind.TEXT, "k"), Option("a", OptionKind.TEXT, "k"))},
            "repeats",
        ),
        (
            {
                "options": (
                    Option("a", OptionKind.TEXT, "k", required=False),
                    Option("b", OptionKind.TEXT, "k"),
                )
            },
            "required option after",
        ),
        ({"permission": Permission.TIER}, "tiers"),
        ({"tiers": ("gold",)}, "tiers"),
    ],
)
def test_inconsistent_specs_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec("cmd", **kwargs)


def test_choice_options_need_choices_and_only_they() -> None:
    with pytest.raises(ValueError):
        Option("lang", OptionKind.CHOICE, "k")
    with pytest.raises(ValueError):
        Option("lang", OptionKind.TEXT, "k", choices=(Choice("en", "k"),))


def test_two_commands_with_one_name_collide() -> None:
    registry = CommandRegistry()
    registry.add(spec("points"), owner="bot.cogs.points")
    with pytest.raises(ValueError, match=r"collides with bot\.cogs\.points"):
        registry.add(spec("points"), owner="bot.cogs.other")


def test_a_group_and_a_plain_command_collide() -> None:
    registry = CommandRegistry()
    registry.add(spec("questions search"))
    with pytest.raises(ValueError, match="command group"):
        registry.add(spec("questions"))
    registry.add(spec("lecture"))
    with pytest.raises(ValueError, match="plain command"):
        registry.add(spec("lecture schedule"))


def test_actions_collide_and_need_valid_ids() -> None:
    registry = CommandRegistry()
    registry.add_action(ActionSpec("general.lang", _press))
    with pytest.raises(ValueError):
        registry.add_action(ActionSpec("general.lang", _press))
    with pytest.raises(ValueError):
        ActionSpec("Bad Id", _press)
    registry.add_action(ActionSpec("general.a", _press))
    assert [a.id for a in registry.actions()] == ["general.a", "general.lang"]


async def test_all_cogs_load_together_without_collisions(config: Config) -> None:
    db = Database(config.database.url)
    try:
        cohort = Cohort(config, db, SystemClock())
        cohort.load_cogs(DEFAULT_COGS)
        with pytest.raises(ValueError):
            cohort.load_cogs(DEFAULT_COGS[:1])
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        (Role.MEMBER, Permission.ANYONE, True),
        (Role.MEMBER, Permission.TIER, False),
        (Role.MEMBER, Permission.ORGANIZER, False),
        (Role.ORGANIZER, Permission.ORGANIZER, True),
        (Role.ORGANIZER, Permission.ADMIN, False),
        (Role.ORGANIZER, Permission.TIER, True),
        (Role.ADMIN, Permission.ADMIN, True),
        (Role.ADMIN, Permission.ORGANIZER, True),
    ],
)
def test_roles_satisfy_permissions(role: Role, permission: Permission, allowed: bool) -> None:
    assert role.may(permission) is allowed


def test_a_group_has_at_most_one_default_subcommand() -> None:
    registry = CommandRegistry()
    registry.add(spec("points show", default=True))
    registry.add(spec("points give"))
    assert registry.default_of("points") is registry.get("points show")
    with pytest.raises(ValueError, match="already has a default"):
        registry.add(spec("points take", default=True))
    with pytest.raises(ValueError, match="only a subcommand"):
        spec("points", default=True)
