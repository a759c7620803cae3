"""Hold a community's table (with its analytics and privacy sections) and the whole Config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.core.config._convert import (
    _channel_ref,
    _chat_id,
    _locale,
    _meta,
    _nonempty,
    _positive_id,
    _slug,
    _span,
    _text,
    _timezone,
)
from bot.core.config._learning import LecturesConfig, QaConfig
from bot.core.config._moderation import ModerationConfig
from bot.core.config._points import PointsConfig
from bot.core.config._process import (
    ConsoleConfig,
    DatabaseConfig,
    DemoConfig,
    DiscordConfig,
    IdentityConfig,
    StripeConfig,
    SuperviseConfig,
    TelegramConfig,
    WebConfig,
    WorkConfig,
)
from bot.core.config._sales import CourseConfig, GatingConfig, OfferConfig, RecommendConfig
from bot.core.config._types import _ACCOUNT, AccountRef, _account
from bot.core.i18n import SUPPORTED_LOCALES
from bot.core.parsing import format_duration
from bot.core.platforms import PlatformName

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
