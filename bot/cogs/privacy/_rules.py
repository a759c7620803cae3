"""Pure rules of the privacy cog: hashes of tokens and requesters, packing an export."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

ZIP_ABOVE = 1_000_000  # bytes of JSON above which an export is zipped
TOKEN_BYTES = 32  # a download token: 43 URL-safe characters


class Refusal(StrEnum):
    """Why a pressed confirm button does nothing."""

    UNKNOWN = "unknown"
    NOT_YOURS = "not_yours"
    DONE = "done"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Packed:
    """An export ready to send: its bytes, file name and type."""

    data: bytes
    filename: str
    mime: str


def digest(text: str) -> str:
    """Return the SHA-256 of ``text`` in hex (what is stored of a token or a requester)."""
    return hashlib.sha256(text.encode()).hexdigest()


def requester_key(platform: str, user_id: str) -> str:
    """Return the hash that names who asked for an erasure, by platform account."""
    return digest(f"{platform}:{user_id}")


def new_token() -> str:
    """Return a fresh download token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def refusal(
    *,
    found: bool,
    requested_by: str,
    presser: str,
    done: bool,
    expires_at: datetime,
    now: datetime,
) -> Refusal | None:
    """Say why a confirm press must do nothing, or None when it may go ahead."""
    if not found:
        return Refusal.UNKNOWN
    if requested_by != presser:
        return Refusal.NOT_YOURS
    if done:
        return Refusal.DONE
    if now >= expires_at:
        return Refusal.EXPIRED
    return None


def pack(document: dict[str, Any], stem: str) -> Packed:
    """Return ``document`` as JSON, zipped when it is over ``ZIP_ABOVE`` bytes."""
    # Compact: with no indent, json uses its C encoder (a 100,000-message export in a second).
    data = json.dumps(document, ensure_ascii=False, sort_keys=True).encode()
    if len(data) <= ZIP_ABOVE:
        return Packed(data, f"{stem}.json", "application/json")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}.json", data)
    return Packed(out.getvalue(), f"{stem}.zip", "application/zip")
