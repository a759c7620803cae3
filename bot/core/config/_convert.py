"""Turn raw TOML values into stored ones: the converters and the field metadata they ride in."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.errors import UserError
from bot.core.i18n import normalize_locale
from bot.core.parsing import format_duration, parse_duration
from bot.core.platforms import PlatformName

Converter = Callable[[object], object]

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_CONSOLE_USER_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_DIGITS_RE = re.compile(r"-?[0-9]{1,20}")
_TZ_RE = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")
_SQLITE_PREFIX = "sqlite+aiosqlite:///"
_POSTGRES_PREFIX = "postgresql+asyncpg://"
_URL_PASSWORD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)[^@/]*@")


def _text(raw: object) -> str:
    """Return ``raw`` if it is a string; raise TypeError otherwise."""
    if not isinstance(raw, str):
        raise TypeError("not a string")
    return raw


def _nonempty(raw: object) -> str:
    """Accept a string with something other than spaces in it."""
    text = _text(raw).strip()
    if not text:
        raise ValueError("empty")
    return text


def _slug(raw: object) -> str:
    """Accept a community id: lowercase letters, digits and dashes, at most 32 characters."""
    text = _text(raw)
    if not _SLUG_RE.fullmatch(text):
        raise ValueError("not a slug")
    return text


def _console_user(raw: object) -> str:
    """Accept a console user name: letters, digits, ``_``, ``.`` and ``-``."""
    text = _text(raw).strip()
    if not _CONSOLE_USER_RE.fullmatch(text):
        raise ValueError("not a console user name")
    return text


def _integer_id(raw: object, *, allow_negative: bool) -> str:
    """Accept a platform id given as a TOML integer or a string of digits; store it as text."""
    if isinstance(raw, bool):
        raise TypeError("a boolean is not an id")
    if isinstance(raw, int):
        number = raw
    elif isinstance(raw, str) and _DIGITS_RE.fullmatch(raw.strip()):
        number = int(raw.strip())
    else:
        raise ValueError("not an integer id")
    if number == 0 or (number < 0 and not allow_negative) or abs(number) >= 2**64:
        raise ValueError("id out of range")
    return str(number)


def _positive_id(raw: object) -> str:
    """Accept a positive numeric id, such as a Discord guild or a user."""
    return _integer_id(raw, allow_negative=False)


def _chat_id(raw: object) -> str:
    """Accept a Telegram chat id, which is negative for groups and channels."""
    return _integer_id(raw, allow_negative=True)


def _locale(raw: object) -> str:
    """Accept a locale tag that maps to a supported locale."""
    locale = normalize_locale(_text(raw))
    if locale is None:
        raise ValueError("unsupported locale")
    return locale


def _timezone(raw: object) -> str:
    """Accept an IANA time zone name that this machine knows."""
    name = _text(raw)
    if not _TZ_RE.fullmatch(name):
        raise ValueError("not a time zone name")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError("unknown time zone") from exc
    return name


def _http_url(raw: object) -> str:
    """Accept an http or https URL."""
    text = _nonempty(raw)
    if not re.match(r"^https?://[^\s/]+", text):
        raise ValueError("not an http(s) URL")
    return text


def _public_url(raw: object) -> str | None:
    """Accept an http(s) base URL (without a trailing slash), or an empty string for none."""
    if isinstance(raw, str) and not raw.strip():
        return None
    return _http_url(raw).rstrip("/")


def _rate(raw: object) -> int:
    """Accept a message rate from 1 to 1000."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 1 <= raw <= 1000:
        raise ValueError("rate out of range")
    return raw


def _port(raw: object) -> int:
    """Accept a TCP port number."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 1 <= raw <= 65535:
        raise ValueError("port out of range")
    return raw


def _duration_between(low: timedelta, high: timedelta) -> Converter:
    """Make a converter for a duration string within ``low`` and ``high``."""

    def convert(raw: object) -> timedelta:
        try:
            value = parse_duration(_text(raw), option="config")
        except UserError as exc:
            raise ValueError("not a duration") from exc
        if not low <= value <= high:
            raise ValueError("duration out of range")
        return value

    return convert


def _database_url(raw: object) -> str:
    """Accept an async SQLAlchemy URL for a SQLite file or PostgreSQL."""
    url = _text(raw).strip()
    if url.startswith(_SQLITE_PREFIX):
        path, _, query = url[len(_SQLITE_PREFIX) :].partition("?")
        if not path.strip() or path == ":memory:" or "mode=memory" in query:
            raise ValueError("an in-memory database")
        return url
    if url.startswith(_POSTGRES_PREFIX) and len(url) > len(_POSTGRES_PREFIX):
        return url
    raise ValueError("not a supported database URL")


def mask_url_password(url: str) -> str:
    """Hide the password in a URL such as ``postgresql+asyncpg://user:pw@host/db``."""
    return _URL_PASSWORD_RE.sub(r"\1***@", url)


def _resolve_sqlite(url: str, base_dir: Path) -> str:
    """Make a relative SQLite file path absolute, relative to ``base_dir``."""
    if not url.startswith(_SQLITE_PREFIX):
        return url
    path, sep, query = url[len(_SQLITE_PREFIX) :].partition("?")
    resolved = Path(path)
    if not resolved.is_absolute():
        resolved = (base_dir / resolved).resolve()
    return f"{_SQLITE_PREFIX}{resolved}{sep}{query}"


def _meta(convert: Converter, expected: str, **extra: object) -> dict[str, object]:
    """Build field metadata: read the raw value with ``convert``; ``expected`` says what fits."""
    return {"convert": convert, "expected": expected, **extra}


def _channel_ref(raw: object) -> str:
    """Accept ``platform:channel_id`` and keep it as written (lower-case platform)."""
    platform_text, sep, channel = _text(raw).strip().partition(":")
    if not sep or not channel.strip():
        raise ValueError("not platform:channel")
    platform = PlatformName(platform_text.strip().lower())
    return f"{platform.value}:{channel.strip()}"


def _seconds_between(low: float, high: float) -> Converter:
    """Make a converter for a number of seconds within ``low`` and ``high``."""

    def convert(raw: object) -> float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise TypeError("not a number")
        if not low <= raw <= high:
            raise ValueError("out of range")
        return float(raw)

    return convert


def _non_negative(raw: object) -> int:
    """Accept a whole number of zero or more."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 0 <= raw <= 1_000_000:
        raise ValueError("out of range")
    return raw


def _positive_count(raw: object) -> int:
    """Accept a whole number from 1 up."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 1 <= raw <= 1_000_000:
        raise ValueError("out of range")
    return raw


def _percent(raw: object) -> int:
    """Accept a whole percentage from 0 to 100."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 0 <= raw <= 100:
        raise ValueError("out of range")
    return raw


_COUNT = "a whole number from 0 to 1000000"


def _count(default: int) -> Any:
    return field(default=default, metadata=_meta(_non_negative, _COUNT))


def _span(default: timedelta, low: timedelta, high: timedelta) -> dict[str, object]:
    """Build metadata for a duration between ``low`` and ``high``."""
    return _meta(
        _duration_between(low, high),
        f"a duration from '{format_duration(low)}' to '{format_duration(high)}', "
        f"like '{format_duration(default)}'",
        show=format_duration,
    )
