"""Events coming in from the platforms, and the bus that hands them to the cogs."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bot.core.community import Community
from bot.core.identity import Account
from bot.core.ports import ChannelRef

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MessagePosted:
    """A member posted a message (delivered once per message, even if the platform repeats it)."""

    community: Community
    account: Account
    channel: ChannelRef
    message_id: str
    text: str
    posted_at: datetime
    reply_to_message_id: str | None = None
    mentions: tuple[str, ...] = ()  # platform user ids the message mentions, where known
    role_ids: frozenset[str] = frozenset()  # the author's Discord role ids; none elsewhere


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    """A message was deleted (by its author or a moderator), on a platform that says so."""

    community: Community
    channel: ChannelRef
    message_id: str


@dataclass(frozen=True, slots=True)
class ReactionChanged:
    """A member added or took back an emoji reaction on a message."""

    community: Community
    account: Account
    channel: ChannelRef
    message_id: str
    emoji: str
    added: bool


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """A person joined a guild or chat of the community (through ``invite_link``, if known)."""

    community: Community
    account: Account
    space_id: str
    invite_link: str | None = None


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """A person left (or was removed from) a guild or chat of the community."""

    community: Community
    account: Account
    space_id: str


@dataclass(frozen=True, slots=True)
class MemberRolesChanged:
    """Someone other than the bot gave or took roles of a member in a guild (role ids)."""

    community: Community
    account: Account
    space_id: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JoinRequested:
    """A person asked to join a chat that needs approval."""

    community: Community
    account: Account
    space_id: str


@dataclass(frozen=True, slots=True)
class BotStatusChanged:
    """The bot was added to, removed from, promoted or demoted in a guild or chat."""

    community: Community
    space_id: str
    status: str


@dataclass(frozen=True, slots=True)
class ButtonPressed:
    """A person pressed a button the bot sent."""

    community: Community
    account: Account
    action: str
    payload: str


E = TypeVar("E")
Subscriber = Callable[[Any], Awaitable[None]]
Wants = Callable[[Any], bool]


class EventBus:
    """Deliver each event to the cogs that subscribed to its type, one failure isolated."""

    def __init__(self) -> None:
        self._subscribers: dict[type, list[tuple[Subscriber, Wants | None]]] = defaultdict(list)

    def subscribe(
        self,
        event_type: type[E],
        handler: Callable[[E], Awaitable[None]],
        *,
        when: Callable[[E], bool] | None = None,
    ) -> None:
        """Call ``handler`` for every event of ``event_type`` (for which ``when`` is true).

        ``when`` is a plain function: for the many events a handler has nothing to do with
        (most messages, for most cogs), no coroutine is made at all.
        """
        self._subscribers[event_type].append((handler, when))

    async def publish(self, event: object) -> None:
        """Hand ``event`` to each subscriber in turn; log, never raise, a subscriber's failure."""
        for handler, when in self._subscribers.get(type(event), ()):
            try:
                if when is None or when(event):
                    await handler(event)
            except Exception:
                log.exception("event handler %s failed on %s", _name(handler), type(event).__name__)


def _name(handler: Subscriber) -> str:
    return getattr(handler, "__qualname__", repr(handler))
