"""Command specs: written once by a cog, rendered by every adapter."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.core.replies import Reply

if TYPE_CHECKING:
    from bot.core.context import Context

# The names both Discord (lower-case) and Telegram (a-z, 0-9, _) accept.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Console-only words; a cog may not take them (the console adapter reads them itself).
RESERVED_NAMES = frozenset({"as", "press", "channel", "quit"})
MAX_OPTIONS = 25

CommandHandler = Callable[..., Awaitable[Reply | str | None]]
ActionHandler = Callable[["Context", str], Awaitable[Reply | str | None]]


class Permission(StrEnum):
    """Who may run a command."""

    ANYONE = "anyone"
    TIER = "tier"
    MODERATOR = "moderator"
    ORGANIZER = "organizer"
    ADMIN = "admin"


class Role(StrEnum):
    """What a caller is in a community, from config."""

    MEMBER = "member"
    MODERATOR = "moderator"
    ORGANIZER = "organizer"
    ADMIN = "admin"

    def may(self, permission: Permission) -> bool:
        """Say whether this role alone satisfies ``permission`` (tiers are checked apart)."""
        if permission is Permission.ADMIN:
            return self is Role.ADMIN
        if permission is Permission.ORGANIZER:
            return self in (Role.ORGANIZER, Role.ADMIN)
        if permission is Permission.MODERATOR:
            return self in (Role.MODERATOR, Role.ORGANIZER, Role.ADMIN)
        if permission is Permission.TIER:
            return self in (Role.ORGANIZER, Role.ADMIN)
        return True


class OptionKind(StrEnum):
    """The type of an option's value."""

    TEXT = "text"
    INTEGER = "integer"
    MEMBER = "member"
    DATETIME = "datetime"  # aware: in the zone the text names, else UTC
    DURATION = "duration"
    CHOICE = "choice"


@dataclass(frozen=True, slots=True)
class Choice:
    """One allowed value of a choice option, with its translated label."""

    value: str
    label_key: str


@dataclass(frozen=True, slots=True)
class Option:
    """A typed option of a command."""

    name: str
    kind: OptionKind
    description_key: str
    required: bool = True
    choices: tuple[Choice, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    max_length: int = 2000

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ValueError(f"option name {self.name!r} is not a valid command option name")
        if (self.kind is OptionKind.CHOICE) != bool(self.choices):
            raise ValueError(f"option {self.name!r}: choices go with kind CHOICE, and only there")

    @property
    def name_key(self) -> str:
        """Return the catalog key of the name people see (Discord's ``name_localizations``)."""
        return f"{self.description_key}_name"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command: ``name`` is one word, or two for a subcommand (``"questions search"``)."""

    name: str
    description_key: str
    handler: CommandHandler
    options: tuple[Option, ...] = ()
    permission: Permission = Permission.ANYONE
    tiers: tuple[str, ...] = ()
    default: bool = False  # a subcommand that also runs when only its group is typed

    def __post_init__(self) -> None:
        words = self.name.split(" ")
        if self.default and len(words) != 2:
            raise ValueError(f"command {self.name!r}: only a subcommand can be a group's default")
        if len(words) > 2 or not all(NAME_RE.match(w) for w in words):
            raise ValueError(f"command name {self.name!r}: one or two words of a-z, 0-9, _")
        if words[0] in RESERVED_NAMES:
            raise ValueError(f"command name {words[0]!r} is reserved by the console")
        if len(self.options) > MAX_OPTIONS:
            raise ValueError(f"command {self.name!r} has more than {MAX_OPTIONS} options")
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise ValueError(f"command {self.name!r} repeats an option name")
        seen_optional = False
        for option in self.options:
            if option.required and seen_optional:
                raise ValueError(f"command {self.name!r}: required option after an optional one")
            seen_optional = seen_optional or not option.required
        if (self.permission is Permission.TIER) != bool(self.tiers):
            raise ValueError(
                f"command {self.name!r}: tiers go with permission TIER, and only there"
            )

    @property
    def path(self) -> tuple[str, ...]:
        """Return the words of the name."""
        return tuple(self.name.split(" "))


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What a button press runs: ``handler(ctx, payload)``."""

    id: str
    handler: ActionHandler
    permission: Permission = Permission.ANYONE

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z][a-z0-9_.]{0,31}$", self.id):
            raise ValueError(f"action id {self.id!r}: up to 32 of a-z, 0-9, _ and .")


class CommandRegistry:
    """Every command and button action the cogs registered; collisions are errors."""

    def __init__(self) -> None:
        self._commands: dict[str, CommandSpec] = {}
        self._actions: dict[str, ActionSpec] = {}
        self._owners: dict[str, str] = {}

    def add(self, spec: CommandSpec, *, owner: str = "") -> None:
        """Register a command; raise if its name, or its group, is taken."""
        if spec.name in self._commands:
            other = self._owners.get(spec.name, "?")
            raise ValueError(f"command {spec.name!r} from {owner or '?'} collides with {other}")
        top = spec.path[0]
        if len(spec.path) == 2 and top in self._commands:
            raise ValueError(f"{spec.name!r}: {top!r} is already a plain command")
        if len(spec.path) == 1 and any(n.startswith(top + " ") for n in self._commands):
            raise ValueError(f"{spec.name!r} is already a command group")
        if spec.default and self.default_of(top) is not None:
            raise ValueError(f"{spec.name!r}: group {top!r} already has a default subcommand")
        self._commands[spec.name] = spec
        self._owners[spec.name] = owner

    def add_action(self, spec: ActionSpec) -> None:
        """Register a button action; raise if its id is taken."""
        if spec.id in self._actions:
            raise ValueError(f"action {spec.id!r} is registered twice")
        self._actions[spec.id] = spec

    def get(self, name: str) -> CommandSpec | None:
        """Return the command with this full name."""
        return self._commands.get(name)

    def action(self, action_id: str) -> ActionSpec | None:
        """Return the button action with this id."""
        return self._actions.get(action_id)

    def actions(self) -> list[ActionSpec]:
        """Return every button action, by id."""
        return sorted(self._actions.values(), key=lambda a: a.id)

    def default_of(self, group: str) -> CommandSpec | None:
        """Return the subcommand that runs when only ``group`` is typed."""
        return next((s for s in self.subcommands(group) if s.default), None)

    def is_group(self, word: str) -> bool:
        """Say whether ``word`` names a group of subcommands."""
        return any(n.startswith(word + " ") for n in self._commands)

    def subcommands(self, group: str) -> list[CommandSpec]:
        """Return the subcommands of ``group``, by name."""
        return sorted(
            (s for n, s in self._commands.items() if n.startswith(group + " ")),
            key=lambda s: s.name,
        )

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(sorted(self._commands.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._commands)
