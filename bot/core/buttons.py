"""Fit a button's action and payload into a platform's callback data, and read them back.

Callback data comes back from the platform and can be forged: whatever a handler reads from a
payload goes through ``payload_fields`` and ``payload_int``, which refuse anything Cohort did
not write with the translated ``action.unknown``.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import select

from bot.core.clock import Clock
from bot.core.errors import UserError
from bot.core.replies import Button
from bot.store.db import Database
from bot.store.dialect import insert_ignore_returning
from bot.store.tables import button_payloads

log = logging.getLogger(__name__)

INLINE = "a"
STORED = "s"
MAX_ID = 2**63 - 1  # the largest integer SQLite (and PostgreSQL's bigint) stores


def read_int(text: str, *, low: int = 1, high: int = MAX_ID) -> int | None:
    """Return ``text`` as an integer if it is ASCII digits between ``low`` and ``high``."""
    # ``isdigit`` alone takes "²" and "٣", which int() refuses or reads as 3.
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


def payload_fields(payload: str, count: int) -> list[str]:
    """Split a payload Cohort wrote as ``count`` fields joined by ``:``."""
    fields = payload.split(":")
    if len(fields) != count:
        log.info("button payload %r does not have %d fields", payload, count)
        raise UserError("action.unknown")
    return fields


def payload_int(text: str, *, low: int = 1, high: int = MAX_ID) -> int:
    """Read a number a payload carries (an id, a page), within ``low`` and ``high``."""
    number = read_int(text, low=low, high=high)
    if number is None:
        log.info("button payload field %r is not a number from %d to %d", text, low, high)
        raise UserError("action.unknown")
    return number


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
        row_id = read_int(rest) if kind == STORED else None
        if row_id is not None:
            async with self.db.read() as conn:
                row = (
                    await conn.execute(
                        select(button_payloads.c.action, button_payloads.c.payload).where(
                            button_payloads.c.id == row_id,
                            button_payloads.c.community_id == community_id,
                        )
                    )
                ).first()
            return (row.action, row.payload) if row else None
        return None
