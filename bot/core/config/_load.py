"""Read a TOML file, apply environment overrides, validate and resolve relative paths."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import get_type_hints

from bot.core.config._checks import _check
from bot.core.config._community import Config
from bot.core.config._convert import _SQLITE_PREFIX, _resolve_sqlite
from bot.core.config._engine import _optional_inner, build_dataclass
from bot.core.errors import ConfigError


def _apply_env(data: Mapping[str, object], env: Mapping[str, str]) -> dict[str, object]:
    """Copy ``data`` with every non-empty environment override of a section key applied."""
    merged = dict(data)
    hints = get_type_hints(Config)
    for section in dataclasses.fields(Config):
        section_type = _optional_inner(hints[section.name])
        if not dataclasses.is_dataclass(section_type):
            continue
        for f in dataclasses.fields(section_type):
            variable = f.metadata.get("env")
            value = env.get(variable, "") if variable else ""
            if not value:
                continue
            table = merged.get(section.name, {})
            if not isinstance(table, Mapping):
                continue  # leave it for the validator to report
            merged[section.name] = {**table, f.name: value}
    return merged


def parse_config(
    data: Mapping[str, object], *, source: str, base_dir: Path, env: Mapping[str, str]
) -> Config:
    """Validate parsed TOML, apply environment overrides and resolve relative paths."""
    config = build_dataclass(Config, _apply_env(data, env), source=source)
    _check(config, source)
    database = dataclasses.replace(
        config.database, url=_resolve_sqlite(config.database.url, base_dir)
    )
    console = config.console
    if console.log_file:
        console = dataclasses.replace(console, log_file=str(base_dir / console.log_file))
    communities = config.communities
    if not database.url.startswith(_SQLITE_PREFIX):
        # No database file to keep the recommender's models beside: the config's folder then.
        communities = tuple(
            dataclasses.replace(
                c, recommend=dataclasses.replace(c.recommend, model_dir=str(base_dir))
            )
            if not c.recommend.model_dir
            else c
            for c in communities
        )
    return dataclasses.replace(
        config,
        database=database,
        console=console,
        communities=communities,
        source=Path(source),
    )


_TOML_POSITION_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _syntax_got(message: str) -> str:
    """Reword tomllib's message as ``<problem> at line L, column C``."""
    match = _TOML_POSITION_RE.search(message)
    if match is None:
        return message
    problem = message[: match.start()]
    problem = problem[:1].lower() + problem[1:]
    return f"{problem} at line {match.group(1)}, column {match.group(2)}"


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the configuration in the TOML file at ``path``."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("(file)", "a readable TOML file", "no such file", source=source) from None
    except IsADirectoryError:
        raise ConfigError("(file)", "a readable TOML file", "a directory", source=source) from None
    except OSError as exc:
        got = exc.strerror or type(exc).__name__
        raise ConfigError("(file)", "a readable TOML file", got, source=source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        got = f"an invalid byte at offset {exc.start}"
        raise ConfigError("(file)", "a UTF-8 encoded TOML file", got, source=source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        got = _syntax_got(str(exc))
        raise ConfigError("(syntax)", "valid TOML", got, source=source) from None
    return parse_config(
        data,
        source=source,
        base_dir=path.absolute().parent,
        env=os.environ if env is None else env,
    )
