"""Tests for option parsing: words, durations, dates, mentions and whole argument lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.commands import Choice, Option, OptionKind
from bot.core.errors import UserError
from bot.core.parsing import (
    MAX_DURATION,
    Mention,
    MentionKind,
    OptionValue,
    Token,
    check_readable,
    format_duration,
    parse_arguments,
    parse_datetime,
    parse_duration,
    parse_mention,
    parse_value,
    parse_zoned_datetime,
    quote,
    scrub,
    tokenize,
)

pytestmark = pytest.mark.backend_free

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
ZONES = [
    ZoneInfo(name)
    for name in (
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Shanghai",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
    )
]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """Return an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- option tables -----------------------------------------------------------------------------

ASK = (
    Option("title", OptionKind.TEXT, "d"),
    Option("details", OptionKind.TEXT, "d", required=False),
)
SCHEDULE = (
    Option("title", OptionKind.TEXT, "d"),
    Option("when", OptionKind.DATETIME, "d"),
    Option("minutes", OptionKind.INTEGER, "d", required=False, min_value=1, max_value=600),
)
LECTURE = (
    Option("when", OptionKind.DATETIME, "d"),
    Option("title", OptionKind.TEXT, "d"),
)
KUDOS = (
    Option("member", OptionKind.MEMBER, "d"),
    Option("reason", OptionKind.TEXT, "d", required=False),
)
GIVE = (
    Option("member", OptionKind.MEMBER, "d"),
    Option("amount", OptionKind.INTEGER, "d", min_value=1, max_value=100),
)
WHOIS = (Option("member", OptionKind.MEMBER, "d"),)
REMIND = (
    Option("every", OptionKind.DURATION, "d"),
    Option("note", OptionKind.TEXT, "d"),
)
PERIOD = (
    Option(
        "period",
        OptionKind.CHOICE,
        "d",
        choices=(Choice("week", "w"), Choice("month", "m"), Choice("all", "a")),
    ),
)
SHORT = (Option("name", OptionKind.TEXT, "d", max_length=5),)
OPTIONAL = (
    Option("count", OptionKind.INTEGER, "d", required=False),
    Option("note", OptionKind.TEXT, "d", required=False),
)
EVERYTHING = (
    Option("member", OptionKind.MEMBER, "d"),
    Option("amount", OptionKind.INTEGER, "d", min_value=1, max_value=100),
    Option("when", OptionKind.DATETIME, "d"),
    Option("every", OptionKind.DURATION, "d"),
    Option("period", OptionKind.CHOICE, "d", choices=(Choice("week", "w"), Choice("all", "a"))),
    Option("note", OptionKind.TEXT, "d", required=False),
)

ALICE = Mention(MentionKind.USERNAME, "alice")


# --- words -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", []),
        ("   \t ", []),
        ("a b  c", ["a", "b", "c"]),
        ("a\tb\nc", ["a", "b", "c"]),
        ("a\u3000b", ["a", "b"]),
        ('"a b" c', ["a b", "c"]),
        ("'a b' c", ["a b", "c"]),
        ("“a b” c", ["a b", "c"]),
        ("‘a b’ c", ["a b", "c"]),
        ("「你好 世界」 再见", ["你好 世界", "再见"]),
        ("『a b』", ["a b"]),
        ("«a b»", ["a b"]),
        ('"it\'s" fine', ["it's", "fine"]),
        ("don't stop", ["don't", "stop"]),
        ("it's 'two words'", ["it's", "two words"]),
        ("rock'n'roll", ["rock'n'roll"]),
        ("don’t", ["don’t"]),
        ('pre"a b"post', ["prea bpost"]),
        ('title:"A b"', ["title:A b"]),
        ("a\\ b", ["a b"]),
        ('\\"a', ['"a']),
        ('"a \\" b"', ['a " b']),
        ('"a\\\\b"', ["a\\b"]),
        ('"a\\nb"', ["a\\nb"]),
        ("x\\", ["x\\"]),
        ('""', [""]),
        ("\"\" ''", ["", ""]),
        ("😀 🎉", ["😀", "🎉"]),
    ],
)
def test_tokenize_words(text: str, words: list[str]) -> None:
    assert [token.value for token in tokenize(text)] == words


def test_tokenize_records_positions_and_quoting() -> None:
    assert tokenize(' "a b" c\\ d') == [
        Token("a b", 1, 6, quoted=True),
        Token("c d", 7, 11, quoted=False),
    ]


@pytest.mark.parametrize(
    ("text", "mark"), [('"abc', '"'), ("a 'b", "'"), ("“abc", "“"), ("「abc」 「x", "「")]
)
def test_tokenize_refuses_an_unclosed_quote(text: str, mark: str) -> None:
    with pytest.raises(UserError) as caught:
        tokenize(text)
    assert caught.value.key == "parse.unclosed_quote"
    assert caught.value.params == {"quote": mark}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("a b", '"a b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a\\b", '"a\\\\b"'),
        ("don't", '"don\'t"'),
        ("“x”", '"“x”"'),
        ("中文", "中文"),
    ],
)
def test_quote(value: str, written: str) -> None:
    assert quote(value) == written
    assert [token.value for token in tokenize(written)] == [value]


@given(st.lists(st.text()))
def test_quote_then_tokenize_gives_the_words_back(words: list[str]) -> None:
    line = " ".join(quote(word) for word in words)
    assert [token.value for token in tokenize(line)] == words


@given(st.text())
def test_tokenize_never_fails_but_with_a_user_error(text: str) -> None:
    try:
        tokens = tokenize(text)
    except UserError as exc:
        assert exc.key == "parse.unclosed_quote"
        return
    for token in tokens:
        assert 0 <= token.start < token.end <= len(text)


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h30m", 5_400),
        ("45m", 2_700),
        ("2d", 172_800),
        ("1w2d", 9 * 86_400),
        ("90s", 90),
        (" 1H 30M ", 5_400),
        ("1h 30m", 5_400),
        ("1w1d1h1m1s", 694_861),
        ("0h5m", 300),
        ("000001s", 1),
        ("3660d", int(MAX_DURATION.total_seconds())),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text, option="every") == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "parse.duration"),
        ("   ", "parse.duration"),
        ("0m", "parse.duration_range"),
        ("0h0m", "parse.duration_range"),
        ("1m1h", "parse.duration"),
        ("1h1h", "parse.duration"),
        ("abc", "parse.duration"),
        ("-5m", "parse.duration"),
        ("1.5h", "parse.duration"),
        ("90", "parse.duration"),
        ("h", "parse.duration"),
        ("1h30", "parse.duration"),
        ("1y", "parse.duration"),
        ("1h\t30m", "parse.duration"),
        ("1234567s", "parse.duration"),
        ("3661d", "parse.duration_range"),
        ("999999w", "parse.duration_range"),
        ("٣h", "parse.duration"),  # digits are ASCII digits: not Arabic-Indic,
        ("１h", "parse.duration"),  # nor full-width
    ],
)
def test_parse_duration_refuses(text: str, key: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_duration(text, option="every")
    assert caught.value.key == key
    assert caught.value.params["option"] == "every"
    assert caught.value.params["value"] == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=5_400), "1h30m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=9), "1w2d"),
        (timedelta(hours=24), "1d"),
        (MAX_DURATION, "522w6d"),
        (timedelta(seconds=1.9), "1s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=-5), "0s"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@given(st.integers(min_value=1, max_value=int(MAX_DURATION.total_seconds())))
def test_format_then_parse_duration_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


@given(st.text())
def test_parse_duration_never_fails_but_with_a_user_error(text: str) -> None:
    try:
        value = parse_duration(text, option="every")
    except UserError as exc:
        assert exc.key in ("parse.duration", "parse.duration_range")
        assert exc.params["option"] == "every"
    else:
        assert timedelta(0) < value <= MAX_DURATION


# --- dates and times ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03T19:30:00+01:00", utc(2026, 12, 3, 18, 30)),
        ("2026-12-03T19:30+08:00", utc(2026, 12, 3, 11, 30)),
        ("2026-12-03T19:30:00-05:00", utc(2026, 12, 4, 0, 30)),
        ("2026-12-03T19:30Z", utc(2026, 12, 3, 19, 30)),
        ("2026-12-03T19:30", utc(2026, 12, 3, 18, 30)),
        ("2026-07-04T19:30", utc(2026, 7, 4, 17, 30)),
        ("2026-12-03 19:30", utc(2026, 12, 3, 18, 30)),
        ("2026-12-03 19:30:15", utc(2026, 12, 3, 18, 30, 15)),
        ("2026-7-4 9:05", utc(2026, 7, 4, 7, 5)),
        ("2026-12-03", utc(2026, 12, 2, 23, 0)),
        ("2026-12-03 19:30 Asia/Shanghai", utc(2026, 12, 3, 11, 30)),
        ("2026-12-03 19:30 America/New_York", utc(2026, 12, 4, 0, 30)),
        ("2026-12-03 19:30 +08:00", utc(2026, 12, 3, 11, 30)),
        ("2026-12-03 19:30 +0530", utc(2026, 12, 3, 14, 0)),
        ("2026-12-03 19:30 UTC+8", utc(2026, 12, 3, 11, 30)),
        ("2026-12-03 19:30 -05:00", utc(2026, 12, 4, 0, 30)),
        ("2026-12-03 19:30 UTC", utc(2026, 12, 3, 19, 30)),
        ("2026-12-03 19:30 utc", utc(2026, 12, 3, 19, 30)),
        ("today 19:30", utc(2026, 11, 21, 18, 30)),
        ("tomorrow 19:30", utc(2026, 11, 22, 18, 30)),
        ("Tomorrow 9:00", utc(2026, 11, 22, 8, 0)),
        ("tomorrow", utc(2026, 11, 21, 23, 0)),
        ("明天 19:30", utc(2026, 11, 22, 18, 30)),
        ("后天 8:00", utc(2026, 11, 23, 7, 0)),
        ("19:30", utc(2026, 11, 21, 18, 30)),
        ("19:30 tomorrow", utc(2026, 11, 22, 18, 30)),
        ("19:30+01:00", utc(2026, 11, 21, 18, 30)),
        ("today 19:30 Asia/Shanghai", utc(2026, 11, 21, 11, 30)),
        ("in 2h", utc(2026, 11, 21, 14, 0)),
        ("in 1h30m", utc(2026, 11, 21, 13, 30)),
        ("in 1h 30m", utc(2026, 11, 21, 13, 30)),
        ("In 45M", utc(2026, 11, 21, 12, 45)),
        ("+ 1d", utc(2026, 11, 22, 12, 0)),
        # The clocks go back on 2026-10-25: 02:30 happens twice; the first one is meant.
        ("2026-10-25 02:30", utc(2026, 10, 25, 0, 30)),
        # The clocks go forward on 2026-03-29: 02:00-03:00 is skipped, 03:30 exists.
        ("2026-03-29 03:30", utc(2026, 3, 29, 1, 30)),
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    result = parse_datetime(text, tz=BERLIN, now=NOW, option="when")
    assert result == expected
    assert result.utcoffset() == timedelta(0)


def test_parse_datetime_reads_today_in_the_callers_zone() -> None:
    late = utc(2026, 11, 21, 23, 30)  # already 00:30 on the 22nd in Berlin
    assert parse_datetime("today 19:30", tz=BERLIN, now=late) == utc(2026, 11, 22, 18, 30)
    assert parse_datetime("today 19:30", tz=ZoneInfo("UTC"), now=late) == utc(2026, 11, 21, 19, 30)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2026-02-30 10:00", "parse.datetime_invalid"),
        ("2026-13-01", "parse.datetime_invalid"),
        ("0000-01-01", "parse.datetime_invalid"),
        ("2026-03-29 02:30", "parse.datetime_gap"),
        ("2026-03-29T02:00", "parse.datetime_gap"),
        ("25:00", "parse.datetime_invalid"),
        ("tomorrow 24:00", "parse.datetime_invalid"),
        ("12:60", "parse.datetime_invalid"),
        ("12:30:60", "parse.datetime_invalid"),
        ("next week", "parse.datetime"),
        ("", "parse.datetime"),
        ("   ", "parse.datetime"),
        ("in", "parse.datetime"),
        ("2026-12-03 19:30 Mars/Base", "parse.datetime"),
        ("2026-12-03 19:30 Europe/../etc", "parse.datetime"),
        ("2026-12-03 19:30 +15:00", "parse.datetime"),
        ("19:30+15:00", "parse.datetime"),
        ("2026-12-03 2026-12-04", "parse.datetime"),
        ("today tomorrow", "parse.datetime"),
        ("19:30 20:30", "parse.datetime"),
        ("2026/12/03", "parse.datetime"),
        # Not a date at all is said before "not a real date".
        ("2026-02-30 Talk", "parse.datetime"),
        ("25:00 19:30", "parse.datetime"),
        ("in soon", "parse.duration"),
        ("in 0m", "parse.duration_range"),
        # So close to the ends of the calendar that the UTC time would leave it.
        ("0001-01-01 00:30", "parse.datetime_invalid"),
        ("0001-01-01 00:00 +05:00", "parse.datetime_invalid"),
        ("9999-12-31 23:59 -05:00", "parse.datetime_invalid"),
        ("٢٠٢٦-١٢-٠٣ 19:30", "parse.datetime"),
        ("2026-12-03 19:30 Europe/" + "x" * 300, "parse.datetime"),  # too long for a file name
        ("2026-12-03 19:30 Europe/" + "x" * 250, "parse.datetime"),
        ("2026-12-03 １９:３０", "parse.datetime"),
        ("2026-12-03 19:30 +٠٨:٠٠", "parse.datetime"),
    ],
)
def test_parse_datetime_refuses(text: str, key: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_datetime(text, tz=BERLIN, now=NOW, option="when")
    assert caught.value.key == key
    assert caught.value.params["option"] == "when"


whole_minutes = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(second=0, microsecond=0))


@given(whole_minutes, st.sampled_from(ZONES))
def test_iso_format_round_trips(moment: datetime, zone: ZoneInfo) -> None:
    text = moment.astimezone(zone).isoformat()
    assert parse_datetime(text, tz=BERLIN, now=NOW) == moment


@given(whole_minutes, st.sampled_from(ZONES))
def test_local_wall_time_round_trips(moment: datetime, zone: ZoneInfo) -> None:
    wall = moment.astimezone(zone)
    result = parse_datetime(wall.strftime("%Y-%m-%d %H:%M"), tz=zone, now=NOW)
    ambiguous = wall.replace(fold=1 - wall.fold).utcoffset() != wall.utcoffset()
    if ambiguous:
        # A wall time the clocks show twice means the first of the two.
        assert result == wall.replace(fold=0).astimezone(UTC)
    else:
        assert result == moment


@given(whole_minutes, st.sampled_from(ZONES))
def test_wall_time_with_a_written_zone_round_trips(moment: datetime, zone: ZoneInfo) -> None:
    wall = moment.astimezone(zone)
    offset = wall.strftime("%z")
    text = f"{wall:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"
    assert parse_datetime(text, tz=BERLIN, now=NOW) == moment


@given(st.text(), st.sampled_from(ZONES))
def test_parse_datetime_never_fails_but_with_a_user_error(text: str, zone: ZoneInfo) -> None:
    try:
        value = parse_datetime(text, tz=zone, now=NOW, option="when")
    except UserError as exc:
        assert exc.params["option"] == "when"
    else:
        assert value.utcoffset() == timedelta(0)


calendar_days = st.one_of(
    st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-29", "2028-02-29", "2026-03-29"]),
    st.builds("{:04d}-{}-{}".format, st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32)),
)
date_shaped = st.builds(
    "{} {}:{:02d} {}".format,
    calendar_days,
    st.integers(0, 25),
    st.integers(0, 60),
    st.sampled_from(["", "UTC", "+14:00", "-12:00", "+05:30", "Pacific/Kiritimati", "Etc/GMT+12"]),
)


@given(date_shaped, st.sampled_from(ZONES))
def test_date_shaped_text_never_fails_but_with_a_user_error(text: str, zone: ZoneInfo) -> None:
    try:
        value = parse_datetime(text, tz=zone, now=NOW, option="when")
    except UserError as exc:
        assert exc.key in ("parse.datetime_invalid", "parse.datetime_gap")
    else:
        assert value.utcoffset() == timedelta(0)


# --- members -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@123456789012345678>", Mention(MentionKind.USER_ID, "123456789012345678")),
        ("<@!123456789012345678>", Mention(MentionKind.USER_ID, "123456789012345678")),
        ("  <@12345>  ", Mention(MentionKind.USER_ID, "12345")),
        ("500", Mention(MentionKind.USER_ID, "500")),
        ("@alice", Mention(MentionKind.USERNAME, "alice")),
        ("@Alice_B.c", Mention(MentionKind.USERNAME, "Alice_B.c")),
        ("bob", Mention(MentionKind.USERNAME, "bob")),
        ("@12345", Mention(MentionKind.USERNAME, "12345")),
    ],
)
def test_parse_mention(text: str, expected: Mention) -> None:
    assert parse_mention(text, option="member") == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "@",
        "<@12>",
        "<@abc>",
        "<#123456>",
        "<@&123456>",
        "1abc",
        "@bad name",
        "@名字",
        "<@١٢٣٤٥>",
        "١٢٣٤٥",
        "1" * 26,
    ],
)
def test_parse_mention_refuses(text: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_mention(text, option="member")
    assert caught.value.key == "parse.member"
    assert caught.value.params == {"option": "member", "value": text}


@given(
    st.integers(min_value=10_000, max_value=10**25 - 1), st.sampled_from(["<@{}>", "<@!{}>", "{}"])
)
def test_discord_ids_round_trip(user_id: int, form: str) -> None:
    assert parse_mention(form.format(user_id)) == Mention(MentionKind.USER_ID, str(user_id))


@given(st.from_regex(r"[A-Za-z0-9_.]{1,64}", fullmatch=True))
def test_usernames_round_trip(name: str) -> None:
    assert parse_mention(f"@{name}") == Mention(MentionKind.USERNAME, name)


@given(st.text())
def test_parse_mention_never_fails_but_with_a_user_error(text: str) -> None:
    try:
        mention = parse_mention(text)
    except UserError as exc:
        assert exc.key == "parse.member"
    else:
        assert mention.value
        assert mention.value.isascii()


# --- single values -----------------------------------------------------------------------------

INTEGER = Option("count", OptionKind.INTEGER, "d", min_value=-5, max_value=5000)


@pytest.mark.parametrize(
    ("raw", "value"), [("3", 3), (" -5 ", -5), ("+7", 7), ("1_000", 1000), ("1,000", 1000)]
)
def test_parse_value_integer(raw: str, value: int) -> None:
    assert parse_value(INTEGER, raw, tz=BERLIN, now=NOW) == value


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("", "parse.integer"),
        ("abc", "parse.integer"),
        ("1.5", "parse.integer"),
        ("1e3", "parse.integer"),
        ("1" * 19, "parse.integer"),
        ("²", "parse.integer"),  # str.isdigit() says yes; int() refuses it
        ("٣", "parse.integer"),  # int() reads it as 3
        ("１２", "parse.integer"),
        (str(10**30), "parse.integer"),
        ("5001", "parse.integer_range"),
        ("-6", "parse.integer_range"),
    ],
)
def test_parse_value_integer_refuses(raw: str, key: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_value(INTEGER, raw, tz=BERLIN, now=NOW)
    assert caught.value.key == key
    assert caught.value.params["option"] == "count"


def test_integer_range_error_names_its_bounds() -> None:
    unbounded_below = Option("count", OptionKind.INTEGER, "d", max_value=10)
    with pytest.raises(UserError) as caught:
        parse_value(unbounded_below, "11", tz=BERLIN, now=NOW)
    assert caught.value.params == {"option": "count", "low": "-∞", "high": "10"}


def test_parse_value_text_is_trimmed_and_limited() -> None:
    assert parse_value(SHORT[0], "  abc  ", tz=BERLIN, now=NOW) == "abc"
    with pytest.raises(UserError) as caught:
        parse_value(SHORT[0], "abcdef", tz=BERLIN, now=NOW)
    assert (caught.value.key, caught.value.params) == (
        "parse.too_long",
        {"option": "name", "limit": 5},
    )


@pytest.mark.parametrize("kind", list(OptionKind))
@pytest.mark.parametrize("raw", ["a\x00b", "\x00", "ab\ud800", "\udfff", "\ud83d"])
def test_every_kind_of_value_refuses_nul_and_lone_surrogates(kind: OptionKind, raw: str) -> None:
    choices = (Choice("a", "k"),) if kind is OptionKind.CHOICE else ()
    option = Option("field", kind, "d", choices=choices)
    with pytest.raises(UserError) as caught:
        parse_value(option, raw, tz=BERLIN, now=NOW)
    assert (caught.value.key, caught.value.params) == (
        "parse.unreadable_option",
        {"option": "field"},
    )


@pytest.mark.parametrize("line", ["/ask a\x00", "/\ud800", "/ask 😀 \udc00"])
def test_check_readable_refuses_a_line(line: str) -> None:
    with pytest.raises(UserError) as caught:
        check_readable(line)
    assert caught.value.key == "parse.unreadable"


@pytest.mark.parametrize("line", ["/ask 😀 中文 עברית \u202e \t", "/ask \x01\x7f\ufffd"])
def test_check_readable_keeps_other_text(line: str) -> None:
    check_readable(line)


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("a\x00b", "a\ufffdb"),
        ("\ud83d\ude00", "\ufffd\ufffd"),  # two halves, not a pair: Python keeps them apart
        ("😀 中文 \t\x01", "😀 中文 \t\x01"),
        ("plain ascii \t\x01\x7f", "plain ascii \t\x01\x7f"),  # the shortcut: kept as is
        ("\x00", "\ufffd"),  # ASCII, but a NUL
        ("é\x00\udc00", "é\ufffd\ufffd"),
    ],
)
def test_scrub_replaces_only_nul_and_lone_surrogates(text: str, clean: str) -> None:
    assert scrub(text) == clean


# --- whole argument lines ----------------------------------------------------------------------

GOOD_LINES: list[tuple[str, tuple[Option, ...], str, Mention | None, dict[str, OptionValue]]] = [
    (
        "quoted title",
        ASK,
        '"How do I x" details here',
        None,
        {"title": "How do I x", "details": "details here"},
    ),
    (
        "typographic quotes",
        ASK,
        "“How do I x” details",
        None,
        {"title": "How do I x", "details": "details"},
    ),
    (
        "cjk quotes",
        ASK,
        "「怎么 做」 细节 在这里",
        None,
        {"title": "怎么 做", "details": "细节 在这里"},
    ),
    ("only the first option", ASK, "Question", None, {"title": "Question"}),
    (
        "apostrophes",
        ASK,
        "Why don't my tests run",
        None,
        {"title": "Why", "details": "don't my tests run"},
    ),
    (
        "rest of line kept as typed",
        ASK,
        'Title keep  "its" \\raw  spacing',
        None,
        {"title": "Title", "details": 'keep  "its" \\raw  spacing'},
    ),
    ("one quoted last word", ASK, 'T "only one"', None, {"title": "T", "details": "only one"}),
    (
        "keyword then rest",
        ASK,
        'title:"A b" more words',
        None,
        {"title": "A b", "details": "more words"},
    ),
    ("keyword out of order", ASK, 'details:"d e" "T t"', None, {"details": "d e", "title": "T t"}),
    ("keyword any case", ASK, "TITLE:x y", None, {"title": "x", "details": "y"}),
    (
        "quoted keyword is literal",
        ASK,
        '"details: no option" rest',
        None,
        {"title": "details: no option", "details": "rest"},
    ),
    ("unknown keyword is literal", ASK, "note:x y", None, {"title": "note:x", "details": "y"}),
    (
        "keyword form",
        SCHEDULE,
        'title:"A b" when:"tomorrow 19:30"',
        None,
        {"title": "A b", "when": utc(2026, 11, 22, 18, 30)},
    ),
    (
        "keyword time",
        SCHEDULE,
        '"Team sync" when:19:30 minutes:90',
        None,
        {"title": "Team sync", "when": utc(2026, 11, 21, 18, 30), "minutes": 90},
    ),
    (
        "date of one word",
        SCHEDULE,
        "Sync 19:30 45",
        None,
        {"title": "Sync", "when": utc(2026, 11, 21, 18, 30), "minutes": 45},
    ),
    (
        "iso date of one word",
        SCHEDULE,
        "Sync 2026-12-03T19:30+01:00 45",
        None,
        {"title": "Sync", "when": utc(2026, 12, 3, 18, 30), "minutes": 45},
    ),
    (
        "date of two words",
        SCHEDULE,
        "Sync tomorrow 19:30 45",
        None,
        {"title": "Sync", "when": utc(2026, 11, 22, 18, 30), "minutes": 45},
    ),
    (
        "relative date",
        SCHEDULE,
        "Sync in 2h 30",
        None,
        {"title": "Sync", "when": utc(2026, 11, 21, 14, 0), "minutes": 30},
    ),
    (
        "date of three words",
        SCHEDULE,
        "Sync 2026-12-03 19:30 Asia/Shanghai 45",
        None,
        {"title": "Sync", "when": utc(2026, 12, 3, 11, 30), "minutes": 45},
    ),
    (
        "optional left out",
        SCHEDULE,
        "Sync 2026-12-03 19:30",
        None,
        {"title": "Sync", "when": utc(2026, 12, 3, 18, 30)},
    ),
    (
        "date then text",
        LECTURE,
        "tomorrow 19:30 Team sync",
        None,
        {"when": utc(2026, 11, 22, 18, 30), "title": "Team sync"},
    ),
    (
        "unknown zone left to the text",
        LECTURE,
        "2026-12-03 19:30 Mars/Base",
        None,
        {"when": utc(2026, 12, 3, 18, 30), "title": "Mars/Base"},
    ),
    (
        "date with zone then text",
        LECTURE,
        "2026-12-03 19:30 UTC Team sync",
        None,
        {"when": utc(2026, 12, 3, 19, 30), "title": "Team sync"},
    ),
    (
        "keyword inside the rest",
        LECTURE,
        "hello when:tomorrow world",
        None,
        {"when": utc(2026, 11, 21, 23, 0), "title": "hello world"},
    ),
    (
        "member by name",
        KUDOS,
        "@bob thanks a lot",
        None,
        {"member": Mention(MentionKind.USERNAME, "bob"), "reason": "thanks a lot"},
    ),
    (
        "member by discord mention",
        KUDOS,
        "<@123456> great",
        None,
        {"member": Mention(MentionKind.USER_ID, "123456"), "reason": "great"},
    ),
    ("member from reply", KUDOS, "", ALICE, {"member": ALICE}),
    (
        "member from reply, then text",
        KUDOS,
        "great answer",
        ALICE,
        {"member": ALICE, "reason": "great answer"},
    ),
    (
        "explicit member beats reply",
        KUDOS,
        "@bob nice",
        ALICE,
        {"member": Mention(MentionKind.USERNAME, "bob"), "reason": "nice"},
    ),
    ("member from reply, then number", GIVE, "5", ALICE, {"member": ALICE, "amount": 5}),
    (
        "member and number",
        GIVE,
        "@bob 5",
        None,
        {"member": Mention(MentionKind.USERNAME, "bob"), "amount": 5},
    ),
    (
        "only a member, in a reply",
        WHOIS,
        "bob",
        ALICE,
        {"member": Mention(MentionKind.USERNAME, "bob")},
    ),
    (
        "duration then text",
        REMIND,
        '1h30m "stand up"',
        None,
        {"every": timedelta(minutes=90), "note": "stand up"},
    ),
    ("choice any case", PERIOD, "WEEK", None, {"period": "week"}),
    ("choice quoted", PERIOD, "“Month”", None, {"period": "month"}),
    ("nothing given, nothing needed", OPTIONAL, "   ", None, {}),
    ("emoji", OPTIONAL, "3 🎉 party", None, {"count": 3, "note": "🎉 party"}),
]


@pytest.mark.parametrize(
    ("options", "text", "reply_to", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in GOOD_LINES],
)
def test_parse_arguments(
    options: tuple[Option, ...],
    text: str,
    reply_to: Mention | None,
    expected: dict[str, OptionValue],
) -> None:
    assert parse_arguments(options, text, tz=BERLIN, now=NOW, reply_to=reply_to) == expected


BAD_LINES: list[tuple[str, tuple[Option, ...], str, Mention | None, str, str | None]] = [
    ("missing first", ASK, "", None, "parse.missing", "title"),
    ("missing date", SCHEDULE, "Sync", None, "parse.missing", "when"),
    ("missing member", KUDOS, "", None, "parse.missing", "member"),
    ("missing number", GIVE, "@bob", None, "parse.missing", "amount"),
    ("empty keyword", ASK, "title:", None, "parse.missing", "title"),
    ("too many", SCHEDULE, "Sync 19:30 45 extra", None, "parse.too_many", None),
    ("too many for a lone member", WHOIS, "@bob @carol", None, "parse.too_many", None),
    ("above range", SCHEDULE, "Sync 19:30 999", None, "parse.integer_range", "minutes"),
    ("below range", SCHEDULE, "Sync 19:30 0", None, "parse.integer_range", "minutes"),
    (
        "keyword out of range",
        SCHEDULE,
        "Sync 19:30 minutes:601",
        None,
        "parse.integer_range",
        "minutes",
    ),
    ("not a number", SCHEDULE, "Sync 19:30 abc", None, "parse.integer", "minutes"),
    ("not a date", SCHEDULE, "Sync next week", None, "parse.datetime", "when"),
    (
        "date in a dst gap",
        LECTURE,
        "2026-03-29 02:30 Team sync",
        None,
        "parse.datetime_gap",
        "when",
    ),
    (
        "hour out of range",
        LECTURE,
        "tomorrow 25:00 Team sync",
        None,
        "parse.datetime_invalid",
        "when",
    ),
    ("no such day", LECTURE, "2026-02-30 19:00 Talk", None, "parse.datetime_invalid", "when"),
    ("bad duration", REMIND, "1m1h note", None, "parse.duration", "every"),
    ("bad choice", PERIOD, "year", None, "parse.choice", "period"),
    ("given twice", SCHEDULE, "title:a title:b 19:30", None, "parse.duplicate", "title"),
    ("unclosed quote", ASK, '"How do I', None, "parse.unclosed_quote", None),
    ("too long", SHORT, "abcdef", None, "parse.too_long", "name"),
    ("bad member", KUDOS, "1abc thanks", None, "parse.member", "member"),
]


@pytest.mark.parametrize(
    ("options", "text", "reply_to", "key", "option"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_LINES],
)
def test_parse_arguments_refuses(
    options: tuple[Option, ...],
    text: str,
    reply_to: Mention | None,
    key: str,
    option: str | None,
) -> None:
    with pytest.raises(UserError) as caught:
        parse_arguments(options, text, tz=BERLIN, now=NOW, reply_to=reply_to)
    assert caught.value.key == key
    assert caught.value.params.get("option") == option


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("tomorrow 25:00 Team sync", "tomorrow 25:00"),
        ("2026-02-30 19:00 Talk", "2026-02-30 19:00"),
        ("2026-02-30 Talk", "2026-02-30"),
        ("2026-03-29 02:30 Europe/Berlin Talk", "2026-03-29 02:30 Europe/Berlin"),
    ],
)
def test_impossible_date_error_names_all_the_date_words(text: str, words: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_arguments(LECTURE, text, tz=ZoneInfo("UTC"), now=NOW)
    assert caught.value.params["value"] == words


def test_too_many_names_the_extra_words() -> None:
    with pytest.raises(UserError) as caught:
        parse_arguments(SCHEDULE, 'Sync 19:30 45 one "two three"', tz=BERLIN, now=NOW)
    assert caught.value.params == {"value": "one two three"}


line_pieces = st.one_of(
    st.sampled_from(
        [
            "@bob",
            "<@123456>",
            "5",
            "-1",
            "101",
            "tomorrow",
            "19:30",
            "25:00",
            "2026-03-29",
            "02:30",
            "2026-12-03T19:30+01:00",
            "Asia/Shanghai",
            "+08:00",
            "in",
            "2h",
            "1h30m",
            "week",
            "ALL",
            "member:",
            "when:",
            "note:",
            "amount:",
            '"',
            "'",
            "“",
            "”",
            "「",
            "\\",
            ":",
            "don't",
        ]
    ),
    st.text(max_size=6),
)


@settings(deadline=None)
@given(
    st.one_of(st.text(), st.lists(line_pieces, max_size=12).map(" ".join)),
    st.sampled_from([None, ALICE]),
)
def test_parse_arguments_never_fails_but_with_a_user_error(
    text: str, reply_to: Mention | None
) -> None:
    try:
        values = parse_arguments(EVERYTHING, text, tz=BERLIN, now=NOW, reply_to=reply_to)
    except UserError as exc:
        assert exc.key.startswith("parse.")
        return
    assert set(values) <= {option.name for option in EVERYTHING}
    assert isinstance(values["member"], Mention)
    assert isinstance(values["amount"], int)
    assert 1 <= values["amount"] <= 100
    assert isinstance(values["when"], datetime)
    assert isinstance(values["every"], timedelta)
    assert values["period"] in ("week", "all")


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("2027-03-06 09:00 America/New_York", "America/New_York"),
        ("2027-03-06T09:00 Asia/Shanghai", "Asia/Shanghai"),
        ("2027-03-06 09:00 UTC", "UTC"),
        ("2027-03-06 09:00", None),
        ("2027-03-06 09:00 +08:00", None),
        ("in 2h", None),
    ],
)
def test_a_zoned_datetime_keeps_the_zone_it_names(text: str, zone: str | None) -> None:
    value = parse_zoned_datetime(text, tz=BERLIN, now=NOW)
    assert value == parse_datetime(text, tz=BERLIN, now=NOW)
    assert (value.tzinfo.key if isinstance(value.tzinfo, ZoneInfo) else None) == zone
