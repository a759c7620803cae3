"""Hold what a community sells and suggests: the offers, gating, courses, recommender sections."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import ClassVar

from bot.core.config._convert import (
    Converter,
    _channel_ref,
    _chat_id,
    _console_user,
    _count,
    _duration_between,
    _locale,
    _meta,
    _nonempty,
    _percent,
    _slug,
    _text,
)
from bot.core.config._types import RoleGrant, _role_grant, _show_roles
from bot.core.i18n import SUPPORTED_LOCALES
from bot.core.parsing import format_duration


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


def _days(raw: object) -> int:
    """Accept a whole number of days from 0 to 365."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 0 <= raw <= 365:
        raise ValueError("out of range")
    return raw


def _memory_mb(raw: object) -> int:
    """Accept a number of megabytes from 64 to 1,000,000."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("not an integer")
    if not 64 <= raw <= 1_000_000:
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
