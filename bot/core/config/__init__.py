"""Load and validate the operator's TOML configuration into frozen dataclasses.

One generic validator walks the dataclass fields, so a new section is one more dataclass field.
Field metadata tunes it: ``convert`` turns a raw TOML value into the stored one (raising
``ValueError`` or ``TypeError`` when it cannot), ``expected`` says in words what is allowed,
``secret`` keeps the value out of every message and ``env`` names an environment variable that
overrides the key. Every problem is a ``ConfigError`` naming a dotted key such as
``communities[0].timezone``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hmac
import logging
import os
import re
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.errors import ConfigError, UserError
from bot.core.i18n import SUPPORTED_LOCALES, normalize_locale
from bot.core.parsing import format_duration, parse_duration
from bot.core.platforms import PlatformName

T = TypeVar("T")
log = logging.getLogger(__name__)
Converter = Callable[[object], object]

_MISSING = "nothing (the key is missing)"


class Secret:
    """Hold a credential that is never printed: repr and str give asterisks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the credential itself, for handing to the library that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "********"

    def __str__(self) -> str:
        return "********"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


@dataclass(frozen=True, slots=True)
class AccountRef:
    """Name one account on one platform, written ``discord:123`` or ``console:alice``."""

    platform: PlatformName
    user_id: str

    @classmethod
    def parse(cls, text: str) -> AccountRef:
        """Read ``platform:user_id``; raise ValueError when it is not one."""
        platform_text, sep, user_text = text.strip().partition(":")
        if not sep:
            raise ValueError(f"not an account reference: {text!r}")
        try:
            platform = PlatformName(platform_text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown platform in {text!r}") from None
        user_id = user_text.strip()
        if platform is PlatformName.CONSOLE:
            return cls(platform, _console_user(user_id))
        return cls(platform, _positive_id(user_id))

    def __str__(self) -> str:
        return f"{self.platform.value}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class ChannelAddress:
    """Name a channel on one platform: ``discord:123``, ``telegram:-100123/7``, ``console:x``."""

    platform: PlatformName
    channel_id: str
    thread_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> ChannelAddress:
        """Read ``platform:channel[/thread]``; raise ValueError when it is not one."""
        platform_text, sep, rest = text.strip().partition(":")
        if not sep:
            raise ValueError(f"not a channel reference: {text!r}")
        try:
            platform = PlatformName(platform_text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown platform in {text!r}") from None
        channel_text, slash, thread_text = rest.strip().partition("/")
        thread = _positive_id(thread_text.strip()) if slash else None
        if platform is PlatformName.CONSOLE:
            return cls(platform, _console_user(channel_text), thread)
        if platform is PlatformName.TELEGRAM:
            return cls(platform, _chat_id(channel_text.strip()), thread)
        return cls(platform, _positive_id(channel_text.strip()), thread)

    def __str__(self) -> str:
        thread = f"/{self.thread_id}" if self.thread_id else ""
        return f"{self.platform.value}:{self.channel_id}{thread}"


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


def _account(raw: object) -> AccountRef:
    """Accept an account written ``platform:user_id``."""
    return AccountRef.parse(_text(raw))


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


def _secret(raw: object) -> Secret | None:
    """Accept a credential string; an empty one means not set."""
    text = _text(raw).strip()
    return Secret(text) if text else None


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


def _secret_meta(env: str) -> dict[str, object]:
    """Build metadata for a credential that the environment variable ``env`` may override."""
    return _meta(_secret, "a string (the credential)", secret=True, env=env)


def _channel_ref(raw: object) -> str:
    """Accept ``platform:channel_id`` and keep it as written (lower-case platform)."""
    platform_text, sep, channel = _text(raw).strip().partition(":")
    if not sep or not channel.strip():
        raise ValueError("not platform:channel")
    platform = PlatformName(platform_text.strip().lower())
    return f"{platform.value}:{channel.strip()}"


def _show_roles(value: tuple[RoleGrant, ...]) -> str:
    return ", ".join(str(r) for r in value) if value else "(none)"


_ACCOUNT = "an account like 'discord:123', 'telegram:456' or 'console:alice'"


@dataclass(frozen=True, kw_only=True)
class DatabaseConfig:
    """Say where the data lives."""

    url: str = field(
        default="sqlite+aiosqlite:///cohort.db",
        metadata=_meta(
            _database_url,
            "a 'sqlite+aiosqlite:///<file>' (not ':memory:') or 'postgresql+asyncpg://' URL",
            show=mask_url_password,
            redact=mask_url_password,
        ),
    )

    def __repr__(self) -> str:
        return f"DatabaseConfig(url={mask_url_password(self.url)!r})"


def _seconds_between(low: float, high: float) -> Converter:
    """Make a converter for a number of seconds within ``low`` and ``high``."""

    def convert(raw: object) -> float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise TypeError("not a number")
        if not low <= raw <= high:
            raise ValueError("out of range")
        return float(raw)

    return convert


def _public_url(raw: object) -> str | None:
    """Accept an http(s) base URL (without a trailing slash), or an empty string for none."""
    if isinstance(raw, str) and not raw.strip():
        return None
    return _http_url(raw).rstrip("/")


@dataclass(frozen=True, kw_only=True)
class WebConfig:
    """Configure the aiohttp app: webhook, health, metrics, calendar, dashboard."""

    enabled: bool = True
    host: str = field(
        default="127.0.0.1",
        metadata=_meta(_nonempty, "a host name or address like '127.0.0.1'"),
    )
    port: int = field(default=8080, metadata=_meta(_port, "a port number from 1 to 65535"))
    header_timeout: float = field(
        default=10.0,
        metadata=_meta(_seconds_between(0.1, 300), "a number of seconds from 0.1 to 300"),
    )
    body_timeout: float = field(
        default=10.0,
        metadata=_meta(_seconds_between(0.1, 300), "a number of seconds from 0.1 to 300"),
    )
    public_url: str | None = field(
        default=None,
        metadata=_meta(
            _public_url, "the public http(s) address of the web app, like 'https://x.org'"
        ),
    )
    dashboard_link_ttl: timedelta = field(
        default=timedelta(minutes=10),
        metadata=_meta(
            _duration_between(timedelta(minutes=1), timedelta(hours=1)),
            "a duration from '1m' to '1h', like '10m'",
            show=format_duration,
        ),
    )
    dashboard_session_ttl: timedelta = field(
        default=timedelta(hours=12),
        metadata=_meta(
            _duration_between(timedelta(minutes=10), timedelta(days=30)),
            "a duration from '10m' to '30d', like '12h'",
            show=format_duration,
        ),
    )

    @property
    def base_url(self) -> str:
        """Return where people reach the web app: ``public_url``, else the listening address."""
        return self.public_url or f"http://{self.host}:{self.port}"


def _ws_url(raw: object) -> str:
    """Accept a ws or wss URL."""
    text = _nonempty(raw)
    if not re.match(r"^wss?://[^\s/]+", text):
        raise ValueError("not a ws(s) URL")
    return text


DISCORD_API_BASE = "https://discord.com/api/v10"
MAX_SHARDS = 100_000  # far past Discord's largest bots (each shard holds up to 2,500 guilds)


def _shard_count(raw: object) -> int:
    """Accept a number of Discord shards from 1 up."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 1 <= raw <= MAX_SHARDS:
        raise ValueError("out of range")
    return raw


def _shard_id(raw: object) -> int:
    """Accept one Discord shard id (from 0)."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 0 <= raw < MAX_SHARDS:
        raise ValueError("out of range")
    return raw


@dataclass(frozen=True, kw_only=True)
class DiscordConfig:
    """Hold the Discord bot credentials, where to reach Discord, and the adapter's pacing."""

    token: Secret | None = field(default=None, metadata=_secret_meta("COHORT_DISCORD_TOKEN"))
    api_base: str = field(
        default=DISCORD_API_BASE,
        metadata=_meta(_http_url, "an http(s) URL of a Discord REST API, like the default"),
    )
    gateway_url: str | None = field(
        default=None,
        metadata=_meta(
            _ws_url, "a ws(s) URL of a Discord gateway, like 'wss://gateway.discord.gg'"
        ),
    )
    defer_after: float = field(
        default=2.0,
        metadata=_meta(_seconds_between(0.05, 2.5), "a number of seconds from 0.05 to 2.5"),
    )
    role_changes_per_second: int = field(
        default=5, metadata=_meta(_rate, "a whole number of role changes from 1 to 1000")
    )
    shard_count: int | None = field(
        default=None,
        metadata=_meta(_shard_count, f"a whole number of shards from 1 to {MAX_SHARDS}"),
    )
    shard_ids: tuple[int, ...] | None = field(
        default=None,
        metadata=_meta(_shard_id, f"a shard id from 0 to {MAX_SHARDS - 1}"),
    )


class TelegramMode(StrEnum):
    """How Telegram's updates reach the bot."""

    POLLING = "polling"
    WEBHOOK = "webhook"


@dataclass(frozen=True, kw_only=True)
class TelegramConfig:
    """Hold the Telegram bot credentials and how to reach the Bot API."""

    token: Secret | None = field(default=None, metadata=_secret_meta("COHORT_TELEGRAM_TOKEN"))
    base_url: str | None = field(
        default=None,
        metadata=_meta(_http_url, "an http(s) URL of a Bot API server, like 'http://host/bot'"),
    )
    messages_per_second: int = field(
        default=30, metadata=_meta(_rate, "a whole number of messages from 1 to 1000")
    )
    messages_per_minute_per_group: int = field(
        default=20, metadata=_meta(_rate, "a whole number of messages from 1 to 1000")
    )
    mode: TelegramMode = TelegramMode.POLLING
    webhook_url: str | None = field(
        default=None,
        metadata=_meta(_http_url, "the public https URL Telegram posts updates to"),
    )
    webhook_secret: Secret | None = field(
        default=None, metadata=_secret_meta("COHORT_TELEGRAM_WEBHOOK_SECRET")
    )


class StripeMode(StrEnum):
    """Which of Stripe's two worlds the keys belong to."""

    TEST = "test"
    LIVE = "live"


@dataclass(frozen=True, kw_only=True)
class StripeConfig:
    """Hold the Stripe API key, the webhook signing secret and how paid access works."""

    secret_key: Secret | None = field(
        default=None, metadata=_secret_meta("COHORT_STRIPE_SECRET_KEY")
    )
    webhook_secret: Secret | None = field(
        default=None, metadata=_secret_meta("COHORT_STRIPE_WEBHOOK_SECRET")
    )
    mode: StripeMode = StripeMode.TEST
    api_base: str | None = field(
        default=None,
        metadata=_meta(
            _http_url, "an http(s) URL of a Stripe API server, like 'http://host:12111'"
        ),
    )
    success_url: str = field(
        default="https://example.org/thanks",
        metadata=_meta(_http_url, "the http(s) URL Checkout sends a buyer to after paying"),
    )
    cancel_url: str = field(
        default="https://example.org/cancelled",
        metadata=_meta(_http_url, "the http(s) URL Checkout sends a buyer to on cancelling"),
    )
    portal_return_url: str = field(
        default="https://example.org/",
        metadata=_meta(_http_url, "the http(s) URL the billing portal links back to"),
    )
    webhook_tolerance: timedelta = field(
        default=timedelta(minutes=5),
        metadata=_meta(
            _duration_between(timedelta(seconds=10), timedelta(hours=1)),
            "a duration from '10s' to '1h', like '5m'",
            show=format_duration,
        ),
    )
    reconcile_every: timedelta = field(
        default=timedelta(hours=1),
        metadata=_meta(
            _duration_between(timedelta(minutes=1), timedelta(days=1)),
            "a duration from '1m' to '1d', like '1h'",
            show=format_duration,
        ),
    )


@dataclass(frozen=True, kw_only=True)
class ConsoleConfig:
    """Say who you are and where, when trying commands in the console."""

    user: str = field(
        default="alice",
        metadata=_meta(_console_user, "a user name of letters, digits, '_', '.' and '-'"),
    )
    community: str | None = None
    # Where log records and warnings go while the console runs (its standard output is the
    # chat); relative to the config file's folder. Empty: standard error, as without a console.
    log_file: str = "cohort.log"


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """Say whether this is a demo: pretend payments through the web app, no Stripe at all."""

    enabled: bool = False


@dataclass(frozen=True, kw_only=True)
class IdentityConfig:
    """Configure account linking."""

    link_code_ttl: timedelta = field(
        default=timedelta(minutes=10),
        metadata=_meta(
            _duration_between(timedelta(minutes=1), timedelta(hours=24)),
            "a duration from '1m' to '24h', like '10m'",
            show=format_duration,
        ),
    )


@dataclass(frozen=True, kw_only=True)
class SuperviseConfig:
    """Say how long-running tasks are restarted after a failure, and when to give up."""

    backoff_initial: float = field(
        default=1.0,
        metadata=_meta(_seconds_between(0.01, 60.0), "a number of seconds from 0.01 to 60"),
    )
    backoff_max: float = field(
        default=60.0,
        metadata=_meta(_seconds_between(0.01, 3600.0), "a number of seconds from 0.01 to 3600"),
    )
    max_failures: int = field(
        default=10, metadata=_meta(_rate, "a whole number of failures from 1 to 1000")
    )


@dataclass(frozen=True, kw_only=True)
class WorkConfig:
    """Say how long a process holds the due work it claimed (lecture deliveries, events)."""

    lease: timedelta = field(
        default=timedelta(minutes=1),
        metadata=_meta(
            _duration_between(timedelta(seconds=1), timedelta(hours=1)),
            "a duration from '1s' to '1h', like '1m'",
            show=format_duration,
        ),
    )
    cache_staleness: float = field(
        default=1.0,
        metadata=_meta(_seconds_between(0.0, 60.0), "a number of seconds from 0 to 60"),
    )


class LevelCurve(StrEnum):
    """How many points each level needs."""

    MEE6 = "mee6"  # the next level needs 5n^2 + 50n + 100 more points
    LINEAR = "linear"  # the next level needs (n + 1) * step more points
    FLAT = "flat"  # every level needs step more points


def _non_negative(raw: object) -> int:
    """Accept a whole number of zero or more."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 0 <= raw <= 1_000_000:
        raise ValueError("out of range")
    return raw


def _floor(raw: object) -> int:
    """Accept a points floor: a whole number from -1000000 to 0."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not -1_000_000 <= raw <= 0:
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


def _memory_mb(raw: object) -> int:
    """Accept a number of megabytes from 64 to 1,000,000."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 64 <= raw <= 1_000_000:
        raise ValueError("out of range")
    return raw


def _count(default: int) -> Any:
    return field(default=default, metadata=_meta(_non_negative, _COUNT))


class LevelUpMessage(StrEnum):
    """Where a level-up is announced."""

    CHANNEL = "channel"  # where the member posted, else the configured level-up channels
    DM = "dm"  # privately to the member
    OFF = "off"


def _level(raw: object) -> int:
    """Accept a level from 1 to 1000."""
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 1000:
        raise ValueError("not a level")
    return raw


def _guild_role(raw: object) -> str:
    """Accept a Discord role written ``<guild id>:<role id>``."""
    guild, sep, role = _text(raw).partition(":")
    if not sep:
        raise ValueError("not guild:role")
    return f"{_positive_id(guild)}:{_positive_id(role)}"


def _channel(raw: object) -> ChannelAddress:
    """Accept a channel written ``platform:channel_id`` or ``platform:channel_id/thread_id``."""
    return ChannelAddress.parse(_text(raw))


@dataclass(frozen=True, kw_only=True)
class LevelReward:
    """What reaching a level earns: a title everyone sees, and Discord roles."""

    level: int = field(metadata=_meta(_level, "a level from 1 to 1000"))
    title: str = field(metadata=_meta(_nonempty, "a non-empty string"))
    discord_roles: tuple[str, ...] = field(
        default=(), metadata=_meta(_guild_role, "a Discord role written '<guild id>:<role id>'")
    )


@dataclass(frozen=True, kw_only=True)
class PointsConfig:
    """Say how members earn points and climb levels in one community."""

    message_min: int = _count(15)
    message_max: int = _count(25)
    message_cooldown: timedelta = field(
        default=timedelta(seconds=60),
        metadata=_meta(
            _duration_between(timedelta(seconds=1), timedelta(days=1)),
            "a duration from '1s' to '1d', like '60s'",
            show=format_duration,
        ),
    )
    message_min_length: int = _count(5)
    excluded_channels: tuple[str, ...] = ()
    muted: tuple[AccountRef, ...] = field(default=(), metadata=_meta(_account, _ACCOUNT))
    answer: int = _count(10)
    accepted_answer: int = _count(50)
    attendance: int = _count(30)
    referral: int = _count(100)
    referral_stay: timedelta = field(
        default=timedelta(days=7),
        metadata=_meta(
            _duration_between(timedelta(minutes=1), timedelta(days=365)),
            "a duration from '1m' to '365d', like '7d'",
            show=format_duration,
        ),
    )
    purchase: int = _count(100)
    floor: int = field(
        default=0, metadata=_meta(_floor, "a whole number from -1000000 to 0 (the default)")
    )
    kudos: int = _count(10)
    kudos_daily_limit: int = _count(5)
    kudos_pair_cooldown: timedelta = field(
        default=timedelta(hours=24),
        metadata=_meta(
            _duration_between(timedelta(minutes=1), timedelta(days=30)),
            "a duration from '1m' to '30d', like '24h'",
            show=format_duration,
        ),
    )
    thanks_in_messages: bool = True
    thanks_words: tuple[str, ...] = field(
        default=("thanks", "thank you", "thx", "ty", "谢谢", "感谢", "多谢"),
        metadata=_meta(_nonempty, "a non-empty string"),
    )
    decay_percent_per_week: int = field(
        default=0, metadata=_meta(_percent, "a whole percentage from 0 (off) to 100")
    )
    decay_after_weeks: int = _count(4)
    curve: LevelCurve = LevelCurve.MEE6
    curve_step: int = _count(100)
    level_up_message: LevelUpMessage = LevelUpMessage.CHANNEL
    level_up_channels: tuple[ChannelAddress, ...] = field(
        default=(),
        metadata=_meta(
            _channel,
            "a channel like 'telegram:-1001234567890' or 'discord:123'",
            show=str,
        ),
    )
    level_rewards: tuple[LevelReward, ...] = ()
    level_rewards_stack: bool = True
    leaderboard_card: bool = True
    card_font: str = ""


def _durations(value: tuple[timedelta, ...]) -> str:
    """Write a tuple of durations for ``describe``."""
    return ", ".join(format_duration(item) for item in value) if value else "(none)"


def _http_url_or_none(raw: object) -> str | None:
    """Accept an http(s) base URL (without a trailing slash), or an empty string for none."""
    if isinstance(raw, str) and not raw.strip():
        return None
    return _http_url(raw).rstrip("/")


@dataclass(frozen=True, kw_only=True)
class LecturesConfig:
    """Say where lectures are announced, when reminders go out and how check-in works."""

    announce_channels: tuple[ChannelAddress, ...] = field(
        default=(),
        metadata=_meta(
            _channel,
            "a channel like 'discord:123', 'telegram:-1001234567890', "
            "'telegram:-1001234567890/7' (a topic) or 'console:general'",
        ),
    )
    reminders: tuple[timedelta, ...] = field(
        default=(timedelta(hours=24), timedelta(hours=1), timedelta(minutes=10)),
        metadata=_meta(
            _duration_between(timedelta(minutes=1), timedelta(days=30)),
            "a duration from '1m' to '30d', like '1h'",
            show=_durations,
        ),
    )
    late_grace: timedelta = field(
        default=timedelta(minutes=15),
        metadata=_meta(
            _duration_between(timedelta(seconds=1), timedelta(days=1)),
            "a duration from '1s' to '1d', like '15m'",
            show=format_duration,
        ),
    )
    checkin_grace: timedelta = field(
        default=timedelta(minutes=15),
        metadata=_meta(
            _duration_between(timedelta(seconds=1), timedelta(days=1)),
            "a duration from '1s' to '1d', like '15m'",
            show=format_duration,
        ),
    )
    default_duration: timedelta = field(
        default=timedelta(hours=1),
        metadata=_meta(
            _duration_between(timedelta(minutes=5), timedelta(days=1)),
            "a duration from '5m' to '1d', like '1h'",
            show=format_duration,
        ),
    )
    capacity: int = _count(0)
    dm_reminders: bool = True
    native_events: bool = True
    calendar_url: str | None = field(
        default=None,
        metadata=_meta(
            _http_url_or_none, "the public http(s) address of the web app, like 'https://x.org'"
        ),
    )


def _span(default: timedelta, low: timedelta, high: timedelta) -> dict[str, object]:
    """Build metadata for a duration between ``low`` and ``high``."""
    return _meta(
        _duration_between(low, high),
        f"a duration from '{format_duration(low)}' to '{format_duration(high)}', "
        f"like '{format_duration(default)}'",
        show=format_duration,
    )


@dataclass(frozen=True, kw_only=True)
class QaConfig:
    """Say where questions are asked and when unanswered ones are chased."""

    channels: tuple[ChannelAddress, ...] = field(
        default=(),
        metadata=_meta(
            _channel, "a channel like 'telegram:-1001234567890' or 'discord:123'", show=str
        ),
    )
    unanswered_reminder: timedelta = field(
        default=timedelta(hours=24),
        metadata=_span(timedelta(hours=24), timedelta(minutes=10), timedelta(days=30)),
    )
    accept_ping: timedelta = field(
        default=timedelta(days=3),
        metadata=_span(timedelta(days=3), timedelta(hours=1), timedelta(days=60)),
    )
    dormant_after: timedelta = field(
        default=timedelta(days=14),
        metadata=_span(timedelta(days=14), timedelta(hours=1), timedelta(days=365)),
    )
    bounty_after: timedelta = field(
        default=timedelta(days=7),
        metadata=_span(timedelta(days=7), timedelta(hours=1), timedelta(days=90)),
    )
    bounty_split_percent: int = field(
        default=50, metadata=_meta(_percent, "a whole percentage from 0 to 100")
    )
    bounty_max: int = _count(1000)
    pin_questions: bool = True
    vote_emoji: tuple[str, ...] = field(
        default=("👍", "⬆️"), metadata=_meta(_nonempty, "a non-empty string (an emoji)")
    )


class OfferKind(StrEnum):
    """What an offer sells: a subscription tier or a one-time course."""

    TIER = "tier"
    COURSE = "course"


_PRICE_RE = re.compile(r"price_[A-Za-z0-9_]{1,120}")


def _price(raw: object) -> str:
    """Accept a Stripe price id such as ``price_1Pq…``."""
    text = _text(raw).strip()
    if not _PRICE_RE.fullmatch(text):
        raise ValueError("not a price id")
    return text


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """A Discord role in one guild, written ``guild_id:role_id``."""

    guild_id: str
    role_id: str

    def __str__(self) -> str:
        return f"{self.guild_id}:{self.role_id}"


def _role_grant(raw: object) -> RoleGrant:
    """Accept ``"<guild id>:<role id>"``."""
    guild, sep, role = _text(raw).strip().partition(":")
    if not sep:
        raise ValueError("not guild:role")
    return RoleGrant(_positive_id(guild), _positive_id(role))


def _days(raw: object) -> int:
    """Accept a whole number of days from 0 to 365."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 0 <= raw <= 365:
        raise ValueError("out of range")
    return raw


@dataclass(frozen=True, kw_only=True)
class OfferConfig:
    """A tier or a course on sale: its Stripe prices and what it unlocks."""

    id: str = field(
        metadata=_meta(_slug, "an id of lowercase letters, digits and '-' (at most 32)")
    )
    kind: OfferKind
    name: str = field(metadata=_meta(_nonempty, "a non-empty string"))
    description: str = ""
    price_monthly: str | None = field(
        default=None, metadata=_meta(_price, "a Stripe price id like 'price_123'")
    )
    price_yearly: str | None = field(
        default=None, metadata=_meta(_price, "a Stripe price id like 'price_123'")
    )
    price_once: str | None = field(
        default=None, metadata=_meta(_price, "a Stripe price id like 'price_123'")
    )
    trial_days: int = field(default=0, metadata=_meta(_days, "a whole number of days, 0 to 365"))
    grace_days: int = field(default=3, metadata=_meta(_days, "a whole number of days, 0 to 365"))
    discord_roles: tuple[RoleGrant, ...] = field(
        default=(),
        metadata=_meta(_role_grant, "'<guild id>:<role id>', like '111:222'", show=_show_roles),
    )
    telegram_chats: tuple[str, ...] = field(
        default=(),
        metadata=_meta(_chat_id, "a Telegram chat id (an integer, negative for groups)"),
    )
    console_channels: tuple[str, ...] = field(
        default=(), metadata=_meta(_console_user, "a console channel name, like 'lounge'")
    )

    @property
    def prices(self) -> tuple[str, ...]:
        """Return the Stripe price ids of this offer."""
        found = (self.price_monthly, self.price_yearly, self.price_once)
        return tuple(p for p in found if p)


@dataclass(frozen=True, kw_only=True)
class GatingConfig:
    """Say where paid-access problems are reported and how long invite links live."""

    admin_channel: str | None = field(
        default=None,
        metadata=_meta(
            _channel_ref, "a channel like 'discord:123', 'telegram:-100123' or 'console:admin'"
        ),
    )
    invite_ttl: timedelta = field(
        default=timedelta(hours=24),
        metadata=_meta(
            _duration_between(timedelta(minutes=5), timedelta(days=7)),
            "a duration from '5m' to '7d', like '24h'",
            show=format_duration,
        ),
    )


def _course_text(limit: int) -> Converter:
    """Make a converter for a course's text of at most ``limit`` characters."""

    def convert(raw: object) -> str:
        text = _text(raw).strip()
        if len(text) > limit:
            raise ValueError("too long")
        return text

    return convert


def _offer_id(raw: object) -> str:
    """Accept an offer id: 1 to 64 letters, digits, '-', '_' or '.'."""
    text = _text(raw).strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", text):
        raise ValueError("not an offer id")
    return text


def _tag(raw: object) -> str:
    """Accept a course tag: 1 to 40 characters, no commas."""
    text = _text(raw).strip().lower()
    if not 1 <= len(text) <= 40 or "," in text:
        raise ValueError("not a tag")
    return text


@dataclass(frozen=True, kw_only=True)
class CourseConfig:
    """One course of the catalog the recommender suggests from."""

    id: str = field(
        metadata=_meta(_slug, "an id of lowercase letters, digits and '-' (at most 32)")
    )
    title: str = field(metadata=_meta(_course_text(200), "a title of 1 to 200 characters"))
    description: str = field(
        default="", metadata=_meta(_course_text(4000), "a text of at most 4000 characters")
    )
    tags: tuple[str, ...] = field(
        default=(), metadata=_meta(_tag, "a tag of 1 to 40 characters without commas")
    )
    language: str | None = field(
        default=None,
        metadata=_meta(_locale, "a supported locale: " + ", ".join(map(repr, SUPPORTED_LOCALES))),
    )
    offer: str | None = field(
        default=None,
        metadata=_meta(_offer_id, "an offer id of letters, digits, '-', '_' or '.' (1 to 64)"),
    )
    tiers: tuple[str, ...] = field(
        default=(), metadata=_meta(_nonempty, "a tier name (a non-empty string)")
    )

    @property
    def offer_id(self) -> str:
        """Return the offer a purchase of this course carries: ``offer``, else the course id."""
        return self.offer or self.id


@dataclass(frozen=True, kw_only=True)
class RecommendConfig:
    """Say how the course recommender trains, serves and writes to members."""

    # Keys of older versions: accepted, ignored, and named in a warning in the log.
    DEPRECATED: ClassVar[dict[str, str]] = {
        "ease_max_items": "EASE is now tried whenever it fits train_memory_mb",
    }

    retrain_every: timedelta = field(
        default=timedelta(hours=24),
        metadata=_meta(
            _duration_between(timedelta(minutes=10), timedelta(days=30)),
            "a duration from '10m' to '30d', like '24h'",
            show=format_duration,
        ),
    )
    max_per_tag: int = field(
        default=3, metadata=_meta(_percent, "a whole number from 1 to 100 (0 turns it off)")
    )
    text_messages: int = _count(50)
    text_window: timedelta = field(
        default=timedelta(days=180),
        metadata=_meta(
            _duration_between(timedelta(days=1), timedelta(days=3650)),
            "a duration from '1d' to '3650d', like '180d'",
            show=format_duration,
        ),
    )
    digest: bool = False
    digest_every: timedelta = field(
        default=timedelta(days=7),
        metadata=_meta(
            _duration_between(timedelta(days=1), timedelta(days=90)),
            "a duration from '1d' to '90d', like '7d'",
            show=format_duration,
        ),
    )
    digest_per_run: int = _count(50)
    model_dir: str = ""
    train_memory_mb: int = field(
        default=1536,
        metadata=_meta(_memory_mb, "a whole number of megabytes from 64 to 1000000"),
    )


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(raw: object) -> str:
    """Accept a weekday's English name, any case."""
    text = _text(raw).strip().lower()
    if text not in WEEKDAYS:
        raise ValueError("not a weekday")
    return text


def _hour(raw: object) -> int:
    """Accept an hour of the day from 0 to 23."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 0 <= raw <= 23:
        raise ValueError("out of range")
    return raw


def _retention_days(raw: object) -> int:
    """Accept a whole number of days from 1 to 3650."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 1 <= raw <= 3650:
        raise ValueError("out of range")
    return raw


def _cost(raw: object) -> float:
    """Accept a positive number."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise TypeError("not a number")
    if not 0 < raw <= 1_000_000:
        raise ValueError("out of range")
    return float(raw)


@dataclass(frozen=True, kw_only=True)
class AnalyticsConfig:
    """Say whether and when the weekly report goes out, and the engagement model's cost C."""

    weekly_report: bool = False
    report_channel: str | None = field(
        default=None,
        metadata=_meta(
            _channel_ref, "a channel like 'discord:123', 'telegram:-100123' or 'console:admin'"
        ),
    )
    report_day: str = field(
        default="monday", metadata=_meta(_weekday, "a weekday name like 'monday'")
    )
    report_hour: int = field(default=9, metadata=_meta(_hour, "an hour of the day from 0 to 23"))
    cost: float = field(default=1.0, metadata=_meta(_cost, "a number above 0, like 1.0"))

    @property
    def report_weekday(self) -> int:
        """Return the report's weekday as a number, Monday 0."""
        return WEEKDAYS.index(self.report_day)


class EscalationAction(StrEnum):
    """What enough warnings lead to."""

    MUTE = "mute"
    KICK = "kick"
    BAN = "ban"


@dataclass(frozen=True, kw_only=True)
class EscalationStep:
    """Once a member has ``warnings`` live warnings, take ``action`` (for ``duration``)."""

    warnings: int = field(metadata=_meta(_positive_count, "a whole number from 1 up"))
    action: EscalationAction
    duration: timedelta = field(
        default=timedelta(hours=1),
        metadata=_span(timedelta(hours=1), timedelta(minutes=1), timedelta(days=365)),
    )


class AutomodRule(StrEnum):
    """A rule automod applies to messages."""

    FLOOD = "flood"
    REPEATS = "repeats"
    LINKS = "links"
    INVITES = "invites"
    MENTIONS = "mentions"
    NEW_ACCOUNTS = "new_accounts"


class AutomodAction(StrEnum):
    """What automod does to a message that breaks a rule (it is deleted in every case)."""

    DELETE = "delete"
    WARN = "warn"
    MUTE = "mute"


@dataclass(frozen=True, kw_only=True)
class FloodRule:
    """More than ``messages`` messages from one member in one channel within ``within``."""

    on: bool = True
    messages: int = field(default=5, metadata=_meta(_positive_count, "a whole number from 1 up"))
    within: timedelta = field(
        default=timedelta(seconds=10),
        metadata=_span(timedelta(seconds=10), timedelta(seconds=1), timedelta(hours=1)),
    )
    action: AutomodAction = AutomodAction.DELETE


@dataclass(frozen=True, kw_only=True)
class RepeatRule:
    """The same text from one member ``count`` times within ``within``."""

    on: bool = True
    count: int = field(default=3, metadata=_meta(_positive_count, "a whole number from 1 up"))
    within: timedelta = field(
        default=timedelta(minutes=1),
        metadata=_span(timedelta(minutes=1), timedelta(seconds=1), timedelta(days=1)),
    )
    action: AutomodAction = AutomodAction.DELETE


@dataclass(frozen=True, kw_only=True)
class LinkRule:
    """Links to hosts outside ``allow`` (a host allows its subdomains too)."""

    on: bool = False
    allow: tuple[str, ...] = field(
        default=(), metadata=_meta(_nonempty, "a host name like 'example.com'")
    )
    action: AutomodAction = AutomodAction.DELETE


@dataclass(frozen=True, kw_only=True)
class InviteRule:
    """Invite links to other Discord servers or Telegram chats."""

    on: bool = True
    action: AutomodAction = AutomodAction.DELETE


@dataclass(frozen=True, kw_only=True)
class MentionRule:
    """More than ``most`` distinct people (or everyone) mentioned in one message."""

    on: bool = True
    most: int = field(default=5, metadata=_meta(_positive_count, "a whole number from 1 up"))
    action: AutomodAction = AutomodAction.DELETE


@dataclass(frozen=True, kw_only=True)
class NewAccountRule:
    """Links from members Cohort first saw less than ``younger_than`` ago."""

    on: bool = True
    younger_than: timedelta = field(
        default=timedelta(days=1),
        metadata=_span(timedelta(days=1), timedelta(minutes=1), timedelta(days=90)),
    )
    action: AutomodAction = AutomodAction.DELETE


@dataclass(frozen=True, kw_only=True)
class AutomodChannel:
    """Automod in one channel: rules switched off there, hosts also allowed there."""

    channel: ChannelAddress = field(
        metadata=_meta(
            _channel, "a channel like 'telegram:-1001234567890' or 'discord:123'", show=str
        )
    )
    off: tuple[AutomodRule, ...] = ()
    allow_links: tuple[str, ...] = field(
        default=(), metadata=_meta(_nonempty, "a host name like 'example.com'")
    )
    exempt_roles: tuple[RoleGrant, ...] = field(
        default=(),
        metadata=_meta(_role_grant, "'<guild id>:<role id>', like '111:222'", show=_show_roles),
    )


@dataclass(frozen=True, kw_only=True)
class AutomodConfig:
    """Say whether automod runs, on what, who is exempt and how long its mutes last."""

    enabled: bool = False
    exempt_tiers: tuple[str, ...] = field(default=(), metadata=_meta(_slug, "a tier id like 'pro'"))
    exempt_roles: tuple[RoleGrant, ...] = field(
        default=(),
        metadata=_meta(_role_grant, "'<guild id>:<role id>', like '111:222'", show=_show_roles),
    )
    mute_duration: timedelta = field(
        default=timedelta(minutes=10),
        metadata=_span(timedelta(minutes=10), timedelta(minutes=1), timedelta(days=28)),
    )
    flood: FloodRule = field(default_factory=FloodRule)
    repeats: RepeatRule = field(default_factory=RepeatRule)
    links: LinkRule = field(default_factory=LinkRule)
    invites: InviteRule = field(default_factory=InviteRule)
    mentions: MentionRule = field(default_factory=MentionRule)
    new_accounts: NewAccountRule = field(default_factory=NewAccountRule)
    channels: tuple[AutomodChannel, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ModerationConfig:
    """Say where moderation is logged, how long warnings count and what they lead to."""

    log_channels: tuple[ChannelAddress, ...] = field(
        default=(),
        metadata=_meta(
            _channel, "a channel like 'telegram:-1001234567890' or 'discord:123'", show=str
        ),
    )
    appeal_channel: ChannelAddress | None = field(
        default=None,
        metadata=_meta(
            _channel, "a channel like 'telegram:-1001234567890' or 'discord:123'", show=str
        ),
    )
    warning_expiry: timedelta = field(
        default=timedelta(days=30),
        metadata=_span(timedelta(days=30), timedelta(hours=1), timedelta(days=3650)),
    )
    escalation: tuple[EscalationStep, ...] = (
        EscalationStep(warnings=3, action=EscalationAction.MUTE, duration=timedelta(hours=1)),
        EscalationStep(warnings=5, action=EscalationAction.KICK),
    )
    automod: AutomodConfig = field(default_factory=AutomodConfig)


class PaidAccessOnForget(StrEnum):
    """What happens to a member's paid roles and chats when they are erased."""

    KEEP = "keep"  # they stay: the person paid for them (the Stripe subscription runs on)
    REVOKE = "revoke"  # they are taken away on every platform


@dataclass(frozen=True, kw_only=True)
class PrivacyConfig:
    """Say how long messages are logged and what erasing a member does."""

    retention_days: int = field(
        default=365,
        metadata=_meta(_retention_days, "a whole number of days from 1 to 3650"),
    )
    paid_access_on_forget: PaidAccessOnForget = PaidAccessOnForget.KEEP
    confirm_within: timedelta = field(
        default=timedelta(minutes=10),
        metadata=_span(timedelta(minutes=10), timedelta(minutes=1), timedelta(hours=24)),
    )
    download_within: timedelta = field(
        default=timedelta(hours=1),
        metadata=_span(timedelta(hours=1), timedelta(minutes=5), timedelta(days=7)),
    )


@dataclass(frozen=True, kw_only=True)
class CommunityConfig:
    """Describe one community and the Discord guilds and Telegram chats it spans."""

    id: str = field(
        metadata=_meta(
            _slug, "an id of lowercase letters, digits and '-' (at most 32), like 'demo'"
        )
    )
    name: str = field(metadata=_meta(_nonempty, "a non-empty string"))
    locale: str = field(
        default="en",
        metadata=_meta(_locale, "a supported locale: " + ", ".join(map(repr, SUPPORTED_LOCALES))),
    )
    timezone: str = field(
        default="UTC",
        metadata=_meta(_timezone, "an IANA time zone like 'Europe/Berlin' or 'UTC'"),
    )
    discord_guilds: tuple[str, ...] = field(
        default=(), metadata=_meta(_positive_id, "a Discord guild id (a positive integer)")
    )
    telegram_chats: tuple[str, ...] = field(
        default=(),
        metadata=_meta(_chat_id, "a Telegram chat id (an integer, negative for groups)"),
    )
    organizers: tuple[AccountRef, ...] = field(default=(), metadata=_meta(_account, _ACCOUNT))
    admins: tuple[AccountRef, ...] = field(default=(), metadata=_meta(_account, _ACCOUNT))
    moderators: tuple[AccountRef, ...] = field(default=(), metadata=_meta(_account, _ACCOUNT))
    discord_admin_channel: str | None = field(
        default=None, metadata=_meta(_positive_id, "a Discord channel id (a positive integer)")
    )
    discord_managed_roles: tuple[str, ...] = field(
        default=(), metadata=_meta(_positive_id, "a Discord role id (a positive integer)")
    )
    points: PointsConfig = field(default_factory=PointsConfig)
    lectures: LecturesConfig = field(default_factory=LecturesConfig)
    qa: QaConfig = field(default_factory=QaConfig)
    offers: tuple[OfferConfig, ...] = ()
    gating: GatingConfig = field(default_factory=GatingConfig)
    courses: tuple[CourseConfig, ...] = ()
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    moderation: ModerationConfig = field(default_factory=ModerationConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)

    def offer(self, offer_id: str) -> OfferConfig | None:
        """Return the offer with this id, if the community sells it."""
        return next((o for o in self.offers if o.id == offer_id), None)

    def offer_for_price(self, price_id: str) -> OfferConfig | None:
        """Return the offer one of whose Stripe prices is ``price_id``."""
        return next((o for o in self.offers if price_id in o.prices), None)

    @property
    def tz(self) -> ZoneInfo:
        """Return the community's time zone."""
        return ZoneInfo(self.timezone)

    def is_admin(self, platform: PlatformName | str, user_id: str | int) -> bool:
        """Tell whether this account is one of the community's admins."""
        ref = _ref(platform, user_id)
        return ref is not None and ref in self.admins

    def is_organizer(self, platform: PlatformName | str, user_id: str | int) -> bool:
        """Tell whether this account is an organizer; every admin is one."""
        ref = _ref(platform, user_id)
        return ref is not None and (ref in self.organizers or ref in self.admins)

    def is_moderator(self, platform: PlatformName | str, user_id: str | int) -> bool:
        """Tell whether this account is a moderator; every organizer is one."""
        ref = _ref(platform, user_id)
        return (ref is not None and ref in self.moderators) or self.is_organizer(platform, user_id)


def _ref(platform: PlatformName | str, user_id: str | int) -> AccountRef | None:
    """Build an AccountRef from what an adapter knows, or None if the platform is unknown."""
    try:
        return AccountRef(PlatformName(platform), str(user_id))
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True)
class Config:
    """Hold the whole validated configuration; ``source`` is the file it came from."""

    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    web: WebConfig = field(default_factory=WebConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    stripe: StripeConfig = field(default_factory=StripeConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    supervise: SuperviseConfig = field(default_factory=SuperviseConfig)
    work: WorkConfig = field(default_factory=WorkConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    communities: tuple[CommunityConfig, ...]
    source: Path = field(default=Path("<memory>"), metadata={"internal": True})

    def community(self, community_id: str) -> CommunityConfig:
        """Return the community with this id; raise KeyError if there is none."""
        for community in self.communities:
            if community.id == community_id:
                return community
        raise KeyError(community_id)

    def console_community(self) -> CommunityConfig:
        """Return the community the console starts in: the named one, else the first."""
        if self.console.community is None:
            return self.communities[0]
        return self.community(self.console.community)

    def has_platform_credentials(self) -> bool:
        """Tell whether a Discord or a Telegram token is configured."""
        return bool(self.discord.token) or bool(self.telegram.token)

    def describe(self) -> list[str]:
        """Summarise the configuration for people: secrets show only as set or not set."""
        lines = [f"source: {self.source}"]
        lines.append("communities: " + ", ".join(c.id for c in self.communities))
        _describe_into(self, "", lines)
        return lines


def _describe_into(obj: object, prefix: str, lines: list[str]) -> None:
    """Append one ``key: value`` line per leaf of a config dataclass."""
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        if f.metadata.get("internal"):
            continue
        key = f"{prefix}{f.name}"
        value = getattr(obj, f.name)
        if f.metadata.get("secret"):
            lines.append(f"{key}: {'set' if value else 'not set'}")
        elif dataclasses.is_dataclass(value):
            _describe_into(value, f"{key}.", lines)
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            for index, item in enumerate(value):
                _describe_into(item, f"{key}[{index}].", lines)
        else:
            show = f.metadata.get("show")
            lines.append(f"{key}: {show(value) if show else _show(value)}")


def _show(value: object) -> str:
    """Write a leaf value for ``describe``."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value) if value else "(none)"
    return str(value)


# --- the generic validator -------------------------------------------------------------------


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


# --- loading ---------------------------------------------------------------------------------


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


def _check_rewards(community: CommunityConfig, path: str, source: str) -> None:
    """Check that reward levels are unique and their roles belong to the community's guilds."""
    seen: set[int] = set()
    for index, reward in enumerate(community.points.level_rewards):
        if reward.level in seen:
            raise ConfigError(
                f"{path}[{index}].level",
                "a level no other reward has",
                str(reward.level),
                source=source,
            )
        seen.add(reward.level)
        for position, role in enumerate(reward.discord_roles):
            if role.partition(":")[0] not in community.discord_guilds:
                raise ConfigError(
                    f"{path}[{index}].discord_roles[{position}]",
                    "a role in one of the community's discord_guilds",
                    repr(role),
                    source=source,
                )


def _check_automod_roles(community: CommunityConfig, path: str, source: str) -> None:
    """Check that automod's exempt roles, per community and per channel, are the community's."""
    automod = community.moderation.automod
    places = [("exempt_roles", automod.exempt_roles)]
    places += [
        (f"channels[{n}].exempt_roles", channel.exempt_roles)
        for n, channel in enumerate(automod.channels)
    ]
    for name, roles in places:
        for position, role in enumerate(roles):
            if role.guild_id not in community.discord_guilds:
                raise ConfigError(
                    f"{path}.{name}[{position}]",
                    "a role in one of this community's discord_guilds",
                    repr(str(role)),
                    source=source,
                )


def _check(config: Config, source: str) -> None:
    """Check what spans fields: unique ids, one owner per guild and chat, the console community."""
    if not config.communities:
        raise ConfigError("communities", "at least one [[communities]] table", "[]", source=source)
    first_index: dict[str, int] = {}
    owners: dict[tuple[str, str], str] = {}
    for index, community in enumerate(config.communities):
        if community.id in first_index:
            raise ConfigError(
                f"communities[{index}].id",
                f"an id not already used by communities[{first_index[community.id]}]",
                repr(community.id),
                source=source,
            )
        first_index[community.id] = index
        _check_courses(community, index, source)
        for name, ids in (
            ("discord_guilds", community.discord_guilds),
            ("telegram_chats", community.telegram_chats),
        ):
            for position, platform_id in enumerate(ids):
                owner = owners.get((name, platform_id))
                if owner is not None:
                    where = "this community" if owner == community.id else f"community {owner!r}"
                    raise ConfigError(
                        f"communities[{index}].{name}[{position}]",
                        f"an id not already listed for {where}",
                        repr(platform_id),
                        source=source,
                    )
                owners[(name, platform_id)] = community.id
        _check_rewards(community, f"communities[{index}].points.level_rewards", source)
        _check_automod_roles(community, f"communities[{index}].moderation.automod", source)
    _check_shards(config.discord, source)
    _check_demo(config, source)  # first: a live key in a demo is named as such
    _check_offers(config, source)
    if config.console.community is not None and config.console.community not in first_index:
        raise ConfigError(
            "console.community",
            "the id of a configured community (" + ", ".join(map(repr, first_index)) + ")",
            repr(config.console.community),
            source=source,
        )
    telegram = config.telegram
    if telegram.mode is TelegramMode.WEBHOOK:
        if not config.web.enabled:
            raise ConfigError(
                "web.enabled", "true when telegram.mode is 'webhook'", "false", source=source
            )
        if not telegram.webhook_url:
            raise ConfigError(
                "telegram.webhook_url", "a URL when telegram.mode is 'webhook'", source=source
            )
        if not telegram.webhook_secret:
            raise ConfigError(
                "telegram.webhook_secret",
                "a secret (or COHORT_TELEGRAM_WEBHOOK_SECRET) when telegram.mode is 'webhook'",
                source=source,
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", telegram.webhook_secret.reveal()):
            raise ConfigError(
                "telegram.webhook_secret",
                "1 to 256 characters of A-Z, a-z, 0-9, _ and -",
                "other characters",
                source=source,
            )


def _check_shards(discord: DiscordConfig, source: str) -> None:
    """Check that this process's Discord shards exist and are each named once."""
    ids, count = discord.shard_ids, discord.shard_count
    if ids is None:
        return
    if count is None:
        raise ConfigError(
            "discord.shard_ids",
            "to be left out unless discord.shard_count is set (ids are of a fixed count)",
            repr(list(ids)),
            source=source,
        )
    if not ids:
        raise ConfigError(
            "discord.shard_ids",
            "at least one shard id (or the key left out: all)",
            "[]",
            source=source,
        )
    seen: set[int] = set()
    for position, shard in enumerate(ids):
        if shard >= count:
            raise ConfigError(
                f"discord.shard_ids[{position}]",
                f"a shard id from 0 to {count - 1} (shard_count is {count})",
                str(shard),
                source=source,
            )
        if shard in seen:
            raise ConfigError(
                f"discord.shard_ids[{position}]",
                "a shard id not already listed",
                str(shard),
                source=source,
            )
        seen.add(shard)


def _check_offers(config: Config, source: str) -> None:
    """Check the offers: ids, prices that fit their kind, and grants inside the community."""
    price_owner: dict[str, str] = {}
    for index, community in enumerate(config.communities):
        seen: set[str] = set()
        for position, offer in enumerate(community.offers):
            key = f"communities[{index}].offers[{position}]"

            def fail(name: str, expected: str, got: str | None = None, key: str = key) -> None:
                raise ConfigError(f"{key}.{name}", expected, got, source=source)

            if offer.id in seen:
                fail("id", "an offer id not already used in this community", repr(offer.id))
            seen.add(offer.id)
            if offer.kind is OfferKind.TIER:
                if offer.price_once or not (offer.price_monthly or offer.price_yearly):
                    fail("price_monthly", "a tier sells price_monthly and/or price_yearly")
            elif offer.price_monthly or offer.price_yearly or not offer.price_once:
                fail("price_once", "a course sells one price_once and no subscription price")
            elif offer.trial_days:
                fail("trial_days", "0 for a course (trials are for tiers)", str(offer.trial_days))
            for price in offer.prices:
                owner = price_owner.get(price)
                if owner is not None:
                    fail("prices", f"a price not already sold by offer {owner}", repr(price))
                price_owner[price] = f"{community.id}/{offer.id}"
            for position_role, role in enumerate(offer.discord_roles):
                if role.guild_id not in community.discord_guilds:
                    fail(
                        f"discord_roles[{position_role}]",
                        "a role in one of this community's discord_guilds",
                        repr(str(role)),
                    )
            for position_chat, chat in enumerate(offer.telegram_chats):
                if chat not in community.telegram_chats:
                    fail(
                        f"telegram_chats[{position_chat}]",
                        "a chat listed in this community's telegram_chats",
                        repr(chat),
                    )
    key = config.stripe.secret_key.reveal() if config.stripe.secret_key else ""
    other = StripeMode.LIVE if config.stripe.mode is StripeMode.TEST else StripeMode.TEST
    if re.match(rf"^[sr]k_{other.value}_", key):
        raise ConfigError(
            "stripe.secret_key",
            f"a {config.stripe.mode.value}-mode key (stripe.mode is {config.stripe.mode.value!r})",
            f"a {other.value}-mode key",
            source=source,
        )


def _check_demo(config: Config, source: str) -> None:
    """Refuse demo mode beside anything live: a live Stripe key or mode, or a platform token."""
    if not config.demo.enabled:
        return
    key = config.stripe.secret_key.reveal() if config.stripe.secret_key else ""
    live = [
        name
        for name, present in (
            ("stripe.secret_key (a live key)", re.match(r"^[sr]k_live_", key) is not None),
            ("stripe.mode = 'live'", config.stripe.mode is StripeMode.LIVE),
            ("discord.token", bool(config.discord.token)),
            ("telegram.token", bool(config.telegram.token)),
        )
        if present
    ]
    if live:
        raise ConfigError(
            "demo.enabled",
            "false when live keys or platform tokens are set (demo mode never takes real money)",
            ", ".join(live),
            source=source,
        )
    if not config.web.enabled:
        raise ConfigError(
            "web.enabled", "true in demo mode (it serves the checkout)", "false", source=source
        )
    if not config.stripe.webhook_secret:
        raise ConfigError(
            "stripe.webhook_secret",
            "a secret in demo mode (the demo checkout signs its events with it)",
            source=source,
        )


def _check_courses(community: CommunityConfig, index: int, source: str) -> None:
    """Check that course ids and the offers they stand for are unique within a community."""
    seen: dict[str, int] = {}
    offers: dict[str, int] = {}
    for position, course in enumerate(community.courses):
        for kind, key, table in (("id", course.id, seen), ("offer", course.offer_id, offers)):
            if key in table:
                raise ConfigError(
                    f"communities[{index}].courses[{position}].{kind}",
                    f"an {kind} not already used by courses[{table[key]}]",
                    repr(key),
                    source=source,
                )
            table[key] = position


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
