"""The dashboard cog's pure rules: tokens, hashes, links, roles; its job is registered."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cogs.dashboard import PURGE_EVERY, TOKEN_PATTERN
from bot.cogs.dashboard._rules import (
    csrf_token,
    hash_token,
    may_enter,
    new_token,
    role_of,
    same_secret,
    signin_url,
)
from bot.core.cohort import Cohort
from bot.core.commands import Role
from bot.core.identity import Account
from bot.core.platforms import PlatformName

SEEN = datetime(2026, 11, 21, tzinfo=UTC)


def account(platform: PlatformName, user_id: str) -> Account:
    return Account(1, 1, 7, platform, user_id, None, user_id, None, SEEN)


def test_tokens_are_fresh_and_match_the_routes_pattern() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(re.fullmatch(TOKEN_PATTERN, t) for t in tokens)


def test_the_hash_is_sha256_hex_and_the_csrf_token_is_derived() -> None:
    assert hash_token("abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert csrf_token("a") == csrf_token("a") != csrf_token("b")
    assert csrf_token("a") != hash_token("a")
    assert same_secret("x", "x") and not same_secret("x", "y")


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/dashboard/signin/T"),
        ("https://cohort.example.org/", "https://cohort.example.org/dashboard/signin/T"),
        ("https://example.org/bot", "https://example.org/bot/dashboard/signin/T"),
    ],
)
def test_the_link_sits_under_the_public_url(base: str, url: str) -> None:
    assert signin_url(base, "T") == url


@pytest.mark.parametrize(
    ("accounts", "role", "enters"),
    [
        ([], Role.MEMBER, False),
        ([account(PlatformName.CONSOLE, "bob")], Role.MEMBER, False),
        ([account(PlatformName.CONSOLE, "olga")], Role.ORGANIZER, True),
        ([account(PlatformName.CONSOLE, "alice")], Role.ADMIN, True),
        # a member linked to an organizer's Telegram account is that organizer
        (
            [account(PlatformName.CONSOLE, "bob"), account(PlatformName.TELEGRAM, "500")],
            Role.ORGANIZER,
            True,
        ),
    ],
)
def test_organizers_and_admins_enter(
    cohort: Cohort, accounts: list[Account], role: Role, enters: bool
) -> None:
    found = role_of(cohort.communities["demo"], accounts)
    assert found is role
    assert may_enter(found) is enters


@given(st.text(max_size=80))
def test_a_typed_token_never_breaks_the_hash(typed: str) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", hash_token(typed))


def test_expired_links_and_sessions_are_purged_every_hour(cohort: Cohort) -> None:
    (job,) = [j for j in cohort.jobs if j.id == "dashboard.purge"]
    assert job.every == PURGE_EVERY
