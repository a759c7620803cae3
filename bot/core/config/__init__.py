"""Load and validate the operator's TOML configuration into frozen dataclasses.

One generic validator walks the dataclass fields, so a new section is one more dataclass field.
Field metadata tunes it: ``convert`` turns a raw TOML value into the stored one (raising
``ValueError`` or ``TypeError`` when it cannot), ``expected`` says in words what is allowed,
``secret`` keeps the value out of every message and ``env`` names an environment variable that
overrides the key. Every problem is a ``ConfigError`` naming a dotted key such as
``communities[0].timezone``.

Import every name from here; the private modules hold, in order of dependence: ``_convert``
(converters and field metadata), ``_types`` (secrets, accounts, channels, roles), the sections
(``_process``, ``_points``, ``_learning``, ``_sales``, ``_moderation``), ``_community`` (a
community and the whole ``Config``), ``_engine`` (the validator), ``_checks`` (what spans
fields) and ``_load`` (reading a file).
"""

from __future__ import annotations

from bot.core.config._community import WEEKDAYS as WEEKDAYS
from bot.core.config._community import AnalyticsConfig as AnalyticsConfig
from bot.core.config._community import CommunityConfig as CommunityConfig
from bot.core.config._community import Config as Config
from bot.core.config._community import PaidAccessOnForget as PaidAccessOnForget
from bot.core.config._community import PrivacyConfig as PrivacyConfig
from bot.core.config._convert import mask_url_password as mask_url_password
from bot.core.config._engine import build_dataclass as build_dataclass
from bot.core.config._learning import LecturesConfig as LecturesConfig
from bot.core.config._learning import QaConfig as QaConfig
from bot.core.config._load import load_config as load_config
from bot.core.config._load import parse_config as parse_config
from bot.core.config._moderation import AutomodAction as AutomodAction
from bot.core.config._moderation import AutomodChannel as AutomodChannel
from bot.core.config._moderation import AutomodConfig as AutomodConfig
from bot.core.config._moderation import AutomodRule as AutomodRule
from bot.core.config._moderation import EscalationAction as EscalationAction
from bot.core.config._moderation import EscalationStep as EscalationStep
from bot.core.config._moderation import FloodRule as FloodRule
from bot.core.config._moderation import InviteRule as InviteRule
from bot.core.config._moderation import LinkRule as LinkRule
from bot.core.config._moderation import MentionRule as MentionRule
from bot.core.config._moderation import ModerationConfig as ModerationConfig
from bot.core.config._moderation import NewAccountRule as NewAccountRule
from bot.core.config._moderation import RepeatRule as RepeatRule
from bot.core.config._points import LevelCurve as LevelCurve
from bot.core.config._points import LevelReward as LevelReward
from bot.core.config._points import LevelUpMessage as LevelUpMessage
from bot.core.config._points import PointsConfig as PointsConfig
from bot.core.config._process import DISCORD_API_BASE as DISCORD_API_BASE
from bot.core.config._process import MAX_SHARDS as MAX_SHARDS
from bot.core.config._process import ConsoleConfig as ConsoleConfig
from bot.core.config._process import DatabaseConfig as DatabaseConfig
from bot.core.config._process import DemoConfig as DemoConfig
from bot.core.config._process import DiscordConfig as DiscordConfig
from bot.core.config._process import IdentityConfig as IdentityConfig
from bot.core.config._process import StripeConfig as StripeConfig
from bot.core.config._process import StripeMode as StripeMode
from bot.core.config._process import SuperviseConfig as SuperviseConfig
from bot.core.config._process import TelegramConfig as TelegramConfig
from bot.core.config._process import TelegramMode as TelegramMode
from bot.core.config._process import WebConfig as WebConfig
from bot.core.config._process import WorkConfig as WorkConfig
from bot.core.config._sales import CourseConfig as CourseConfig
from bot.core.config._sales import GatingConfig as GatingConfig
from bot.core.config._sales import OfferConfig as OfferConfig
from bot.core.config._sales import OfferKind as OfferKind
from bot.core.config._sales import RecommendConfig as RecommendConfig
from bot.core.config._types import AccountRef as AccountRef
from bot.core.config._types import ChannelAddress as ChannelAddress
from bot.core.config._types import RoleGrant as RoleGrant
from bot.core.config._types import Secret as Secret
from bot.core.errors import ConfigError as ConfigError
from bot.core.i18n import SUPPORTED_LOCALES as SUPPORTED_LOCALES
from bot.core.i18n import normalize_locale as normalize_locale
