"""Write lectures as an RFC 5545 iCalendar feed, with the VTIMEZONEs its times need."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.cogs.lectures._rules import Status
from bot.cogs.lectures._store import Occurrence

PRODID = "-//Cohort//Lectures//EN"
LINE_OCTETS = 75


@dataclass(frozen=True, slots=True)
class Series:
    """A lecture as the feed shows it: its first occurrence's details and all its occurrences."""

    id: int
    title: str
    speaker: str | None
    link: str | None
    tier: str | None
    timezone: str
    start: datetime
    duration: timedelta
    rrule: str | None
    created_at: datetime
    updated_at: datetime
    occurrences: tuple[Occurrence, ...]


def escape_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545, 3.3.11)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character (3.1)."""
    out: list[str] = []
    current = ""
    size = 0
    limit = LINE_OCTETS
    for ch in line:
        width = len(ch.encode())
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, LINE_OCTETS
        current += ch
        size += width
    out.append(current)
    return "\r\n".join(out)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y%m%dT%H%M%S")


def _offset(delta: timedelta | None) -> str:
    seconds = int((delta or timedelta(0)).total_seconds())
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    text += f"{secs}S" if secs or text == "PT" else ""
    return text


def _transitions(tz: ZoneInfo, first_year: int, last_year: int) -> list[tuple[datetime, bool]]:
    """Return the instants (UTC) at which ``tz`` changes offset, with whether DST starts."""
    found: list[tuple[datetime, bool]] = []
    at = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    before = at.astimezone(tz).utcoffset()
    step = timedelta(days=1)
    while at < end:
        after_at = at + step
        after = after_at.astimezone(tz).utcoffset()
        if after != before:
            low, high = at, after_at
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(tz).utcoffset() == before:
                    low = middle
                else:
                    high = middle
            change = high.replace(microsecond=0)
            found.append((change, bool(change.astimezone(tz).dst())))
            before = after
        at = after_at
    return found


@lru_cache(maxsize=64)
def vtimezone(name: str, first_year: int, last_year: int) -> tuple[str, ...]:
    """Return the lines of a VTIMEZONE for ``name`` that covers the years given."""
    tz = ZoneInfo(name)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{name}"]
    opening = datetime(first_year, 1, 1, tzinfo=UTC).astimezone(tz)
    offset = opening.utcoffset()
    # The rule in force at the start of the range, so that every time in it has an offset.
    lines += [
        "BEGIN:DAYLIGHT" if opening.dst() else "BEGIN:STANDARD",
        f"DTSTART:{opening.replace(tzinfo=None):%Y%m%dT%H%M%S}",
        f"TZOFFSETFROM:{_offset(offset)}",
        f"TZOFFSETTO:{_offset(offset)}",
        f"TZNAME:{escape_text(opening.tzname() or name)}",
        "END:DAYLIGHT" if opening.dst() else "END:STANDARD",
    ]
    for change, daylight in _transitions(tz, first_year, last_year):
        before = (change - timedelta(seconds=1)).astimezone(tz).utcoffset()
        after = change.astimezone(tz)
        # DTSTART is the wall-clock time of the change in the offset before it (3.6.5).
        wall = (change + (before or timedelta(0))).replace(tzinfo=None)
        kind = "DAYLIGHT" if daylight else "STANDARD"
        lines += [
            f"BEGIN:{kind}",
            f"DTSTART:{wall:%Y%m%dT%H%M%S}",
            f"TZOFFSETFROM:{_offset(before)}",
            f"TZOFFSETTO:{_offset(after.utcoffset())}",
            f"TZNAME:{escape_text(after.tzname() or name)}",
            f"END:{kind}",
        ]
    lines.append("END:VTIMEZONE")
    return tuple(lines)


def _description(speaker: str | None, link: str | None, labels: dict[str, str]) -> str:
    parts = []
    if speaker:
        parts.append(f"{labels['speaker']}: {speaker}")
    if link:
        parts.append(link)
    return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class _Frame:
    """What every VEVENT of one series shares."""

    uid: str
    tz: ZoneInfo
    stamp: datetime
    modified: datetime
    labels: dict[str, str]


def _event(
    frame: _Frame,
    *,
    start: datetime,
    duration: timedelta,
    title: str,
    speaker: str | None,
    link: str | None,
    rrule: str | None = None,
    exdates: Sequence[datetime] = (),
    recurrence_id: datetime | None = None,
    cancelled: bool = False,
) -> list[str]:
    tz = frame.tz
    lines = [
        "BEGIN:VEVENT",
        f"UID:{frame.uid}",
        f"DTSTAMP:{_utc(frame.stamp)}",
        f"LAST-MODIFIED:{_utc(frame.modified)}",
    ]
    if recurrence_id is not None:
        lines.append(f"RECURRENCE-ID;TZID={tz.key}:{_local(recurrence_id, tz)}")
    lines += [
        f"DTSTART;TZID={tz.key}:{_local(start, tz)}",
        f"DURATION:{_duration(duration)}",
        f"SUMMARY:{escape_text(title)}",
    ]
    description = _description(speaker, link, frame.labels)
    if description:
        lines.append(f"DESCRIPTION:{escape_text(description)}")
    if link:
        lines.append(f"URL:{link}")
    if rrule:
        lines.append(f"RRULE:{rrule}")
    if exdates:
        lines.append(f"EXDATE;TZID={tz.key}:" + ",".join(_local(at, tz) for at in sorted(exdates)))
    lines.append("STATUS:CANCELLED" if cancelled else "STATUS:CONFIRMED")
    lines.append("END:VEVENT")
    return lines


def _differs(occ: Occurrence, head: Series) -> bool:
    return (
        occ.start != occ.original_start
        or occ.duration != head.duration
        or occ.title != head.title
        or occ.speaker != head.speaker
        or occ.link != head.link
    )


def calendar(
    name: str,
    domain: str,
    series: Iterable[Series],
    *,
    now: datetime,
    labels: dict[str, str],
    show_links: bool,
) -> str:
    """Return the feed: one VEVENT per one-off lecture; a recurring one as RRULE + exceptions."""
    heads = list(series)
    body: list[str] = []
    zones: dict[str, tuple[int, int]] = {}
    for head in heads:
        tz = ZoneInfo(head.timezone)
        link = head.link if show_links or not head.tier else None
        years = [o.start.year for o in head.occurrences] + [head.start.year]
        low, high = zones.get(head.timezone, (min(years), max(years)))
        zones[head.timezone] = (min(low, *years), max(high, *years))
        frame = _Frame(f"lecture-{head.id}@{domain}", tz, now, head.updated_at, labels)
        if head.rrule is None:
            occ = head.occurrences[0] if head.occurrences else None
            body += _event(
                frame,
                start=occ.start if occ else head.start,
                duration=occ.duration if occ else head.duration,
                title=occ.title if occ else head.title,
                speaker=occ.speaker if occ else head.speaker,
                link=(occ.link if occ else head.link) if link else None,
                cancelled=occ is not None and occ.status is Status.CANCELLED,
            )
            continue
        cancelled = [o.original_start for o in head.occurrences if o.status is Status.CANCELLED]
        body += _event(
            frame,
            start=head.start,
            duration=head.duration,
            title=head.title,
            speaker=head.speaker,
            link=link,
            rrule=head.rrule,
            exdates=cancelled,
        )
        for occ in head.occurrences:
            if occ.status is Status.CANCELLED or not _differs(occ, head):
                continue
            body += _event(
                frame,
                start=occ.start,
                duration=occ.duration,
                title=occ.title,
                speaker=occ.speaker,
                link=occ.link if link else None,
                recurrence_id=occ.original_start,
            )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for zone, (low, high) in sorted(zones.items()):
        lines += vtimezone(zone, low - 1, high + 1)
    lines += body
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
