"""Check what spans fields: unique ids, one owner per guild and chat, offers, shards, demo."""

from __future__ import annotations

import re

from bot.core.config._community import CommunityConfig, Config
from bot.core.config._process import DiscordConfig, StripeMode, TelegramMode
from bot.core.config._sales import OfferKind
from bot.core.errors import ConfigError


def _check_rewards(community: CommunityConfig, path: str, source: str) -> None:
    """Check that reward levels are unique and their roles belong to the community's guilds."""
    seen: set[int] = set()
    for index, reward in enumerate(community.points.level_rewards):
        if reward.level in seen:
            raise ConfigError(
                f"{path}[{index}].level",
                "a level no other reward has",
                str(reward.level),
                source=source,
            )
        seen.add(reward.level)
        for position, role in enumerate(reward.discord_roles):
            if role.partition(":")[0] not in community.discord_guilds:
                raise ConfigError(
                    f"{path}[{index}].discord_roles[{position}]",
                    "a role in one of the community's discord_guilds",
                    repr(role),
                    source=source,
                )


def _check_automod_roles(community: CommunityConfig, path: str, source: str) -> None:
    """Check that automod's exempt roles, per community and per channel, are the community's."""
    automod = community.moderation.automod
    places = [("exempt_roles", automod.exempt_roles)]
    places += [
        (f"channels[{n}].exempt_roles", channel.exempt_roles)
        for n, channel in enumerate(automod.channels)
    ]
    for name, roles in places:
        for position, role in enumerate(roles):
            if role.guild_id not in community.discord_guilds:
                raise ConfigError(
                    f"{path}.{name}[{position}]",
                    "a role in one of this community's discord_guilds",
                    repr(str(role)),
                    source=source,
                )


def _check(config: Config, source: str) -> None:
    """Check what spans fields: unique ids, one owner per guild and chat, the console community."""
    if not config.communities:
        raise ConfigError("communities", "at least one [[communities]] table", "[]", source=source)
    first_index: dict[str, int] = {}
    owners: dict[tuple[str, str], str] = {}
    for index, community in enumerate(config.communities):
        if community.id in first_index:
            raise ConfigError(
                f"communities[{index}].id",
                f"an id not already used by communities[{first_index[community.id]}]",
                repr(community.id),
                source=source,
            )
        first_index[community.id] = index
        _check_courses(community, index, source)
        for name, ids in (
            ("discord_guilds", community.discord_guilds),
            ("telegram_chats", community.telegram_chats),
        ):
            for position, platform_id in enumerate(ids):
                owner = owners.get((name, platform_id))
                if owner is not None:
                    where = "this community" if owner == community.id else f"community {owner!r}"
                    raise ConfigError(
                        f"communities[{index}].{name}[{position}]",
                        f"an id not already listed for {where}",
                        repr(platform_id),
                        source=source,
                    )
                owners[(name, platform_id)] = community.id
        _check_rewards(community, f"communities[{index}].points.level_rewards", source)
        _check_automod_roles(community, f"communities[{index}].moderation.automod", source)
    _check_shards(config.discord, source)
    _check_demo(config, source)  # first: a live key in a demo is named as such
    _check_offers(config, source)
    if config.console.community is not None and config.console.community not in first_index:
        raise ConfigError(
            "console.community",
            "the id of a configured community (" + ", ".join(map(repr, first_index)) + ")",
            repr(config.console.community),
            source=source,
        )
    telegram = config.telegram
    if telegram.mode is TelegramMode.WEBHOOK:
        if not config.web.enabled:
            raise ConfigError(
                "web.enabled", "true when telegram.mode is 'webhook'", "false", source=source
            )
        if not telegram.webhook_url:
            raise ConfigError(
                "telegram.webhook_url", "a URL when telegram.mode is 'webhook'", source=source
            )
        if not telegram.webhook_secret:
            raise ConfigError(
                "telegram.webhook_secret",
                "a secret (or COHORT_TELEGRAM_WEBHOOK_SECRET) when telegram.mode is 'webhook'",
                source=source,
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", telegram.webhook_secret.reveal()):
            raise ConfigError(
                "telegram.webhook_secret",
                "1 to 256 characters of A-Z, a-z, 0-9, _ and -",
                "other characters",
                source=source,
            )


def _check_shards(discord: DiscordConfig, source: str) -> None:
    """Check that this process's Discord shards exist and are each named once."""
    ids, count = discord.shard_ids, discord.shard_count
    if ids is None:
        return
    if count is None:
        raise ConfigError(
            "discord.shard_ids",
            "to be left out unless discord.shard_count is set (ids are of a fixed count)",
            repr(list(ids)),
            source=source,
        )
    if not ids:
        raise ConfigError(
            "discord.shard_ids",
            "at least one shard id (or the key left out: all)",
            "[]",
            source=source,
        )
    seen: set[int] = set()
    for position, shard in enumerate(ids):
        if shard >= count:
            raise ConfigError(
                f"discord.shard_ids[{position}]",
                f"a shard id from 0 to {count - 1} (shard_count is {count})",
                str(shard),
                source=source,
            )
        if shard in seen:
            raise ConfigError(
                f"discord.shard_ids[{position}]",
                "a shard id not already listed",
                str(shard),
                source=source,
            )
        seen.add(shard)


def _check_offers(config: Config, source: str) -> None:
    """Check the offers: ids, prices that fit their kind, and grants inside the community."""
    price_owner: dict[str, str] = {}
    for index, community in enumerate(config.communities):
        seen: set[str] = set()
        for position, offer in enumerate(community.offers):
            key = f"communities[{index}].offers[{position}]"

            def fail(name: str, expected: str, got: str | None = None, key: str = key) -> None:
                raise ConfigError(f"{key}.{name}", expected, got, source=source)

            if offer.id in seen:
                fail("id", "an offer id not already used in this community", repr(offer.id))
            seen.add(offer.id)
            if offer.kind is OfferKind.TIER:
                if offer.price_once or not (offer.price_monthly or offer.price_yearly):
                    fail("price_monthly", "a tier sells price_monthly and/or price_yearly")
            elif offer.price_monthly or offer.price_yearly or not offer.price_once:
                fail("price_once", "a course sells one price_once and no subscription price")
            elif offer.trial_days:
                fail("trial_days", "0 for a course (trials are for tiers)", str(offer.trial_days))
            for price in offer.prices:
                owner = price_owner.get(price)
                if owner is not None:
                    fail("prices", f"a price not already sold by offer {owner}", repr(price))
                price_owner[price] = f"{community.id}/{offer.id}"
            for position_role, role in enumerate(offer.discord_roles):
                if role.guild_id not in community.discord_guilds:
                    fail(
                        f"discord_roles[{position_role}]",
                        "a role in one of this community's discord_guilds",
                        repr(str(role)),
                    )
            for position_chat, chat in enumerate(offer.telegram_chats):
                if chat not in community.telegram_chats:
                    fail(
                        f"telegram_chats[{position_chat}]",
                        "a chat listed in this community's telegram_chats",
                        repr(chat),
                    )
    key = config.stripe.secret_key.reveal() if config.stripe.secret_key else ""
    other = StripeMode.LIVE if config.stripe.mode is StripeMode.TEST else StripeMode.TEST
    if re.match(rf"^[sr]k_{other.value}_", key):
        raise ConfigError(
            "stripe.secret_key",
            f"a {config.stripe.mode.value}-mode key (stripe.mode is {config.stripe.mode.value!r})",
            f"a {other.value}-mode key",
            source=source,
        )


def _check_demo(config: Config, source: str) -> None:
    """Refuse demo mode beside anything live: a live Stripe key or mode, or a platform token."""
    if not config.demo.enabled:
        return
    key = config.stripe.secret_key.reveal() if config.stripe.secret_key else ""
    live = [
        name
        for name, present in (
            ("stripe.secret_key (a live key)", re.match(r"^[sr]k_live_", key) is not None),
            ("stripe.mode = 'live'", config.stripe.mode is StripeMode.LIVE),
            ("discord.token", bool(config.discord.token)),
            ("telegram.token", bool(config.telegram.token)),
        )
        if present
    ]
    if live:
        raise ConfigError(
            "demo.enabled",
            "false when live keys or platform tokens are set (demo mode never takes real money)",
            ", ".join(live),
            source=source,
        )
    if not config.web.enabled:
        raise ConfigError(
            "web.enabled", "true in demo mode (it serves the checkout)", "false", source=source
        )
    if not config.stripe.webhook_secret:
        raise ConfigError(
            "stripe.webhook_secret",
            "a secret in demo mode (the demo checkout signs its events with it)",
            source=source,
        )


def _check_courses(community: CommunityConfig, index: int, source: str) -> None:
    """Check that course ids and the offers they stand for are unique within a community."""
    seen: dict[str, int] = {}
    offers: dict[str, int] = {}
    for position, course in enumerate(community.courses):
        for kind, key, table in (("id", course.id, seen), ("offer", course.offer_id, offers)):
            if key in table:
                raise ConfigError(
                    f"communities[{index}].courses[{position}].{kind}",
                    f"an {kind} not already used by courses[{table[key]}]",
                    repr(key),
                    source=source,
                )
            table[key] = position
