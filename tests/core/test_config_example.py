"""config.example.toml keeps its promises: every key it sets is the default it says it is."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import Config, load_config, parse_config

pytestmark = pytest.mark.backend_free

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"
# The [[communities]] keys the file gives as examples (its header says so); the rest are defaults.
COMMUNITY_EXAMPLES = {"id", "name", "timezone", "organizers", "admins", "offers"}


def _raw() -> dict[str, Any]:
    with EXAMPLE.open("rb") as fh:
        return tomllib.load(fh)


def _pairs() -> list[tuple[str, str]]:
    """Return (table, key) for every key the example sets outside its examples."""
    raw = _raw()
    pairs = [(table, key) for table, keys in raw.items() if table != "communities" for key in keys]
    (community,) = raw["communities"]
    for key, value in community.items():
        if key in COMMUNITY_EXAMPLES:
            continue
        if isinstance(value, dict):
            pairs += [(f"communities.{key}", sub) for sub in value]
        else:
            pairs.append(("communities", key))
    return pairs


def _section(config: Config, table: str) -> object:
    section: object = config
    for word in table.split("."):
        section = getattr(section, word)
        if word == "communities":
            section = section[0]  # type: ignore[index]
    return section


@pytest.fixture(scope="module")
def configs() -> tuple[Config, Config]:
    example = load_config(EXAMPLE, env={})
    bare = parse_config(
        {"communities": [{"id": "demo", "name": "Demo"}]}, source="bare", base_dir=REPO, env={}
    )
    return example, bare


@pytest.mark.parametrize(("table", "key"), _pairs())
def test_every_key_the_example_sets_is_the_default(
    configs: tuple[Config, Config], table: str, key: str
) -> None:
    example, bare = configs
    assert getattr(_section(example, table), key) == getattr(_section(bare, table), key)


def test_the_example_promises_no_page_the_web_app_does_not_serve() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").lower().splitlines()
    for missing in ("metrics",):  # the dashboard is served: tests/web/dashboard
        assert all("planned" in line for line in lines if missing in line), missing
