"""The Telegram adapter, on python-telegram-bot: groups, forum topics and private chats."""

import os

# Opt in to PTB's timedelta durations now (RetryAfter.retry_after and friends), as the next
# major version does, instead of a deprecation warning on every flood-control error.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bot.adapters.telegram._adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
