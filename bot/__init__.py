"""Cohort: a bot for paid knowledge communities on Discord and Telegram at once."""

__version__ = "0.1.0"
