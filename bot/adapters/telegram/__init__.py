"""The Telegram adapter, on python-telegram-bot: groups, forum topics and private chats."""

from bot.adapters.telegram._adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
