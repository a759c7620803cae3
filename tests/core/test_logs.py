"""The redacting log filter: every secret of the config, in every form, out of every record."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import logs
from bot.core.logs import REDACTED, Redactor, protect, secret_values, written_forms
from tests.conftest import make_config

TELEGRAM = "424242:AAsecret-telegram-key_0123456789"
SECRETS = [TELEGRAM, "MTAw.secret-discord/key+0123==", "p@ss word:/%"]


def test_secret_values_are_every_secret_field_and_the_database_password(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        database={"url": "postgresql+asyncpg://cohort:p%40ss%2Fword@db.example.org:5432/cohort"},
        discord={"token": "MTAw.discord.token"},
        telegram={
            "token": TELEGRAM,
            "mode": "webhook",
            "webhook_url": "https://bot.example.org/telegram/webhook",
            "webhook_secret": "hook-secret",
        },
        web={"enabled": True},
        stripe={"secret_key": "sk_test_key", "webhook_secret": "whsec_signing"},
    )
    assert secret_values(config) == {
        "MTAw.discord.token",
        TELEGRAM,
        "hook-secret",
        "sk_test_key",
        "whsec_signing",
        "p%40ss%2Fword",  # as written in the URL
        "p@ss/word",  # as the database driver sees it
    }


def test_no_secret_configured_means_nothing_to_redact(tmp_path: Path) -> None:
    assert secret_values(make_config(tmp_path)) == set()


@pytest.mark.parametrize(
    ("secret", "form"),
    [
        (TELEGRAM, TELEGRAM),
        (TELEGRAM, "424242%3AAAsecret-telegram-key_0123456789"),  # in a URL-encoded query
        (TELEGRAM, "AAsecret-telegram-key_0123456789"),  # the key without the public bot id
        ("MTAw.secret/key+0==", "MTAw.secret%2Fkey%2B0%3D%3D"),
        ("MTAw.secret/key+0==", "MTAw.secret/key%2B0%3D%3D"),
        ("p@ss word", "p%40ss+word"),  # a form body
        ('quote"back\\slash', 'quote\\"back\\\\slash'),  # inside JSON
        ("tab\there", "tab\\there"),  # inside a repr
    ],
)
def test_written_forms_include(secret: str, form: str) -> None:
    assert form in written_forms(secret)


def test_a_colon_in_a_password_is_not_taken_for_a_telegram_token() -> None:
    assert "rest" not in written_forms("user:rest")


def record(msg: object, *args: object, **extra: object) -> logging.LogRecord:
    """Make a record as a logger would."""
    made = logging.LogRecord("httpx", logging.INFO, __file__, 1, msg, args or None, None)
    made.__dict__.update(extra)
    return made


def exception_info(text: str) -> tuple[type[BaseException], BaseException, TracebackType | None]:
    """Return the exc_info of a raised ValueError saying ``text``."""
    try:
        raise ValueError(text)
    except ValueError as exc:
        return type(exc), exc, exc.__traceback__


def rendered(redactor: Redactor, made: logging.LogRecord) -> str:
    """Return what a handler with the redactor writes for ``made``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redactor)
    handler.handle(made)
    return stream.getvalue()


URL = f"http://127.0.0.1:8081/bot{TELEGRAM}/getMe"


@pytest.mark.parametrize(
    "made",
    [
        record(f"HTTP Request: POST {URL}"),
        record("HTTP Request: %s %s %r", "POST", URL, "HTTP/1.1 200 OK"),
        record("parameters %s", {"secret_token": SECRETS[1]}),
        record("Authorization: Bot %s", SECRETS[1]),
        record("POST %s", URL.replace(":", "%3A")),
        record("token in the traceback", exc_info=exception_info(f"bad URL {URL}")),
        record("token in the stack", stack_info=f'File "x.py", line 1\n  get("{URL}")'),
        record("too few arguments %s %s", TELEGRAM),  # logging would print the arguments
        record(ValueError(f"an object as the message: {SECRETS[2]}")),
    ],
    ids=[
        "message",
        "argument",
        "dict-argument",
        "header",
        "url-encoded",
        "exc-info",
        "stack-info",
        "unformattable",
        "object-message",
    ],
)
def test_a_secret_anywhere_in_a_record_is_redacted(made: logging.LogRecord) -> None:
    text = rendered(Redactor(SECRETS), made)
    left = repr(vars(made))  # what a formatter dumping every attribute would print
    assert REDACTED in text
    for secret in SECRETS:
        for form in written_forms(secret):
            assert form not in text
            assert form not in left
    assert "Logging error" not in text


def test_a_record_without_a_secret_keeps_its_arguments() -> None:
    made = record("GET %s answered %d", "/healthz", 200)
    text = rendered(Redactor(SECRETS), made)
    assert text == "GET /healthz answered 200\n"
    assert made.args == ("/healthz", 200)


def test_the_traceback_keeps_its_exception_when_it_holds_no_secret() -> None:
    made = record("boom", exc_info=exception_info("nothing secret"))
    assert "ValueError: nothing secret" in rendered(Redactor(SECRETS), made)
    assert made.exc_info is not None


def test_secrets_added_later_are_redacted_from_then_on() -> None:
    redactor = Redactor()
    made = record(f"GET {URL}")
    assert TELEGRAM in rendered(redactor, made)
    redactor.add([TELEGRAM])
    assert TELEGRAM not in rendered(redactor, made)


tokenish = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:", min_size=16
)


@given(secrets=st.lists(tokenish, min_size=1, max_size=4), pieces=st.lists(st.text(), max_size=6))
def test_no_secret_survives_whatever_surrounds_it(secrets: list[str], pieces: list[str]) -> None:
    text = "".join(p + secrets[i % len(secrets)] for i, p in enumerate(pieces)) + "".join(secrets)
    redacted = Redactor(secrets).redact(text)
    for secret in secrets:
        assert secret not in redacted


@pytest.fixture
def quiet_root() -> Iterator[None]:
    """Put the root logger's handlers and the last resort's filters back afterwards."""
    root = logging.getLogger()
    handlers, filters = list(root.handlers), list(logging.lastResort.filters)
    yield
    root.handlers[:] = handlers
    logging.lastResort.filters[:] = filters


def test_protect_covers_every_handler_of_every_logger_once(quiet_root: None) -> None:
    mine, theirs = io.StringIO(), io.StringIO()
    library = logging.getLogger("some.library")
    handler = logging.StreamHandler(theirs)
    library.addHandler(handler)
    try:
        with logs.configured(logging.INFO, mine) as redactor:
            protect([TELEGRAM])
            protect([TELEGRAM])
            library.info("calling %s", URL)
            logging.getLogger("httpx").info("HTTP Request: POST %s", URL)
            assert redactor.redact(TELEGRAM) == REDACTED
            for guarded in (handler, logging.lastResort):
                assert len([f for f in guarded.filters if isinstance(f, Redactor)]) == 1
    finally:
        library.removeHandler(handler)
    assert TELEGRAM not in mine.getvalue() + theirs.getvalue()
    assert "INFO httpx: HTTP Request: POST http://127.0.0.1:8081/bot[redacted]/getMe" in (
        mine.getvalue()
    )
    assert theirs.getvalue() == f"calling {URL.replace(TELEGRAM, REDACTED)}\n"


def test_configured_puts_the_root_logger_back(quiet_root: None) -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    with logs.configured("DEBUG", io.StringIO()):
        assert root.level == logging.DEBUG
        assert len(root.handlers) == len(handlers) + 1
    assert root.level == level
    assert root.handlers == handlers


def test_diverted_sends_records_and_warnings_to_the_file_and_not_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cohort.log"
    with logs.configured("INFO") as redactor:
        redactor.add([TELEGRAM])
        with logs.diverted(path) as handler:
            assert any(isinstance(f, Redactor) for f in handler.filters)
            logging.getLogger("bot.test").warning("telegram said no to %s", TELEGRAM)
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                warnings.warn("invalid value encountered in divide", RuntimeWarning, stacklevel=1)
        logging.getLogger("bot.test").warning("back on the terminal")
    terminal = capsys.readouterr()
    written = path.read_text(encoding="utf-8")
    assert f"telegram said no to {REDACTED}" in written
    assert "RuntimeWarning: invalid value encountered in divide" in written
    assert TELEGRAM not in written
    assert "said no" not in terminal.err + terminal.out
    assert "invalid value" not in terminal.err + terminal.out
    assert "back on the terminal" in terminal.err
    assert "back on the terminal" not in written
