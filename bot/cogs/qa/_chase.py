"""Chase what is due: remind of unanswered questions, ping askers to accept, settle bounties."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.cogs.qa import _bounty as bounties
from bot.cogs.qa import _due as due
from bot.cogs.qa import _service as service
from bot.cogs.qa import _store as store
from bot.cogs.qa._store import Question
from bot.cogs.qa._voice import Voice, forum_for
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, PlatformError
from bot.core.replies import Reply

log = logging.getLogger(__name__)


class Chaser:
    """The Q&A sweep: everything due is read from the database, so a restart loses nothing."""

    def __init__(self, cohort: Cohort, voice: Voice) -> None:
        self.cohort = cohort
        self.voice = voice

    async def next_due(self) -> datetime | None:
        """Return when the sweep next has something to do, in any community."""
        return await due.next_due(self.cohort.db, self.cohort.communities.values())

    async def sweep(self) -> int:
        """Remind, ping, put to sleep and settle what is due, from the database; return how many."""
        done = 0
        for community in self.cohort.communities.values():
            try:
                done += await self._sweep(community)
            except Exception:
                log.exception("qa: sweep failed for %s", community.slug)
        return done

    async def _sweep(self, community: Community) -> int:
        db, now = self.cohort.db, self.cohort.clock.now()
        reminded = await due.claim_unanswered(db, community, now)
        for question in reminded:
            where = forum_for(community, PlatformName(question.platform)) or ChannelRef(
                PlatformName(question.platform), question.channel_id
            )
            sent = await self.voice.post(
                where,
                self.voice.say(community, "qa.reminder", id=question.id, title=question.title),
            )
            if (
                sent is not None
                and question.thread_id is None
                and where.channel_id == question.channel_id
            ):
                await service.track(db, community.id, where, sent, question.id)
        pinged = await due.claim_accept_pings(db, community, now)
        for question in pinged:
            await self._ping(community, question)
        dormant = await due.go_dormant(db, community, now)
        settled = await bounties.settle_bounties(db, community, now)
        for paid in settled:
            name = (
                await self.voice.name(paid.answer.author_id, paid.question.platform)
                if paid.answer is not None
                else "—"
            )
            await self.voice.post(
                paid.question.thread,
                self.voice.say(
                    community,
                    "qa.bounty.settled",
                    paid=paid.bounty_paid,
                    name=name,
                    refunded=paid.bounty_refunded,
                ),
            )
        return len(reminded) + len(pinged) + len(dormant) + len(settled)

    async def _ping(self, community: Community, question: Question) -> None:
        """Ask the asker privately to accept an answer; in the thread if they cannot be reached."""
        member, accounts = await self.cohort.identity.profile(question.asker_id)
        here = [a for a in accounts if a.platform.value == question.platform]
        answers = await store.answers_of(self.cohort.db, question.id)
        if not here or not answers:
            return
        account = here[0]
        locale = member.locale or account.locale or community.config.locale
        reply = Reply(
            text=self.cohort.i18n.text(locale, "qa.ping", id=question.id, title=question.title),
            buttons=await self.voice.answer_buttons(question, answers, question.platform),
        )
        platform = self.cohort.platforms.get(account.platform)
        if platform is None:
            return
        try:
            await platform.direct_message(account.platform_user_id, reply)
        except PlatformError as exc:
            log.info("qa: accept ping for question %s not sent privately: %s", question.id, exc)
            try:
                await platform.send(question.thread, reply)
            except PlatformError as again:
                log.warning("qa: accept ping for question %s failed: %s", question.id, again)
