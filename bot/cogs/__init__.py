"""Features, one package each, written once against the core and run on every platform."""

DEFAULT_COGS: tuple[str, ...] = (
    "bot.cogs.general",
    "bot.cogs.points",
    "bot.cogs.gating",
    "bot.cogs.lectures",
    "bot.cogs.qa",
    "bot.cogs.recommend",
    "bot.cogs.analytics",
    "bot.cogs.dashboard",
    "bot.cogs.moderation",
    "bot.cogs.privacy",
)
