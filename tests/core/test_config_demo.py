"""``[demo] enabled``: refused beside anything live, and only with what the demo needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.core.config import parse_config
from bot.core.errors import ConfigError

pytestmark = pytest.mark.backend_free

COMMUNITY = {"id": "demo", "name": "Demo"}
DEMO: dict[str, Any] = {
    "demo": {"enabled": True},
    "web": {"enabled": True},
    "stripe": {"webhook_secret": "whsec_demo"},
    "communities": [COMMUNITY],
}


def parse(tmp_path: Path, env: dict[str, str] | None = None, **changes: Any) -> object:
    data = {**DEMO, **changes}
    return parse_config(data, source="demo.toml", base_dir=tmp_path, env=env or {})


def test_a_demo_with_a_test_key_or_none_is_accepted(tmp_path: Path) -> None:
    parse(tmp_path)
    parse(tmp_path, stripe={"webhook_secret": "whsec_demo", "secret_key": "sk_test_123"})


@pytest.mark.parametrize(
    ("changes", "env", "named"),
    [
        ({"stripe": {"webhook_secret": "w", "secret_key": "sk_live_123"}}, {}, "a live key"),
        ({"stripe": {"webhook_secret": "w", "secret_key": "rk_live_123"}}, {}, "a live key"),
        ({}, {"COHORT_STRIPE_SECRET_KEY": "sk_live_env"}, "a live key"),
        (
            {"stripe": {"webhook_secret": "w", "mode": "live", "secret_key": "sk_live_1"}},
            {},
            "stripe.mode = 'live'",
        ),
        ({"discord": {"token": "a.b.c"}}, {}, "discord.token"),
        ({}, {"COHORT_TELEGRAM_TOKEN": "123:abc"}, "telegram.token"),
    ],
)
def test_demo_mode_is_refused_beside_anything_live(
    tmp_path: Path, changes: dict[str, Any], env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(tmp_path, env, **changes)
    assert caught.value.key == "demo.enabled"
    assert "demo mode never takes real money" in str(caught.value)
    assert named in str(caught.value)
    assert "live_" not in str(caught.value) and "a.b.c" not in str(caught.value)  # no secret


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"web": {"enabled": False}}, "web.enabled"),
        ({"stripe": {}}, "stripe.webhook_secret"),
    ],
)
def test_demo_mode_needs_the_web_app_and_a_webhook_secret(
    tmp_path: Path, changes: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(tmp_path, **changes)
    assert caught.value.key == key


def test_without_demo_mode_it_needs_neither_web_app_nor_secret(tmp_path: Path) -> None:
    parse(tmp_path, demo={"enabled": False}, web={"enabled": False}, stripe={})
