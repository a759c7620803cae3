"""Which commands a caller may run, and how to write their usage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.core.commands import CommandSpec, Permission, Role


def may_run(spec: CommandSpec, role: Role, tiers: frozenset[str]) -> bool:
    """Say whether someone with ``role`` and ``tiers`` may run ``spec``."""
    if spec.permission is Permission.TIER and not role.may(Permission.TIER):
        return bool(tiers.intersection(spec.tiers))
    return role.may(spec.permission)


def visible_commands(
    specs: Iterable[CommandSpec], role: Role, tiers: frozenset[str]
) -> list[CommandSpec]:
    """Return the commands the caller may run, by name."""
    return sorted((s for s in specs if may_run(s, role, tiers)), key=lambda s: s.name)


def usage(spec: CommandSpec, names: Mapping[str, str] | None = None) -> str:
    """Return ``/name <required> [optional]`` for a command, options renamed by ``names``."""
    parts = [f"/{spec.name}"]
    for option in spec.options:
        name = (names or {}).get(option.name, option.name)
        parts.append(f"<{name}>" if option.required else f"[{name}]")
    return " ".join(parts)
