"""The lecture messages, written for one reader: a language, a time zone and a platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.cogs.lectures._members import Counts
from bot.cogs.lectures._rules import Rsvp, Status
from bot.cogs.lectures._store import Occurrence
from bot.core.i18n import Translator
from bot.core.platforms import PlatformName
from bot.core.replies import Button, ButtonStyle, Reply

RSVP_ACTION = "lectures.rsvp"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Voice:
    """Who a message is for: language, time zone and the platform that shows it."""

    i18n: Translator
    locale: str
    tz: ZoneInfo
    platform: PlatformName

    def t(self, key: str, /, **params: Any) -> str:
        """Translate ``key`` as reply markup."""
        return self.i18n.text(self.locale, key, **params)

    def plain(self, key: str, /, **params: Any) -> str:
        """Translate ``key`` as plain text."""
        return self.i18n.plain(self.locale, key, **params)

    def duration(self, value: timedelta) -> str:
        """Write a duration in words (``1 hour 30 minutes``, ``1 小时 30 分钟``)."""
        return self.i18n.duration(self.locale, value)

    def when(self, at: datetime) -> str:
        """Show a moment so that every reader understands it, as plain text.

        Discord renders ``<t:…>`` tokens in each reader's own zone and language; elsewhere the
        time is written in the reader's (or the community's) zone, with UTC beside it.
        """
        if self.platform is PlatformName.DISCORD:
            stamp = int(at.timestamp())
            return f"<t:{stamp}:F> (<t:{stamp}:R>)"
        local = at.astimezone(self.tz)
        utc = at.astimezone(UTC)
        utc_text = utc.strftime("%H:%M") if utc.date() == local.date() else f"{utc:%Y-%m-%d %H:%M}"
        return self.plain(
            "lectures.when",
            weekday=self.plain(f"lectures.weekday.{WEEKDAYS[local.weekday()]}"),
            date=f"{local:%Y-%m-%d}",
            time=f"{local:%H:%M}",
            zone=self.tz.key,
            utc=utc_text,
        )


def rsvp_buttons(voice: Voice, occ: Occurrence) -> tuple[Button, ...]:
    """Return the going / maybe / not going buttons of an occurrence."""
    return (
        Button(
            voice.plain("lectures.rsvp.going_button"),
            RSVP_ACTION,
            f"{occ.id}:{Rsvp.GOING.value}",
            ButtonStyle.SUCCESS,
        ),
        Button(voice.plain("lectures.rsvp.maybe_button"), RSVP_ACTION, f"{occ.id}:{Rsvp.MAYBE}"),
        Button(
            voice.plain("lectures.rsvp.no_button"),
            RSVP_ACTION,
            f"{occ.id}:{Rsvp.NOT_GOING.value}",
            ButtonStyle.DANGER,
        ),
    )


def _details(voice: Voice, occ: Occurrence, *, with_link: bool) -> list[str]:
    lines = [voice.t("lectures.post.when", when=voice.when(occ.start))]
    lines.append(voice.t("lectures.post.duration", duration=voice.duration(occ.duration)))
    if occ.speaker:
        lines.append(voice.t("lectures.post.speaker", speaker=occ.speaker))
    if occ.tier:
        lines.append(voice.t("lectures.post.tier", tier=occ.tier))
    if occ.link and (with_link or not occ.tier):
        lines.append(voice.t("lectures.post.link", link=occ.link))
    return lines


def _counts(voice: Voice, occ: Occurrence, counts: Counts) -> str:
    line = voice.t("lectures.post.counts", going=counts.going, maybe=counts.maybe, no=counts.no)
    if occ.capacity:
        line += "\n" + voice.t(
            "lectures.post.capacity",
            going=counts.going,
            capacity=occ.capacity,
            waitlist=counts.waitlist,
        )
    return line


def announcement(voice: Voice, occ: Occurrence, counts: Counts, *, now: datetime) -> Reply:
    """Return the announcement of an occurrence, with its RSVP counts and buttons."""
    title = voice.plain("lectures.post.title", title=occ.title)
    if occ.status is Status.CANCELLED:
        return Reply(
            title=title,
            text="\n".join(
                [voice.t("lectures.post.cancelled"), *_details(voice, occ, with_link=False)]
            ),
        )
    lines = _details(voice, occ, with_link=False)
    lines += [_counts(voice, occ, counts), voice.t("lectures.post.id", id=occ.id)]
    buttons = rsvp_buttons(voice, occ) if now < occ.end else ()
    return Reply(title=title, text="\n".join(lines), buttons=buttons)


def reminder(voice: Voice, occ: Occurrence, offset: timedelta, *, private: bool) -> Reply:
    """Return the reminder sent ``offset`` before an occurrence."""
    head = voice.t("lectures.reminder.text", title=occ.title, within=voice.duration(offset))
    lines = [head, *_details(voice, occ, with_link=private)]
    return Reply(text="\n".join(lines))


def starting(voice: Voice, occ: Occurrence, *, private: bool) -> Reply:
    """Return the "starting now" post; the private one carries the link and check-in code."""
    lines = [voice.t("lectures.start.text", title=occ.title)]
    if occ.link and (private or not occ.tier):
        lines.append(voice.t("lectures.post.link", link=occ.link))
    if private:
        lines.append(voice.t("lectures.start.code", code=occ.checkin_code))
    else:
        lines.append(voice.t("lectures.start.checkin"))
    return Reply(text="\n".join(lines))


def cancelled(voice: Voice, occ: Occurrence) -> Reply:
    """Return the notice that an occurrence is cancelled."""
    return Reply(
        text=voice.t("lectures.notice.cancelled", title=occ.title, when=voice.when(occ.start))
    )


def moved(voice: Voice, occ: Occurrence, before: datetime) -> Reply:
    """Return the notice that an occurrence moved."""
    return Reply(
        text=voice.t(
            "lectures.notice.moved",
            title=occ.title,
            before=voice.when(before),
            when=voice.when(occ.start),
        )
    )


def edited(voice: Voice, occ: Occurrence) -> Reply:
    """Return the notice that an occurrence's details changed."""
    lines = [voice.t("lectures.notice.edited", title=occ.title)]
    lines += _details(voice, occ, with_link=True)
    return Reply(text="\n".join(lines))


def promoted(voice: Voice, occ: Occurrence) -> Reply:
    """Return the notice that a place opened up for a waitlisted member."""
    return Reply(
        text=voice.t("lectures.notice.promoted", title=occ.title, when=voice.when(occ.start))
    )


def listing_line(voice: Voice, occ: Occurrence, counts: Counts, mine: Rsvp | None) -> str:
    """Return one line of ``/lectures``."""
    line = voice.t(
        "lectures.list.line",
        id=occ.id,
        title=occ.title,
        when=voice.when(occ.start),
        going=counts.going,
    )
    if occ.tier:
        line += " " + voice.t("lectures.list.tier", tier=occ.tier)
    if mine is not None:
        line += " " + voice.t(
            "lectures.list.mine", status=voice.plain(f"lectures.rsvp.{mine.value}")
        )
    return line
