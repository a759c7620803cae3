"""Pure automod rules: links, invites, mentions, and the in-memory flood and repeat windows.

Cheap on the message path: a message with no ``http``, ``www.``, invite host or ``@`` is
never parsed further; windows live in memory and forget what is older than they look back.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.config import AutomodAction, AutomodChannel, AutomodConfig, AutomodRule

# A link: a scheme or "www.", then a host; or an invite host written bare.
_LINK = re.compile(
    r"(?i)(?:https?://|www\.)([a-z0-9\-._~%]+)([^\s<>\"']*)"
    r"|\b((?:discord\.gg|discord(?:app)?\.com/invite|t\.me|telegram\.me)/[^\s<>\"']+)"
)
_INVITE = re.compile(
    r"(?i)^(?:www\.)?(?:discord\.gg/|discord(?:app)?\.com/invite/|t\.me/(?:\+|joinchat/)"
    r"|telegram\.me/(?:\+|joinchat/))"
)
_HINTS = ("http", "www.", "discord.gg", "/invite", "t.me/", "telegram.me/")
EVERYONE = ("@everyone", "@here")
SEVERITY = (AutomodAction.DELETE, AutomodAction.WARN, AutomodAction.MUTE)


@dataclass(frozen=True, slots=True)
class Link:
    """A link in a message: its host (lower-case) and the rest after it."""

    host: str
    path: str

    @property
    def invite(self) -> bool:
        """Say whether this links to another Discord server or Telegram chat."""
        return bool(_INVITE.match(f"{self.host}{self.path}"))


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule a message broke, and what the rule says to do."""

    rule: AutomodRule
    action: AutomodAction


def links(text: str) -> list[Link]:
    """Return the links in ``text``; a message without a hint of one is not searched."""
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return []
    found = []
    for match in _LINK.finditer(text):
        if match.group(3):
            host, _, rest = match.group(3).partition("/")
            found.append(Link(host.lower(), "/" + rest))
        else:
            host = match.group(1).lower().rstrip(".")
            found.append(Link(host.removeprefix("www."), match.group(2)))
    return found


def host_allowed(host: str, allow: Iterable[str]) -> bool:
    """Say whether ``host`` is an allowed host or a subdomain of one."""
    for entry in allow:
        allowed = entry.lower().strip(".")
        if host == allowed or host.endswith("." + allowed):
            return True
    return False


def mention_count(text: str, mentions: Iterable[str]) -> int:
    """Count the distinct people a message mentions; everyone or here counts as unlimited."""
    if "@" in text and any(word in text.lower() for word in EVERYONE):
        return 1_000_000
    return len(set(mentions))


def stateless_hits(
    config: AutomodConfig,
    found: list[Link],
    mentions: int,
    *,
    off: frozenset[AutomodRule] = frozenset(),
    allow: tuple[str, ...] = (),
) -> list[Hit]:
    """Return the hits of the rules that look at one message alone."""
    hits = []
    rule = config.invites
    if rule.on and AutomodRule.INVITES not in off and any(link.invite for link in found):
        hits.append(Hit(AutomodRule.INVITES, rule.action))
    links_rule = config.links
    if links_rule.on and AutomodRule.LINKS not in off:
        allowed = links_rule.allow + allow
        if any(not link.invite and not host_allowed(link.host, allowed) for link in found):
            hits.append(Hit(AutomodRule.LINKS, links_rule.action))
    mention_rule = config.mentions
    if mention_rule.on and AutomodRule.MENTIONS not in off and mentions > mention_rule.most:
        hits.append(Hit(AutomodRule.MENTIONS, mention_rule.action))
    return hits


def new_account_hit(
    config: AutomodConfig,
    has_links: bool,
    first_seen: datetime,
    now: datetime,
    off: frozenset[AutomodRule] = frozenset(),
) -> Hit | None:
    """Return a hit when an account Cohort first saw recently posts a link."""
    rule = config.new_accounts
    if not rule.on or AutomodRule.NEW_ACCOUNTS in off or not has_links:
        return None
    if now - first_seen < rule.younger_than:
        return Hit(AutomodRule.NEW_ACCOUNTS, rule.action)
    return None


def exempt_by_role(
    config: AutomodConfig, channel: AutomodChannel | None, role_ids: Iterable[str]
) -> bool:
    """Say whether one of the author's role ids is exempt in the community or in this channel.

    Discord role ids are unique across guilds, so the id alone names the role.
    """
    held = set(role_ids)
    if any(grant.role_id in held for grant in config.exempt_roles):
        return True
    return channel is not None and any(grant.role_id in held for grant in channel.exempt_roles)


def harshest(hits: Iterable[Hit]) -> AutomodAction:
    """Return the harshest action among ``hits`` (mute over warn over delete)."""
    return max((h.action for h in hits), key=SEVERITY.index, default=AutomodAction.DELETE)


def normalized(text: str) -> str:
    """Return text as repeats compare it: case-folded, spaces collapsed."""
    return " ".join(text.casefold().split())


class Windows:
    """Recent message times and texts per key, kept in memory, bounded by ``limit`` keys."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._times: dict[Hashable, deque[datetime]] = {}
        self._texts: dict[Hashable, deque[tuple[datetime, str]]] = {}

    def flood(self, key: Hashable, at: datetime, within: timedelta, most: int) -> bool:
        """Record a message at ``at``; say whether it is more than ``most`` within ``within``."""
        times = self._times.get(key)
        if times is None:
            self._make_room(self._times)
            times = self._times[key] = deque()
        times.append(at)
        while times and at - times[0] >= within:
            times.popleft()
        return len(times) > most

    def repeats(
        self, key: Hashable, at: datetime, text: str, within: timedelta, count: int
    ) -> bool:
        """Record a text; say whether it is the ``count``-th of the same within ``within``."""
        texts = self._texts.get(key)
        if texts is None:
            self._make_room(self._texts)
            texts = self._texts[key] = deque()
        same = normalized(text)
        texts.append((at, same))
        while texts and at - texts[0][0] >= within:
            texts.popleft()
        return bool(same) and sum(1 for _, seen in texts if seen == same) >= count

    def _make_room(self, table: dict[Hashable, Any]) -> None:
        """Drop the oldest half of the keys when the table is full."""
        if len(table) >= self.limit:
            for key in list(table)[: self.limit // 2]:
                del table[key]
