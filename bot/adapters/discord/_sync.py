"""Remember the slash commands last synced to each guild, as a hash, across restarts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import discord_command_syncs


async def stored_hash(db: Database, community_id: int, guild_id: str) -> str | None:
    """Return the hash of the commands last synced to a guild, or None."""
    async with db.read() as conn:
        value = await conn.scalar(
            select(discord_command_syncs.c.payload_hash).where(
                discord_command_syncs.c.community_id == community_id,
                discord_command_syncs.c.guild_id == guild_id,
            )
        )
    return str(value) if value is not None else None


async def store_hash(
    db: Database, community_id: int, guild_id: str, digest: str, now: datetime
) -> None:
    """Record that a guild now has the commands with this hash."""
    row = {
        "community_id": community_id,
        "guild_id": guild_id,
        "payload_hash": digest,
        "synced_at": now,
    }
    async with db.write() as conn:
        inserted = await insert_ignore_returning(
            conn, discord_command_syncs, [row], keys=("community_id", "guild_id")
        )
        if not inserted:
            await conn.execute(
                update(discord_command_syncs)
                .where(
                    discord_command_syncs.c.community_id == community_id,
                    discord_command_syncs.c.guild_id == guild_id,
                )
                .values(payload_hash=digest, synced_at=now)
            )
