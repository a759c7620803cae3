"""The dashboard's pages: read the figures through the analytics cog, render a template."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.cogs.analytics import Analytics, MemberSort, Segment
from bot.core.parsing import unreadable
from bot.web.dashboard import _pages as pages
from bot.web.dashboard import _people as people
from bot.web.dashboard._format import Formatter
from bot.web.dashboard._keys import ANALYTICS, COHORT, VIEWER
from bot.web.dashboard._model import PageView
from bot.web.dashboard._range import DateRange, parse_range
from bot.web.dashboard._render import render

log = logging.getLogger(__name__)

MAX_SEARCH = 100
MEMBERS_PER_PAGE = 50


@dataclass(frozen=True, slots=True)
class Ask:
    """What a page handler needs: the service, the community, the range, the formatter."""

    analytics: Analytics
    community_id: int
    range: DateRange
    fmt: Formatter
    query: str  # the range as GET parameters, for links that keep it
    offer_names: Mapping[str, str]  # offer id -> the name the community's config gives it


Builder = Callable[[Ask], Awaitable[PageView]]


async def _overview(ask: Ask) -> PageView:
    r = ask.range
    fig = await ask.analytics.overview(ask.community_id, r.start, r.end, ask.fmt.zone)
    return pages.overview(fig, ask.fmt)


async def _growth(ask: Ask) -> PageView:
    r = ask.range
    fig = await ask.analytics.growth(ask.community_id, r.start, r.end, ask.fmt.zone)
    return pages.growth(fig, ask.fmt)


async def _activity(ask: Ask) -> PageView:
    r = ask.range
    fig = await ask.analytics.activity(ask.community_id, r.start, r.end, ask.fmt.zone)
    mod = await ask.analytics.moderation(ask.community_id, r.start, r.end, ask.fmt.zone)
    return pages.activity(fig, mod, ask.fmt, ask.query)


async def _retention(ask: Ask) -> PageView:
    r = ask.range
    fig = await ask.analytics.retention(ask.community_id, r.start, r.end, ask.fmt.zone)
    return pages.retention(fig, ask.fmt)


async def _engagement(ask: Ask) -> PageView:
    r = ask.range
    # The scores and the recommender's reach are independent reads, each on its own pooled
    # connection: asked at once, SQLite runs them on two threads, not one after the other.
    fig, rec = await asyncio.gather(
        ask.analytics.engagement(ask.community_id, r.start, r.end, ask.fmt.zone),
        ask.analytics.recommender(ask.community_id, r.start, r.end, ask.fmt.zone),
    )
    return pages.engagement(fig, rec, ask.fmt, ask.query)


async def _qa(ask: Ask) -> PageView:
    r = ask.range
    fig = await ask.analytics.qa(ask.community_id, r.start, r.end, ask.fmt.zone)
    return pages.qa(fig, ask.fmt)


async def _lectures(ask: Ask) -> PageView:
    r = ask.range
    fig = await ask.analytics.lectures(ask.community_id, r.start, r.end, ask.fmt.zone)
    return pages.lectures(fig, ask.fmt)


async def _revenue(ask: Ask) -> PageView:
    r = ask.range
    fig = await ask.analytics.revenue(ask.community_id, r.start, r.end, ask.fmt.zone)
    return pages.revenue(fig, ask.fmt, ask.offer_names)


# The pages of the navigation, in order; "members" has its own handlers.
PAGES: dict[str, Builder] = {
    "overview": _overview,
    "growth": _growth,
    "activity": _activity,
    "retention": _retention,
    "engagement": _engagement,
    "qa": _qa,
    "lectures": _lectures,
    "revenue": _revenue,
}
NAVIGATION = (*PAGES, "members")


def _ask(request: web.Request) -> tuple[Ask, str | None]:
    cohort = request.app[COHORT]
    viewer = request[VIEWER]
    zone = viewer.community.tz
    chosen, error = parse_range(request.query, cohort.clock.now(), zone)
    fmt = Formatter(cohort.i18n, viewer.locale, zone)
    names = {o.id: o.name for o in viewer.community.config.offers}
    ask = Ask(request.app[ANALYTICS], viewer.community.id, chosen, fmt, chosen.query(), names)
    return ask, error


def _render(
    request: web.Request,
    template: str,
    slug: str,
    ask: Ask,
    view: PageView,
    errors: list[str],
    **extra: Any,
) -> web.Response:
    viewer = request[VIEWER]
    context: dict[str, Any] = {
        "slug": slug,
        "pages": NAVIGATION,
        "view": view,
        "range": ask.range,
        "query": ask.query,
        "errors": errors,
        "csrf": viewer.csrf,
        "community": viewer.community.config.name,
        "zone": viewer.community.config.timezone,
        "here": request.path_qs,
        **extra,
    }
    return render(request, template, context)


async def page(request: web.Request) -> web.StreamResponse:
    """Show one of the figure pages over the chosen date range."""
    slug = request.match_info.get("page", "overview")
    builder = PAGES.get(slug)
    if builder is None:
        raise web.HTTPNotFound()
    ask, error = _ask(request)
    view = await builder(ask)
    return _render(request, "page.html", slug, ask, view, [error] if error else [])


async def download(request: web.Request) -> web.StreamResponse:
    """Send one chart's or table's figures as CSV."""
    slug, table_id = request.match_info["page"], request.match_info["table"]
    ask, _error = _ask(request)
    if slug == "members":
        view = (await _members_view(request, ask))[0]
    elif slug in PAGES:
        view = await PAGES[slug](ask)
    else:
        raise web.HTTPNotFound()
    table = view.downloadable(table_id)
    if table is None:
        raise web.HTTPNotFound()
    name = f"{slug}-{table_id}-{ask.range.start.isoformat()}-{ask.range.end.isoformat()}.csv"
    return web.Response(
        body=("\ufeff" + table.csv()).encode(),  # the BOM makes spreadsheets read UTF-8
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _members_view(
    request: web.Request, ask: Ask
) -> tuple[PageView, dict[str, Any], list[str]]:
    errors: list[str] = []
    search = request.query.get("q", "").strip()
    if len(search) > MAX_SEARCH or unreadable(search):
        errors.append("dashboard.web.bad_search")
        search = ""
    try:
        sort = MemberSort(request.query.get("sort", MemberSort.ENGAGEMENT.value))
    except ValueError:
        errors.append("dashboard.web.bad_sort")
        sort = MemberSort.ENGAGEMENT
    try:
        segment = Segment(request.query.get("segment", Segment.ALL.value))
    except ValueError:
        errors.append("dashboard.web.bad_segment")
        segment = Segment.ALL
    raw_page = request.query.get("page", "1")
    number = int(raw_page) if raw_page.isdigit() and 0 < int(raw_page) < 100_000 else 1
    r = ask.range
    fig = await ask.analytics.members(
        ask.community_id,
        r.start,
        r.end,
        ask.fmt.zone,
        search=search,
        sort=sort,
        segment=segment,
        limit=MEMBERS_PER_PAGE,
        offset=(number - 1) * MEMBERS_PER_PAGE,
    )
    filters = {
        "q": search,
        "sort": sort.value,
        "segment": segment.value,
        "sorts": [s.value for s in MemberSort],
        "segments": [s.value for s in Segment],
        "number": number,
        "pages_total": max(1, -(-fig.total // MEMBERS_PER_PAGE)),
    }
    return people.members(fig, ask.fmt, ask.query), filters, errors


async def members(request: web.Request) -> web.StreamResponse:
    """Show the members list: search, sort, segment, pages of rows."""
    ask, error = _ask(request)
    view, filters, errors = await _members_view(request, ask)
    if error:
        errors.insert(0, error)
    kept = {k: str(filters[k]) for k in ("q", "sort", "segment")} | {"page": str(filters["number"])}
    csv_query = f"{ask.query}&{urlencode(kept)}"  # the download is the list on the screen
    return _render(
        request,
        "members.html",
        "members",
        ask,
        view,
        errors,
        filters=filters,
        csv_query=csv_query,
    )


async def member(request: web.Request) -> web.StreamResponse:
    """Show one member's page."""
    ask, error = _ask(request)
    member_id = int(request.match_info["member_id"])
    r = ask.range
    fig = await ask.analytics.member(ask.community_id, member_id, r.start, r.end, ask.fmt.zone)
    if fig is None:
        raise web.HTTPNotFound()
    view = people.member(fig, ask.fmt, ask.offer_names)
    return _render(
        request, "page.html", "members", ask, view, [error] if error else [], heading=fig.name
    )
