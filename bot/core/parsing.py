"""Parse the text a person types into typed values: words, durations, dates, member mentions.

Shared by every text platform (console, Telegram); Discord gives typed values already but its
free-text options go through the same functions. Every failure is a ``UserError`` naming the
option, never a bare exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from datetime import timezone as timezone_offset
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from bot.core.commands import Option, OptionKind
from bot.core.errors import UserError

_DURATION_UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION_RE = re.compile(r"(\d{1,6})([wdhms])", re.ASCII)
MAX_DURATION = timedelta(days=3660)


def parse_duration(text: str, *, option: str = "duration") -> timedelta:
    """Parse ``1h30m``, ``45m``, ``2d``, ``1w2d``, ``90s`` into a positive timedelta."""
    raw = text.strip().lower().replace(" ", "")
    if not raw:
        raise UserError("parse.duration", option=option, value=text)
    pos = 0
    seconds = 0
    seen: list[str] = []
    order = list(_DURATION_UNITS)
    for match in _DURATION_RE.finditer(raw):
        if match.start() != pos:
            break
        amount, unit = int(match.group(1)), match.group(2)
        if seen and order.index(unit) <= order.index(seen[-1]):
            raise UserError("parse.duration", option=option, value=text)
        seen.append(unit)
        seconds += amount * _DURATION_UNITS[unit]
        pos = match.end()
    if pos != len(raw) or not seen:
        raise UserError("parse.duration", option=option, value=text)
    result = timedelta(seconds=seconds)
    if result <= timedelta(0) or result > MAX_DURATION:
        raise UserError("parse.duration_range", option=option, value=text)
    return result


def format_duration(value: timedelta) -> str:
    """Write a timedelta the way ``parse_duration`` reads it (``1h30m``)."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts: list[str] = []
    for unit, size in _DURATION_UNITS.items():
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


# --- words -------------------------------------------------------------------------------------

# Phones turn straight quotes into typographic ones; accept those as the same quotes.
_OPENING = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」", "『": "』", "«": "»"}


@dataclass(frozen=True, slots=True)
class Token:
    """A word of the input, unquoted, with where it stood in the raw text."""

    value: str
    start: int
    end: int
    quoted: bool = False


def tokenize(text: str) -> list[Token]:
    """Split on white space; quotes group words and a backslash escapes the next character."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        buf: list[str] = []
        quoted = False
        while i < n and not text[i].isspace():
            ch = text[i]
            if ch == "\\" and i + 1 < n:
                buf.append(text[i + 1])
                i += 2
            elif ch in _OPENING and not (ch == "'" and i > start and text[i - 1].isalnum()):
                # (An apostrophe inside a word, as in "don't", is a letter, not a quote.)
                close = _OPENING[ch]
                j = i + 1
                inner: list[str] = []
                while j < n and text[j] != close:
                    if text[j] == "\\" and j + 1 < n and text[j + 1] in (close, "\\"):
                        j += 1
                    inner.append(text[j])
                    j += 1
                if j >= n:
                    raise UserError("parse.unclosed_quote", quote=ch)
                buf.extend(inner)
                quoted = True
                i = j + 1
            else:
                buf.append(ch)
                i += 1
        tokens.append(Token("".join(buf), start, i, quoted))
    return tokens


def quote(value: str) -> str:
    """Return ``value`` written so that ``tokenize`` reads it back as one token."""
    if value and not any(c.isspace() or c in _OPENING or c == "\\" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- dates and times ---------------------------------------------------------------------------

_DATE_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$", re.ASCII)
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$", re.ASCII)
_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE | re.ASCII)
_GLUED_RE = re.compile(r"^(\d{1,2}:\d{2}(?::\d{2})?)(Z|[+-]\d{1,2}(?::?\d{2})?)$", re.ASCII)
_ISO_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}T\d", re.ASCII)
_RELATIVE_DAYS = {"today": 0, "tomorrow": 1, "今天": 0, "明天": 1, "后天": 2}


def _zone(text: str) -> ZoneInfo | timezone_offset | None:
    """Read a zone name (``Europe/Berlin``, ``UTC``) or an offset (``+08:00``)."""
    if text.upper() in ("UTC", "Z", "GMT"):
        return ZoneInfo("UTC")
    match = _OFFSET_RE.match(text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        hours, minutes = int(match.group(2)), int(match.group(3) or 0)
        if hours > 14 or minutes > 59:
            return None
        return timezone_offset(sign * timedelta(hours=hours, minutes=minutes))
    if "/" in text and ".." not in text and len(text) <= 64:  # the longest zone name has 32
        try:
            return ZoneInfo(text)
        except (KeyError, ValueError, OSError):  # OSError: a name too long for a file name
            return None
    return None


def _localize(
    naive: datetime, tz: ZoneInfo | timezone_offset, *, option: str, raw: str
) -> datetime:
    """Attach ``tz`` to a wall-clock time, refusing times that a DST change skips."""
    aware = naive.replace(tzinfo=tz)
    try:
        back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    except OverflowError:  # a wall time so close to year 1 or 9999 that UTC leaves the range
        raise UserError("parse.datetime_invalid", option=option, value=raw) from None
    if back != naive:
        raise UserError("parse.datetime_gap", option=option, value=raw)
    return aware.astimezone(UTC)


def parse_datetime(text: str, *, tz: ZoneInfo, now: datetime, option: str = "when") -> datetime:
    """Parse a date and time in the caller's zone (or the one written) into aware UTC."""
    return _read_datetime(text, tz=tz, now=now, option=option)[0]


def parse_zoned_datetime(
    text: str, *, tz: ZoneInfo, now: datetime, option: str = "when"
) -> datetime:
    """Parse a date and time like ``parse_datetime``, kept in the zone the text names if any.

    ``2027-03-06 09:00 America/New_York`` gives 09:00 with ``ZoneInfo("America/New_York")``
    (what a series recurs in); text naming no zone, or only an offset, gives aware UTC.
    """
    instant, named = _read_datetime(text, tz=tz, now=now, option=option)
    if named is None:
        return instant
    try:
        return instant.astimezone(named)
    except OverflowError:  # the zone's wall clock leaves the years 1 to 9999: keep UTC
        return instant


def _read_datetime(
    text: str, *, tz: ZoneInfo, now: datetime, option: str
) -> tuple[datetime, ZoneInfo | None]:
    """Return the instant (aware UTC) a date and time names, and the zone name written, if any.

    Accepted: ISO 8601 with or without offset (``2026-12-03T19:30+01:00``), ``2026-12-03 19:30``,
    ``2026-12-03``, a trailing zone (``2026-12-03 19:30 Asia/Shanghai``, ``+08:00``),
    ``today 19:30``, ``tomorrow 19:30``, ``19:30`` (today), and ``in 2h`` / ``in 1h30m``.
    """
    raw = text
    words = text.replace("T", " ", 1).split() if _looks_iso(text) else text.split()
    if not words:
        raise UserError("parse.datetime", option=option, value=raw)
    lowered = [w.lower() for w in words]
    if lowered[0] in ("in", "+") and len(words) >= 2:
        return now.astimezone(UTC) + parse_duration("".join(words[1:]), option=option), None

    zone: ZoneInfo | timezone_offset = tz
    if len(words) >= 2:
        found = _zone(words[-1])
        if found is not None:
            zone = found
            words = words[:-1]
    # An offset glued to the time: 19:30+01:00 or 19:30Z.
    glued = _GLUED_RE.match(words[-1])
    if glued:
        found = _zone(glued.group(2))
        if found is None:
            raise UserError("parse.datetime", option=option, value=raw)
        zone = found
        words = [*words[:-1], glued.group(1)]

    local_today = now.astimezone(zone).date()
    day: date | None = None
    clock: time | None = None
    # A date or time that does not exist (2026-02-30, 25:00) is reported only once every word
    # has been read as part of a date: "2026-02-30 Talk" is not a date at all.
    not_real = False
    for word in words:
        low = word.lower()
        if day is None and low in _RELATIVE_DAYS:
            day = local_today + timedelta(days=_RELATIVE_DAYS[low])
            continue
        date_match = _DATE_RE.match(word)
        if day is None and clock is None and date_match:
            try:
                day = date(*(int(g) for g in date_match.groups()))
            except ValueError:
                day, not_real = local_today, True
            continue
        time_match = _TIME_RE.match(word)
        if clock is None and time_match:
            hour, minute = int(time_match.group(1)), int(time_match.group(2))
            second = int(time_match.group(3) or 0)
            if hour > 23 or minute > 59 or second > 59:
                clock, not_real = time(0, 0), True
            else:
                clock = time(hour, minute, second)
            continue
        raise UserError("parse.datetime", option=option, value=raw)
    if not_real:
        raise UserError("parse.datetime_invalid", option=option, value=raw)
    if day is None and clock is None:
        raise UserError("parse.datetime", option=option, value=raw)
    naive = datetime.combine(day or local_today, clock or time(0, 0))
    if isinstance(zone, ZoneInfo):
        return _localize(naive, zone, option=option, raw=raw), (None if zone is tz else zone)
    try:
        return naive.replace(tzinfo=zone).astimezone(UTC), None
    except OverflowError:
        raise UserError("parse.datetime_invalid", option=option, value=raw) from None


def _looks_iso(text: str) -> bool:
    return bool(_ISO_RE.match(text.strip()))


# --- members -----------------------------------------------------------------------------------


class MentionKind(StrEnum):
    """How a member was named."""

    USER_ID = "user_id"
    USERNAME = "username"


@dataclass(frozen=True, slots=True)
class Mention:
    """A member named in a command, not yet looked up."""

    kind: MentionKind
    value: str


_DISCORD_MENTION = re.compile(r"^<@!?([0-9]{5,25})>$")
_USERNAME = re.compile(r"^@?([A-Za-z0-9_.]{1,64})$")


def parse_mention(text: str, *, option: str = "member") -> Mention:
    """Read ``@username``, a Discord ``<@id>`` mention, or a numeric user id."""
    raw = text.strip()
    match = _DISCORD_MENTION.match(raw)
    if match:
        return Mention(MentionKind.USER_ID, match.group(1))
    if raw.isascii() and raw.isdigit() and len(raw) <= 25:
        return Mention(MentionKind.USER_ID, raw)
    match = _USERNAME.match(raw)
    if match and raw.startswith("@"):
        return Mention(MentionKind.USERNAME, match.group(1))
    if match and not raw[0].isdigit():
        return Mention(MentionKind.USERNAME, match.group(1))
    raise UserError("parse.member", option=option, value=text)


# --- whole argument lines ----------------------------------------------------------------------

OptionValue = str | int | datetime | timedelta | Mention

# A NUL ends text early in SQLite's functions and FTS5; a lone surrogate (half of a UTF-16 pair)
# cannot be written as UTF-8 at all, so neither the database nor any platform takes it.
_UNREADABLE_RE = re.compile("[\x00\ud800-\udfff]")


def unreadable(text: str) -> bool:
    """Say whether ``text`` holds a NUL or a lone surrogate: input Cohort refuses, never stores."""
    return _UNREADABLE_RE.search(text) is not None


def scrub(text: str) -> str:
    """Replace NULs and lone surrogates with U+FFFD, for text nobody can be asked to type again."""
    if text.isascii() and "\x00" not in text:
        # Every message comes here: ASCII text holds no surrogate, and these two checks (a
        # flag and a memchr) cost a tenth of the search (0.1 against 0.9 µs, 2026-12-07).
        return text
    return _UNREADABLE_RE.sub("\ufffd", text)


def check_readable(line: str) -> None:
    """Refuse a whole typed command line that holds a character no platform or database takes."""
    if unreadable(line):
        raise UserError("parse.unreadable")


def parse_value(option: Option, raw: str, *, tz: ZoneInfo, now: datetime) -> OptionValue:
    """Convert one option's text into its typed value, or raise a UserError naming it."""
    name = option.name
    if unreadable(raw):
        raise UserError("parse.unreadable_option", option=name)
    match option.kind:
        case OptionKind.TEXT:
            value = raw.strip()
            if not value:
                raise UserError("parse.missing", option=name)
            if len(value) > option.max_length:
                raise UserError("parse.too_long", option=name, limit=option.max_length)
            return value
        case OptionKind.INTEGER:
            text = raw.strip().replace("_", "").replace(",", "")
            if not re.fullmatch(r"[+-]?[0-9]{1,18}", text):  # fits 64 bits, ASCII digits only
                raise UserError("parse.integer", option=name, value=raw)
            number = int(text)
            low, high = option.min_value, option.max_value
            if (low is not None and number < low) or (high is not None and number > high):
                raise UserError(
                    "parse.integer_range",
                    option=name,
                    low="-∞" if low is None else str(low),
                    high="∞" if high is None else str(high),
                )
            return number
        case OptionKind.DURATION:
            return parse_duration(raw, option=name)
        case OptionKind.DATETIME:
            return parse_zoned_datetime(raw, tz=tz, now=now, option=name)
        case OptionKind.MEMBER:
            return parse_mention(raw, option=name)
        case OptionKind.CHOICE:
            wanted = raw.strip().lower()
            for choice in option.choices:
                if choice.value.lower() == wanted:
                    return choice.value
            allowed = ", ".join(c.value for c in option.choices)
            raise UserError("parse.choice", option=name, value=raw, allowed=allowed)
    raise AssertionError(option.kind)  # pragma: no cover


def parse_arguments(
    options: tuple[Option, ...],
    text: str,
    *,
    tz: ZoneInfo,
    now: datetime,
    reply_to: Mention | None = None,
) -> dict[str, OptionValue]:
    """Read a command's argument text into typed option values.

    Options are positional; ``name:value`` sets one by name. A date takes as many words as
    it needs (``2026-12-03 19:30 Europe/Berlin``); the last option, when it is text, takes the
    rest of the line. A missing member option is filled from the replied-to message.
    """
    tokens = tokenize(text)
    by_name = {o.name: o for o in options}
    values: dict[str, OptionValue] = {}
    positional: list[Token] = []
    for token in tokens:
        head, sep, rest = token.value.partition(":")
        # A quoted word is literal: "note: buy milk" is text, not the option ``note``.
        if sep and text[token.start] not in _OPENING and head.lower() in by_name:
            option = by_name[head.lower()]
            if option.name in values:
                raise UserError("parse.duplicate", option=option.name)
            values[option.name] = parse_value(option, rest, tz=tz, now=now)
        else:
            positional.append(token)

    pending = [o for o in options if o.name not in values]
    index = 0
    for position, option in enumerate(pending):
        if index >= len(positional):
            break
        is_last = position == len(pending) - 1
        if option.kind is OptionKind.TEXT and is_last:
            raw = _rest_of_line(text, positional[index:])
            values[option.name] = parse_value(option, raw, tz=tz, now=now)
            index = len(positional)
            break
        # Replying names the member already; only an explicit mention overrides it, so
        # "/kudos great answer" in a reply thanks the author, not someone called "great".
        if (
            option.kind is OptionKind.MEMBER
            and reply_to is not None
            and not is_last
            and not positional[index].value.startswith(("@", "<@"))
        ):
            continue
        if option.kind is OptionKind.DATETIME:
            index = _take_datetime(option, positional, index, values, tz=tz, now=now)
            continue
        values[option.name] = parse_value(option, positional[index].value, tz=tz, now=now)
        index += 1
    if index < len(positional):
        extra = " ".join(t.value for t in positional[index:])
        raise UserError("parse.too_many", value=extra[:100])

    for option in options:
        if option.name in values:
            continue
        if option.kind is OptionKind.MEMBER and reply_to is not None:
            values[option.name] = reply_to
        elif option.required:
            raise UserError("parse.missing", option=option.name)
    return values


def _rest_of_line(text: str, tokens: list[Token]) -> str:
    """Return the text the tokens were typed as, leaving out ``name:value`` words between them."""
    if len(tokens) == 1:
        return tokens[0].value
    parts = [text[tokens[0].start : tokens[0].end]]
    for before, token in pairwise(tokens):
        gap = text[before.end : token.start]
        parts.append(gap if not gap.strip() else " ")
        parts.append(text[token.start : token.end])
    return "".join(parts)


def _take_datetime(
    option: Option,
    tokens: list[Token],
    index: int,
    values: dict[str, OptionValue],
    *,
    tz: ZoneInfo,
    now: datetime,
) -> int:
    """Parse the longest run of up to three words that reads as a date; return the next index."""
    first_error: UserError | None = None
    # The most words that read as a date that does not exist ("2026-03-29 02:30" in a DST gap,
    # "tomorrow 25:00") are refused, not read as fewer words ("2026-03-29" at midnight).
    not_real: UserError | None = None
    for width in (3, 2, 1):
        if index + width > len(tokens):
            continue
        words = " ".join(t.value for t in tokens[index : index + width])
        try:
            value = parse_zoned_datetime(words, tz=tz, now=now, option=option.name)
        except UserError as exc:
            if exc.key in ("parse.datetime_gap", "parse.datetime_invalid"):
                not_real = not_real or exc
            first_error = first_error or exc
            continue
        if not_real is not None:
            raise not_real
        values[option.name] = value
        return index + width
    error = not_real or first_error
    assert error is not None
    raise error
