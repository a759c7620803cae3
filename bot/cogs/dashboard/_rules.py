"""Pure rules of dashboard sign-in: tokens, their hashes, links, who may enter."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from enum import StrEnum

from bot.core.commands import Role
from bot.core.community import Community
from bot.core.identity import Account

TOKEN_BYTES = 32  # 43 URL-safe characters
TOKEN_PATTERN = r"[A-Za-z0-9_-]{43}"
ROLE_ORDER = (Role.MEMBER, Role.ORGANIZER, Role.ADMIN)
SIGNIN_PATH = "/dashboard/signin/"


class Refusal(StrEnum):
    """Why a sign-in link or a session does not let someone in."""

    UNKNOWN = "unknown"  # no such link (or a mistyped one)
    USED = "used"
    EXPIRED = "expired"
    NOT_ORGANIZER = "not_organizer"  # no longer an organizer or admin of the community


def new_token() -> str:
    """Return a fresh random token for a link or a session cookie."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of ``token``: the only form the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """Return the CSRF token of the forms of a session (derived, so nothing more is stored)."""
    return hmac.new(session_token.encode(), b"cohort-dashboard-csrf", hashlib.sha256).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Compare two secrets in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())


def signin_url(base_url: str, token: str) -> str:
    """Return the sign-in link a member opens in a browser."""
    return f"{base_url.rstrip('/')}{SIGNIN_PATH}{token}"


def role_of(community: Community, accounts: Iterable[Account]) -> Role:
    """Return the highest role any of a member's accounts holds in ``community``."""
    held = {community.role_of(a.platform, a.platform_user_id) for a in accounts}
    return max(held or {Role.MEMBER}, key=ROLE_ORDER.index)


def may_enter(role: Role) -> bool:
    """Say whether ``role`` may use the dashboard (organizers and admins)."""
    return role in (Role.ORGANIZER, Role.ADMIN)
