"""Tests for the configuration loader: defaults, every kind of mistake, secrets, paths."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.config import (
    SUPPORTED_LOCALES,
    AccountRef,
    ChannelAddress,
    CommunityConfig,
    Config,
    Secret,
    build_dataclass,
    load_config,
    normalize_locale,
    parse_config,
)
from bot.core.errors import ConfigError
from bot.core.platforms import PlatformName

pytestmark = pytest.mark.backend_free

REPO = Path(__file__).resolve().parents[2]

COMMUNITY = '[[communities]]\nid = "demo"\nname = "Demo"\n'
SECOND = '[[communities]]\nid = "other"\nname = "Other"\n'


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    """Write a config file into the test's folder and return its path."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    """Load a config written from ``text`` with a controlled environment."""
    return load_config(write(tmp_path, text), env={} if env is None else env)


def parse(data: Mapping[str, object], env: dict[str, str] | None = None) -> Config:
    """Parse an already-decoded config from a fixed source and folder."""
    return parse_config(data, source="test.toml", base_dir=Path("/srv/cohort"), env=env or {})


# --- defaults and the example file -----------------------------------------------------------


def test_minimal_config_fills_every_default(tmp_path: Path) -> None:
    config = load_text(tmp_path, COMMUNITY)

    assert config.source == tmp_path / "config.toml"
    assert config.database.url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/cohort.db"
    assert config.database.url.startswith("sqlite+aiosqlite:///")
    assert (config.web.enabled, config.web.host, config.web.port) == (True, "127.0.0.1", 8080)
    assert config.discord.token is None
    assert config.telegram.token is None
    assert config.stripe.secret_key is None
    assert config.stripe.webhook_secret is None
    assert config.console.user == "alice"
    assert config.console.community is None
    assert config.identity.link_code_ttl == timedelta(minutes=10)
    (community,) = config.communities
    assert community == CommunityConfig(id="demo", name="Demo")
    assert (community.locale, community.timezone) == ("en", "UTC")
    assert community.discord_guilds == community.telegram_chats == ()
    assert community.organizers == community.admins == ()
    assert not config.has_platform_credentials()


def test_example_file_loads() -> None:
    config = load_config(REPO / "config.example.toml", env={})

    (community,) = config.communities
    assert community.id == "demo"
    assert community.name == "Demo Community"
    assert community.locale == "en"
    assert community.timezone == "Europe/Berlin"
    assert community.tz == ZoneInfo("Europe/Berlin")
    alice = AccountRef(PlatformName.CONSOLE, "alice")
    assert community.organizers == community.admins == (alice,)
    assert community.discord_guilds == community.telegram_chats == ()
    assert config.database.url == f"sqlite+aiosqlite:///{REPO}/cohort.db"
    assert config.console_community() is community
    assert not config.has_platform_credentials()


def test_example_file_shows_every_key_with_its_default() -> None:
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    for line in (
        'url = "sqlite+aiosqlite:///cohort.db"',
        "enabled = true",
        'host = "127.0.0.1"',
        "port = 8080",
        "# token = ",
        "# secret_key = ",
        "# webhook_secret = ",
        'user = "alice"',
        '# community = "demo"',
        'link_code_ttl = "10m"',
        "COHORT_DISCORD_TOKEN",
        "COHORT_TELEGRAM_TOKEN",
        "COHORT_STRIPE_SECRET_KEY",
        "COHORT_STRIPE_WEBHOOK_SECRET",
    ):
        assert line in text


def test_full_config_is_read(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        """
        [database]
        url = "postgresql+asyncpg://cohort@db.internal/cohort"
        [web]
        enabled = false
        host = "0.0.0.0"
        port = 9000
        [console]
        user = "bob"
        community = "other"
        [identity]
        link_code_ttl = "1h30m"
        [[communities]]
        id = "demo"
        name = "Demo"
        locale = "zh-Hans"
        timezone = "Asia/Shanghai"
        discord_guilds = [111111111111111111, "222222222222222222"]
        telegram_chats = [-1001234567890, "-1009876543210", 42]
        organizers = ["discord:333", "telegram:444"]
        admins = ["console:bob"]
        [[communities]]
        id = "other"
        name = "Other"
        """,
    )

    assert config.database.url == "postgresql+asyncpg://cohort@db.internal/cohort"
    assert config.database.url.startswith("postgresql+asyncpg://")
    assert (config.web.enabled, config.web.host, config.web.port) == (False, "0.0.0.0", 9000)
    assert config.console.user == "bob"
    assert config.console_community().id == "other"
    assert config.identity.link_code_ttl == timedelta(hours=1, minutes=30)
    demo = config.community("demo")
    assert demo.locale == "zh_CN"
    assert demo.tz == ZoneInfo("Asia/Shanghai")
    assert demo.discord_guilds == ("111111111111111111", "222222222222222222")
    assert demo.telegram_chats == ("-1001234567890", "-1009876543210", "42")
    assert demo.organizers == (
        AccountRef(PlatformName.DISCORD, "333"),
        AccountRef(PlatformName.TELEGRAM, "444"),
    )
    assert demo.admins == (AccountRef(PlatformName.CONSOLE, "bob"),)
    with pytest.raises(KeyError):
        config.community("missing")


# --- every kind of mistake -------------------------------------------------------------------

BAD_CONFIGS = [
    pytest.param("", "communities", "an array of tables", "missing", id="no-communities"),
    pytest.param(
        "communities = []", "communities", "at least one [[communities]]", "[]", id="empty"
    ),
    pytest.param('communities = "demo"', "communities", "an array of tables", "'demo'", id="str"),
    pytest.param(
        '[[communities]]\nid = "demo"\n',
        "communities[0].name",
        "a non-empty string",
        "missing",
        id="missing-name",
    ),
    pytest.param(
        '[[communities]]\nname = "Demo"\n',
        "communities[0].id",
        "lowercase letters",
        "missing",
        id="missing-id",
    ),
    pytest.param(
        COMMUNITY + 'locale = "  "\n',
        "communities[0].locale",
        "a supported locale",
        "'  '",
        id="blank-locale",
    ),
    pytest.param(
        '[web]\nport = "80"\n' + COMMUNITY, "web.port", "a port number", "'80'", id="port-str"
    ),
    pytest.param(
        "[web]\nport = 0\n" + COMMUNITY, "web.port", "from 1 to 65535", "0", id="port-zero"
    ),
    pytest.param(
        '[work]\nledger_deletions_kept = "30m"\n' + COMMUNITY,
        "work.ledger_deletions_kept",
        "a duration from '1h' to '365d'",
        "'30m'",
        id="deletions-kept-short",
    ),
    pytest.param(
        '[work]\nledger_deletions_kept = "a day"\n' + COMMUNITY,
        "work.ledger_deletions_kept",
        "a duration from '1h' to '365d'",
        "'a day'",
        id="deletions-kept-text",
    ),
    pytest.param(
        "[web]\nport = 70000\n" + COMMUNITY, "web.port", "from 1 to 65535", "70000", id="port-big"
    ),
    pytest.param(
        "[web]\nport = true\n" + COMMUNITY, "web.port", "a port number", "True", id="port-bool"
    ),
    pytest.param(
        '[web]\nenabled = "yes"\n' + COMMUNITY,
        "web.enabled",
        "true or false",
        "'yes'",
        id="enabled-str",
    ),
    pytest.param(
        '[web]\nhost = ""\n' + COMMUNITY, "web.host", "a host name", "''", id="host-empty"
    ),
    pytest.param("web = 5\n" + COMMUNITY, "web", "a table", "5", id="section-not-table"),
    pytest.param(
        '[databse]\nurl = "x"\n' + COMMUNITY,
        "databse",
        "did you mean 'database'?",
        None,
        id="unknown-section",
    ),
    pytest.param(
        COMMUNITY + 'timezon = "UTC"\n',
        "communities[0].timezon",
        "did you mean 'timezone'?",
        None,
        id="unknown-key-suggestion",
    ),
    pytest.param(
        COMMUNITY + "zzz = 1\n",
        "communities[0].zzz",
        "one of: id, name, locale, timezone",
        None,
        id="unknown-key-list",
    ),
    pytest.param(
        'source = "elsewhere"\n' + COMMUNITY,
        "source",
        "a known key",
        None,
        id="internal-field-not-settable",
    ),
    pytest.param(
        COMMUNITY + 'timezone = "Mars/Olympus_Mons"\n',
        "communities[0].timezone",
        "an IANA time zone",
        "'Mars/Olympus_Mons'",
        id="bad-timezone",
    ),
    pytest.param(
        COMMUNITY + 'timezone = "../../etc/passwd"\n',
        "communities[0].timezone",
        "an IANA time zone",
        "'../../etc/passwd'",
        id="timezone-path",
    ),
    pytest.param(
        COMMUNITY + "timezone = 1\n",
        "communities[0].timezone",
        "an IANA time zone",
        "1",
        id="timezone-int",
    ),
    pytest.param(
        COMMUNITY + 'locale = "fr"\n',
        "communities[0].locale",
        "'en', 'zh_CN'",
        "'fr'",
        id="bad-locale",
    ),
    pytest.param(
        COMMUNITY + 'locale = "zh_TW"\n',
        "communities[0].locale",
        "a supported locale",
        "'zh_TW'",
        id="traditional-chinese",
    ),
    pytest.param(
        '[[communities]]\nid = "Demo!"\nname = "Demo"\n',
        "communities[0].id",
        "lowercase letters, digits and '-'",
        "'Demo!'",
        id="bad-slug",
    ),
    pytest.param(
        f'[[communities]]\nid = "{"a" * 33}"\nname = "Demo"\n',
        "communities[0].id",
        "at most 32",
        "'aaaa",
        id="slug-too-long",
    ),
    pytest.param(
        '[[communities]]\nid = "-demo"\nname = "Demo"\n',
        "communities[0].id",
        "lowercase letters",
        "'-demo'",
        id="slug-leading-dash",
    ),
    pytest.param(
        COMMUNITY + COMMUNITY,
        "communities[1].id",
        "not already used by communities[0]",
        "'demo'",
        id="duplicate-id",
    ),
    pytest.param(
        COMMUNITY + "discord_guilds = [123]\n" + SECOND + 'discord_guilds = ["123"]\n',
        "communities[1].discord_guilds[0]",
        "not already listed for community 'demo'",
        "'123'",
        id="guild-in-two-communities",
    ),
    pytest.param(
        COMMUNITY + "telegram_chats = [-100]\n" + SECOND + "telegram_chats = [5, -100]\n",
        "communities[1].telegram_chats[1]",
        "not already listed for community 'demo'",
        "'-100'",
        id="chat-in-two-communities",
    ),
    pytest.param(
        COMMUNITY + "discord_guilds = [7, 7]\n",
        "communities[0].discord_guilds[1]",
        "not already listed for this community",
        "'7'",
        id="guild-twice",
    ),
    pytest.param(
        COMMUNITY + "discord_guilds = [-5]\n",
        "communities[0].discord_guilds[0]",
        "a positive integer",
        "-5",
        id="negative-guild",
    ),
    pytest.param(
        COMMUNITY + 'discord_guilds = ["abc"]\n',
        "communities[0].discord_guilds[0]",
        "a Discord guild id",
        "'abc'",
        id="guild-not-digits",
    ),
    pytest.param(
        COMMUNITY + "discord_guilds = 123\n",
        "communities[0].discord_guilds",
        "an array (each item a Discord guild id",
        "123",
        id="guilds-not-array",
    ),
    pytest.param(
        COMMUNITY + "telegram_chats = [true]\n",
        "communities[0].telegram_chats[0]",
        "a Telegram chat id",
        "True",
        id="chat-bool",
    ),
    pytest.param(
        COMMUNITY + 'admins = ["slack:1"]\n',
        "communities[0].admins[0]",
        "an account like 'discord:123'",
        "'slack:1'",
        id="account-bad-platform",
    ),
    pytest.param(
        COMMUNITY + 'organizers = ["discord:1", "discord:bob"]\n',
        "communities[0].organizers[1]",
        "an account like",
        "'discord:bob'",
        id="account-bad-id",
    ),
    pytest.param(
        COMMUNITY + 'organizers = ["alice"]\n',
        "communities[0].organizers[0]",
        "an account like",
        "'alice'",
        id="account-no-platform",
    ),
    pytest.param(
        COMMUNITY + 'organizers = ["console:"]\n',
        "communities[0].organizers[0]",
        "an account like",
        "'console:'",
        id="account-empty-user",
    ),
    pytest.param(
        '[identity]\nlink_code_ttl = "ten minutes"\n' + COMMUNITY,
        "identity.link_code_ttl",
        "a duration from '1m' to '24h'",
        "'ten minutes'",
        id="bad-duration",
    ),
    pytest.param(
        '[identity]\nlink_code_ttl = "30s"\n' + COMMUNITY,
        "identity.link_code_ttl",
        "a duration from '1m' to '24h'",
        "'30s'",
        id="duration-too-short",
    ),
    pytest.param(
        '[identity]\nlink_code_ttl = "2d"\n' + COMMUNITY,
        "identity.link_code_ttl",
        "a duration from '1m' to '24h'",
        "'2d'",
        id="duration-too-long",
    ),
    pytest.param(
        "[identity]\nlink_code_ttl = 600\n" + COMMUNITY,
        "identity.link_code_ttl",
        "like '10m'",
        "600",
        id="duration-int",
    ),
    pytest.param(
        '[database]\nurl = "sqlite+aiosqlite:///:memory:"\n' + COMMUNITY,
        "database.url",
        "not ':memory:'",
        "///:memory:'",
        id="memory-db",
    ),
    pytest.param(
        '[database]\nurl = "sqlite+aiosqlite://"\n' + COMMUNITY,
        "database.url",
        "not ':memory:'",
        "'sqlite+aiosqlite://'",
        id="empty-sqlite-path",
    ),
    pytest.param(
        '[database]\nurl = "mysql://localhost/cohort"\n' + COMMUNITY,
        "database.url",
        "'postgresql+asyncpg://'",
        "'mysql://localhost/cohort'",
        id="unsupported-db",
    ),
    pytest.param(
        '[console]\ncommunity = "nope"\n' + COMMUNITY,
        "console.community",
        "the id of a configured community ('demo')",
        "'nope'",
        id="console-unknown-community",
    ),
    pytest.param(
        COMMUNITY
        + "discord_guilds = [1]\n[[communities.points.level_rewards]]\nlevel = 2\n"
        + 'title = "A"\n[[communities.points.level_rewards]]\nlevel = 2\ntitle = "B"\n',
        "communities[0].points.level_rewards[1].level",
        "a level no other reward has",
        "2",
        id="reward-level-twice",
    ),
    pytest.param(
        COMMUNITY
        + "discord_guilds = [1]\n[[communities.points.level_rewards]]\nlevel = 2\n"
        + 'title = "A"\ndiscord_roles = ["9:5"]\n',
        "communities[0].points.level_rewards[0].discord_roles[0]",
        "a role in one of the community's discord_guilds",
        "'9:5'",
        id="reward-role-in-another-guild",
    ),
    pytest.param(
        COMMUNITY + '[communities.points]\nlevel_rewards = [{level = 0, title = "x"}]\n',
        "communities[0].points.level_rewards[0].level",
        "a level from 1 to 1000",
        "0",
        id="reward-level-zero",
    ),
    pytest.param(
        COMMUNITY + '[communities.points]\nlevel_up_channels = ["general"]\n',
        "communities[0].points.level_up_channels[0]",
        "a channel like",
        "'general'",
        id="level-up-channel-without-platform",
    ),
    pytest.param(
        '[console]\nuser = "two words"\n' + COMMUNITY,
        "console.user",
        "a user name",
        "'two words'",
        id="console-bad-user",
    ),
    pytest.param(
        '[discord]\napi_base = "discord.com/api"\n' + COMMUNITY,
        "discord.api_base",
        "an http(s) URL of a Discord REST API",
        "'discord.com/api'",
        id="discord-api-base",
    ),
    pytest.param(
        '[discord]\ngateway_url = "https://gateway.discord.gg"\n' + COMMUNITY,
        "discord.gateway_url",
        "a ws(s) URL",
        "'https://gateway.discord.gg'",
        id="discord-gateway-url",
    ),
    pytest.param(
        "[discord]\ndefer_after = 3\n" + COMMUNITY,
        "discord.defer_after",
        "a number of seconds from 0.05 to 2.5",
        "3",
        id="discord-defer-after",
    ),
    pytest.param(
        "[discord]\nrole_changes_per_second = 0\n" + COMMUNITY,
        "discord.role_changes_per_second",
        "a whole number of role changes",
        "0",
        id="discord-role-pacing",
    ),
    pytest.param(
        COMMUNITY + 'discord_admin_channel = "staff"\n',
        "communities[0].discord_admin_channel",
        "a Discord channel id",
        "'staff'",
        id="discord-admin-channel",
    ),
]


@pytest.mark.parametrize(("text", "key", "expected", "got"), BAD_CONFIGS)
def test_bad_config_names_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str, got: str | None
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    error = caught.value
    assert error.key == key
    assert expected in error.expected
    assert error.source == str(path)
    message = str(error)
    assert message.startswith(f"{path}: {key}: expected ")
    if got is None:
        assert error.got is None
    else:
        assert error.got is not None
        assert got in error.got


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[web]\nport = 8080\nhost = "unterminated\n')

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert caught.value.key == "(syntax)"
    assert caught.value.expected == "valid TOML"
    assert caught.value.got is not None
    assert "line 3, column" in caught.value.got
    assert str(caught.value).startswith(f"{path}: (syntax): expected valid TOML, got ")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert caught.value.key == "(file)"
    assert caught.value.expected == "a readable TOML file"
    assert str(caught.value) == f"{path}: (file): expected a readable TOML file, got no such file"


def test_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={})

    assert caught.value.key == "(file)"
    assert caught.value.got == "a directory"


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[[communities]]\nid = "demo"\nname = "\xff"\n')

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert caught.value.key == "(file)"
    assert "UTF-8" in caught.value.expected


# --- secrets ---------------------------------------------------------------------------------

ENV_VARS = [
    ("COHORT_DISCORD_TOKEN", "discord", "token"),
    ("COHORT_TELEGRAM_TOKEN", "telegram", "token"),
    ("COHORT_STRIPE_SECRET_KEY", "stripe", "secret_key"),
    ("COHORT_STRIPE_WEBHOOK_SECRET", "stripe", "webhook_secret"),
]


@pytest.mark.parametrize(("variable", "section", "key"), ENV_VARS)
def test_environment_provides_a_secret(variable: str, section: str, key: str) -> None:
    config = parse({"communities": [{"id": "demo", "name": "Demo"}]}, env={variable: "from-env"})

    secret = getattr(getattr(config, section), key)
    assert isinstance(secret, Secret)
    assert secret.reveal() == "from-env"


@pytest.mark.parametrize(("variable", "section", "key"), ENV_VARS)
def test_environment_overrides_the_file(variable: str, section: str, key: str) -> None:
    data = {section: {key: "from-file"}, "communities": [{"id": "demo", "name": "Demo"}]}

    overridden = parse(data, env={variable: "from-env"})
    kept = parse(data, env={variable: ""})

    assert getattr(getattr(overridden, section), key).reveal() == "from-env"
    assert getattr(getattr(kept, section), key).reveal() == "from-file"


def test_empty_secret_in_file_means_not_set(tmp_path: Path) -> None:
    config = load_text(tmp_path, '[discord]\ntoken = ""\n' + COMMUNITY)

    assert config.discord.token is None


def test_platform_credentials() -> None:
    communities = [{"id": "demo", "name": "Demo"}]

    assert not parse({"communities": communities}).has_platform_credentials()
    assert parse(
        {"communities": communities}, {"COHORT_TELEGRAM_TOKEN": "t"}
    ).has_platform_credentials()
    assert parse(
        {"communities": communities}, {"COHORT_DISCORD_TOKEN": "d"}
    ).has_platform_credentials()
    stripe_only = parse({"communities": communities}, {"COHORT_STRIPE_SECRET_KEY": "sk"})
    assert not stripe_only.has_platform_credentials()


def test_secrets_never_show(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        '[discord]\ntoken = "discord-hunter2"\n'
        '[stripe]\nsecret_key = "sk_test_hunter2"\n'
        '[database]\nurl = "postgresql+asyncpg://cohort:db-hunter2@localhost/cohort"\n' + COMMUNITY,
        env={"COHORT_TELEGRAM_TOKEN": "telegram-hunter2"},
    )

    assert config.telegram.token is not None
    assert config.telegram.token.reveal() == "telegram-hunter2"
    described = "\n".join(config.describe())
    for text in (repr(config), str(config), described):
        assert "hunter2" not in text
    assert "discord.token: set" in described
    assert "telegram.token: set" in described
    assert "stripe.secret_key: set" in described
    assert "stripe.webhook_secret: not set" in described
    assert "communities: demo" in described
    assert "communities[0].timezone: UTC" in described
    assert "identity.link_code_ttl: 10m" in described
    assert config.database.url.endswith("db-hunter2@localhost/cohort")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("12345678", "an integer"),
        ('["hunter2-in-array"]', "an array"),
        ('{ value = "hunter2-in-table" }', "a table"),
        ("12345678.5", "a float"),
    ],
)
def test_secret_of_wrong_type_is_not_shown(tmp_path: Path, value: str, kind: str) -> None:
    path = write(tmp_path, f"[discord]\ntoken = {value}\n" + COMMUNITY)

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    message = str(caught.value)
    assert caught.value.key == "discord.token"
    assert message.endswith(f"got {kind}")
    assert "12345678" not in message
    assert "hunter2" not in message


def test_misspelled_secret_key_is_not_shown(tmp_path: Path) -> None:
    path = write(tmp_path, '[stripe]\nsecret_kye = "sk_live_hunter2"\n' + COMMUNITY)

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert caught.value.key == "stripe.secret_kye"
    assert "did you mean 'secret_key'?" in caught.value.expected
    assert "hunter2" not in str(caught.value)


def test_database_password_not_shown_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "postgres://cohort:hunter2@db/cohort"\n' + COMMUNITY)

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert caught.value.key == "database.url"
    assert "hunter2" not in str(caught.value)
    assert "postgres://cohort:***@db/cohort" in str(caught.value)


def test_secret_value_object() -> None:
    secret = Secret("s3cret")

    assert repr(secret) == str(secret) == f"{secret}" == "********"
    assert secret.reveal() == "s3cret"
    assert secret
    assert not Secret("")
    assert secret == Secret("s3cret")
    assert secret != Secret("other")
    assert secret != "s3cret"
    assert hash(secret) == hash(Secret("s3cret"))
    assert len({secret, Secret("s3cret"), Secret("other")}) == 2


# --- paths -----------------------------------------------------------------------------------


def test_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[database]\nurl = "sqlite+aiosqlite:///data/c.db"\n' + COMMUNITY, "x/c.toml"
    )

    config = load_config(path, env={})

    assert config.database.url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/x/data/c.db"


def test_relative_config_path_still_gives_absolute_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, COMMUNITY, "x/config.toml")
    monkeypatch.chdir(tmp_path)

    config = load_config(Path("x/config.toml"), env={})

    assert config.source == Path("x/config.toml")
    assert config.database.url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/x/cohort.db"


def test_absolute_sqlite_path_and_query_are_kept(tmp_path: Path) -> None:
    url = "sqlite+aiosqlite:////var/lib/cohort/cohort.db?timeout=5"

    config = load_text(tmp_path, f'[database]\nurl = "{url}"\n' + COMMUNITY)

    assert config.database.url == url


def test_parse_config_uses_base_dir() -> None:
    config = parse({"communities": [{"id": "demo", "name": "Demo"}]})

    assert config.database.url == "sqlite+aiosqlite:////srv/cohort/cohort.db"
    assert config.source == Path("test.toml")


# --- accounts, roles, locales ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "platform", "user_id"),
    [
        ("discord:123", PlatformName.DISCORD, "123"),
        (" Telegram:456 ", PlatformName.TELEGRAM, "456"),
        ("console:alice", PlatformName.CONSOLE, "alice"),
        ("console:bob.smith-2", PlatformName.CONSOLE, "bob.smith-2"),
    ],
)
def test_account_ref_parses_and_prints(text: str, platform: PlatformName, user_id: str) -> None:
    ref = AccountRef.parse(text)

    assert ref == AccountRef(platform, user_id)
    assert str(ref) == f"{platform.value}:{user_id}"
    assert AccountRef.parse(str(ref)) == ref


@pytest.mark.parametrize(
    "text", ["", "discord", "discord:", "discord:abc", "discord:-1", "slack:1", "console:a b"]
)
def test_account_ref_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        AccountRef.parse(text)


def test_admin_implies_organizer() -> None:
    community = parse(
        {
            "communities": [
                {
                    "id": "demo",
                    "name": "Demo",
                    "organizers": ["telegram:7"],
                    "admins": ["discord:9", "console:alice"],
                }
            ]
        }
    ).communities[0]

    assert community.is_admin(PlatformName.DISCORD, "9")
    assert community.is_admin("discord", 9)
    assert community.is_organizer(PlatformName.DISCORD, "9")
    assert community.is_organizer("console", "alice")
    assert community.is_organizer(PlatformName.TELEGRAM, "7")
    assert not community.is_admin(PlatformName.TELEGRAM, "7")
    assert not community.is_organizer(PlatformName.TELEGRAM, "9")
    assert not community.is_organizer("slack", "9")


def test_every_supported_locale_is_accepted_as_written() -> None:
    for locale in SUPPORTED_LOCALES:
        assert normalize_locale(locale) == locale


# --- the generic validator on kinds the schema does not use yet ------------------------------


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True, kw_only=True)
class Item:
    label: str
    weight: float = 1.0


@dataclass(frozen=True, kw_only=True)
class Sample:
    colour: Colour = Colour.RED
    limit: int | None = None
    ratio: float = 0.5
    items: tuple[Item, ...] = ()
    tags: tuple[str, ...] = field(default=())


def test_generic_validator_reads_every_kind() -> None:
    sample = build_dataclass(
        Sample,
        {"colour": "blue", "limit": 3, "ratio": 2, "items": [{"label": "a", "weight": 0.25}]},
    )

    assert sample == Sample(
        colour=Colour.BLUE, limit=3, ratio=2.0, items=(Item(label="a", weight=0.25),)
    )
    assert isinstance(sample.colour, Colour)
    assert isinstance(sample.ratio, float)


@pytest.mark.parametrize(
    ("data", "key", "expected"),
    [
        ({"colour": "green"}, "sample.colour", "one of 'red', 'blue'"),
        ({"limit": True}, "sample.limit", "an integer"),
        ({"limit": 1.5}, "sample.limit", "an integer"),
        ({"ratio": "1"}, "sample.ratio", "a number"),
        ({"ratio": False}, "sample.ratio", "a number"),
        ({"items": [{"label": "a"}, {}]}, "sample.items[1].label", "a string"),
        ({"items": [{"label": "a"}, 3]}, "sample.items[1]", "a table"),
        ({"items": {"label": "a"}}, "sample.items", "an array of tables"),
        ({"tags": ["a", 1]}, "sample.tags[1]", "a string"),
        ({"colr": "red"}, "sample.colr", "did you mean 'colour'?"),
    ],
)
def test_generic_validator_errors(data: dict[str, object], key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_dataclass(Sample, data, path="sample", source="s.toml")

    assert caught.value.key == key
    assert expected in caught.value.expected
    assert caught.value.source == "s.toml"


# --- anything TOML can hold gives a Config or a ConfigError ----------------------------------

COMMUNITY_KEYS = [
    "id",
    "name",
    "locale",
    "timezone",
    "discord_guilds",
    "telegram_chats",
    "organizers",
    "admins",
]
PLAUSIBLE = [
    "demo",
    "UTC",
    "Europe/Berlin",
    "en",
    "zh-Hans",
    "discord:1",
    "telegram:2",
    "console:alice",
    "10m",
    "-100",
    "1",
    "",
]

toml_scalars = st.one_of(
    st.sampled_from(PLAUSIBLE),
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.datetimes(),
    st.dates(),
    st.times(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
community_tables = st.dictionaries(
    st.sampled_from(COMMUNITY_KEYS) | st.text(max_size=12), toml_values, max_size=6
)


@settings(max_examples=300, deadline=None)
@given(overrides=community_tables, replace=st.booleans())
def test_any_community_table_gives_config_or_config_error(
    overrides: dict[str, object], replace: bool
) -> None:
    community = overrides if replace else {"id": "demo", "name": "Demo", **overrides}

    try:
        config = parse({"communities": [community]})
    except ConfigError as error:
        assert error.key.startswith("communities")
    else:
        assert len(config.communities) == 1


SECTION_KEYS = {
    "database": ["url"],
    "web": ["enabled", "host", "port"],
    "discord": ["token"],
    "telegram": ["token"],
    "stripe": ["secret_key", "webhook_secret"],
    "console": ["user", "community"],
    "identity": ["link_code_ttl"],
}
top_level_tables = st.dictionaries(
    st.sampled_from(sorted(SECTION_KEYS)) | st.text(max_size=8),
    st.dictionaries(
        st.sampled_from(sorted({k for keys in SECTION_KEYS.values() for k in keys}))
        | st.text(max_size=8),
        toml_values,
        max_size=3,
    )
    | toml_values,
    max_size=4,
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(sections=top_level_tables)
def test_any_top_level_tables_give_config_or_config_error(sections: dict[str, object]) -> None:
    data = {**sections, "communities": [{"id": "demo", "name": "Demo"}]}

    try:
        config = parse(data)
    except ConfigError as error:
        assert str(error).startswith("test.toml: ")
    else:
        assert config.communities[0].id == "demo"


WEBHOOK = {
    "token": "t",
    "mode": "webhook",
    "webhook_url": "https://bot.example.org/telegram/webhook",
    "webhook_secret": "abc_DEF-123",
}


@pytest.mark.parametrize(
    ("web", "telegram", "key", "expected"),
    [
        ({"enabled": False}, WEBHOOK, "web.enabled", "true when telegram.mode is 'webhook'"),
        ({}, {**WEBHOOK, "webhook_url": None}, "telegram.webhook_url", "a URL"),
        ({}, {**WEBHOOK, "webhook_secret": None}, "telegram.webhook_secret", "a secret"),
        ({}, {**WEBHOOK, "webhook_secret": "has space"}, "telegram.webhook_secret", "1 to 256"),
        ({}, {**WEBHOOK, "mode": "push"}, "telegram.mode", ""),
    ],
)
def test_webhook_mode_needs_its_settings(
    web: dict[str, object], telegram: dict[str, object], key: str, expected: str
) -> None:
    data = {
        "web": web,
        "telegram": {k: v for k, v in telegram.items() if v is not None},
        "communities": [{"id": "demo", "name": "Demo"}],
    }
    with pytest.raises(ConfigError) as caught:
        parse(data)
    assert caught.value.key == key
    assert expected in caught.value.expected
    assert "has space" not in str(caught.value)


def test_webhook_mode_with_its_settings_loads() -> None:
    config = parse({"telegram": WEBHOOK, "communities": [{"id": "demo", "name": "Demo"}]})
    assert config.telegram.mode == "webhook"
    assert config.telegram.webhook_secret is not None


# --- lectures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("discord:123", ChannelAddress(PlatformName.DISCORD, "123")),
        ("telegram:-1001234567890", ChannelAddress(PlatformName.TELEGRAM, "-1001234567890")),
        ("Telegram: -100123/7", ChannelAddress(PlatformName.TELEGRAM, "-100123", "7")),
        ("console:general", ChannelAddress(PlatformName.CONSOLE, "general")),
    ],
)
def test_channel_addresses(text: str, expected: ChannelAddress) -> None:
    assert ChannelAddress.parse(text) == expected
    assert ChannelAddress.parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("announce_channels", '["discord:-5"]', "announce_channels[0]: expected a channel like"),
        ("announce_channels", '["slack:1"]', "announce_channels[0]: expected a channel like"),
        ("reminders", '["0s"]', "reminders[0]: expected a duration from '1m' to '30d'"),
        ("late_grace", '"soon"', "late_grace: expected a duration from '1s' to '1d'"),
        ("calendar_url", '"ftp://x"', "calendar_url: expected the public http(s) address"),
        ("capcity", "3", "did you mean 'capacity'?"),
    ],
)
def test_lecture_settings_are_checked(tmp_path: Path, key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_text(tmp_path, COMMUNITY + f"[communities.lectures]\n{key} = {value}\n")


def test_lecture_settings_are_read(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        COMMUNITY
        + "[communities.lectures]\n"
        + 'announce_channels = ["discord:1", "telegram:-100/2"]\nreminders = ["2h", "5m"]\n'
        + 'capacity = 40\ncalendar_url = "https://c.example.org/"\n',
    )
    lectures = config.communities[0].lectures
    assert [str(c) for c in lectures.announce_channels] == ["discord:1", "telegram:-100/2"]
    assert lectures.reminders == (timedelta(hours=2), timedelta(minutes=5))
    assert (lectures.capacity, lectures.calendar_url) == (40, "https://c.example.org")
    assert "communities[0].lectures.reminders: 2h, 5m" in config.describe()


# --- offers and Stripe -------------------------------------------------------------------------

_TIER = {"id": "pro", "kind": "tier", "name": "Pro", "price_monthly": "price_1"}


def _with_offers(*offers: dict[str, object], **community: object) -> dict[str, object]:
    return {
        "communities": [
            {
                "id": "demo",
                "name": "Demo",
                "discord_guilds": [111],
                "telegram_chats": [-100],
                "offers": list(offers),
                **community,
            }
        ]
    }


def test_offers_are_read() -> None:
    course = {"id": "py", "kind": "course", "name": "Py", "price_once": "price_2"}
    tier = {**_TIER, "discord_roles": ["111:222"], "telegram_chats": [-100], "trial_days": 7}
    config = parse(_with_offers(tier, course))
    community = config.communities[0]
    pro = community.offer("pro")
    assert pro is not None and pro.grace_days == 3 and pro.trial_days == 7
    assert [str(r) for r in pro.discord_roles] == ["111:222"]
    assert community.offer_for_price("price_2") == community.offer("py")
    assert community.offer("nope") is None


@pytest.mark.parametrize(
    ("offer", "key"),
    [
        ({**_TIER, "price_monthly": "monthly"}, "offers[0].price_monthly"),
        ({**_TIER, "price_once": "price_9"}, "offers[0].price_monthly"),
        ({"id": "c", "kind": "course", "name": "C", "price_monthly": "price_3"}, "price_once"),
        (
            {"id": "c", "kind": "course", "name": "C", "price_once": "price_3", "trial_days": 3},
            "offers[0].trial_days",
        ),
        ({**_TIER, "discord_roles": ["999:222"]}, "offers[0].discord_roles[0]"),
        ({**_TIER, "discord_roles": ["111"]}, "offers[0].discord_roles[0]"),
        ({**_TIER, "telegram_chats": [-200]}, "offers[0].telegram_chats[0]"),
        ({**_TIER, "kind": "bundle"}, "offers[0].kind"),
        ({**_TIER, "grace_days": 400}, "offers[0].grace_days"),
    ],
)
def test_bad_offers_are_refused_with_the_key(offer: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_with_offers(offer))
    assert caught.value.key.endswith(key)


def _with_automod(**automod: object) -> dict[str, object]:
    return _with_offers(moderation={"automod": automod})


def test_automod_exempt_roles_are_read_per_community_and_channel() -> None:
    config = parse(
        _with_automod(
            exempt_roles=["111:222", " 111:333 "],
            channels=[{"channel": "discord:5", "exempt_roles": ["111:444"]}],
        )
    )
    automod = config.communities[0].moderation.automod
    assert [str(r) for r in automod.exempt_roles] == ["111:222", "111:333"]
    assert [str(r) for r in automod.channels[0].exempt_roles] == ["111:444"]
    assert parse(_with_automod()).communities[0].moderation.automod.exempt_roles == ()


@given(
    role=st.integers(min_value=1, max_value=2**63 - 1),
    guild=st.sampled_from([111, 999]),
    junk=st.text(max_size=12),
)
def test_any_typed_exempt_role_is_read_or_refused_with_its_key(
    role: int, guild: int, junk: str
) -> None:
    for typed in (f"{guild}:{role}", f"{guild}:{role}{junk}", junk):
        try:
            config = parse(_with_automod(exempt_roles=[typed]))
        except ConfigError as caught:
            assert caught.key.endswith("automod.exempt_roles[0]")
        else:  # only the community's guild, and a well-formed id
            grant = config.communities[0].moderation.automod.exempt_roles[0]
            assert grant.guild_id == "111" and int(grant.role_id) > 0


@pytest.mark.parametrize(
    ("automod", "key", "expected"),
    [
        ({"exempt_roles": ["999:222"]}, "automod.exempt_roles[0]", "discord_guilds"),
        ({"exempt_roles": ["111:222", "9:1"]}, "automod.exempt_roles[1]", "discord_guilds"),
        ({"exempt_roles": ["111"]}, "automod.exempt_roles[0]", "guild id"),
        ({"exempt_roles": ["111:x"]}, "automod.exempt_roles[0]", "guild id"),
        ({"exempt_roles": ["111:0"]}, "automod.exempt_roles[0]", "guild id"),
        ({"exempt_roles": "111:222"}, "automod.exempt_roles", "an array"),
        (
            {"channels": [{"channel": "discord:5", "exempt_roles": ["999:222"]}]},
            "automod.channels[0].exempt_roles[0]",
            "discord_guilds",
        ),
        (
            {"channels": [{"channel": "discord:5", "exempt_roles": [222]}]},
            "automod.channels[0].exempt_roles[0]",
            "guild id",
        ),
    ],
)
def test_bad_automod_exempt_roles_are_refused_with_the_key(
    automod: dict[str, object], key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_with_automod(**automod))
    assert caught.value.key.endswith(key)
    assert expected in str(caught.value)


def test_an_offer_id_or_a_price_is_used_once() -> None:
    with pytest.raises(ConfigError, match=r"offers\[1\]\.id"):
        parse(_with_offers(_TIER, {**_TIER, "price_monthly": "price_5"}))
    with pytest.raises(ConfigError, match="prices"):
        parse(_with_offers(_TIER, {**_TIER, "id": "other"}))


@pytest.mark.parametrize(
    ("mode", "key", "ok"),
    [
        ("test", "sk_test_1", True),
        ("test", "sk_live_1", False),
        ("live", "rk_live_1", True),
        ("live", "sk_test_1", False),
    ],
)
def test_stripe_keys_match_the_mode(mode: str, key: str, ok: bool) -> None:
    data = {"stripe": {"mode": mode, "secret_key": key}, **_with_offers()}
    if ok:
        assert parse(data).stripe.mode.value == mode
    else:
        with pytest.raises(ConfigError, match=r"stripe\.secret_key"):
            parse(data)


# --- recommender: the training memory budget ---------------------------------------------------

RECOMMEND = '[[communities]]\nid = "demo"\nname = "Demo"\n[communities.recommend]\n'


@pytest.mark.parametrize(
    ("line", "expected"),
    [("", 1536), ("train_memory_mb = 64", 64), ("train_memory_mb = 1000000", 1_000_000)],
)
def test_the_recommenders_memory_budget_is_read(tmp_path: Path, line: str, expected: int) -> None:
    config = load_text(tmp_path, RECOMMEND + line)
    assert config.communities[0].recommend.train_memory_mb == expected


@pytest.mark.parametrize("value", ["63", "1000001", "0", '"1G"', "true", "1.5"])
def test_a_memory_budget_out_of_range_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="train_memory_mb"):
        load_text(tmp_path, RECOMMEND + f"train_memory_mb = {value}")


def test_the_old_ease_max_items_is_accepted_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="bot.core.config"):
        config = load_text(tmp_path, RECOMMEND + "ease_max_items = 3000")
    assert config.communities[0].recommend.train_memory_mb == 1536
    assert "communities[0].recommend.ease_max_items is deprecated and ignored" in caplog.text
    assert "train_memory_mb" in caplog.text
