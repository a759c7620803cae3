"""Fit a button's action and payload into a platform's callback data, storing long ones."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from bot.core.clock import Clock
from bot.core.replies import Button
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import button_payloads

INLINE = "a"
STORED = "s"


class ButtonCodec:
    """Encode buttons as ``a|action|payload``, or ``s|id`` when that would be too long."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def encode(self, community_id: int, button: Button, *, limit: int) -> str:
        """Return callback data of at most ``limit`` UTF-8 bytes for ``button``."""
        inline = f"{INLINE}|{button.action}|{button.payload}"
        if len(inline.encode()) <= limit:
            return inline
        digest = hashlib.sha256(f"{button.action}\n{button.payload}".encode()).hexdigest()
        async with self.db.write() as conn:
            await insert_ignore_returning(
                conn,
                button_payloads,
                [
                    {
                        "community_id": community_id,
                        "action": button.action,
                        "payload": button.payload,
                        "digest": digest,
                        "created_at": self.clock.now(),
                    }
                ],
                keys=("community_id", "digest"),
            )
            row_id = await conn.scalar(
                select(button_payloads.c.id).where(
                    button_payloads.c.community_id == community_id,
                    button_payloads.c.digest == digest,
                )
            )
        return f"{STORED}|{row_id}"

    async def decode(self, community_id: int, data: str) -> tuple[str, str] | None:
        """Return ``(action, payload)`` for callback data, or None if it is not ours."""
        kind, _, rest = data.partition("|")
        if kind == INLINE:
            action, sep, payload = rest.partition("|")
            return (action, payload) if sep and action else None
        if kind == STORED and rest.isdigit():
            async with self.db.read() as conn:
                row = (
                    await conn.execute(
                        select(button_payloads.c.action, button_payloads.c.payload).where(
                            button_payloads.c.id == int(rest),
                            button_payloads.c.community_id == community_id,
                        )
                    )
                ).first()
            return (row.action, row.payload) if row else None
        return None
