"""The tables, as SQLAlchemy Core metadata; every row belongs to a community.

One module per feature; everything is re-exported here, so callers import from
``bot.store.tables``.
"""

from __future__ import annotations

from bot.store.tables._analytics import (
    STEADY_INDEX as STEADY_INDEX,
)
from bot.store.tables._analytics import (
    analytics_days as analytics_days,
)
from bot.store.tables._analytics import (
    analytics_hours as analytics_hours,
)
from bot.store.tables._analytics import (
    analytics_member_days as analytics_member_days,
)
from bot.store.tables._analytics import (
    analytics_member_totals as analytics_member_totals,
)
from bot.store.tables._analytics import (
    analytics_pending as analytics_pending,
)
from bot.store.tables._analytics import (
    analytics_presence as analytics_presence,
)
from bot.store.tables._analytics import (
    analytics_range_members as analytics_range_members,
)
from bot.store.tables._analytics import (
    analytics_ranges as analytics_ranges,
)
from bot.store.tables._analytics import (
    analytics_reports as analytics_reports,
)
from bot.store.tables._analytics import (
    analytics_suggestions as analytics_suggestions,
)
from bot.store.tables._analytics import (
    analytics_weeks as analytics_weeks,
)
from bot.store.tables._analytics import (
    dashboard_links as dashboard_links,
)
from bot.store.tables._analytics import (
    dashboard_sessions as dashboard_sessions,
)
from bot.store.tables._base import (
    SEARCH_INDEXES as SEARCH_INDEXES,
)
from bot.store.tables._base import (
    Id as Id,
)
from bot.store.tables._base import (
    is_search_index as is_search_index,
)
from bot.store.tables._base import (
    metadata as metadata,
)
from bot.store.tables._core import (
    accounts as accounts,
)
from bot.store.tables._core import (
    button_payloads as button_payloads,
)
from bot.store.tables._core import (
    cache_versions as cache_versions,
)
from bot.store.tables._core import (
    communities as communities,
)
from bot.store.tables._core import (
    discord_command_syncs as discord_command_syncs,
)
from bot.store.tables._core import (
    link_codes as link_codes,
)
from bot.store.tables._core import (
    members as members,
)
from bot.store.tables._core import (
    message_log as message_log,
)
from bot.store.tables._core import (
    telegram_updates as telegram_updates,
)
from bot.store.tables._courses import (
    courses as courses,
)
from bot.store.tables._courses import (
    recommend_prefs as recommend_prefs,
)
from bot.store.tables._gating import (
    access_sources as access_sources,
)
from bot.store.tables._gating import (
    checkout_refs as checkout_refs,
)
from bot.store.tables._gating import (
    gating_access as gating_access,
)
from bot.store.tables._gating import (
    gating_audit as gating_audit,
)
from bot.store.tables._gating import (
    ledger_deletions as ledger_deletions,
)
from bot.store.tables._gating import (
    ledger_pruned as ledger_pruned,
)
from bot.store.tables._gating import (
    purchases as purchases,
)
from bot.store.tables._gating import (
    stripe_customers as stripe_customers,
)
from bot.store.tables._gating import (
    stripe_events as stripe_events,
)
from bot.store.tables._gating import (
    stripe_payments as stripe_payments,
)
from bot.store.tables._lectures import (
    lecture_attendance as lecture_attendance,
)
from bot.store.tables._lectures import (
    lecture_deliveries as lecture_deliveries,
)
from bot.store.tables._lectures import (
    lecture_delivery_messages as lecture_delivery_messages,
)
from bot.store.tables._lectures import (
    lecture_member_settings as lecture_member_settings,
)
from bot.store.tables._lectures import (
    lecture_native_events as lecture_native_events,
)
from bot.store.tables._lectures import (
    lecture_occurrences as lecture_occurrences,
)
from bot.store.tables._lectures import (
    lecture_posts as lecture_posts,
)
from bot.store.tables._lectures import (
    lecture_rsvps as lecture_rsvps,
)
from bot.store.tables._lectures import (
    lectures as lectures,
)
from bot.store.tables._moderation import (
    moderation_cases as moderation_cases,
)
from bot.store.tables._moderation import (
    moderation_slowmode as moderation_slowmode,
)
from bot.store.tables._points import (
    points_balances as points_balances,
)
from bot.store.tables._points import (
    points_invites as points_invites,
)
from bot.store.tables._points import (
    points_ledger as points_ledger,
)
from bot.store.tables._points import (
    points_level_changes as points_level_changes,
)
from bot.store.tables._points import (
    points_period_totals as points_period_totals,
)
from bot.store.tables._points import (
    points_referrals as points_referrals,
)
from bot.store.tables._points import (
    points_seasons as points_seasons,
)
from bot.store.tables._privacy import (
    message_days as message_days,
)
from bot.store.tables._privacy import (
    privacy_downloads as privacy_downloads,
)
from bot.store.tables._privacy import (
    privacy_erasures as privacy_erasures,
)
from bot.store.tables._privacy import (
    privacy_jobs as privacy_jobs,
)
from bot.store.tables._privacy import (
    privacy_requests as privacy_requests,
)
from bot.store.tables._qa import (
    qa_answers as qa_answers,
)
from bot.store.tables._qa import (
    qa_messages as qa_messages,
)
from bot.store.tables._qa import (
    qa_questions as qa_questions,
)
from bot.store.tables._qa import (
    qa_transitions as qa_transitions,
)
from bot.store.tables._qa import (
    qa_votes as qa_votes,
)
