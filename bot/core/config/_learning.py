"""Hold the lectures and Q&A sections: announcements, reminders, check-in and questions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.core.config._convert import (
    _count,
    _duration_between,
    _meta,
    _nonempty,
    _percent,
    _public_url,
    _span,
)
from bot.core.config._types import ChannelAddress, _channel
from bot.core.parsing import format_duration


def _durations(value: tuple[timedelta, ...]) -> str:
    """Write a tuple of durations for ``describe``."""
    return ", ".join(format_duration(item) for item in value) if value else "(none)"


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
            _public_url, "the public http(s) address of the web app, like 'https://x.org'"
        ),
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
