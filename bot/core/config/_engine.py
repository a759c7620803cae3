"""Walk a config dataclass's fields and build it from a TOML table: the generic validator."""

from __future__ import annotations

import dataclasses
import difflib
import logging
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from bot.core.config._convert import Converter
from bot.core.errors import ConfigError

T = TypeVar("T")
log = logging.getLogger(__package__)  # bot.core.config, the logger operators know

_MISSING = "nothing (the key is missing)"


@dataclass(frozen=True)
class _Spec:
    """What a field's metadata says about how to read and report its values."""

    convert: Converter | None = None
    expected: str | None = None
    secret: bool = False
    redact: Callable[[str], str] | None = None


def _kind(value: object) -> str:
    """Name the TOML type of a value, with an article, without showing the value."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (datetime, date, time)):
        return "a date or time"
    return f"a {type(value).__name__}"


def _got(value: object, spec: _Spec) -> str:
    """Show a bad value in an error: its repr, or only its type if it is a secret."""
    if spec.secret:
        return _kind(value)
    if spec.redact is not None and isinstance(value, str):
        value = spec.redact(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _join(path: str, name: str) -> str:
    """Extend a dotted key path."""
    return f"{path}.{name}" if path else name


def _optional_inner(hint: Any) -> Any:
    """Return X for ``X | None``, or the hint itself."""
    if get_origin(hint) in (Union, types.UnionType):
        args = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported config type {hint!r}")
        return args[0]
    return hint


def _tuple_item(hint: Any) -> Any | None:
    """Return X for ``tuple[X, ...]``, or None if the hint is not such a tuple."""
    if get_origin(hint) is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0]
        raise TypeError(f"unsupported config type {hint!r}")
    return None


def _expected(hint: Any, spec: _Spec) -> str:
    """Say in words what a value of this type must be."""
    hint = _optional_inner(hint)
    item = _tuple_item(hint)
    if item is not None:
        if spec.convert is None and dataclasses.is_dataclass(item):
            return "an array of tables"
        return f"an array (each item {_expected(item, spec)})"
    if spec.expected is not None:
        return spec.expected
    if dataclasses.is_dataclass(hint):
        return "a table"
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return "one of " + ", ".join(repr(member.value) for member in hint)
    names = {str: "a string", int: "an integer", bool: "true or false", float: "a number"}
    if hint in names:
        return names[hint]
    raise TypeError(f"unsupported config type {hint!r}")


def _coerce(raw: object, hint: Any, spec: _Spec, path: str, source: str) -> object:
    """Turn one raw TOML value into a value of type ``hint``, or raise ConfigError."""
    hint = _optional_inner(hint)

    def fail() -> ConfigError:
        return ConfigError(path, _expected(hint, spec), _got(raw, spec), source=source)

    item = _tuple_item(hint)
    if item is not None:
        if not isinstance(raw, (list, tuple)):
            raise fail()
        return tuple(
            _coerce(value, item, spec, f"{path}[{index}]", source)
            for index, value in enumerate(raw)
        )
    if spec.convert is not None:
        try:
            return spec.convert(raw)
        except (ValueError, TypeError):
            raise fail() from None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build_dataclass(hint, raw, path=path, source=source)
    if hint is bool:
        if not isinstance(raw, bool):
            raise fail()
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise fail()
        return raw
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise fail()
        return float(raw)
    if hint is str:
        if not isinstance(raw, str):
            raise fail()
        return raw
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        if not isinstance(raw, str) or raw not in {member.value for member in hint}:
            raise fail()
        return hint(raw)
    raise TypeError(f"unsupported config type {hint!r} at {path}")


def build_dataclass(cls: type[T], data: object, *, path: str = "", source: str = "") -> T:
    """Validate a TOML table against a frozen config dataclass and build it."""
    if not isinstance(data, Mapping):
        raise ConfigError(path or "(top level)", "a table", _got(data, _Spec()), source=source)
    hints = get_type_hints(cls)
    fields = [
        f
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init and not f.metadata.get("internal")
    ]
    names = [f.name for f in fields]
    deprecated: dict[str, str] = getattr(cls, "DEPRECATED", {})
    for key in data:
        if key in deprecated and key not in names:
            log.warning(
                "config %s: %s is deprecated and ignored (%s)",
                source or "(memory)",
                _join(path, str(key)),
                deprecated[key],
            )
        elif key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "one of: " + ", ".join(names)
            raise ConfigError(_join(path, str(key)), f"a known key ({hint})", source=source)
    values: dict[str, object] = {}
    for f in fields:
        key = _join(path, f.name)
        spec = _Spec(
            convert=f.metadata.get("convert"),
            expected=f.metadata.get("expected"),
            secret=bool(f.metadata.get("secret")),
            redact=f.metadata.get("redact"),
        )
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(key, _expected(hints[f.name], spec), _MISSING, source=source)
            continue
        values[f.name] = _coerce(data[f.name], hints[f.name], spec, key, source)
    return cls(**values)
