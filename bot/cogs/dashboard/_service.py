"""Dashboard sign-in: issue a one-time link, trade it for a session, check the session."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.cogs.dashboard import _store as store
from bot.cogs.dashboard._rules import (
    Refusal,
    csrf_token,
    hash_token,
    may_enter,
    new_token,
    role_of,
    signin_url,
)
from bot.core.cohort import Cohort
from bot.core.commands import Role
from bot.core.community import Community
from bot.core.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, normalize_locale

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who a signed-in browser is: an organizer or admin of one community."""

    session_id: int
    community: Community
    member_id: int
    role: Role
    locale: str
    csrf: str  # the token every form of this session carries


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A fresh session: the cookie value to set and how long it lasts, in seconds."""

    token: str
    max_age: int


class DashboardAuth:
    """The dashboard's accounts: sign-in links and sessions, bound to members."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        self.config = cohort.config.web

    async def issue_link(self, community: Community, member_id: int) -> str:
        """Return a new single-use sign-in link for ``member_id``; earlier unused ones die."""
        token = new_token()
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            await store.add_link(
                conn,
                community.id,
                member_id,
                hash_token(token),
                now,
                now + self.config.dashboard_link_ttl,
            )
        log.info("dashboard: sign-in link issued to member %s of %s", member_id, community.slug)
        return signin_url(self.config.base_url, token)

    async def check_link(self, token: str) -> Refusal | None:
        """Say why ``token`` would not sign in, or None if it would (it is not used up)."""
        async with self.cohort.db.read() as conn:
            link = await store.find_link(conn, hash_token(token))
        return self._refusal(link)

    def _refusal(self, link: store.LinkRow | None) -> Refusal | None:
        if link is None:
            return Refusal.UNKNOWN
        if link.used_at is not None:
            return Refusal.USED
        if link.expires_at <= self.cohort.clock.now():
            return Refusal.EXPIRED
        return None

    async def sign_in(self, token: str) -> SignedIn | Refusal:
        """Use up the link ``token`` and open a session, or say why not."""
        now = self.cohort.clock.now()
        async with self.cohort.db.write() as conn:
            link = await store.find_link(conn, hash_token(token))
            refusal = self._refusal(link)
            if refusal is not None or link is None:
                log.info("dashboard: sign-in refused: %s link", refusal)
                return refusal or Refusal.UNKNOWN
            if not await store.use_link(conn, link.id, now):
                return Refusal.USED
            community = self._community(link.community_id)
            if community is None or not may_enter(await self._role(community, link.member_id)):
                log.warning(
                    "dashboard: member %s is not an organizer or admin now; sign-in refused",
                    link.member_id,
                )
                return Refusal.NOT_ORGANIZER
            session = new_token()
            ttl = self.config.dashboard_session_ttl
            await store.add_session(
                conn, link.community_id, link.member_id, hash_token(session), now, now + ttl
            )
        log.info("dashboard: member %s of %s signed in", link.member_id, community.slug)
        return SignedIn(session, int(ttl.total_seconds()))

    async def viewer(self, session_token: str) -> Viewer | None:
        """Return who holds the session ``session_token``, or None (unknown, expired, demoted)."""
        async with self.cohort.db.read() as conn:
            row = await store.find_session(conn, hash_token(session_token))
        if row is None or row.expires_at <= self.cohort.clock.now():
            return None
        community = self._community(row.community_id)
        if community is None:
            return None
        member, accounts = await self.cohort.identity.profile(row.member_id)
        role = role_of(community, accounts)
        if not may_enter(role):
            return None
        # The session's choice, else the member's /lang, their platform's language (the
        # account seen last), the community's: the order the chat commands use.
        platform = next(
            (
                normalize_locale(a.locale)
                for a in sorted(accounts, key=lambda a: a.last_seen_at, reverse=True)
                if normalize_locale(a.locale)
            ),
            None,
        )
        locale = (
            row.locale or member.locale or platform or normalize_locale(community.config.locale)
        ) or DEFAULT_LOCALE
        return Viewer(row.id, community, row.member_id, role, locale, csrf_token(session_token))

    async def sign_out(self, session_token: str) -> None:
        """End the session ``session_token`` (nothing happens for an unknown one)."""
        async with self.cohort.db.write() as conn:
            await store.end_session(conn, hash_token(session_token))

    async def set_locale(self, viewer: Viewer, locale: str) -> bool:
        """Show the dashboard to ``viewer`` in ``locale``; False for a language we lack."""
        if locale not in SUPPORTED_LOCALES:
            return False
        async with self.cohort.db.write() as conn:
            await store.set_locale(conn, viewer.session_id, locale)
        return True

    async def purge(self) -> int:
        """Delete expired links and sessions; return how many went."""
        async with self.cohort.db.write() as conn:
            return await store.purge(conn, self.cohort.clock.now())

    async def _role(self, community: Community, member_id: int) -> Role:
        _member, accounts = await self.cohort.identity.profile(member_id)
        return role_of(community, accounts)

    def _community(self, community_id: int) -> Community | None:
        return next((c for c in self.cohort.communities.values() if c.id == community_id), None)
