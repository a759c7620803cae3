"""Pure moderation rules: actions and states, who may act on whom, limits, escalation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.commands import Role
from bot.core.config import EscalationAction, EscalationStep
from bot.core.dispatch import ROLE_ORDER
from bot.core.platforms import PlatformName

MAX_MUTE = timedelta(days=28)  # Discord's longest timeout; Telegram's is longer
MIN_MUTE = timedelta(minutes=1)  # Telegram treats a restriction under 30 s as forever
MAX_BAN = timedelta(days=365)  # Telegram treats a ban over 366 days as forever
MAX_DELETE_DAYS = 7  # Discord deletes at most a week of a banned member's messages
MAX_SLOWMODE = 21600  # Discord's rate_limit_per_user ceiling, six hours
MAX_PURGE = 100  # one bulk delete on either platform
MAX_REASON = 500
# How old a message may be and still be deleted in bulk (Discord 14 days, Telegram 48 hours).
PURGE_MAX_AGE: dict[PlatformName, timedelta] = {
    PlatformName.DISCORD: timedelta(days=14),
    PlatformName.TELEGRAM: timedelta(hours=48),
}


class Action(StrEnum):
    """What a case did."""

    WARN = "warn"
    MUTE = "mute"
    UNMUTE = "unmute"
    KICK = "kick"
    BAN = "ban"
    UNBAN = "unban"
    PURGE = "purge"
    SLOWMODE = "slowmode"
    DELETE = "delete"  # automod removed a message


APPEAL_ACTION = "moderation.appeal"


class Source(StrEnum):
    """Who or what opened a case."""

    MODERATOR = "moderator"
    ESCALATION = "escalation"
    EXPIRY = "expiry"
    AUTOMOD = "automod"


APPEALABLE = frozenset({Action.WARN, Action.MUTE, Action.KICK, Action.BAN, Action.DELETE})


class State(StrEnum):
    """How a case ended: done, or refused by a platform (never counted as done)."""

    DONE = "done"
    FAILED = "failed"


class Expiry(StrEnum):
    """Where a timed mute or ban stands: to be lifted, lifted, cancelled by hand, or failed."""

    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Refusal(StrEnum):
    """Why Cohort will not act on someone (a translation key suffix)."""

    SELF = "self"
    HIGHER = "higher"


def outranks(actor: Role, target: Role) -> bool:
    """Say whether ``actor`` stands strictly above ``target``."""
    return ROLE_ORDER.index(actor) > ROLE_ORDER.index(target)


def refusal(actor_id: int, actor: Role, target_id: int, target: Role) -> Refusal | None:
    """Return why ``actor`` may not act on ``target``, or None when they may."""
    if actor_id == target_id:
        return Refusal.SELF
    if not outranks(actor, target):
        return Refusal.HIGHER
    return None


def mute_in_range(duration: timedelta) -> bool:
    """Say whether a mute of ``duration`` fits every platform."""
    return MIN_MUTE <= duration <= MAX_MUTE


def ban_in_range(duration: timedelta) -> bool:
    """Say whether a temporary ban of ``duration`` fits every platform."""
    return MIN_MUTE <= duration <= MAX_BAN


def clean_reason(text: str) -> str:
    """Return a reason on one line, its spaces collapsed, at most ``MAX_REASON`` long."""
    return " ".join(text.split())[:MAX_REASON]


def purge_since(platform: PlatformName, now: datetime) -> datetime | None:
    """Return the oldest time a message may be bulk-deleted on ``platform`` (None: any)."""
    age = PURGE_MAX_AGE.get(platform)
    return now - age if age is not None else None


def chunks(ids: Sequence[str], size: int = MAX_PURGE) -> list[list[str]]:
    """Split ids into lists of at most ``size``."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def escalation_step(steps: Sequence[EscalationStep], warnings: int) -> EscalationStep | None:
    """Return the step that ``warnings`` live warnings reach exactly, or None.

    Exactly, so that each threshold acts once as warnings pile up; of two steps at one count
    the harsher wins (ban over kick over mute, then the longer).
    """
    reached = [s for s in steps if s.warnings == warnings]
    if not reached:
        return None
    order = list(EscalationAction)
    return max(reached, key=lambda s: (order.index(s.action), s.duration))


def escalation_action(step: EscalationStep) -> Action:
    """Return the case action of an escalation step."""
    return {
        EscalationAction.MUTE: Action.MUTE,
        EscalationAction.KICK: Action.KICK,
        EscalationAction.BAN: Action.BAN,
    }[step.action]


def slowmode_allows(last: datetime | None, now: datetime, seconds: int) -> bool:
    """Say whether a message at ``now`` keeps a slowmode of ``seconds`` after ``last``."""
    return seconds <= 0 or last is None or now - last >= timedelta(seconds=seconds)
