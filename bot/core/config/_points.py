"""Hold the points section: how members earn points, the level curve and level rewards."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from bot.core.config._convert import (
    _count,
    _duration_between,
    _meta,
    _nonempty,
    _percent,
    _positive_id,
    _text,
)
from bot.core.config._types import _ACCOUNT, AccountRef, ChannelAddress, _account, _channel
from bot.core.parsing import format_duration


class LevelCurve(StrEnum):
    """How many points each level needs."""

    MEE6 = "mee6"  # the next level needs 5n^2 + 50n + 100 more points
    LINEAR = "linear"  # the next level needs (n + 1) * step more points
    FLAT = "flat"  # every level needs step more points


def _floor(raw: object) -> int:
    """Accept a points floor: a whole number from -1000000 to 0."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not -1_000_000 <= raw <= 0:
        raise ValueError("out of range")
    return raw


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
