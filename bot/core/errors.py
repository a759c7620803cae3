"""Errors that carry a message for a person, and errors for the operator."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A mistake by the person who ran a command; its message is translated for them."""

    def __init__(self, key: str, /, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __repr__(self) -> str:
        return f"UserError({self.key!r}, {self.params!r})"


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the key and what was expected."""

    def __init__(
        self, key: str, expected: str, got: str | None = None, *, source: str = ""
    ) -> None:
        self.key = key
        self.expected = expected
        self.got = got
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        got = f", got {self.got}" if self.got is not None else ""
        return f"{where}{self.key}: expected {self.expected}{got}"
