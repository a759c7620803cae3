"""What handlers and the dispatcher use of the bot: a narrower view than ``Cohort``.

``Context`` and ``Dispatcher`` type against ``Services``, not ``Cohort``: ``Cohort`` builds the
dispatcher, so naming it here would close an import circle (STYLE.md, rough spot 2). ``Cohort``
satisfies the protocol structurally; mypy checks it where ``Cohort`` hands itself over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.core.clock import Clock
from bot.core.commands import CommandRegistry
from bot.core.events import EventBus
from bot.core.i18n import Translator
from bot.core.identity import Identity
from bot.store.db import Database


class Entitlements(Protocol):
    """Which paid tiers a member holds; the gating cog provides the real one."""

    async def tiers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        """Return the tiers ``member_id`` holds at ``now``."""
        ...


class Services(Protocol):
    """The parts of one bot a command, a button or the dispatcher reaches."""

    db: Database
    clock: Clock
    i18n: Translator
    registry: CommandRegistry
    events: EventBus
    identity: Identity
    entitlements: Entitlements
