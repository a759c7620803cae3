"""Hostile input through the console: forged button payloads and unreadable text are user errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.core.commands import CommandSpec, Option, OptionKind, Permission
from bot.core.config import Config
from bot.core.parsing import quote
from bot.store.tables import message_log, qa_questions
from tests import _postgres
from tests.conftest import make_config, output

HUGE = str(10**30)  # past SQLite's 64-bit integers
BAD_BUTTON = "That button no longer works. Run the command again."
UNREADABLE = "Your command contains a character I cannot read"
# The statements one call may send the database: the most any call here sends is 68 (a button
# press; /privacy export sends 40, one a table), so a call looping over its input's size (a
# query a row, a hostile list) stands out, on any machine.
MAX_STATEMENTS = 100


class Incidents(logging.Handler):
    """Collect what the bot logs at ERROR or above: every internal error is logged there."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def incidents() -> Iterator[Incidents]:
    """Return the ERROR records the bot logs while the test runs."""
    handler = Incidents()
    logger = logging.getLogger("bot")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def say(console: ConsoleAdapter, user: str, *lines: str, where: str = "general") -> str:
    """Type ``lines`` as ``user`` in ``where`` and return what the console printed."""
    console.user, console.channel = user, where
    for line in lines:
        await console.handle_line(line)
    return output(console)


OFFERS = [
    {"id": "pro", "kind": "tier", "name": "Pro", "price_monthly": "price_pro_m"},
    {"id": "py", "kind": "course", "name": "Python 101", "price_once": "price_py"},
]
COURSES = [
    {"id": "python", "title": "Python Basics", "tags": ["code"], "offer": "py"},
    {"id": "sql", "title": "SQL for Analysts", "tags": ["data"]},
]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Return the test config with offers (granted by hand: no Stripe) and courses."""
    return make_config(tmp_path, community={"offers": OFFERS, "courses": COURSES})


@pytest.fixture
async def world(console: ConsoleAdapter) -> AsyncIterator[ConsoleAdapter]:
    """Return a console with question 1 (answered by carol), lecture 1, and bob holding Pro."""
    await say(console, "bob", "/ask How do I install numpy on a Raspberry Pi?")
    await say(console, "carol", "Use piwheels, it has prebuilt wheels.", where="general/thread-1")
    printed = await say(console, "olga", '/lecture schedule "Intro to Rust" "2026-11-22 19:30"')
    assert "Lecture #1" in printed
    assert "Bob now has Pro" in await say(console, "olga", "/grant @bob pro 30")
    # The recommender loads numpy and its model on first use (lazily, by design): a one-time
    # start-up cost of a second or two, not a call's, so it is paid here.
    await say(console, "bob", "/recommend show")
    yield console


@pytest.mark.parametrize(
    ("user", "line", "expected"),
    [
        # points pages: the "next page" button of /leaderboard
        ("bob", "/press a|points.page|week:²", BAD_BUTTON),
        ("bob", "/press a|points.page|week:٣", BAD_BUTTON),
        ("bob", f"/press a|points.page|week:{HUGE}", BAD_BUTTON),
        ("olga", "/press a|points.reset|²", BAD_BUTTON),
        ("olga", f"/press a|points.reset|{HUGE}", BAD_BUTTON),
        # lecture RSVP
        ("bob", "/press a|lectures.rsvp|²:going", BAD_BUTTON),
        ("bob", f"/press a|lectures.rsvp|{HUGE}:going", BAD_BUTTON),
        ("bob", "/press a|lectures.rsvp|1:going\x00", BAD_BUTTON),
        # Q&A accept
        ("bob", "/press a|qa.accept|1:²", BAD_BUTTON),
        ("bob", f"/press a|qa.accept|{HUGE}:1", BAD_BUTTON),
        ("bob", f"/press a|qa.accept|1:{HUGE}", BAD_BUTTON),
        ("bob", "/press a|qa.accept|\ud800:1", BAD_BUTTON),
        # the other actions with a number in their payload
        ("olga", "/press a|gating.members|pro:²", BAD_BUTTON),
        ("olga", f"/press a|gating.members|pro:{HUGE}", BAD_BUTTON),
        # a stored payload's id, as Telegram and Discord send it back
        ("bob", "/press s|²", "There is no button [s|²]."),
        ("bob", f"/press s|{HUGE}", f"There is no button [s|{HUGE}]."),
        # /questions search and /ask
        ("bob", "/questions search numpy\x00", UNREADABLE),
        ("bob", "/questions search \ud800", UNREADABLE),
        ("bob", "/ask Why does\x00 pip fail on my laptop?", UNREADABLE),
        ("bob", "/ask Why does \udfff pip fail on my laptop?", UNREADABLE),
        # an unreadable word anywhere in a line, even where a command name goes
        ("olga", "/points give @bob 5 thanks\ud800", UNREADABLE),
        ("bob", "/\x00", UNREADABLE),
    ],
)
async def test_named_hostile_inputs_are_user_errors(
    world: ConsoleAdapter, incidents: Incidents, user: str, line: str, expected: str
) -> None:
    printed = await say(world, user, line)
    assert expected in printed
    assert "Sorry, something went wrong" not in printed
    assert incidents.records == []


async def test_the_refused_text_is_stored_nowhere(world: ConsoleAdapter, cohort: Cohort) -> None:
    await say(world, "bob", "/ask Why does\x00 pip fail on my laptop?")
    async with cohort.db.read() as conn:
        titles = (await conn.scalars(select(qa_questions.c.title))).all()
    assert titles == ["How do I install numpy on a Raspberry Pi?"]


async def test_a_chat_message_with_unreadable_characters_is_cleaned(
    world: ConsoleAdapter, cohort: Cohort, incidents: Incidents
) -> None:
    await say(world, "carol", "use pip\x00 or conda \ud800", where="general/thread-1")
    async with cohort.db.read() as conn:
        texts = (await conn.scalars(select(message_log.c.text).order_by(message_log.c.id))).all()
    assert texts[-1] == "use pip\ufffd or conda \ufffd"
    assert incidents.records == []


# --- every command and every button, with hypothesis-generated input ---------------------------

# Characters that break things: NUL, lone surrogates, quotes of every kind, the escape, markup,
# mentions, direction overrides, a zero-width joiner, option separators, non-ASCII digits.
NASTY = "\x00\ud800\udfff \t\n\"'“”「\\:*_`~|<>@#[]()&;\u202e\u200f\u200d²٣１"
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),  # any code point at all
    st.text(NASTY, max_size=12),
    st.sampled_from(
        [
            "**bold** __under__ `code` [link](https://example.org) ||spoiler||",
            "<b>html</b> &amp; <script>alert(1)</script>",
            "@everyone @here",
            "\u202egnirts desrever\u202c שלום עולם",
            "中文问题：怎么安装 numpy？",
            "'; DROP TABLE members; --",
            "x" * 5000,  # past every option's max_length
        ]
    ),
)
# Good words for text options (a title, an offer, a link, a tier, a repeat rule), and odd ones.
WORDS = [
    "numpy",
    "Talk",
    "pro",
    "py",
    "-",
    "https://example.org/room",
    "javascript:alert(1)",
    "weekly for 4",
    "daily x1000",
    "monthly until 9999-12-31",
    "RRULE:FREQ=SECONDLY;COUNT=100000",
    "FREQ=MINUTELY;UNTIL=20991231T000000Z",
    "FREQ=WEEKLY;INTERVAL=0;COUNT=3",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=2",
]
NUMBERS = st.one_of(
    st.integers(-3, 5).map(str),  # ids and pages that exist
    st.integers(-(10**30), 10**30).map(str),
    st.floats().map(str),
    st.sampled_from(["²", "٣", "１２", "1e3", "0x10", "+5", "-0", "1_000", "9" * 25, "9" * 5000]),
)
MEMBERS = st.sampled_from(
    ["@bob", "@olga", "@alice", "@carol", "@nobody", "<@123456789>", "<@!00000>", "9" * 30, "@"]
)
DATETIMES = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M")),
    st.sampled_from(
        [
            "tomorrow 19:30",
            "in 2h",
            "in 99999w",
            "2026-02-30 10:00",
            "2027-03-28 02:30",  # a gap in Europe/Berlin
            "0001-01-01 00:00",
            "9999-12-31 23:59 -05:00",
            "25:00",
            "２０２６-１２-０３ 19:30",
            "2026-12-03 19:30 Mars/Base",
            "2026-12-03T19:30+14:00",
            "today 19:30 " + "Europe/" + "x" * 300,
        ]
    ),
)
DURATIONS = st.one_of(
    st.integers(0, 10**7).map(lambda n: f"{n}s"),
    st.sampled_from(["1h30m", "45m", "0s", "999999w", "13h", "1h1h", "90", "²h", "٣m", "1.5h"]),
)


# Values that read well, so that the other options of a line reach deep into its command.
GOOD: dict[OptionKind, list[str]] = {
    OptionKind.TEXT: ["numpy", "Talk", "pro", "py", "https://example.org/room", "weekly for 4"],
    OptionKind.INTEGER: ["1", "2", "3", "10"],
    OptionKind.MEMBER: ["@bob", "@carol", "@olga"],
    OptionKind.DATETIME: ["tomorrow 19:30", "in 2h", "2026-12-03 19:30 Asia/Shanghai"],
    OptionKind.DURATION: ["1h", "45m", "1h30m"],
}


def values_of(option: Option) -> st.SearchStrategy[str]:
    """Return a value of one option's type as a person would type it: mostly good, or hostile."""
    match option.kind:
        case OptionKind.TEXT:
            hostile = st.one_of(st.sampled_from(WORDS), HOSTILE_TEXT)
        case OptionKind.INTEGER:
            hostile = NUMBERS
        case OptionKind.MEMBER:
            hostile = st.one_of(MEMBERS, HOSTILE_TEXT)
        case OptionKind.DATETIME:
            hostile = st.one_of(DATETIMES, HOSTILE_TEXT)
        case OptionKind.DURATION:
            hostile = st.one_of(DURATIONS, HOSTILE_TEXT)
        case OptionKind.CHOICE:
            hostile = st.one_of(st.sampled_from(["", "ALL", "séason"]), HOSTILE_TEXT)
    good = st.sampled_from(GOOD.get(option.kind) or [c.value for c in option.choices])
    return st.sampled_from([good, good, hostile]).flatmap(lambda values: values)


@st.composite
def lines_of(draw: st.DrawFn, spec: CommandSpec) -> str:
    """Return a command line for ``spec``: each option left out, positional or ``name:value``."""
    words = [f"/{spec.name}"]
    for option in spec.options:
        value = draw(values_of(option))
        match draw(st.sampled_from(["left out", "positional", "named", "raw"])):
            case "positional":
                words.append(quote(value))
            case "named":
                words.append(f"{option.name}:{quote(value)}")
            case "raw":  # as typed, unquoted: the tokenizer sees the quotes and backslashes
                words.append(value)
    return " ".join(words)


# Payload fields: the words Cohort's own payloads hold, and numbers of every kind.
FIELDS = st.one_of(
    NUMBERS, st.sampled_from(["week", "all", "going", "maybe", "no", "waitlist", "zh", "pro", "py"])
)
PAYLOADS = st.one_of(
    st.lists(FIELDS, min_size=1, max_size=3).map(":".join), HOSTILE_TEXT, st.just("")
)
STORED_IDS = st.one_of(NUMBERS, HOSTILE_TEXT)
WHERE = st.sampled_from(["general", "general/thread-1", "general/thread-2"])
WHO = st.sampled_from(["bob", "olga"])  # a member and an organizer
STAFF_MOSTLY = st.sampled_from(["bob", "olga", "olga"])


@pytest.fixture
def apologies(cohort: Cohort) -> tuple[str, ...]:
    """Return how the internal-error apology begins, in every language."""
    return tuple(
        cohort.i18n.plain(locale, "errors.internal", incident="\x00").split("\x00")[0]
        for locale in ("en", "zh_CN")
    )


@pytest.fixture
def statements(cohort: Cohort) -> Iterator[list[str]]:
    """Return the SQL statements the bot sends while the test runs, in order."""
    sent: list[str] = []

    def note(conn: object, cursor: object, statement: str, *rest: object) -> None:
        sent.append(statement)

    engine = cohort.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


@pytest.mark.slow
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    # One bot serves every example, so that each builds on what the others left behind.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_every_command_and_button_survives_hostile_input(
    world: ConsoleAdapter,
    cohort: Cohort,
    incidents: Incidents,
    apologies: tuple[str, ...],
    statements: list[str],
    data: st.DataObject,
) -> None:
    incidents.records.clear()  # hypothesis replays examples: each starts clean

    async def type_and_check(user: str, where: str, line: str) -> None:
        # How hard a call works, counted rather than timed (a shared machine's load stretches
        # any clock): the statements it sends the database. A repeat rule's expansion, the one
        # costly computation a command can ask for, counts its own work (test_repeat.py).
        statements.clear()
        printed = await say(world, user, line, where=where)
        assert not any(apology in printed for apology in apologies), (line, printed)
        assert incidents.records == [], (line, incidents.records[0].getMessage())
        assert len(statements) <= MAX_STATEMENTS, (line, len(statements))

    lines: list[tuple[str, str, str]] = []
    for spec in cohort.registry:
        who = WHO if spec.permission is Permission.ANYONE else STAFF_MOSTLY
        lines.append((data.draw(who), data.draw(WHERE), data.draw(lines_of(spec))))
    for action in cohort.registry.actions():
        payload = data.draw(PAYLOADS)
        lines.append((data.draw(WHO), data.draw(WHERE), f"/press a|{action.id}|{payload}"))
    lines.append((data.draw(WHO), "general", f"/press s|{data.draw(STORED_IDS)}"))
    lines.append((data.draw(WHO), data.draw(WHERE), f"chat: {data.draw(HOSTILE_TEXT)}"))
    for user, where, line in lines:
        await type_and_check(user, where, line)
    # Then press a few of the buttons the bot really showed (pages, RSVPs, accepts, languages).
    shown = sorted(world.buttons)[-12:]
    for number in data.draw(st.lists(st.sampled_from(shown), max_size=3)) if shown else []:
        await type_and_check(data.draw(WHO), data.draw(WHERE), f"/press {number}")
    async with cohort.db.read() as conn:
        assert await _postgres.integrity_problems(conn) == []
