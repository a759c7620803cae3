"""Keep credentials out of every log: one redacting filter on every handler in the process.

Libraries log what they send: python-telegram-bot's HTTP client writes each Bot API URL (the
token is in the path) at INFO, and PTB writes ``setWebhook``'s parameters (the webhook
secret) at DEBUG. A filter on a *logger* sees only that logger's own records, so the
``Redactor`` sits on *handlers*, where records of every logger (``httpx``, ``telegram``,
``discord``, ``aiohttp``, ``stripe``…) arrive. It rewrites a record's message, arguments,
traceback text and stack text before any formatter reads them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO
from urllib.parse import quote, quote_plus, unquote, urlsplit

from bot.core.config import Config, Secret

REDACTED = "[redacted]"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CHECKED = "cohort_redacted"  # a record attribute: the mark of the secrets it was checked for
_TRACEBACKS = logging.Formatter()


def secret_values(config: Config) -> set[str]:
    """Return every credential in ``config``: each ``Secret`` field and the database password."""
    found: set[str] = set()
    _collect(config, found)
    password = urlsplit(config.database.url).password
    if password:
        found.update({password, unquote(password)})
    return found


def _collect(value: object, found: set[str]) -> None:
    """Add the revealed value of every ``Secret`` reachable from ``value``."""
    if isinstance(value, Secret):
        if value:
            found.add(value.reveal())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _collect(getattr(value, f.name), found)
    elif isinstance(value, tuple):
        for item in value:
            _collect(item, found)


def written_forms(secret: str) -> set[str]:
    """Return the ways ``secret`` shows up in a log line: as is, URL-encoded, escaped.

    A Telegram token ``<bot id>:<key>`` also yields its key alone: the bot id is public.
    """
    parts = {secret}
    bot_id, colon, key = secret.partition(":")
    if colon and bot_id.isdigit() and key:
        parts.add(key)
    forms: set[str] = set()
    for part in parts:
        forms.update(
            {
                part,
                quote(part, safe=""),
                quote(part),
                quote_plus(part),
                json.dumps(part)[1:-1],
                repr(part)[1:-1],
            }
        )
    forms.discard("")
    return forms


class Redactor(logging.Filter):
    """Replace every known secret in a log record with ``[redacted]``; never drop a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._forms: set[str] = set()
        # The pattern, and a mark standing for it on the records checked (a formatter that
        # dumps a record's attributes must not print the pattern: it spells out every secret).
        # One attribute, so another thread never sees one without the other.
        self._state: tuple[re.Pattern[str] | None, object] = (None, object())
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact ``secrets`` (in every written form) from now on, as well as the earlier ones."""
        forms = set(self._forms)
        for secret in secrets:
            if secret:
                forms |= written_forms(secret)
        if forms == self._forms:
            return
        self._forms = forms
        # Longest first, so a secret containing another is replaced whole.
        alternatives = sorted(forms, key=lambda form: (-len(form), form))
        pattern = re.compile("|".join(re.escape(form) for form in alternatives))
        self._state = (pattern, object())

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret replaced."""
        pattern, _mark = self._state
        return text if pattern is None else pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place (once per set of secrets, however many handlers see it)."""
        pattern, mark = self._state
        if pattern is None or getattr(record, _CHECKED, None) is mark:
            return True
        try:
            message = record.getMessage()
        except Exception:  # logging's own error report would print the arguments
            message = f"{record.msg} (unformattable arguments: {record.args!r})"
            record.msg, record.args = message, None
        if pattern.search(message):
            record.msg, record.args = pattern.sub(REDACTED, message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text and pattern.search(record.exc_text):
            # Formatters print exc_text when it is set; without exc_info none can re-render it.
            record.exc_text, record.exc_info = pattern.sub(REDACTED, record.exc_text), None
        if record.stack_info and pattern.search(record.stack_info):
            record.stack_info = pattern.sub(REDACTED, record.stack_info)
        setattr(record, _CHECKED, mark)
        return True


def every_handler() -> Iterator[logging.Handler]:
    """Yield every handler in the process: the root's, every logger's, and the last resort."""
    yield from logging.root.handlers
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            yield from logger.handlers
    if logging.lastResort is not None:
        yield logging.lastResort


def protect(secrets: Iterable[str]) -> None:
    """Redact ``secrets`` on every handler there is now.

    Every ``Redactor`` already on a handler learns them; a handler without one gets one.
    Call it again after something may have added a handler (a library starting up).
    """
    handlers = [h for h in every_handler() if not isinstance(h, logging.NullHandler)]
    redactors = list(
        {id(f): f for h in handlers for f in h.filters if isinstance(f, Redactor)}.values()
    )
    shared = redactors[0] if redactors else Redactor()
    for redactor in redactors or [shared]:
        redactor.add(secrets)
    for handler in handlers:
        if not any(isinstance(f, Redactor) for f in handler.filters):
            handler.addFilter(shared)


@contextlib.contextmanager
def configured(level: str | int, stream: TextIO | None = None) -> Iterator[Redactor]:
    """Log at ``level`` to ``stream`` (standard error) through a redacting handler, meanwhile.

    The CLI runs every command inside this; the handler and the root's level are put back after.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    redactor = Redactor()
    handler.addFilter(redactor)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield redactor
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _on_terminal(handler: logging.Handler) -> bool:
    """Say whether ``handler`` writes to this process's standard error or output."""
    if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
        return False
    terminal = (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
    return any(handler.stream is stream for stream in terminal)


@contextlib.contextmanager
def diverted(path: Path) -> Iterator[logging.Handler]:
    """Send log records and warnings to the file ``path`` instead of the terminal, meanwhile.

    The console's standard output is its chat: a log line or a library's warning (numpy's
    RuntimeWarning, a Stripe network error) written to the terminal would land between its
    replies. The root's terminal handlers step aside; their redactors move to the file's
    handler, so that every secret they know stays redacted there.
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    terminal = [h for h in root.handlers if _on_terminal(h)]
    redactors = {id(f): f for h in terminal for f in h.filters if isinstance(f, Redactor)}
    for redactor in list(redactors.values()) or [Redactor()]:
        handler.addFilter(redactor)
    for old in terminal:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield handler
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()
        for old in terminal:
            root.addHandler(old)
