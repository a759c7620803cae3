"""Hold the moderation section: logging, warnings, escalation and every automod rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from bot.core.config._convert import _meta, _nonempty, _positive_count, _slug, _span
from bot.core.config._types import ChannelAddress, RoleGrant, _channel, _role_grant, _show_roles


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
