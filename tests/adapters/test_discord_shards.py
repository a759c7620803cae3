"""Discord shards in one process: the plan, IDENTIFY pacing, health, and Discord's refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.discord._shards import IdentifyPacer, ShardPlan, latency_ms, shard_of
from bot.core.cohort import Cohort
from bot.core.config import Config, DiscordConfig
from bot.core.errors import ConfigError
from bot.core.platforms import PlatformName
from bot.core.ports import AccessTarget, ChannelRef, PlatformError, PlatformErrorReason
from bot.core.replies import Button, Reply
from bot.core.supervise import Failure, FailureKind
from bot.runtime import build
from bot.store.tables import message_log
from tests.adapters.conftest import FAST_RESTARTS, connected
from tests.adapters.test_discord import adapter_of, start
from tests.conftest import make_config
from tests.discord_api import DEFAULT_TOKEN, DiscordServer

OLGA, BOB = 10, 11
GUILDS = {0: 1000 << 22, 1: 1001 << 22}  # on shard 0 and shard 1 of two
CHANNELS = {shard: guild + 1 for shard, guild in GUILDS.items()}


@pytest.mark.parametrize(
    ("count", "ids", "recommended", "plan"),
    [
        (None, None, 1, ShardPlan(1, (0,))),
        (None, None, 3, ShardPlan(3, (0, 1, 2))),
        (None, None, 0, ShardPlan(1, (0,))),  # never fewer than one
        (2, None, 5, ShardPlan(2, (0, 1))),  # the config wins over the recommendation
        (4, (3, 1), 1, ShardPlan(4, (3, 1))),
    ],
)
def test_the_plan_takes_the_config_else_discords_recommendation(
    count: int | None, ids: tuple[int, ...] | None, recommended: int, plan: ShardPlan
) -> None:
    got = ShardPlan.of(DiscordConfig(shard_count=count, shard_ids=ids), recommended)
    assert got == plan
    assert got.all is (len(plan.ids) == plan.count)


@pytest.mark.parametrize(
    ("plan", "text"),
    [(ShardPlan(1, (0,)), "shard 0 of 1"), (ShardPlan(4, (0, 2)), "shards 0, 2 of 4")],
)
def test_the_plan_is_described_for_the_log(plan: ShardPlan, text: str) -> None:
    assert plan.describe() == text


@pytest.mark.parametrize(
    ("guild_id", "count", "shard"),
    [(GUILDS[0], 2, 0), (GUILDS[1], 2, 1), (GUILDS[1], 1, 0), ((5 << 22) - 1, 5, 4)],
)
def test_a_guild_is_on_shard_id_shifted_22_modulo_the_count(
    guild_id: int, count: int, shard: int
) -> None:
    assert shard_of(guild_id, count) == shard


@pytest.mark.parametrize(
    ("max_concurrency", "requests", "pauses"),
    [
        # One bucket: each IDENTIFY waits out the 5 s after the one before.
        (1, [(0, 0.0), (1, 0.0), (2, 0.0)], [0.0, 5.0, 5.0]),
        # Two buckets: shards 0 and 1 at once, shard 2 waits for shard 0's bucket (the rest
        # of its 5 s, until 5.0), then shard 3 the last second of shard 1's (from 1.0).
        (2, [(0, 0.0), (1, 1.0), (2, 2.0), (3, 2.0)], [0.0, 0.0, 3.0, 1.0]),
        # Long after the last one there is no wait (a shard that reconnects later).
        (1, [(0, 0.0), (0, 5.0), (0, 12.0)], [0.0, 0.0, 0.0]),
        # Exactly at the window's end: no wait; just before: the rest of it.
        (1, [(0, 0.0), (1, 4.5)], [0.0, 0.5]),
    ],
)
async def test_identify_is_paced_by_bucket(
    max_concurrency: int, requests: list[tuple[int, float]], pauses: list[float]
) -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = IdentifyPacer(max_concurrency, now=lambda: now[0], sleep=sleep)
    got = []
    for shard, at in requests:
        now[0] = max(now[0], at)
        got.append(await pacer.wait(shard))
    assert got == pytest.approx(pauses)


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0.0123, 12.3), (float("nan"), None), (float("inf"), None), (0.0, 0.0)]
)
def test_latency_is_shown_in_milliseconds_or_none(seconds: float, shown: float | None) -> None:
    assert latency_ms(seconds) == shown


# --- real discord.py against the stand-in -----------------------------------------------------


@pytest.fixture
async def dc() -> AsyncIterator[DiscordServer]:
    """Start the stand-in with one guild on each of two shards, Olga and Bob in both."""
    async with DiscordServer() as server:
        server.add_user(OLGA, "Olga")
        server.add_user(BOB, "Bob")
        for shard, guild in GUILDS.items():
            server.add_guild(guild, f"Shard {shard}", owner_id=OLGA)
            server.add_channel(guild, CHANNELS[shard], "general")
            for user in (OLGA, BOB):
                server.add_member(guild, user)
        yield server


def config(tmp_path: Path, dc: DiscordServer, **discord: object) -> Config:
    """Return a config with both guilds in the demo community, pointed at the stand-in."""
    return make_config(
        tmp_path,
        discord={"token": DEFAULT_TOKEN, "api_base": dc.api_base, **discord},
        community={"discord_guilds": list(GUILDS.values()), "telegram_chats": []},
        supervise=FAST_RESTARTS,
    )


async def test_one_process_opens_discords_recommended_shards_and_hears_both_guilds(
    tmp_path: Path, dc: DiscordServer
) -> None:
    dc.guilds_per_recommended_shard = 1  # two guilds: Discord recommends two shards
    dc.max_concurrency = 2  # both may IDENTIFY at once
    async with connected(config(tmp_path, dc)) as cohort:
        assert {s.shard for s in dc.gateway.sessions.values()} == {(0, 2), (1, 2)}
        assert dc.command_puts == {guild: 1 for guild in GUILDS.values()}
        for shard in GUILDS:
            dc.user_says(CHANNELS[shard], BOB, f"hello on shard {shard}")
        await dc.wait_for(lambda: _channels_heard(cohort), 10)
        assert await _channels_heard(cohort) == {str(c) for c in CHANNELS.values()}
        tasks = cohort.supervisor.report()
        for shard in GUILDS:
            entry = tasks[f"discord.shard.{shard}"]
            assert (entry["state"], entry["shard"], entry["connected"]) == (
                "running",
                [shard, 2],
                True,
            )
        # The two messages arrived one on each shard's session.
        for session in dc.gateway.sessions.values():
            assert len([p for p in session.log if p["t"] == "MESSAGE_CREATE"]) == 1


async def _channels_heard(cohort: Cohort) -> set[str] | None:
    """Return the channels of the messages the bot logged once both are there, else None."""
    async with cohort.db.read() as conn:
        channels = set((await conn.execute(select(message_log.c.channel_id))).scalars())
    return channels if len(channels) == len(CHANNELS) else None


async def test_a_dropped_shard_shows_as_retrying_until_it_resumes(
    tmp_path: Path, dc: DiscordServer
) -> None:
    dc.max_concurrency = 2  # both IDENTIFY at once, as a large bot's do: the spacing is below
    async with connected(config(tmp_path, dc, shard_count=2)) as cohort:
        watches = [cohort.supervisor.watches[f"discord.shard.{s}"] for s in GUILDS]
        await dc.disconnect()
        await dc.wait_for(lambda: all(w.last_error is not None for w in watches))
        assert {w.last_error for w in watches} == {Failure(FailureKind.TRANSIENT, "disconnected")}
        await dc.wait_for(lambda: dc.gateway.resumes == 2 and all(w.up for w in watches))
        assert dc.gateway.identifies == 2  # both resumed: no new session


@pytest.mark.parametrize(
    ("discord", "got"),
    [
        ({"shard_count": 1}, "1 (sharding required, close code 4011)"),
        ({}, "1 (sharding required, close code 4011)"),  # Discord recommended too few
    ],
    ids=["configured", "recommended"],
)
async def test_too_few_shards_for_discord_is_a_config_error(
    tmp_path: Path, dc: DiscordServer, discord: dict[str, object], got: str
) -> None:
    dc.gateway.guilds_per_shard = 1  # two guilds on one shard: Discord refuses it
    cohort = await build(config(tmp_path, dc, **discord))
    try:
        with pytest.raises(ConfigError) as caught:
            await start(cohort)
    finally:
        await cohort.supervisor.close()
        await cohort.db.close()
    assert caught.value.key == "discord.shard_count"
    assert caught.value.got == got
    assert "Discord allows 2,500" in caught.value.expected


async def test_a_process_acts_in_a_guild_on_another_processs_shard(
    tmp_path: Path, dc: DiscordServer
) -> None:
    # Work claimed anywhere (a role grant, an invite, a kick, a post with buttons) may land on
    # a process that does not hear the guild: it reads the guild and channel from Discord.
    other, channel = GUILDS[1], CHANNELS[1]
    role = other + 7
    dc.add_role(other, role, "Pro", 0)
    async with connected(config(tmp_path, dc, shard_count=2, shard_ids=[0])) as cohort:
        adapter = adapter_of(cohort)
        assert adapter.client.get_guild(other) is None  # shard 1's guild: not in this process
        target = AccessTarget(PlatformName.DISCORD, str(other), str(role))
        await adapter.grant_access(str(BOB), target)
        assert str(role) in dc.guilds[other].members[BOB]["roles"]
        link = await adapter.create_invite(AccessTarget(PlatformName.DISCORD, str(other)))
        (code,) = dc.guilds[other].invites
        assert link.endswith(code)
        assert dc.guilds[other].invites[code]["channel"]["id"] == str(channel)
        sent = await adapter.send(
            ChannelRef(PlatformName.DISCORD, str(channel)),
            Reply(text="from shard 0", buttons=(Button("ok", action="general.noop", payload="x"),)),
        )
        assert dc.sent(channel)[-1]["id"] == sent.message_id
        await adapter.remove_member(str(other), str(BOB))
        assert BOB not in dc.guilds[other].members
        # A guild the bot is not in at all is still NOT_FOUND.
        with pytest.raises(PlatformError) as caught:
            await adapter.remove_member(str(999 << 22), str(BOB))
        assert caught.value.reason is PlatformErrorReason.NOT_FOUND


@pytest.mark.parametrize(
    ("max_concurrency", "ids", "spread"),
    [(1, (0,), 0.0), (1, (0, 1, 2), 10.0), (2, (0, 1, 2, 3), 5.0), (16, tuple(range(16)), 0.0)],
)
def test_the_start_waits_longer_for_shards_that_identify_in_turn(
    max_concurrency: int, ids: tuple[int, ...], spread: float
) -> None:
    assert IdentifyPacer(max_concurrency).spread(ids) == spread


async def test_two_shards_in_one_bucket_identify_five_seconds_apart(
    tmp_path: Path, dc: DiscordServer
) -> None:
    dc.max_concurrency = 1  # most bots': one IDENTIFY per 5 seconds
    async with connected(config(tmp_path, dc, shard_count=2)):
        (first, at), (second, later) = dc.gateway.identified
    assert (first, second) == ((0, 2), (1, 2))
    assert later - at >= 5.0 - 0.01  # the second waited out the first one's 5 seconds
