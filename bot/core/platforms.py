"""Names of the chat platforms Cohort speaks to."""

from enum import StrEnum


class PlatformName(StrEnum):
    """A chat platform an account lives on."""

    CONSOLE = "console"
    DISCORD = "discord"
    TELEGRAM = "telegram"
