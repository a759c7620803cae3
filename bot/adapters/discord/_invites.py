"""Which invite a joining member used: Discord does not say, so compare invite uses.

As invite trackers do: keep each guild's invites and their use counts (read at start, kept up
by INVITE_CREATE and INVITE_DELETE), read them again when someone joins and take the one invite
whose uses went up (a used-up invite is deleted by Discord, so a known one that vanished with
one use left counts too). Two candidates credit nobody; so does a guild whose invites the bot
may not read (it needs the Manage Server permission), which is logged once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.core.ports import PlatformError, PlatformErrorReason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Uses:
    """One invite's use count, its limit (0 for none) and its link."""

    uses: int
    max_uses: int
    url: str

    def last_use_left(self) -> bool:
        """Say whether one more use ends the invite (Discord then deletes it)."""
        return bool(self.max_uses) and self.uses + 1 >= self.max_uses


def used_invites(before: Mapping[str, Uses], after: Mapping[str, Uses]) -> list[str]:
    """Return the codes whose uses went up between two readings of a guild's invites."""
    rose = [
        code
        for code, now in after.items()
        if now.uses > (before[code].uses if code in before else 0)
    ]
    used_up = [code for code, was in before.items() if code not in after and was.last_use_left()]
    return sorted(rose + used_up)


Fetch = Callable[[int], Awaitable[dict[str, Uses]]]


class InviteTracker:
    """Keeps each guild's invite uses and names the invite a joining member came through."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch
        self._uses: dict[int, dict[str, Uses]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._refused: set[int] = set()  # guilds whose invites the bot may not read: logged

    async def _read(self, guild_id: int) -> dict[str, Uses] | None:
        try:
            found = await self.fetch(guild_id)
        except PlatformError as exc:
            if exc.reason is not PlatformErrorReason.FORBIDDEN:
                log.warning("discord: could not read the invites of guild %s: %s", guild_id, exc)
            elif guild_id not in self._refused:
                self._refused.add(guild_id)
                log.warning(
                    "discord: may not read the invites of guild %s (the bot needs the Manage "
                    "Server permission): referrals through Discord invites are not credited",
                    guild_id,
                )
            return None
        self._refused.discard(guild_id)
        return found

    def _lock(self, guild_id: int) -> asyncio.Lock:
        return self._locks.setdefault(guild_id, asyncio.Lock())

    async def remember(self, guild_id: int) -> None:
        """Read a guild's invites as the baseline the next join is compared with."""
        async with self._lock(guild_id):
            found = await self._read(guild_id)
            if found is None:
                self._uses.pop(guild_id, None)
            else:
                self._uses[guild_id] = found

    def created(self, guild_id: int, code: str, uses: Uses) -> None:
        """Note a new invite (INVITE_CREATE)."""
        known = self._uses.get(guild_id)
        if known is not None:
            known.setdefault(code, uses)

    def deleted(self, guild_id: int, code: str) -> None:
        """Forget a deleted invite (INVITE_DELETE), unless a join may have used it up."""
        known = self._uses.get(guild_id)
        if known is not None and code in known and not known[code].last_use_left():
            del known[code]

    async def joined(self, guild_id: int, user_id: int) -> str | None:
        """Return the link of the invite a member just joined through, when it is certain."""
        async with self._lock(guild_id):
            before = self._uses.get(guild_id)
            after = await self._read(guild_id)
            if after is None:
                self._uses.pop(guild_id, None)
                return None
            self._uses[guild_id] = after
        if before is None:
            log.info("discord: no earlier invite uses for guild %s: join of %s", guild_id, user_id)
            return None
        codes = used_invites(before, after)
        if len(codes) > 1:
            log.info(
                "discord: %s joined guild %s through one of %d invites: credited to nobody",
                user_id,
                guild_id,
                len(codes),
            )
            return None
        if not codes:
            log.info("discord: no invite of guild %s shows the join of %s", guild_id, user_id)
            return None
        used = after.get(codes[0]) or before[codes[0]]
        return used.url
