"""Write the command reference from the command registry: docs/commands*.md and the README table.

``cohort docs`` rewrites them; ``cohort docs --check`` (and ``tests/test_docs.py``) fails when a
file differs from what the registry says, so the tables never drift from the commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.adapters.discord._commands import SUB_COMMAND, ZH, CommandRenderer
from bot.cogs import DEFAULT_COGS
from bot.cogs.general._help import usage
from bot.core.clock import SystemClock
from bot.core.cohort import Cohort
from bot.core.commands import CommandRegistry, CommandSpec, Option, Permission
from bot.core.config import parse_config
from bot.core.i18n import Translator
from bot.store.db import Database

START = "<!-- commands:start -->"
END = "<!-- commands:end -->"
# The generated files, by locale, relative to the repository root.
FILES = {"en": Path("docs/commands.md"), "zh_CN": Path("docs/commands.zh_CN.md")}
README = Path("README.md")
# The registry does not depend on the config; this is the smallest one that loads every cog.
_CONFIG: dict[str, Any] = {
    "database": {"url": "sqlite+aiosqlite:///unused.db"},  # never opened
    "web": {"enabled": False},
    "communities": [{"id": "docs", "name": "Docs"}],
}


@dataclass(frozen=True, slots=True)
class DiscordNames:
    """The localised (Chinese) names Discord shows for a command's words and options."""

    words: tuple[str, ...]
    options: dict[str, str] = field(default_factory=dict)


def load_registry() -> tuple[CommandRegistry, Translator]:
    """Return the registry and catalogs of every default cog, without opening a database."""
    config = parse_config(_CONFIG, source="docs", base_dir=Path.cwd(), env={})
    cohort = Cohort(config, Database(config.database.url), SystemClock())
    cohort.load_cogs(DEFAULT_COGS)
    return cohort.registry, cohort.i18n


def discord_names(registry: CommandRegistry, i18n: Translator) -> dict[str, DiscordNames]:
    """Return, by command name, the Chinese names in the payload Discord is sent."""
    names: dict[str, DiscordNames] = {}
    for top in CommandRenderer(registry, i18n).payload():
        top_word = _zh(top)
        subs = [o for o in top.get("options", []) if o["type"] == SUB_COMMAND]
        for sub in subs:
            names[f"{top['name']} {sub['name']}"] = DiscordNames(
                (top_word, _zh(sub)), {o["name"]: _zh(o) for o in sub["options"]}
            )
        if not subs:
            names[top["name"]] = DiscordNames(
                (top_word,), {o["name"]: _zh(o) for o in top.get("options", [])}
            )
    return names


def _zh(item: dict[str, Any]) -> str:
    name: str = item.get("name_localizations", {}).get(ZH, item["name"])
    return name


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def _who(spec: CommandSpec, i18n: Translator, locale: str) -> str:
    if spec.permission is Permission.TIER:
        return i18n.plain(locale, "docs.who.tier", tiers=", ".join(spec.tiers))
    return i18n.plain(locale, f"docs.who.{spec.permission.value}")


def _option(option: Option, i18n: Translator, locale: str, local: str) -> str:
    text = f"`{option.name}`" + (f" / `{local}`" if local != option.name else "")
    if option.choices:
        text += " (" + " \\| ".join(f"`{c.value}`" for c in option.choices) + ")"
    return f"{text}: {_cell(i18n.plain(locale, option.description_key))}"


def table(registry: CommandRegistry, i18n: Translator, locale: str) -> str:
    """Return the Markdown table of every command, in ``locale``."""
    zh = locale != "en"
    names = discord_names(registry, i18n) if zh else {}
    head = [i18n.plain(locale, f"docs.column.{c}") for c in ("command", "who", "what", "options")]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for spec in registry:
        command = _code(usage(spec))
        if spec.default:
            command += " " + i18n.text(locale, "docs.also", group=spec.path[0])
        local = names.get(spec.name)
        if local is not None:
            localised = "/" + " ".join(local.words)
            shown = usage(spec, local.options)
            if shown != usage(spec) or localised != f"/{spec.name}":
                command += (
                    "<br>"
                    + i18n.text(locale, "docs.discord")
                    + _code(localised + shown[len(spec.name) + 1 :])
                )
        options = "<br>".join(
            _option(o, i18n, locale, local.options.get(o.name, o.name) if local else o.name)
            for o in spec.options
        )
        what = _cell(i18n.plain(locale, spec.description_key))
        lines.append(f"| {command} | {_who(spec, i18n, locale)} | {what} | {options} |")
    return "\n".join(lines) + "\n"


def page(registry: CommandRegistry, i18n: Translator, locale: str) -> str:
    """Return the whole docs/commands page for ``locale``."""
    return "\n".join(
        [
            f"# {i18n.plain(locale, 'docs.title')}",
            "",
            f"<!-- {i18n.text('en', 'docs.generated')} -->",
            "",
            i18n.text(locale, "docs.intro"),
            "",
            table(registry, i18n, locale),
        ]
    )


def readme_with_table(readme: str, english_table: str) -> str:
    """Return ``readme`` with the text between the markers replaced by ``english_table``."""
    before, start, rest = readme.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise ValueError(f"README.md has no {START} … {END} section")
    return f"{before}{START}\n{english_table}{END}{after}"


def expected(root: Path) -> dict[Path, str]:
    """Return what each generated file under ``root`` should contain."""
    registry, i18n = load_registry()
    files = {root / path: page(registry, i18n, locale) for locale, path in FILES.items()}
    readme = (root / README).read_text(encoding="utf-8")
    files[root / README] = readme_with_table(readme, table(registry, i18n, "en"))
    return files


def stale(root: Path) -> list[Path]:
    """Return the generated files under ``root`` that differ from the registry."""
    return [
        path
        for path, text in expected(root).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def write(root: Path) -> list[Path]:
    """Rewrite the generated files under ``root`` that differ; return them."""
    changed = stale(root)
    for path, text in expected(root).items():
        if path in changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return changed
