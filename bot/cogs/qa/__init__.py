"""Q&A threads: ask, answer, accept, bounties, reminders, search, and the statistics.

The lifecycle (``open -> answered -> solved``, ``-> dormant``, ``-> closed``) is one plain
function, ``next_state``; every move is kept in ``qa_transitions`` for the statistics below.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.cogs.qa._ask import Draft, parse_question
from bot.cogs.qa._chase import Chaser
from bot.cogs.qa._cog import QaCog
from bot.cogs.qa._privacy import HOLDINGS as PRIVACY_HOLDINGS
from bot.cogs.qa._privacy import forget_text
from bot.cogs.qa._search import Hit, search
from bot.cogs.qa._states import NotAllowed, State, Why, next_state
from bot.cogs.qa._stats import Summary, summary, top_answerers
from bot.cogs.qa._votes import merge_votes
from bot.core.alarm import Timer
from bot.core.cohort import Cohort
from bot.core.events import MemberLeft, MessageDeleted, MessagePosted, ReactionChanged

SWEEP_EVERY = timedelta(minutes=5)

__all__ = [
    "Draft",
    "Hit",
    "NotAllowed",
    "QaCog",
    "State",
    "Summary",
    "Why",
    "next_state",
    "parse_question",
    "search",
    "setup",
    "summary",
    "top_answerers",
]


def setup(cohort: Cohort) -> None:
    """Register the Q&A commands, buttons, listeners and the sweep."""
    cohort.i18n.load_dir(Path(__file__).with_name("locales"))
    cog = QaCog(cohort)
    for spec in cog.commands():
        cohort.command(spec)
    for action in cog.actions():
        cohort.action(action)
    cohort.events.subscribe(MessagePosted, cog.on_message, when=cog.wants_message)
    cohort.events.subscribe(MessageDeleted, cog.on_deleted)
    cohort.events.subscribe(MemberLeft, cog.on_left)
    cohort.events.subscribe(ReactionChanged, cog.on_reaction)
    cohort.identity.merge_hooks.append(merge_votes)
    cohort.privacy.declare(*PRIVACY_HOLDINGS)
    cohort.privacy.erase_hooks.append(forget_text)
    chaser = Chaser(cohort, cog.voice)
    cohort.every("qa.sweep", SWEEP_EVERY, chaser.sweep)
    # Reminders, pings, dormancy and bounties on their second; the sweep is the safety net.
    timer = Timer(
        "qa.alarm",
        cohort.supervisor,
        cohort.db,
        chaser.next_due,
        chaser.sweep,
        tables=frozenset({"qa_questions"}),
        longest=SWEEP_EVERY,
    )
    cohort.on_start(timer.start)
    cohort.on_stop(timer.stop)
