"""The ``Platform`` port: what the core may ask of a chat platform, and what can go wrong."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from bot.core.platforms import PlatformName
from bot.core.replies import Reply


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """A place messages go: a channel or chat, optionally a thread or forum topic in it."""

    platform: PlatformName
    channel_id: str
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the bot or a member posted."""

    channel: ChannelRef
    message_id: str


@dataclass(frozen=True, slots=True)
class AccessTarget:
    """Something access is granted to: a Discord role in a guild, or a Telegram chat."""

    platform: PlatformName
    space_id: str
    role_id: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduledEvent:
    """A native calendar event on a platform that has them."""

    title: str
    description: str
    start: datetime
    end: datetime
    location: str


class PlatformErrorReason(StrEnum):
    """Why a platform refused or failed a request."""

    DM_CLOSED = "dm_closed"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    UNSUPPORTED = "unsupported"
    INVALID = "invalid"


class PlatformError(Exception):
    """A request to a platform that did not succeed; ``reason`` says why."""

    def __init__(self, reason: PlatformErrorReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail


@runtime_checkable
class Platform(Protocol):
    """What each adapter implements so that features can act on its platform."""

    name: PlatformName

    async def send(self, channel: ChannelRef, reply: Reply) -> MessageRef:
        """Post ``reply`` in ``channel``."""
        ...

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Replace the content of a message the bot posted."""
        ...

    async def delete(self, message: MessageRef) -> None:
        """Delete a message."""
        ...

    async def direct_message(self, user_id: str, reply: Reply) -> MessageRef:
        """Send ``reply`` privately; raise DM_CLOSED when the person cannot be reached."""
        ...

    async def create_thread(
        self, channel: ChannelRef, title: str, reply: Reply, *, tags: tuple[str, ...] = ()
    ) -> ChannelRef:
        """Open a thread, forum post or topic in ``channel`` starting with ``reply``."""
        ...

    async def close_thread(self, thread: ChannelRef, *, lock: bool = False) -> None:
        """Archive (and optionally lock) a thread or close a topic."""
        ...

    async def rename_thread(self, thread: ChannelRef, title: str) -> None:
        """Change the title of a thread, forum post or topic the bot opened."""
        ...

    async def pin(self, message: MessageRef) -> None:
        """Pin a message in its channel (quietly, where the platform can)."""
        ...

    async def unpin(self, message: MessageRef) -> None:
        """Unpin a message; one that is not pinned stays as it is."""
        ...

    async def grant_access(self, user_id: str, target: AccessTarget) -> None:
        """Let a person into ``target`` (add the role, or approve them into the chat)."""
        ...

    async def revoke_access(self, user_id: str, target: AccessTarget) -> None:
        """Take a person out of ``target``."""
        ...

    async def create_invite(
        self,
        target: AccessTarget,
        *,
        expires_at: datetime | None = None,
        member_limit: int | None = 1,
        join_request: bool = False,
    ) -> str:
        """Return an invite link into ``target``."""
        ...

    async def approve_join_request(self, space_id: str, user_id: str) -> None:
        """Approve a pending request to join a chat."""
        ...

    async def decline_join_request(self, space_id: str, user_id: str) -> None:
        """Decline a pending request to join a chat."""
        ...

    async def remove_member(self, space_id: str, user_id: str) -> None:
        """Remove a person from a guild or chat without banning them for good."""
        ...

    async def create_scheduled_event(self, space_id: str, event: ScheduledEvent) -> str:
        """Create a native scheduled event and return its id."""
        ...

    async def edit_scheduled_event(
        self, space_id: str, event_id: str, event: ScheduledEvent
    ) -> None:
        """Bring a native scheduled event in line with ``event``; NOT_FOUND when it is gone."""
        ...

    async def delete_scheduled_event(self, space_id: str, event_id: str) -> None:
        """Delete a native scheduled event; NOT_FOUND when it is already gone."""
        ...

    async def timeout_member(self, space_id: str, user_id: str, until: datetime | None) -> None:
        """Keep a person from talking in a guild or chat until ``until``; None lets them again."""
        ...

    async def ban_member(self, space_id: str, user_id: str, *, delete_days: int = 0) -> None:
        """Ban a person from a guild or chat, deleting their last ``delete_days`` of messages."""
        ...

    async def unban_member(self, space_id: str, user_id: str) -> None:
        """Lift a ban; a person who is not banned stays as they are."""
        ...

    async def delete_messages(self, channel: ChannelRef, message_ids: Sequence[str]) -> None:
        """Delete several messages of one channel at once, within the platform's limits."""
        ...

    async def set_slowmode(self, channel: ChannelRef, seconds: int) -> bool:
        """Set a channel's slowmode; return False when the platform leaves it to the bot."""
        ...
