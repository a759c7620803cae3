"""A configured community as the running bot sees it: its database id plus its config."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.core.commands import Role
from bot.core.config import CommunityConfig
from bot.core.platforms import PlatformName


@dataclass(frozen=True, slots=True)
class Community:
    """One community: ``id`` is its row in the database, ``config`` what the operator wrote."""

    id: int
    config: CommunityConfig

    @property
    def slug(self) -> str:
        """Return the community's id from the config file."""
        return self.config.id

    @property
    def tz(self) -> ZoneInfo:
        """Return the community's time zone."""
        return ZoneInfo(self.config.timezone)

    def role_of(self, platform: PlatformName, user_id: str) -> Role:
        """Return what an account is in this community, from the config's staff lists."""
        if self.config.is_admin(platform, user_id):
            return Role.ADMIN
        if self.config.is_organizer(platform, user_id):
            return Role.ORGANIZER
        if self.config.is_moderator(platform, user_id):
            return Role.MODERATOR
        return Role.MEMBER
