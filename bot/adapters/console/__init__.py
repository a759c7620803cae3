"""The console adapter: a local chat in the terminal, and a script runner for tests and demos."""

from bot.adapters.console._adapter import ConsoleAdapter
from bot.adapters.console._render import render

__all__ = ["ConsoleAdapter", "render"]
