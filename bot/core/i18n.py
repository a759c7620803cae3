"""Translation: every user-facing string goes through a ``Translator``.

Catalogs are TOML files named by locale (``en.toml``, ``zh_CN.toml``); nested tables become
dotted keys. The core ships its own catalog and each cog may add one from its package.
Parameters are escaped for the reply markup unless the plain form is asked for.
A process reads each catalog file once (``read_catalog``): every ``Translator`` built after the
first (a restart, a test's bot) copies the parsed entries instead of parsing the TOML again.

A string that depends on a number is a table of plural forms (``one`` and ``other`` in
English; Chinese has one form, so a plain string there): the ``count`` parameter picks one.
"""

from __future__ import annotations

import functools
import logging
import string
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from bot.core import markup

log = logging.getLogger(__name__)

DEFAULT_LOCALE = "en"
OTHER = "other"
# The CLDR plural categories a catalog's plural table may hold.
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", OTHER})
# The units a duration is written in, largest first, with their length in seconds.
DURATION_UNITS = (
    ("week", 604_800),
    ("day", 86_400),
    ("hour", 3_600),
    ("minute", 60),
    ("second", 1),
)
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "zh_CN")
CORE_CATALOGS = Path(__file__).with_name("locales")

_ALIASES = {
    "en": "en",
    "zh": "zh_CN",
    "zh_cn": "zh_CN",
    "zh_hans": "zh_CN",
    "zh_hans_cn": "zh_CN",
    "zh_sg": "zh_CN",
    "cn": "zh_CN",
}


def normalize_locale(text: str | None) -> str | None:
    """Map a platform's or a person's locale tag to a supported locale, or None."""
    if not text:
        return None
    key = text.strip().replace("-", "_").lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key.startswith("en_"):
        return "en"
    if key.startswith(("zh_hans", "zh_cn")):
        return "zh_CN"
    return None


def plural_form(locale: str, count: int) -> str:
    """Return the CLDR plural category of ``count`` in ``locale`` (Chinese has only "other")."""
    if locale == DEFAULT_LOCALE and count == 1:
        return "one"
    return OTHER


def _is_plural(table: Mapping[str, Any]) -> bool:
    return OTHER in table and set(table) <= PLURAL_FORMS


def _flatten(
    prefix: str,
    table: Mapping[str, Any],
    out: dict[str, str],
    source: Path,
    plurals: dict[str, dict[str, str]],
) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and _is_plural(value):
            if not all(isinstance(v, str) for v in value.values()):
                raise ValueError(f"{source}: the plural forms of {full} must be strings")
            out[full] = value[OTHER]
            plurals[full] = dict(value)
        elif isinstance(value, Mapping):
            _flatten(full, value, out, source, plurals)
        elif isinstance(value, str):
            out[full] = value
        else:
            raise ValueError(f"{source}: {full} must be a string")


class Catalog(NamedTuple):
    """One catalog file, parsed: its dotted keys and, for the plural ones, their forms."""

    entries: Mapping[str, str]
    plurals: Mapping[str, Mapping[str, str]]


def read_catalog(path: Path) -> Catalog | None:
    """Return the parsed catalog at ``path`` (None when there is none), parsing it once.

    Parsing the catalogs took two thirds of building a bot (20 of 30 ms); a file changed since
    (its modification time or size) is parsed again.
    """
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return _parse_catalog(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _parse_catalog(path: Path, _mtime_ns: int, _size: int) -> Catalog:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    entries: dict[str, str] = {}
    plurals: dict[str, dict[str, str]] = {}
    _flatten("", data, entries, path, plurals)
    return Catalog(
        MappingProxyType(entries),
        MappingProxyType({key: MappingProxyType(forms) for key, forms in plurals.items()}),
    )


def placeholders(template: str) -> set[str]:
    """Return the names of the ``{placeholders}`` in a template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Translator:
    """Look up and format translated strings, falling back to English."""

    def __init__(self, *, strict: bool = False) -> None:
        self.catalogs: dict[str, dict[str, str]] = {loc: {} for loc in SUPPORTED_LOCALES}
        # The keys whose string has plural forms, by locale: key -> form -> template.
        self.plurals: dict[str, dict[str, dict[str, str]]] = {loc: {} for loc in SUPPORTED_LOCALES}
        self.strict = strict
        self.load_dir(CORE_CATALOGS)

    def load_dir(self, directory: Path) -> None:
        """Add the catalogs found in ``directory`` (one TOML file per locale)."""
        for locale in SUPPORTED_LOCALES:
            path = directory / f"{locale}.toml"
            catalog = read_catalog(path)
            if catalog is None:
                continue
            clash = catalog.entries.keys() & self.catalogs[locale].keys()
            if clash:
                raise ValueError(f"{path}: keys defined twice: {', '.join(sorted(clash))}")
            self.catalogs[locale].update(catalog.entries)
            self.plurals[locale].update(
                (key, dict(forms)) for key, forms in catalog.plurals.items()
            )

    def has(self, key: str) -> bool:
        """Say whether the English catalog defines ``key``."""
        return key in self.catalogs[DEFAULT_LOCALE]

    def _template(self, locale: str, key: str, count: object = None) -> str:
        if key not in self.catalogs.get(locale, {}):
            locale = DEFAULT_LOCALE
        template = self.catalogs[locale].get(key)
        forms = self.plurals[locale].get(key)
        if forms is not None and isinstance(count, int):
            template = forms.get(plural_form(locale, count), template)
        if template is None:
            if self.strict:
                raise KeyError(f"no translation for {key!r}")
            log.error("missing translation key %s", key)
            return key
        return template

    def text(self, locale: str, key: str, /, **params: Any) -> str:
        """Return the translated markup for ``key``, with string parameters escaped."""
        safe = {k: markup.escape(v) if isinstance(v, str) else v for k, v in params.items()}
        return self._format(locale, key, safe)

    def plain(self, locale: str, key: str, /, **params: Any) -> str:
        """Return the translated plain text for ``key`` (labels, descriptions)."""
        return markup.plain(self.text(locale, key, **params))

    def duration(self, locale: str, value: timedelta) -> str:
        """Write a duration in words, as plain text: ``1 hour 30 minutes``, ``1 小时 30 分钟``."""
        seconds = max(0, int(value.total_seconds()))
        parts: list[str] = []
        for unit, size in DURATION_UNITS:
            amount, seconds = divmod(seconds, size)
            if amount:
                parts.append(self.plain(locale, f"duration.{unit}", count=amount))
        return " ".join(parts) or self.plain(locale, "duration.second", count=0)

    def _format(self, locale: str, key: str, params: Mapping[str, Any]) -> str:
        template = self._template(locale, key, params.get("count"))
        try:
            return template.format_map(params)
        except (KeyError, IndexError, ValueError):
            if self.strict:
                raise
            log.exception("cannot format translation %s with %s", key, sorted(params))
            return template
