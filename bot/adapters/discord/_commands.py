"""Render the core's command specs as Discord application commands, and read their options."""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.core.commands import CommandRegistry, CommandSpec, Option, OptionKind, Permission
from bot.core.i18n import Translator

log = logging.getLogger(__name__)

# Discord's application command option types.
SUB_COMMAND, STRING, INTEGER, USER = 1, 3, 4, 6
# Discord's locale for our zh_CN.
ZH = "zh-CN"
CATALOG_ZH = "zh_CN"
DESCRIPTION_LIMIT = 100
NAME_LIMIT = 32
NAME_MARKS = "-_"
INDIC_SCRIPTS = ("DEVANAGARI", "THAI")
CHOICE_LIMIT = 100
# Admin commands are shown by default to people who may manage the server; a server admin can
# widen that under Server Settings → Integrations. Cohort checks its own roles either way.
MANAGE_GUILD = 1 << 5
DEFAULT_PERMISSIONS = {Permission.ADMIN: str(MANAGE_GUILD)}
OPTION_TYPES = {
    OptionKind.TEXT: STRING,
    OptionKind.INTEGER: INTEGER,
    OptionKind.MEMBER: USER,
    OptionKind.DATETIME: STRING,
    OptionKind.DURATION: STRING,
    OptionKind.CHOICE: STRING,
}


def valid_name(name: str) -> bool:
    """Say whether Discord takes ``name`` as a command or option name, localised ones too.

    Discord's rule: ``^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$``, in lower case where
    the script has cases (so Chinese names are fine).
    """
    if not 1 <= len(name) <= NAME_LIMIT or name != name.lower():
        return False
    return all(
        ch in NAME_MARKS
        or unicodedata.category(ch)[0] in "LN"
        or unicodedata.name(ch, "").startswith(INDIC_SCRIPTS)
        for ch in name
    )


def command_name_key(description_key: str) -> str:
    """Return the catalog key of a command's localised name: beside its description.

    ``lectures.schedule.description`` -> ``lectures.schedule.name``,
    ``points.manual.give_description`` -> ``points.manual.give_name``.
    """
    head, found, tail = description_key.rpartition("description")
    return f"{head}name{tail}" if found else f"{description_key}_name"


def option_name_key(description_key: str) -> str:
    """Return the catalog key of an option's localised name: ``lectures.option.id_name``."""
    return f"{description_key}_name"


def group_name_key(description_key: str, group: str) -> str:
    """Return the catalog key of a group's localised name, in its first subcommand's cog.

    ``lecture`` with ``lectures.schedule.description`` -> ``lectures.groups.lecture``.
    """
    return f"{description_key.split('.', 1)[0]}.groups.{group}"


def _short(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CommandRenderer:
    """Build the bulk-overwrite payload of a registry, in English with Chinese localizations."""

    def __init__(self, registry: CommandRegistry, i18n: Translator) -> None:
        self.registry = registry
        self.i18n = i18n

    def _described(self, key: str, **params: Any) -> dict[str, Any]:
        english = _short(self.i18n.plain("en", key, **params)) or "-"
        chinese = _short(self.i18n.plain("zh_CN", key, **params)) or english
        return {"description": english, "description_localizations": {ZH: chinese}}

    def _named(self, name: str, key: str, where: str) -> dict[str, Any]:
        """Return ``name`` with its Chinese name from the catalogs, when it is one Discord takes.

        A name the catalog lacks, or that equals the English one, is left out; one Discord
        would refuse is logged and left out, so that a bad translation never stops a sync.
        """
        data: dict[str, Any] = {"name": name}
        chinese = self.i18n.catalogs.get(CATALOG_ZH, {}).get(key)
        if chinese is None or chinese == name:
            return data
        if not valid_name(chinese):
            log.warning(
                "discord: the Chinese name %r of %s (%s) is not a valid Discord name; left out",
                chinese,
                where,
                key,
            )
            return data
        data["name_localizations"] = {ZH: chinese}
        return data

    def _option(self, option: Option, where: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": OPTION_TYPES[option.kind],
            **self._named(
                option.name,
                option_name_key(option.description_key),
                f"option {option.name} of /{where}",
            ),
            **self._described(option.description_key),
            "required": option.required,
        }
        if option.kind is OptionKind.TEXT:
            data["max_length"] = min(option.max_length, 6000)
        if option.kind is OptionKind.INTEGER:
            if option.min_value is not None:
                data["min_value"] = option.min_value
            if option.max_value is not None:
                data["max_value"] = option.max_value
        if option.kind is OptionKind.CHOICE:
            data["choices"] = [
                {
                    "name": _short(self.i18n.plain("en", c.label_key), CHOICE_LIMIT),
                    "name_localizations": {
                        ZH: _short(self.i18n.plain("zh_CN", c.label_key), CHOICE_LIMIT)
                    },
                    "value": c.value,
                }
                for c in option.choices
            ]
        return data

    def _command(self, spec: CommandSpec) -> dict[str, Any]:
        return {
            **self._named(spec.path[-1], command_name_key(spec.description_key), f"/{spec.name}"),
            **self._described(spec.description_key),
            "options": _distinct([self._option(o, spec.name) for o in spec.options], spec.name),
        }

    def payload(self) -> list[dict[str, Any]]:
        """Return the commands to PUT: one per top-level name, groups with subcommands."""
        tops: dict[str, list[CommandSpec]] = {}
        for spec in self.registry:
            tops.setdefault(spec.path[0], []).append(spec)
        commands = []
        for name, specs in sorted(tops.items()):
            if len(specs) == 1 and len(specs[0].path) == 1:
                spec = specs[0]
                command = {"type": 1, **self._command(spec)}
                permission = spec.permission
            else:
                subs = sorted(specs, key=lambda s: s.name)
                command = {
                    "type": 1,
                    **self._named(name, group_name_key(subs[0].description_key, name), f"/{name}"),
                    **self._described(
                        "discord.group", name=name, subcommands=", ".join(s.path[1] for s in subs)
                    ),
                    "options": _distinct(
                        [{"type": SUB_COMMAND, **self._command(s)} for s in subs], name
                    ),
                }
                # A group is shown to whoever may run its most open subcommand.
                permission = min((s.permission for s in subs), key=_openness)
            command["default_member_permissions"] = DEFAULT_PERMISSIONS.get(permission)
            commands.append(command)
        return _distinct(commands, "the guild")


def _distinct(items: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """Drop Chinese names that would repeat a sibling's name (Discord refuses the payload)."""
    taken = {item["name"] for item in items}
    for item in items:
        chinese = item.get("name_localizations", {}).get(ZH)
        if chinese is None:
            continue
        if chinese in taken:
            log.warning(
                "discord: the Chinese name %r of %s in %s repeats another name; left out",
                chinese,
                item["name"],
                where,
            )
            del item["name_localizations"]
            continue
        taken.add(chinese)
    return items


def _openness(permission: Permission) -> int:
    return list(Permission).index(permission)


def payload_hash(payload: list[dict[str, Any]]) -> str:
    """Return a stable hash of a command payload."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Invocation:
    """A slash command as the interaction carries it: full name and option values by name."""

    name: str
    options: dict[str, Any]


def read_invocation(data: dict[str, Any]) -> Invocation:
    """Return the command name (with its subcommand) and options of a command interaction."""
    name = str(data.get("name", ""))
    options: Iterable[dict[str, Any]] = data.get("options") or []
    options = list(options)
    if len(options) == 1 and options[0].get("type") == SUB_COMMAND:
        name = f"{name} {options[0]['name']}"
        options = list(options[0].get("options") or [])
    return Invocation(name, {str(o["name"]): o.get("value") for o in options})
