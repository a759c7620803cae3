"""Moderation: warn, mute, kick, ban, purge and slowmode on every platform, with numbered cases.

Automod (``_automod.py``, pure rules in ``_automod_rules.py``) checks members' messages.
Every action goes through the ``Platform`` port and is recorded in ``moderation_cases``; timed
mutes and bans are lifted by a leased sweep (``Expiries.sweep``), once.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.cogs.moderation._appeal import Appeals
from bot.cogs.moderation._automod import Automod
from bot.cogs.moderation._cog import ModerationCog
from bot.cogs.moderation._expiry import Expiries
from bot.cogs.moderation._privacy import HOLDINGS as PRIVACY_HOLDINGS
from bot.cogs.moderation._rules import Action, Expiry, Source, State
from bot.cogs.moderation._service import Actor, ModerationService, Outcome
from bot.core.cohort import Cohort
from bot.core.events import MessagePosted

SWEEP_EVERY = timedelta(seconds=15)

__all__ = [
    "SWEEP_EVERY",
    "Action",
    "Actor",
    "Automod",
    "Expiries",
    "Expiry",
    "ModerationCog",
    "ModerationService",
    "Outcome",
    "Source",
    "State",
    "setup",
]


def setup(cohort: Cohort) -> None:
    """Register the moderators' commands, the slowmode listener and the expiry sweep."""
    cohort.i18n.load_dir(Path(__file__).with_name("locales"))
    cohort.privacy.declare(*PRIVACY_HOLDINGS)
    service = ModerationService(cohort)
    cog = ModerationCog(cohort, service)
    for spec in cog.commands():
        cohort.command(spec)
    for action in Appeals(service).actions():
        cohort.action(action)

    automod = Automod(service)

    async def on_message(event: MessagePosted) -> None:
        if not await service.enforce_slowmode(event):
            await automod.check(event)

    def wants_message(event: MessagePosted) -> bool:
        return service.slowed(event) or automod.enabled(event)

    cohort.events.subscribe(MessagePosted, on_message, when=wants_message)
    cohort.every("moderation.expiry", SWEEP_EVERY, Expiries(service).sweep)
    cohort.on_start(service.start)
