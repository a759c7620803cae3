"""The cog's rows: the catalog synced from config, and members' recommendation settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.config import CourseConfig
from bot.recommend import Course
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import courses, recommend_prefs


def as_course(config: CourseConfig) -> Course:
    """Return the recommender's view of a configured course."""
    return Course(
        id=config.id,
        title=config.title,
        description=config.description,
        tags=config.tags,
        language=config.language or "",
        tiers=config.tiers,
    )


async def sync_catalog(
    db: Database, community_id: int, catalog: tuple[CourseConfig, ...], now: datetime
) -> None:
    """Make the courses table hold exactly the configured catalog, in config order."""
    async with db.write() as conn:
        await conn.execute(delete(courses).where(courses.c.community_id == community_id))
        if catalog:
            await conn.execute(
                courses.insert(),
                [
                    {
                        "community_id": community_id,
                        "course_id": c.id,
                        "offer_id": c.offer_id,
                        "position": position,
                        "title": c.title,
                        "description": c.description,
                        "tags": ",".join(c.tags),
                        "language": c.language,
                        "tiers": ",".join(c.tiers),
                        "updated_at": now,
                    }
                    for position, c in enumerate(catalog)
                ],
            )


@dataclass(frozen=True, slots=True)
class Prefs:
    """A member's recommendation settings (the defaults when they never changed them)."""

    use_messages: bool = True
    digest: bool = True
    last_digest_at: datetime | None = None
    last_digest: tuple[str, ...] = ()


async def get_prefs(conn: AsyncConnection, community_id: int, member_id: int) -> Prefs:
    """Return a member's settings."""
    row = (
        await conn.execute(
            select(
                recommend_prefs.c.use_messages,
                recommend_prefs.c.digest,
                recommend_prefs.c.last_digest_at,
                recommend_prefs.c.last_digest,
            ).where(
                recommend_prefs.c.community_id == community_id,
                recommend_prefs.c.member_id == member_id,
            )
        )
    ).first()
    if row is None:
        return Prefs()
    return Prefs(
        use_messages=row.use_messages,
        digest=row.digest,
        last_digest_at=row.last_digest_at,
        last_digest=tuple(x for x in row.last_digest.split(",") if x),
    )


async def set_prefs(
    db: Database, community_id: int, member_id: int, now: datetime, **values: object
) -> None:
    """Change some of a member's settings, creating their row with the defaults first."""
    async with db.write() as conn:
        defaults = Prefs()
        await insert_ignore_returning(
            conn,
            recommend_prefs,
            [
                {
                    "community_id": community_id,
                    "member_id": member_id,
                    "use_messages": defaults.use_messages,
                    "digest": defaults.digest,
                    "last_digest_at": None,
                    "last_digest": "",
                    "updated_at": now,
                }
            ],
            keys=("community_id", "member_id"),
        )
        await conn.execute(
            update(recommend_prefs)
            .where(
                recommend_prefs.c.community_id == community_id,
                recommend_prefs.c.member_id == member_id,
            )
            .values(updated_at=now, **values)
        )


async def merge_prefs(conn: AsyncConnection, survivor: int, absorbed: int) -> None:
    """Combine two members' settings: the more private choice wins, the later digest counts."""
    rows = {
        row.member_id: row
        for row in await conn.execute(
            select(recommend_prefs).where(recommend_prefs.c.member_id.in_((survivor, absorbed)))
        )
    }
    if survivor not in rows or absorbed not in rows:
        return  # at most one row: the identity merge re-points it
    kept, gone = rows[survivor], rows[absorbed]
    stamps = [s for s in (kept.last_digest_at, gone.last_digest_at) if s is not None]
    await conn.execute(
        update(recommend_prefs)
        .where(
            recommend_prefs.c.community_id == kept.community_id,
            recommend_prefs.c.member_id == survivor,
        )
        .values(
            use_messages=kept.use_messages and gone.use_messages,
            digest=kept.digest and gone.digest,
            last_digest_at=max(stamps) if stamps else None,
        )
    )
    await conn.execute(
        delete(recommend_prefs).where(
            recommend_prefs.c.community_id == gone.community_id,
            recommend_prefs.c.member_id == absorbed,
        )
    )
