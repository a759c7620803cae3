"""A hand-computed community in America/New_York across the end of daylight saving time.

Local days 2026-10-30 (Friday, EDT, UTC-4) to 2026-11-03 (Tuesday, EST, UTC-5); the clocks went
back at 02:00 on Sunday 2026-11-01, so 01:30 happened twice that night.

- ana: Discord since 2026-10-20, links her Telegram account on 2026-10-31 (one member).
- bo: joins Telegram 2026-10-31, leaves 2026-11-02.
- cy: Discord, first seen by a message at 23:30 on 2026-11-01 (04:30 UTC on 2026-11-02).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.config import Config
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef
from tests.conftest import make_config

NY = ZoneInfo("America/New_York")
START = date(2026, 10, 30)
END = date(2026, 11, 3)
CLOCK_START = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)

ANA_D = Caller(PlatformName.DISCORD, "1001", "Ana")
ANA_T = Caller(PlatformName.TELEGRAM, "2001", "Ana T")
BO = Caller(PlatformName.TELEGRAM, "2002", "Bo")
CY = Caller(PlatformName.DISCORD, "1003", "Cy")
GENERAL = ChannelRef(PlatformName.DISCORD, "general")
GROUP = ChannelRef(PlatformName.TELEGRAM, "-1001234567890")
TOPIC = ChannelRef(PlatformName.TELEGRAM, "-1001234567890", "7")


def ny(y: int, mo: int, d: int, h: int, mi: int = 0, *, fold: int = 0) -> datetime:
    """Return a New York wall-clock time as a UTC instant."""
    return datetime(y, mo, d, h, mi, tzinfo=NY, fold=fold).astimezone(UTC)


def world_config(tmp_path: Path) -> Config:
    """Return the test config with the community in New York."""
    return make_config(tmp_path, community={"timezone": "America/New_York"})


# (when, what, who, where) in time order; "link" pairs the caller with ana's Discord account.
EVENTS: list[tuple[datetime, str, Caller, ChannelRef | None]] = [
    (ny(2026, 10, 20, 9), "join", ANA_D, None),
    (ny(2026, 10, 30, 20, 30), "message", ANA_D, GENERAL),
    (ny(2026, 10, 31, 8), "join", ANA_T, None),
    (ny(2026, 10, 31, 8, 30), "link", ANA_T, None),
    (ny(2026, 10, 31, 9), "message", ANA_T, TOPIC),
    (ny(2026, 10, 31, 10), "join", BO, None),
    (ny(2026, 10, 31, 11), "message", BO, GROUP),
    (ny(2026, 11, 1, 1, 30, fold=0), "message", ANA_D, GENERAL),
    (ny(2026, 11, 1, 1, 30, fold=1), "message", ANA_D, GENERAL),
    (ny(2026, 11, 1, 23, 30), "message", CY, GENERAL),
    (ny(2026, 11, 2, 12), "leave", BO, None),
    (ny(2026, 11, 3, 10), "message", CY, GENERAL),
]


async def play(cohort: Cohort, clock: ManualClock) -> None:
    """Feed the events to the bot as the adapters would, moving the clock along."""
    community = cohort.communities["demo"]
    space = {
        PlatformName.DISCORD: community.config.discord_guilds[0],
        PlatformName.TELEGRAM: community.config.telegram_chats[0],
    }
    dispatcher = cohort.dispatcher
    for n, (at, what, who, where) in enumerate(EVENTS):
        clock.advance(at - clock.now())
        if what == "join":
            await dispatcher.member_joined(community, who, space[who.platform])
        elif what == "leave":
            await dispatcher.member_left(community, who, space[who.platform])
        elif what == "link":
            ana = await cohort.identity.resolve(community.id, ANA_D)
            code = await cohort.identity.create_link_code(ana)
            mine = await cohort.identity.resolve(community.id, who)
            await cohort.identity.redeem_link_code(mine, code.code)
        else:
            assert where is not None
            await dispatcher.message_posted(community, who, where, f"m{n}", f"hello {n}", at)
