"""What each analytics page shows: frozen dataclasses, plain numbers, no text.

Every count is an ``int``; every ratio is a ``float`` from 0.0 to 1.0 (0.0 when its
denominator is zero); money is an ``int`` in the currency's minor unit (cents) and always comes
with its lower-case ISO currency code; days are ``date`` values in the zone the page was asked
in; durations are ``timedelta`` or ``None`` when there is nothing to measure.
``docs/analytics.md`` defines each figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum


class Segment(StrEnum):
    """Which members a members list shows."""

    ALL = "all"
    PAYING = "paying"  # holds a paid tier or course now
    ACTIVE = "active"  # active (message or reaction) in the range
    INACTIVE = "inactive"  # present, not active in the range
    NEW = "new"  # joined in the range
    LEFT = "left"  # left in the range and gone now
    LINKED = "linked"  # has accounts on more than one platform


class MemberSort(StrEnum):
    """How a members list is ordered."""

    ENGAGEMENT = "engagement"  # participation score U, highest first
    MESSAGES = "messages"  # messages in the range, most first
    POINTS = "points"  # points balance, highest first
    JOINED = "joined"  # newest first
    NAME = "name"  # display name, A to Z


# --- overview and growth ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayCount:
    """A number for one day (a sparkline point)."""

    day: date
    value: int


@dataclass(frozen=True, slots=True)
class Overview:
    """The headline cards: members, activity, Q&A, money, with a sparkline each."""

    start: date
    end: date
    members_total: int  # present at the end of the range
    members_new: int
    members_left: int
    messages: int
    active_members: int  # distinct members active in the range
    dau: float  # average daily active members in the range
    mau: int  # distinct members active in the 30 days ending with the range
    questions_asked: int
    questions_solved: int
    mrr: tuple[Money, ...]  # at the end of the range, one per currency
    members_daily: tuple[DayCount, ...]  # members present at the end of each day
    messages_daily: tuple[DayCount, ...]
    moderation: ModerationDay  # the range's moderation totals


@dataclass(frozen=True, slots=True)
class GrowthDay:
    """Members on one day, on one platform ("" for all platforms together, counted once)."""

    day: date
    platform: str
    total: int  # present at the end of the day
    new: int
    left: int

    @property
    def net(self) -> int:
        """Return new members minus those who left."""
        return self.new - self.left


@dataclass(frozen=True, slots=True)
class Growth:
    """Members per day, per platform and all together, and the linked members."""

    start: date
    end: date
    platforms: tuple[str, ...]  # the platforms with rows, sorted
    days: tuple[GrowthDay, ...]  # by day, then platform ("" first)
    linked_members: int  # present members with accounts on two or more platforms
    members_total: int  # present at the end, counted once across platforms


# --- activity ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivityDay:
    """Messages and active members on one day."""

    day: date
    messages: int
    reactions: int
    active_members: int


@dataclass(frozen=True, slots=True)
class ChannelCount:
    """Messages in one channel (threads count in their channel)."""

    platform: str
    channel_id: str
    messages: int


@dataclass(frozen=True, slots=True)
class Contributor:
    """A member ranked by messages in the range: counts only, never text."""

    member_id: int
    name: str
    messages: int
    reactions: int


@dataclass(frozen=True, slots=True)
class Activity:
    """Messages per day, DAU/WAU/MAU, stickiness, the weekday-by-hour heatmap, the leaders."""

    start: date
    end: date
    days: tuple[ActivityDay, ...]
    messages: int
    dau: float  # average distinct active members per day over the range
    wau: int  # distinct members active in the 7 days ending with the range
    mau: int  # distinct members active in the 30 days ending with the range
    stickiness: float  # average DAU over those 30 days / MAU
    heatmap: tuple[tuple[int, ...], ...]  # 7 rows (Monday first) of 24 hours: messages
    top_channels: tuple[ChannelCount, ...]
    top_contributors: tuple[Contributor, ...]


# --- retention ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetentionCohort:
    """Members who joined in one week, and how many were active in each week after."""

    week: date  # the Monday the cohort's week starts
    size: int
    active: tuple[int, ...]  # active[k]: members of the cohort active in week + k

    def rate(self, k: int) -> float:
        """Return the share of the cohort active in week ``k`` after joining."""
        if not self.size or k >= len(self.active):
            return 0.0
        return self.active[k] / self.size


@dataclass(frozen=True, slots=True)
class Retention:
    """The weekly cohort table: cohorts joined in the range, weeks up to the range's end."""

    start: date
    end: date
    cohorts: tuple[RetentionCohort, ...]


# --- engagement --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberEngagement:
    """One member's participation score and its parts over the range."""

    member_id: int
    name: str
    interactions: int  # I: messages outside threads and reactions given
    discussions: int  # D: Q&A answers and thread replies
    contributions: int  # C: accepted answers, lectures attended, kudos received
    days: int  # T: days present in the range
    score: float  # U = (I + D + C) / T


@dataclass(frozen=True, slots=True)
class Bucket:
    """Members whose score lies in ``[low, high)`` (``high`` None: no upper bound)."""

    low: float
    high: float | None
    members: int


@dataclass(frozen=True, slots=True)
class Engagement:
    """The community effect E = S * U / C, the score distribution, the most and least engaged."""

    start: date
    end: date
    members: int  # present at the end of the range: the population of U
    paying_share: float  # S
    mean_score: float  # U, the mean of the members' scores
    cost: float  # C
    effect: float  # E = S * U / C
    distribution: tuple[Bucket, ...]
    most_engaged: tuple[MemberEngagement, ...]
    least_engaged: tuple[MemberEngagement, ...]


# --- Q&A ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QaDay:
    """Questions asked on a day."""

    day: date
    asked: int
    solved: int  # of the questions asked that day, solved by now


@dataclass(frozen=True, slots=True)
class Qa:
    """Questions asked in the range and how they fared; unanswered now."""

    start: date
    end: date
    asked: int
    answered: int
    solved: int
    median_first_answer: timedelta | None
    p90_first_answer: timedelta | None
    median_solve: timedelta | None
    p90_solve: timedelta | None
    unanswered_now: int  # open questions with no answer, whenever they were asked
    days: tuple[QaDay, ...]


# --- lectures ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """One lecture session that started in the range."""

    occurrence_id: int
    title: str
    start_at: datetime  # in the page's zone
    status: str
    going: int
    maybe: int
    attended: int  # checked in (by code or marked by an organizer)
    no_shows: int  # said "going" and did not check in (0 until the session has started)
    reminders_sent: int  # reminder deliveries sent (each may reach several channels)

    @property
    def no_show_rate(self) -> float:
        """Return the share of members who said "going" and did not check in."""
        return self.no_shows / self.going if self.going else 0.0


@dataclass(frozen=True, slots=True)
class Lectures:
    """The sessions that started in the range, and their totals."""

    start: date
    end: date
    sessions: tuple[Session, ...]
    going: int
    maybe: int
    attended: int
    no_shows: int  # went "going" and did not check in (past sessions only)
    no_show_rate: float  # no_shows / going of past sessions
    reminders_sent: int


# --- moderation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModerationDay:
    """Moderation cases of one local day (or of the whole range): done by action, and who."""

    day: date  # the range's first day for the range's totals
    warn: int
    mute: int
    unmute: int
    kick: int
    ban: int
    unban: int
    purge: int
    slowmode: int
    delete: int  # messages automod removed
    done: int  # every case carried out, whatever its action
    people: int  # done cases a moderator ordered
    automod: int  # done cases automod took
    automatic: int  # done cases the bot took by its rules: escalations and expiries
    failed: int  # cases refused or failed on the platform (not in the counts above)


@dataclass(frozen=True, slots=True)
class Moderation:
    """Moderation cases opened in the range, per local day and in total."""

    start: date
    end: date
    days: tuple[ModerationDay, ...]
    totals: ModerationDay


# --- revenue -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency's minor unit."""

    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class CurrencyRevenue:
    """The recurring and one-time revenue of one currency over the range."""

    currency: str
    mrr_start: int
    mrr: int  # at the end of the range
    arr: int  # mrr * 12
    new_mrr: int
    expansion_mrr: int
    contraction_mrr: int  # a positive number: how much MRR went down
    churned_mrr: int  # a positive number
    revenue_churn_rate: float  # (churned + contraction) / mrr_start
    collected: int  # paid in the range, refunds not subtracted
    refunded: int  # paid in the range and refunded since
    course_sales: int  # one-time course payments in the range


@dataclass(frozen=True, slots=True)
class OfferRevenue:
    """What one offer brought in over the range, per currency."""

    offer_id: str
    currency: str
    purchases: int
    amount: int
    refunded: int


@dataclass(frozen=True, slots=True)
class Revenue:
    """Recurring revenue, churn, conversion, refunds, disputes and sales by offer."""

    start: date
    end: date
    currencies: tuple[CurrencyRevenue, ...]
    subscribers_start: int
    subscribers: int  # paying subscriptions at the end
    churned_subscribers: int
    logo_churn_rate: float  # churned_subscribers / subscribers_start
    trials_started: int
    trials_converted: int
    trial_conversion_rate: float
    refunds: int  # payments in the range refunded since
    disputes: int  # payments in the range disputed
    course_sales: int  # count of one-time course payments
    offers: tuple[OfferRevenue, ...]


# --- recommender -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recommender:
    """How far the course suggestions reach and whether they turn into purchases."""

    start: date
    end: date
    courses: int
    members: int
    members_with_suggestions: int  # members the model has personal suggestions for
    coverage: float  # members_with_suggestions / members
    suggested_courses: int  # courses suggested to at least one member
    catalog_coverage: float  # suggested_courses / courses
    shown: int  # suggestions shown in the range (member, course)
    bought: int  # of those, bought within the range after being shown
    conversion: float  # bought / shown


# --- members -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A line of the members list."""

    member_id: int
    name: str
    platforms: tuple[str, ...]
    joined: date | None  # first seen, in the page's zone
    left: date | None  # left every platform, if so
    messages: int  # in the range
    points: int
    paying: bool
    score: float  # U over the range


@dataclass(frozen=True, slots=True)
class Members:
    """One page of the members list."""

    total: int  # members matching the search and segment
    rows: tuple[MemberRow, ...]


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    """A thing a member bought."""

    offer_id: str
    amount: int | None
    currency: str | None
    purchased_at: datetime
    refunded: bool


@dataclass(frozen=True, slots=True)
class AttendanceLine:
    """A session a member checked in to."""

    occurrence_id: int
    title: str
    start_at: datetime


@dataclass(frozen=True, slots=True)
class QuestionLine:
    """A question a member asked."""

    question_id: int
    title: str
    state: str
    asked_at: datetime


@dataclass(frozen=True, slots=True)
class MemberDetail:
    """One member's page: accounts, points, purchases, attendance, questions, activity."""

    member_id: int
    name: str
    accounts: tuple[tuple[str, str], ...]  # (platform, display name)
    joined: date | None
    points: int
    messages: int  # in the range
    answers: int  # in the range
    score: float  # U over the range
    purchases: tuple[PurchaseLine, ...]
    attendance: tuple[AttendanceLine, ...]
    questions: tuple[QuestionLine, ...]
    activity: tuple[DayCount, ...]  # messages per day in the range
