"""``[discord] shard_count`` and ``shard_ids``: which Discord shards this process opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.config import MAX_SHARDS, Config, parse_config
from bot.core.errors import ConfigError

pytestmark = pytest.mark.backend_free

COMMUNITY = {"communities": [{"id": "demo", "name": "Demo"}]}


def parse(discord: dict[str, object]) -> Config:
    """Parse a config with this ``[discord]`` table and one community."""
    return parse_config(
        {"discord": discord, **COMMUNITY},
        source="test.toml",
        base_dir=Path("/srv/cohort"),
        env={},
    )


@pytest.mark.parametrize(
    ("discord", "count", "ids"),
    [
        pytest.param({}, None, None, id="absent-discord-recommends"),
        pytest.param({"shard_count": 1}, 1, None, id="one-shard"),
        pytest.param({"shard_count": 4}, 4, None, id="all-of-four"),
        pytest.param({"shard_count": 4, "shard_ids": [3, 0]}, 4, (3, 0), id="two-of-four"),
        pytest.param({"shard_count": 2, "shard_ids": [1]}, 2, (1,), id="the-last-id"),
        pytest.param(
            {"shard_count": MAX_SHARDS, "shard_ids": [MAX_SHARDS - 1]},
            MAX_SHARDS,
            (MAX_SHARDS - 1,),
            id="the-largest",
        ),
    ],
)
def test_shards_are_read(
    discord: dict[str, object], count: int | None, ids: tuple[int, ...] | None
) -> None:
    config = parse(discord)
    assert (config.discord.shard_count, config.discord.shard_ids) == (count, ids)


@pytest.mark.parametrize(
    ("discord", "key", "expected", "got"),
    [
        pytest.param(
            {"shard_count": 0}, "discord.shard_count", "from 1 to 100000", "0", id="count-0"
        ),
        pytest.param(
            {"shard_count": MAX_SHARDS + 1},
            "discord.shard_count",
            "from 1 to 100000",
            "100001",
            id="count-too-many",
        ),
        pytest.param(
            {"shard_count": "2"}, "discord.shard_count", "whole number", "'2'", id="count-text"
        ),
        pytest.param(
            {"shard_count": True}, "discord.shard_count", "whole number", "True", id="count-bool"
        ),
        pytest.param(
            {"shard_count": 2.0}, "discord.shard_count", "whole number", "2.0", id="count-float"
        ),
        pytest.param(
            {"shard_count": 2, "shard_ids": [2]},
            "discord.shard_ids[0]",
            "from 0 to 1 (shard_count is 2)",
            "2",
            id="id-equal-to-count",
        ),
        pytest.param(
            {"shard_count": 4, "shard_ids": [0, 9]},
            "discord.shard_ids[1]",
            "from 0 to 3",
            "9",
            id="id-past-count",
        ),
        pytest.param(
            {"shard_count": 2, "shard_ids": [-1]},
            "discord.shard_ids[0]",
            "a shard id from 0",
            "-1",
            id="id-negative",
        ),
        pytest.param(
            {"shard_count": 4, "shard_ids": [1, 1]},
            "discord.shard_ids[1]",
            "not already listed",
            "1",
            id="id-twice",
        ),
        pytest.param(
            {"shard_count": 4, "shard_ids": []},
            "discord.shard_ids",
            "at least one shard id",
            "[]",
            id="ids-empty",
        ),
        pytest.param(
            {"shard_ids": [0]},
            "discord.shard_ids",
            "unless discord.shard_count is set",
            "[0]",
            id="ids-without-count",
        ),
        pytest.param(
            {"shard_count": 2, "shard_ids": 0},
            "discord.shard_ids",
            "an array",
            "0",
            id="ids-not-a-list",
        ),
    ],
)
def test_bad_shards_are_refused_with_the_key(
    discord: dict[str, object], key: str, expected: str, got: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(discord)
    assert caught.value.key == key
    assert expected in caught.value.expected
    assert caught.value.got == got


@given(
    count=st.integers(min_value=1, max_value=64),
    ids=st.lists(st.integers(min_value=-3, max_value=70), max_size=6),
)
def test_shard_ids_are_accepted_exactly_when_distinct_and_below_the_count(
    count: int, ids: list[int]
) -> None:
    valid = bool(ids) and len(set(ids)) == len(ids) and all(0 <= i < count for i in ids)
    try:
        config = parse({"shard_count": count, "shard_ids": ids})
    except ConfigError as error:
        assert not valid, error
        assert error.key.startswith("discord.shard_ids")
    else:
        assert valid
        assert config.discord.shard_ids == tuple(ids)
