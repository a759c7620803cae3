"""Automod's pure rules, table by table: links, invites, mentions, windows, severity."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cogs.moderation._automod_rules import (
    Hit,
    Link,
    Windows,
    exempt_by_role,
    harshest,
    host_allowed,
    links,
    mention_count,
    new_account_hit,
    stateless_hits,
)
from bot.core.config import (
    AutomodAction,
    AutomodChannel,
    AutomodConfig,
    AutomodRule,
    ChannelAddress,
    LinkRule,
    RoleGrant,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LINKS_ON = dataclasses.replace(
    AutomodConfig(), links=LinkRule(on=True, allow=("example.com", "python.org"))
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no links here", []),
        ("see file.py and e.g. this", []),
        ("https://example.com/a?b=1", [Link("example.com", "/a?b=1")]),
        ("go to www.Example.COM now", [Link("example.com", "")]),
        ("HTTP://Docs.Python.org.", [Link("docs.python.org", "")]),
        ("join discord.gg/abc", [Link("discord.gg", "/abc")]),
        (
            "t.me/+AbCdEf and https://t.me/joinchat/x",
            [Link("t.me", "/+AbCdEf"), Link("t.me", "/joinchat/x")],
        ),
    ],
)
def test_links_are_found_with_their_host(text: str, expected: list[Link]) -> None:
    assert links(text) == expected


@pytest.mark.parametrize(
    ("link", "invite"),
    [
        (Link("discord.gg", "/abc"), True),
        (Link("discord.com", "/invite/abc"), True),
        (Link("discordapp.com", "/invite/abc"), True),
        (Link("t.me", "/+AbC"), True),
        (Link("t.me", "/joinchat/AbC"), True),
        (Link("telegram.me", "/joinchat/AbC"), True),
        (Link("t.me", "/python"), False),  # a public channel, not an invite link
        (Link("discord.com", "/channels/1/2"), False),
        (Link("example.com", "/discord.gg/x"), False),
    ],
)
def test_invites_are_told_apart(link: Link, invite: bool) -> None:
    assert link.invite is invite


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("example.com", True),
        ("docs.example.com", True),
        ("badexample.com", False),
        ("example.com.evil.net", False),
        ("python.org", True),
        ("", False),
    ],
)
def test_an_allowed_host_allows_its_subdomains_only(host: str, allowed: bool) -> None:
    assert host_allowed(host, ("Example.com.", "python.org")) is allowed


@pytest.mark.parametrize(
    ("text", "mentions", "count"),
    [
        ("hi", (), 0),
        ("hi <@1> <@1>", ("1", "1"), 1),
        ("hi all", ("1", "2", "3"), 3),
        ("@everyone look", (), 1_000_000),
        ("@HERE look", (), 1_000_000),
    ],
)
def test_mentions_count_distinct_people_and_everyone_is_unlimited(
    text: str, mentions: tuple[str, ...], count: int
) -> None:
    assert mention_count(text, mentions) == count


@pytest.mark.parametrize(
    ("text", "mentions", "off", "allow", "rules"),
    [
        ("hello", 0, (), (), []),
        ("https://example.com", 0, (), (), []),
        ("https://evil.net", 0, (), (), [AutomodRule.LINKS]),
        ("https://evil.net", 0, (AutomodRule.LINKS,), (), []),
        ("https://evil.net", 0, (), ("evil.net",), []),
        ("discord.gg/x", 0, (), (), [AutomodRule.INVITES]),
        ("discord.gg/x", 0, (AutomodRule.INVITES,), (), []),
        ("hi", 5, (), (), []),  # exactly the limit
        ("hi", 6, (), (), [AutomodRule.MENTIONS]),
        ("https://evil.net discord.gg/x", 9, (), (), list(AutomodRule)[1:5]),
    ],
)
def test_stateless_rules(
    text: str,
    mentions: int,
    off: tuple[AutomodRule, ...],
    allow: tuple[str, ...],
    rules: list[AutomodRule],
) -> None:
    hits = stateless_hits(LINKS_ON, links(text), mentions, off=frozenset(off), allow=allow)
    assert sorted(h.rule for h in hits) == sorted(set(rules) - {AutomodRule.REPEATS})


def test_links_are_off_by_default() -> None:
    assert stateless_hits(AutomodConfig(), links("https://evil.net"), 0) == []


@pytest.mark.parametrize(
    ("age", "has_links", "hit"),
    [
        (timedelta(hours=23), True, True),
        (timedelta(days=1), True, False),  # exactly the limit: old enough
        (timedelta(hours=1), False, False),
    ],
)
def test_new_accounts_posting_links(age: timedelta, has_links: bool, hit: bool) -> None:
    found = new_account_hit(AutomodConfig(), has_links, T0 - age, T0)
    assert (found is not None) is hit


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        ([], AutomodAction.DELETE),
        ([AutomodAction.DELETE], AutomodAction.DELETE),
        ([AutomodAction.WARN, AutomodAction.DELETE], AutomodAction.WARN),
        ([AutomodAction.WARN, AutomodAction.MUTE], AutomodAction.MUTE),
    ],
)
def test_the_harshest_action_wins(actions: list[AutomodAction], expected: AutomodAction) -> None:
    assert harshest(Hit(AutomodRule.FLOOD, a) for a in actions) == expected


@pytest.mark.parametrize(
    ("gaps", "most", "flooding"),
    [
        ([0, 1, 1, 1, 1], 5, False),  # five in 4 s: allowed
        ([0, 1, 1, 1, 1, 1], 5, True),  # the sixth within 10 s
        ([0, 2, 2, 2, 2, 1], 5, True),  # the sixth at 9 s
        ([0, 2, 2, 2, 2, 2], 5, False),  # the sixth at 10 s: the first has left the window
    ],
)
def test_flood_window(gaps: list[int], most: int, flooding: bool) -> None:
    windows = Windows()
    at = T0
    results = []
    for gap in gaps:
        at += timedelta(seconds=gap)
        results.append(windows.flood("k", at, timedelta(seconds=10), most))
    assert results[-1] is flooding
    assert not any(results[:-1])


def test_repeats_compare_case_and_spacing_folded() -> None:
    windows = Windows()
    within = timedelta(minutes=1)
    assert not windows.repeats("k", T0, "Buy NOW", within, 3)
    assert not windows.repeats("k", T0 + timedelta(seconds=5), "buy   now", within, 3)
    assert not windows.repeats("other", T0 + timedelta(seconds=6), "buy now", within, 3)
    assert windows.repeats("k", T0 + timedelta(seconds=10), " BUY now ", within, 3)
    assert not windows.repeats("k", T0 + timedelta(minutes=2), "buy now", within, 3)


def test_windows_stay_bounded() -> None:
    windows = Windows(limit=10)
    for n in range(100):
        windows.flood(n, T0, timedelta(seconds=10), 5)
    assert len(windows._times) <= 10


@given(st.text(max_size=300))
def test_any_text_is_read_without_error(text: str) -> None:
    found = links(text)
    assert all(link.host == link.host.lower() for link in found)
    stateless_hits(LINKS_ON, found, mention_count(text, ()))


_ROLES = dataclasses.replace(AutomodConfig(), exempt_roles=(RoleGrant("111", "7"),))
_IN_CHANNEL = AutomodChannel(
    channel=ChannelAddress.parse("discord:5"), exempt_roles=(RoleGrant("111", "8"),)
)


@pytest.mark.parametrize(
    ("config", "channel", "held", "exempt"),
    [
        (_ROLES, None, {"7"}, True),
        (_ROLES, None, {"6", "7"}, True),
        (_ROLES, None, {"8"}, False),
        (_ROLES, _IN_CHANNEL, {"8"}, True),  # exempt in that channel only
        (_ROLES, _IN_CHANNEL, {"7"}, True),  # the community's roles count in every channel
        (_ROLES, _IN_CHANNEL, set(), False),
        (AutomodConfig(), None, {"7"}, False),
        (_ROLES, None, {"111"}, False),  # a guild id is not a role
    ],
)
def test_exempt_by_role(
    config: AutomodConfig, channel: AutomodChannel | None, held: set[str], exempt: bool
) -> None:
    assert exempt_by_role(config, channel, held) is exempt
