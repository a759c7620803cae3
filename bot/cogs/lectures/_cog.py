"""The lecture commands and the RSVP buttons; the work is done by LectureService."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.cogs.lectures import _members as members
from bot.cogs.lectures import _store as store
from bot.cogs.lectures._render import RSVP_ACTION, Voice, listing_line
from bot.cogs.lectures._repeat import parse_repeat
from bot.cogs.lectures._rules import MAX_AHEAD, Rsvp, Scope, normalize_code
from bot.cogs.lectures._service import Changes, LectureService
from bot.cogs.lectures._store import NewLecture, Occurrence
from bot.core.buttons import payload_fields, payload_int
from bot.core.cohort import Cohort
from bot.core.commands import ActionSpec, Choice, CommandSpec, Option, OptionKind, Permission
from bot.core.config import OfferKind
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.identity import Account
from bot.core.replies import Reply

MAX_DURATION = timedelta(hours=12)
MAX_CAPACITY = 100_000
LIST_LIMIT = 10
_TIER_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CLEAR = "-"


def _voice(ctx: Context) -> Voice:
    return Voice(ctx.cohort.i18n, ctx.locale, ctx.tz, ctx.platform.name)


def _link(value: str | None) -> str | None:
    if value is None or value == CLEAR:
        return value
    if not re.match(r"^https?://\S+$", value):
        raise UserError("lectures.bad_link", value=value)
    return value


def _tier(ctx: Context, value: str | None) -> str | None:
    """Return a tier the community sells (lower-cased), or refuse naming those it does."""
    if value is None or value == CLEAR:
        return value
    tier = value.strip().lower()
    if not _TIER_RE.match(tier):
        raise UserError("lectures.bad_tier", value=value)
    sold = [o.id for o in ctx.community.config.offers if o.kind is OfferKind.TIER]
    if not sold:
        raise UserError("lectures.no_tiers", value=value)
    if tier not in sold:
        raise UserError("lectures.unknown_tier", value=value, tiers=", ".join(sold))
    return tier


def _duration(value: timedelta | None) -> timedelta | None:
    if value is not None and value > MAX_DURATION:
        raise UserError("lectures.duration_range", hours=int(MAX_DURATION.total_seconds() // 3600))
    return value


def _cleared(value: str | None) -> str | None:
    """Return a text option as given, ``-`` as an empty string (which clears the field)."""
    return "" if value == CLEAR else value


class LecturesCog:
    """Answers the lecture commands for one bot."""

    def __init__(self, cohort: Cohort, service: LectureService) -> None:
        self.cohort = cohort
        self.service = service

    async def schedule(
        self,
        ctx: Context,
        title: str,
        when: datetime,
        duration: timedelta | None = None,
        speaker: str | None = None,
        link: str | None = None,
        tier: str | None = None,
        capacity: int | None = None,
        repeat: str | None = None,
    ) -> Reply:
        """Schedule a lecture (or a series) and announce it."""
        now = ctx.now()
        if when <= now:
            raise UserError("lectures.past")
        if when - now > MAX_AHEAD:
            raise UserError("lectures.too_far", years=MAX_AHEAD.days // 366)
        config = ctx.community.config.lectures
        link, tier = _link(link), _tier(ctx, tier)
        length = _duration(duration) or config.default_duration
        # The zone written with the time ("... America/New_York") is the series' own: it recurs
        # on that wall clock. Otherwise it is the organizer's (or the community's).
        zone = when.tzinfo if isinstance(when.tzinfo, ZoneInfo) else ctx.tz
        recurrence = parse_repeat(repeat or "", first=when, tz=zone, now=now)
        places = capacity if capacity is not None else config.capacity
        occurrences = await self.service.schedule(
            NewLecture(
                community_id=ctx.community.id,
                title=title,
                starts=recurrence.starts,
                rrule=recurrence.rrule,
                timezone=zone.key,
                duration=length,
                speaker=speaker if speaker != CLEAR else None,
                link=link if link != CLEAR else None,
                tier=tier if tier != CLEAR else None,
                capacity=places or None,
                origin=ctx.channel,
                created_by=ctx.member.id,
            )
        )
        voice = _voice(ctx)
        first = occurrences[0]
        lines = [ctx.t("lectures.scheduled.text", title=title, id=first.id)]
        lines.append(ctx.t("lectures.post.when", when=voice.when(first.start)))
        if len(occurrences) > 1:
            lines.append(
                ctx.t(
                    "lectures.scheduled.series",
                    count=len(occurrences),
                    first=occurrences[0].id,
                    last=occurrences[-1].id,
                    until=voice.when(occurrences[-1].start),
                )
            )
        return Reply(text="\n".join(lines), ephemeral=True)

    async def list_upcoming(self, ctx: Context) -> Reply:
        """List the upcoming lectures the caller may see."""
        now = ctx.now()
        found = await store.upcoming(self.cohort.db, ctx.community.id, now, limit=0)
        visible: list[Occurrence] = []
        for occ in found:
            if await self.service.may_see(ctx.member.id, ctx.role, occ.tier, now):
                visible.append(occ)
            if len(visible) == LIST_LIMIT:
                break
        if not visible:
            return Reply(text=ctx.t("lectures.list.empty"), ephemeral=True)
        voice = _voice(ctx)
        lines = []
        for occ in visible:
            counts = await members.counts_of(self.cohort.db, occ.id)
            mine = await members.rsvp_of(self.cohort.db, occ.id, ctx.member.id)
            lines.append(listing_line(voice, occ, counts, mine))
        return Reply(title=ctx.plain("lectures.list.title"), text="\n".join(lines))

    async def cancel(self, ctx: Context, id: int, scope: str = Scope.THIS.value) -> Reply:
        """Cancel an occurrence or the rest of its series."""
        done = await self.service.cancel(ctx.community, id, Scope(scope))
        return Reply(
            text=ctx.t("lectures.cancel.done", title=done[0].title, count=len(done)),
            ephemeral=True,
        )

    async def move(
        self, ctx: Context, id: int, when: datetime, scope: str = Scope.THIS.value
    ) -> Reply:
        """Move an occurrence, or the rest of its series by the same shift."""
        done = await self.service.move(ctx.community, id, when, Scope(scope))
        voice = _voice(ctx)
        return Reply(
            text=ctx.t(
                "lectures.move.done",
                title=done[0].title,
                when=voice.when(done[0].start),
                count=len(done),
            ),
            ephemeral=True,
        )

    async def edit(
        self,
        ctx: Context,
        id: int,
        title: str | None = None,
        speaker: str | None = None,
        link: str | None = None,
        duration: timedelta | None = None,
        capacity: int | None = None,
        tier: str | None = None,
        scope: str = Scope.THIS.value,
    ) -> Reply:
        """Change the details of an occurrence or the rest of its series."""
        changes = Changes(
            title=title if title != CLEAR else None,
            speaker=_cleared(speaker),
            link=_cleared(_link(link)),
            duration=_duration(duration),
            capacity=capacity,
            tier=_cleared(_tier(ctx, tier)),
        )
        if changes == Changes():
            raise UserError("lectures.edit.nothing")
        done = await self.service.edit(ctx.community, id, changes, Scope(scope))
        return Reply(
            text=ctx.t("lectures.edit.done", title=done[0].title, count=len(done)),
            ephemeral=True,
        )

    async def code(self, ctx: Context, id: int) -> Reply:
        """Show an occurrence's check-in code and when it is accepted."""
        occ = await store.occurrence(self.cohort.db, ctx.community.id, id)
        if occ is None:
            raise UserError("lectures.not_found", id=id)
        voice = _voice(ctx)
        grace = ctx.community.config.lectures.checkin_grace
        attended = await members.attendees(self.cohort.db, occ.id)
        return Reply(
            text=ctx.t(
                "lectures.code.text",
                title=occ.title,
                code=occ.checkin_code,
                opens=voice.when(occ.start),
                closes=voice.when(occ.end + grace),
                attended=attended,
            ),
            ephemeral=True,
        )

    async def attend(self, ctx: Context, id: int, member: Account) -> Reply:
        """Mark a member as present by hand."""
        occ, added = await self.service.mark(ctx.community, id, member.member_id, ctx.member.id)
        key = "lectures.attend.done" if added else "lectures.attend.already"
        return Reply(text=ctx.t(key, name=member.display_name, title=occ.title), ephemeral=True)

    async def reminders(self, ctx: Context, setting: str) -> Reply:
        """Turn reminder DMs on or off for the caller."""
        on = setting == "on"
        await members.set_dm_reminders(self.cohort.db, ctx.community.id, ctx.member.id, on)
        return Reply(
            text=ctx.t("lectures.reminders.on" if on else "lectures.reminders.off"),
            ephemeral=True,
        )

    async def calendar(self, ctx: Context) -> Reply:
        """Give the caller the calendar feed addresses: the public one and their private one."""
        base = ctx.community.config.lectures.calendar_url or (
            f"http://{self.cohort.config.web.host}:{self.cohort.config.web.port}"
        )
        token = await members.calendar_token(self.cohort.db, ctx.community.id, ctx.member.id)
        slug = ctx.community.slug
        return Reply(
            text=ctx.t(
                "lectures.calendar.text",
                public=f"{base}/calendar/{slug}.ics",
                private=f"{base}/calendar/{slug}/{token}.ics",
            ),
            ephemeral=True,
        )

    async def checkin(self, ctx: Context, code: str) -> Reply:
        """Check in to the lecture going on, with the code its speaker gave."""
        occ = await self.service.checkin(
            ctx.community, ctx.member.id, ctx.role, normalize_code(code)
        )
        amount = ctx.community.config.points.attendance
        return Reply(
            text=ctx.t("lectures.checkin.done", title=occ.title, count=amount), ephemeral=True
        )

    async def press_rsvp(self, ctx: Context, payload: str) -> Reply:
        """Record the answer behind a going / maybe / not going button."""
        occurrence_text, status_text = payload_fields(payload, 2)
        occurrence_id = payload_int(occurrence_text)
        try:
            wanted = Rsvp(status_text)
        except ValueError:
            raise UserError("action.unknown") from None
        if wanted is Rsvp.WAITLIST:
            raise UserError("action.unknown")
        occ, status = await self.service.rsvp(
            ctx.community, occurrence_id, ctx.member.id, ctx.role, ctx.account.platform, wanted
        )
        return Reply(
            text=ctx.t(f"lectures.rsvp.answer_{status.value}", title=occ.title), ephemeral=True
        )

    # --- specs ------------------------------------------------------------------------------

    def actions(self) -> tuple[ActionSpec, ...]:
        """Return the RSVP button action."""
        return (ActionSpec(RSVP_ACTION, self.press_rsvp),)

    def commands(self) -> tuple[CommandSpec, ...]:
        """Return the specs of the lecture commands."""
        ident = Option("id", OptionKind.INTEGER, "lectures.option.id", min_value=1)
        scope = Option(
            "scope",
            OptionKind.CHOICE,
            "lectures.option.scope",
            required=False,
            choices=(
                Choice(Scope.THIS.value, "lectures.scope.this"),
                Choice(Scope.SERIES.value, "lectures.scope.series"),
            ),
        )

        def text(name: str, limit: int, *, required: bool = False) -> Option:
            return Option(
                name,
                OptionKind.TEXT,
                f"lectures.option.{name}",
                required=required,
                max_length=limit,
            )

        duration = Option(
            "duration", OptionKind.DURATION, "lectures.option.duration", required=False
        )
        capacity = Option(
            "capacity",
            OptionKind.INTEGER,
            "lectures.option.capacity",
            required=False,
            min_value=0,
            max_value=MAX_CAPACITY,
        )
        organizer = Permission.ORGANIZER
        return (
            CommandSpec(
                "lecture schedule",
                "lectures.schedule.description",
                self.schedule,
                options=(
                    text("title", 200, required=True),
                    Option("when", OptionKind.DATETIME, "lectures.option.when"),
                    duration,
                    text("speaker", 200),
                    text("link", 500),
                    text("tier", 64),
                    capacity,
                    text("repeat", 500),
                ),
                permission=organizer,
            ),
            CommandSpec(
                "lecture cancel",
                "lectures.cancel.description",
                self.cancel,
                options=(ident, scope),
                permission=organizer,
            ),
            CommandSpec(
                "lecture move",
                "lectures.move.description",
                self.move,
                options=(ident, Option("when", OptionKind.DATETIME, "lectures.option.when"), scope),
                permission=organizer,
            ),
            CommandSpec(
                "lecture edit",
                "lectures.edit.description",
                self.edit,
                options=(
                    ident,
                    text("title", 200),
                    text("speaker", 200),
                    text("link", 500),
                    duration,
                    capacity,
                    text("tier", 64),
                    scope,
                ),
                permission=organizer,
            ),
            CommandSpec(
                "lecture code",
                "lectures.code.description",
                self.code,
                options=(ident,),
                permission=organizer,
            ),
            CommandSpec(
                "lecture attend",
                "lectures.attend.description",
                self.attend,
                options=(ident, Option("member", OptionKind.MEMBER, "lectures.option.member")),
                permission=organizer,
            ),
            CommandSpec(
                "lecture reminders",
                "lectures.reminders.description",
                self.reminders,
                options=(
                    Option(
                        "setting",
                        OptionKind.CHOICE,
                        "lectures.option.setting",
                        choices=(
                            Choice("on", "lectures.reminders.choice_on"),
                            Choice("off", "lectures.reminders.choice_off"),
                        ),
                    ),
                ),
            ),
            CommandSpec("lecture calendar", "lectures.calendar.description", self.calendar),
            CommandSpec("lectures", "lectures.list.description", self.list_upcoming),
            CommandSpec(
                "checkin",
                "lectures.checkin.description",
                self.checkin,
                options=(text("code", 32, required=True),),
            ),
        )
