"""A loopback Telegram Bot API stand-in for end-to-end tests of python-telegram-bot."""

from tests.telegram_api._params import UploadedFile
from tests.telegram_api._server import DEFAULT_TOKEN, TelegramServer
from tests.telegram_api._world import BOT_ID, BOT_USERNAME, scope_key

__all__ = ["BOT_ID", "BOT_USERNAME", "DEFAULT_TOKEN", "TelegramServer", "UploadedFile", "scope_key"]
