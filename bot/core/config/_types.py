"""Hold the value types a configuration names: secrets, accounts, channels and Discord roles."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from bot.core.config._convert import _chat_id, _console_user, _meta, _positive_id, _text
from bot.core.platforms import PlatformName


class Secret:
    """Hold a credential that is never printed: repr and str give asterisks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the credential itself, for handing to the library that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "********"

    def __str__(self) -> str:
        return "********"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


@dataclass(frozen=True, slots=True)
class AccountRef:
    """Name one account on one platform, written ``discord:123`` or ``console:alice``."""

    platform: PlatformName
    user_id: str

    @classmethod
    def parse(cls, text: str) -> AccountRef:
        """Read ``platform:user_id``; raise ValueError when it is not one."""
        platform_text, sep, user_text = text.strip().partition(":")
        if not sep:
            raise ValueError(f"not an account reference: {text!r}")
        try:
            platform = PlatformName(platform_text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown platform in {text!r}") from None
        user_id = user_text.strip()
        if platform is PlatformName.CONSOLE:
            return cls(platform, _console_user(user_id))
        return cls(platform, _positive_id(user_id))

    def __str__(self) -> str:
        return f"{self.platform.value}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class ChannelAddress:
    """Name a channel on one platform: ``discord:123``, ``telegram:-100123/7``, ``console:x``."""

    platform: PlatformName
    channel_id: str
    thread_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> ChannelAddress:
        """Read ``platform:channel[/thread]``; raise ValueError when it is not one."""
        platform_text, sep, rest = text.strip().partition(":")
        if not sep:
            raise ValueError(f"not a channel reference: {text!r}")
        try:
            platform = PlatformName(platform_text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown platform in {text!r}") from None
        channel_text, slash, thread_text = rest.strip().partition("/")
        thread = _positive_id(thread_text.strip()) if slash else None
        if platform is PlatformName.CONSOLE:
            return cls(platform, _console_user(channel_text), thread)
        if platform is PlatformName.TELEGRAM:
            return cls(platform, _chat_id(channel_text.strip()), thread)
        return cls(platform, _positive_id(channel_text.strip()), thread)

    def __str__(self) -> str:
        thread = f"/{self.thread_id}" if self.thread_id else ""
        return f"{self.platform.value}:{self.channel_id}{thread}"


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """A Discord role in one guild, written ``guild_id:role_id``."""

    guild_id: str
    role_id: str

    def __str__(self) -> str:
        return f"{self.guild_id}:{self.role_id}"


def _role_grant(raw: object) -> RoleGrant:
    """Accept ``"<guild id>:<role id>"``."""
    guild, sep, role = _text(raw).strip().partition(":")
    if not sep:
        raise ValueError("not guild:role")
    return RoleGrant(_positive_id(guild), _positive_id(role))


def _account(raw: object) -> AccountRef:
    """Accept an account written ``platform:user_id``."""
    return AccountRef.parse(_text(raw))


def _channel(raw: object) -> ChannelAddress:
    """Accept a channel written ``platform:channel_id`` or ``platform:channel_id/thread_id``."""
    return ChannelAddress.parse(_text(raw))


def _secret(raw: object) -> Secret | None:
    """Accept a credential string; an empty one means not set."""
    text = _text(raw).strip()
    return Secret(text) if text else None


def _secret_meta(env: str) -> dict[str, object]:
    """Build metadata for a credential that the environment variable ``env`` may override."""
    return _meta(_secret, "a string (the credential)", secret=True, env=env)


def _show_roles(value: tuple[RoleGrant, ...]) -> str:
    return ", ".join(str(r) for r in value) if value else "(none)"


_ACCOUNT = "an account like 'discord:123', 'telegram:456' or 'console:alice'"
