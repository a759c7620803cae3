"""General commands every member has: /help, /whoami, /link, /lang."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.cogs.general._cog import ACTIONS, COMMANDS
from bot.core.cohort import Cohort

PURGE_LINK_CODES_EVERY = timedelta(hours=1)


def setup(cohort: Cohort) -> None:
    """Register the general commands, their buttons, translations and housekeeping."""
    cohort.i18n.load_dir(Path(__file__).with_name("locales"))
    for spec in COMMANDS:
        cohort.command(spec)
    for action in ACTIONS:
        cohort.action(action)
    cohort.every(
        "general.purge_link_codes", PURGE_LINK_CODES_EVERY, cohort.identity.purge_link_codes
    )
