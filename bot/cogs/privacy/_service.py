"""The privacy cog's work: exports and their download links, confirmed erasures."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.privacy import _store as store
from bot.cogs.privacy._rules import Packed, Refusal, digest, new_token, pack, refusal
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.errors import UserError
from bot.core.privacy import ErasureReport, Requester

log = logging.getLogger(__name__)


class PrivacyService:
    """Export a member's data, hand out single-use links, erase on a confirmed request."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort

    async def export(self, community: Community, member_id: int) -> Packed:
        """Return everything held about a member as a JSON (or zipped) file."""
        document = await self.cohort.privacy.export(member_id)
        document["community"] = community.slug
        now = self.cohort.clock.now()
        # Serialising (and zipping) a long history takes a while: not on the event loop.
        return await asyncio.to_thread(
            pack, document, f"cohort-{community.slug}-{member_id}-{now:%Y%m%d}"
        )

    def base_url(self, community: Community) -> str | None:
        """Return the web app's public address, or None when it is not served."""
        web = self.cohort.config.web
        if not web.enabled:
            return None
        return web.base_url.rstrip("/")

    async def link(self, community: Community, member_id: int) -> str | None:
        """Issue a single-use download link of a member's export (None: no web app)."""
        base = self.base_url(community)
        if base is None:
            return None
        token = new_token()
        await store.add_download(
            self.cohort.db,
            community.id,
            member_id,
            digest(token),
            self.cohort.clock.now(),
            community.config.privacy.download_within,
        )
        return f"{base.rstrip('/')}/privacy/{community.slug}/{token}"

    async def download(self, slug: str, token: str) -> Packed | None:
        """Spend a download link and return the export it is for; None if it is not valid."""
        community = self.cohort.communities.get(slug)
        if community is None:
            return None
        now = self.cohort.clock.now()
        member_id = await store.take_download(self.cohort.db, community.id, digest(token), now)
        if member_id is None:
            return None
        try:
            return await self.export(community, member_id)
        except LookupError:  # erased since the link was made
            return None

    async def request(
        self, community: Community, member_id: int, requester: Requester, requested_by: str
    ) -> int:
        """Record an erasure waiting for its requester's confirmation; return its id."""
        return await store.add_request(
            self.cohort.db,
            community.id,
            member_id,
            requester,
            requested_by,
            self.cohort.clock.now(),
            community.config.privacy.confirm_within,
        )

    async def confirm(
        self, community: Community, request_id: int, presser: str
    ) -> tuple[store.Request, ErasureReport]:
        """Erase the member of a request its requester confirmed, once, before it expired."""
        now = self.cohort.clock.now()
        request = await store.get_request(self.cohort.db, community.id, request_id)
        why = refusal(
            found=request is not None,
            requested_by=request.requested_by if request else "",
            presser=presser,
            done=request is not None and request.done_at is not None,
            expires_at=request.expires_at if request else now,
            now=now,
        )
        if why is not None or request is None:
            raise UserError(f"privacy.forget.{(why or Refusal.UNKNOWN).value}")

        async def spend(conn: AsyncConnection) -> None:
            if not await store.spend_request(conn, request_id, now):
                raise UserError("privacy.forget.done")

        try:
            report = await self.cohort.privacy.erase(
                community.id, request.member_id, request.requester, guard=spend
            )
        except LookupError:
            raise UserError("privacy.forget.done") from None
        log.info(
            "privacy: erased member %s of %s (%s request %s): %d rows",
            request.member_id,
            community.slug,
            request.requester,
            request.id,
            sum(report.counts.values()),
        )
        return request, report

    async def purge_spent(self, community: Community, now: datetime) -> int:
        """Delete requests and links that expired over a day ago."""
        return await store.purge_spent(self.cohort.db, community.id, now - timedelta(days=1))
