"""Hold the process-wide sections: database, web, Discord, Telegram, Stripe, console, work."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from bot.core.config._convert import (
    _console_user,
    _database_url,
    _duration_between,
    _http_url,
    _meta,
    _nonempty,
    _port,
    _public_url,
    _rate,
    _seconds_between,
    mask_url_password,
)
from bot.core.config._types import Secret, _secret_meta
from bot.core.parsing import format_duration


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
    # How long a row deleted from what the revenue ledger reads stays in its deletion log
    # (``ledger_deletions``): a process whose kept ledger is older reads it whole again.
    ledger_deletions_kept: timedelta = field(
        default=timedelta(days=1),
        metadata=_meta(
            _duration_between(timedelta(hours=1), timedelta(days=365)),
            "a duration from '1h' to '365d', like '1d'",
            show=format_duration,
        ),
    )
