"""What a command or button handler sees: who, where, in which language, and how to answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.commands import Role
from bot.core.community import Community
from bot.core.identity import Account, Member
from bot.core.ports import ChannelRef, MessageRef, Platform
from bot.core.replies import Reply, as_reply
from bot.core.services import Services

Responder = Callable[[Reply], Awaitable[MessageRef | None]]


@dataclass(slots=True)
class Context:
    """The invocation of one command or button: never a platform object."""

    cohort: Services
    community: Community
    account: Account
    member: Member
    locale: str
    role: Role
    channel: ChannelRef | None
    platform: Platform
    respond: Responder
    replied_message_id: str | None = None  # the message a typed command replied to

    async def reply(self, reply: Reply | str) -> MessageRef | None:
        """Answer the person who invoked this."""
        return await self.respond(as_reply(reply))

    def t(self, key: str, /, **params: Any) -> str:
        """Translate ``key`` into the caller's language as reply markup."""
        return self.cohort.i18n.text(self.locale, key, **params)

    def plain(self, key: str, /, **params: Any) -> str:
        """Translate ``key`` into the caller's language as plain text (labels)."""
        return self.cohort.i18n.plain(self.locale, key, **params)

    def duration(self, value: timedelta) -> str:
        """Write a duration in words in the caller's language (``1 week``, ``1 周``)."""
        return self.cohort.i18n.duration(self.locale, value)

    @property
    def tz(self) -> ZoneInfo:
        """Return the caller's time zone, or the community's."""
        return ZoneInfo(self.member.timezone) if self.member.timezone else self.community.tz

    def now(self) -> datetime:
        """Return the current UTC time from the injected clock."""
        return self.cohort.clock.now()
