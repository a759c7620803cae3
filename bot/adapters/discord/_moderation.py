"""The Platform port's moderation calls on Discord: timeouts, bans, bulk delete, slowmode."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from bot.adapters.discord._platform import DiscordPlatform
from bot.core.ports import ChannelRef, PlatformError, PlatformErrorReason

BULK_MIN = 2  # Discord's bulk delete takes 2 to 100 messages; one is deleted on its own
BULK_MAX = 100
SECONDS_PER_DAY = 86400
REASON = "Cohort moderation"


class DiscordModeration(DiscordPlatform):
    """Moderates members and channels on Discord (the bot needs Moderate Members, Ban
    Members, Kick Members, Manage Messages and Manage Channels)."""

    async def timeout_member(self, space_id: str, user_id: str, until: datetime | None) -> None:
        """Time a member out until ``until`` (at most 28 days ahead), or lift it with None."""
        value = until.isoformat() if until is not None else None
        http = self.client.http
        await self.call(
            lambda: http.edit_member(
                int(space_id), int(user_id), reason=REASON, communication_disabled_until=value
            )
        )

    async def ban_member(self, space_id: str, user_id: str, *, delete_days: int = 0) -> None:
        """Ban a user from a guild, deleting their messages of the last ``delete_days`` days."""
        http = self.client.http
        await self.call(
            lambda: http.ban(
                int(user_id),
                int(space_id),
                delete_message_seconds=delete_days * SECONDS_PER_DAY,
                reason=REASON,
            )
        )

    async def unban_member(self, space_id: str, user_id: str) -> None:
        """Lift a ban; "Unknown Ban" means there is none, which is what was wanted."""
        http = self.client.http
        try:
            await self.call(lambda: http.unban(int(user_id), int(space_id), reason=REASON))
        except PlatformError as exc:
            if exc.reason is not PlatformErrorReason.NOT_FOUND:
                raise

    async def delete_messages(self, channel: ChannelRef, message_ids: Sequence[str]) -> None:
        """Delete messages younger than 14 days: in bulk by up to 100, a single one alone."""
        http = self.client.http
        channel_id = int(channel.thread_id or channel.channel_id)
        ids = list(message_ids)
        for start in range(0, len(ids), BULK_MAX):
            chunk = ids[start : start + BULK_MAX]
            if len(chunk) < BULK_MIN:
                await self.call(partial(http.delete_message, channel_id, int(chunk[0])))
            else:
                many: list[str | int] = [int(i) for i in chunk]
                await self.call(partial(http.delete_messages, channel_id, many))

    async def set_slowmode(self, channel: ChannelRef, seconds: int) -> bool:
        """Set the channel's (or thread's) rate_limit_per_user; Discord enforces it."""
        http = self.client.http
        channel_id = int(channel.thread_id or channel.channel_id)
        await self.call(
            lambda: http.edit_channel(channel_id, reason=REASON, rate_limit_per_user=seconds)
        )
        return True
