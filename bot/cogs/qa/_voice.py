"""How Q&A speaks: texts, names, posts and pins, and the answers offered as buttons."""

from __future__ import annotations

import logging

from bot.cogs.qa import _votes as votes
from bot.cogs.qa._store import MAX_LISTED, Answer, Question
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef, Platform, PlatformError
from bot.core.replies import Button, ButtonStyle, Reply

log = logging.getLogger(__name__)

SNIPPET = 40
VOTE_MARK = "▲"


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[: SNIPPET - 1] + "…"


def forum_for(community: Community, platform: PlatformName) -> ChannelRef | None:
    """Return the configured Q&A channel on ``platform``, if any."""
    for address in community.config.qa.channels:
        if address.platform is platform:
            return ChannelRef(platform, address.channel_id, address.thread_id)
    return None


class Voice:
    """Speak for Q&A in a community: its language, its threads, its members' names."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort

    def say(self, community: Community, key: str, **params: object) -> str:
        """Return a text in the community's language."""
        return self.cohort.i18n.text(community.config.locale, key, **params)

    async def name(self, member_id: int, platform: str) -> str:
        """Return a member's display name, as known on ``platform`` if they are there."""
        _, accounts = await self.cohort.identity.profile(member_id)
        here = [a for a in accounts if a.platform.value == platform] or accounts
        return here[0].display_name if here else "?"

    async def post(self, channel: ChannelRef, text: str) -> str | None:
        """Post ``text`` in ``channel``; return the message id, or None if it failed."""
        platform = self.cohort.platforms.get(channel.platform)
        if platform is None:
            return None
        try:
            sent = await platform.send(channel, Reply(text=text))
        except PlatformError as exc:
            log.warning("qa: could not post in %s: %s", channel, exc)
            return None
        return sent.message_id

    @staticmethod
    async def pin(platform: Platform, message: MessageRef, *, pinned: bool) -> None:
        """Pin or unpin a reply chain's opening message; a refusal is logged, not fatal."""
        try:
            await (platform.pin(message) if pinned else platform.unpin(message))
        except PlatformError as exc:
            log.info("qa: could not %s %s: %s", "pin" if pinned else "unpin", message, exc)

    async def answer_buttons(
        self, question: Question, answers: list[Answer], platform: str
    ) -> tuple[Button, ...]:
        """Offer the latest answers as buttons to accept, each with its author and votes."""
        buttons = []
        tally = await votes.votes_of(self.cohort.db, question.id)
        for answer in answers[-MAX_LISTED:]:
            name = await self.name(answer.author_id, platform)
            count = tally.get(answer.id, 0)
            label = f"{name}: {_snippet(answer.text)}"
            buttons.append(
                Button(
                    f"{label} ({VOTE_MARK}{count})" if count else label,
                    "qa.accept",
                    f"{question.id}:{answer.id}",
                    style=ButtonStyle.SUCCESS,
                )
            )
        return tuple(buttons)
