"""Kudos: the limits a gift of kudos obeys, and whom a thanks message is for."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.cogs.points import _ledger as ledger
from bot.cogs.points._rules import Reason, mentions_in
from bot.core.clock import local_time
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.errors import UserError
from bot.core.events import MessagePosted
from bot.core.identity import Account
from bot.core.parsing import Mention, MentionKind, parse_mention
from bot.core.ports import ChannelRef
from bot.store.tables import message_log

MAX_THANKED = 3  # people one message can thank by mention


def message_prefix(channel: ChannelRef, message_id: str) -> str:
    """Return the start of the source of every kudos given for a message."""
    return f"msg:{channel.platform}:{channel.channel_id}:{message_id}:"


async def give(
    cohort: Cohort,
    community: Community,
    giver: int,
    receiver: Account,
    ref: str,
    *,
    now: datetime,
    tz: ZoneInfo,
    note: str | None,
) -> bool:
    """Give kudos within the daily limit and the pair cooldown; False for a replay."""
    config = community.config.points
    if giver == receiver.member_id:
        raise UserError("points.kudos.self")
    async with cohort.db.write() as conn:
        today = ledger.start_of_day(now, community.tz)
        given = await ledger.kudos_given_since(conn, community.id, giver, today)
        if given >= config.kudos_daily_limit:
            raise UserError("points.kudos.daily_limit", limit=config.kudos_daily_limit)
        last = await ledger.last_kudos(conn, community.id, giver, receiver.member_id)
        if last is not None and now - last < config.kudos_pair_cooldown:
            wait = last + config.kudos_pair_cooldown
            raise UserError(
                "points.kudos.cooldown",
                name=receiver.display_name,
                when=local_time(wait, tz),
            )
        return await ledger.award_in(
            conn,
            community,
            receiver.member_id,
            config.kudos,
            Reason.KUDOS,
            ref,
            at=now,
            actor_id=giver,
            note=note,
        )


async def thanked(cohort: Cohort, event: MessagePosted) -> list[tuple[Account, str]]:
    """Return whom a thanks message is for: the replied-to author, else those mentioned."""
    community = event.community
    if event.reply_to_message_id is not None:
        async with cohort.db.read() as conn:
            member_id = await conn.scalar(
                select(message_log.c.member_id).where(
                    message_log.c.community_id == community.id,
                    message_log.c.platform == event.channel.platform.value,
                    message_log.c.channel_id == event.channel.channel_id,
                    message_log.c.message_id == event.reply_to_message_id,
                )
            )
        if member_id is not None:
            _, accounts = await cohort.identity.profile(member_id)
            here = [a for a in accounts if a.platform is event.channel.platform]
            if here:
                return [(here[0], event.reply_to_message_id)]
    found: list[tuple[Account, str]] = []
    # Mentions the platform resolved (Discord) first, then @names typed in the text.
    named = [Mention(MentionKind.USER_ID, user_id) for user_id in event.mentions]
    named += [parse_mention(raw) for raw in mentions_in(event.text)]
    for mention in named[:MAX_THANKED]:
        account = await cohort.identity.find(community.id, event.channel.platform, mention)
        if account is not None and all(a.member_id != account.member_id for a, _ in found):
            found.append((account, event.message_id))
    return found
