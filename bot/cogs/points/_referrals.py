"""Referrals: personal invite links, who joined through whose, and when the inviter earns."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cogs.points._ledger import award_in
from bot.cogs.points._rules import Reason
from bot.core.community import Community
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import members, points_invites, points_referrals, purchases

# A join counts as a new member's only when Cohort first saw them this close to it.
NEW_MEMBER_WINDOW = timedelta(minutes=10)


async def invite_of(
    db: Database, community_id: int, member_id: int, platform: str, space_id: str
) -> str | None:
    """Return the member's invite link into ``space_id``, if they have one."""
    async with db.read() as conn:
        link: str | None = await conn.scalar(
            select(points_invites.c.link)
            .where(
                points_invites.c.community_id == community_id,
                points_invites.c.member_id == member_id,
                points_invites.c.platform == platform,
                points_invites.c.space_id == space_id,
            )
            .order_by(points_invites.c.id.desc())
            .limit(1)
        )
    return link


async def save_invite(
    db: Database,
    community_id: int,
    member_id: int,
    platform: str,
    space_id: str,
    link: str,
    now: datetime,
) -> None:
    """Remember whose invite link ``link`` is."""
    async with db.write() as conn:
        await insert_ignore_returning(
            conn,
            points_invites,
            [
                {
                    "community_id": community_id,
                    "member_id": member_id,
                    "platform": platform,
                    "space_id": space_id,
                    "link": link[:200],
                    "created_at": now,
                }
            ],
            keys=("community_id", "platform", "link"),
        )


async def record_join(
    db: Database, community_id: int, member_id: int, platform: str, link: str, now: datetime
) -> bool:
    """Record that a new member joined through someone's link; False when it is no referral.

    Not a referral: an unknown link, inviting yourself, someone Cohort knew before, or a
    member already referred once.
    """
    async with db.write() as conn:
        inviter = await conn.scalar(
            select(points_invites.c.member_id).where(
                points_invites.c.community_id == community_id,
                points_invites.c.platform == platform,
                points_invites.c.link == link,
            )
        )
        if inviter is None or inviter == member_id:
            return False
        created = await conn.scalar(select(members.c.created_at).where(members.c.id == member_id))
        if created is None or created < now - NEW_MEMBER_WINDOW:
            return False
        added = await insert_ignore_returning(
            conn,
            points_referrals,
            [
                {
                    "community_id": community_id,
                    "referred_id": member_id,
                    "inviter_id": inviter,
                    "joined_at": now,
                }
            ],
            keys=("community_id", "referred_id"),
        )
    return bool(added)


async def record_leave(db: Database, community_id: int, member_id: int, now: datetime) -> None:
    """Note that a referred member left before their referral paid."""
    async with db.write() as conn:
        await conn.execute(
            update(points_referrals)
            .where(
                points_referrals.c.community_id == community_id,
                points_referrals.c.referred_id == member_id,
                points_referrals.c.awarded_at.is_(None),
                points_referrals.c.left_at.is_(None),
            )
            .values(left_at=now)
        )


async def settle(db: Database, community: Community, now: datetime) -> list[int]:
    """Pay the referrals whose member stayed long enough or bought something; return inviters."""
    config = community.config.points
    paid = exists().where(
        purchases.c.community_id == points_referrals.c.community_id,
        purchases.c.member_id == points_referrals.c.referred_id,
        purchases.c.refunded_at.is_(None),
    )
    due = and_(
        points_referrals.c.community_id == community.id,
        points_referrals.c.awarded_at.is_(None),
        points_referrals.c.left_at.is_(None),
        points_referrals.c.inviter_id != points_referrals.c.referred_id,  # merged alts
    )
    inviters: list[int] = []
    async with db.write() as conn:
        rows = (
            await conn.execute(
                select(points_referrals.c.referred_id, points_referrals.c.inviter_id).where(
                    due, (points_referrals.c.joined_at <= now - config.referral_stay) | paid
                )
            )
        ).all()
        for referred, inviter in rows:
            await award_in(
                conn,
                community,
                inviter,
                config.referral,
                Reason.REFERRAL,
                f"referral:{referred}",
                at=now,
                note=f"member #{referred}",
            )
            await conn.execute(
                update(points_referrals)
                .where(
                    points_referrals.c.community_id == community.id,
                    points_referrals.c.referred_id == referred,
                )
                .values(awarded_at=now)
            )
            inviters.append(inviter)
    return inviters


async def counts(db: Database, community_id: int, inviter_id: int) -> tuple[int, int]:
    """Return how many joined through a member's links, and how many of those paid off."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(func.count(), func.count(points_referrals.c.awarded_at)).where(
                    points_referrals.c.community_id == community_id,
                    points_referrals.c.inviter_id == inviter_id,
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def merge_referrals(conn: AsyncConnection, survivor: int, absorbed: int) -> None:
    """Keep one referral when both merged members were referred (the survivor's)."""
    mine = select(points_referrals.c.community_id).where(points_referrals.c.referred_id == survivor)
    await conn.execute(
        delete(points_referrals).where(
            points_referrals.c.referred_id == absorbed,
            points_referrals.c.community_id.in_(mine),
        )
    )
