"""The running bot's services, handed to every cog's ``setup``: no global instance."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.buttons import ButtonCodec
from bot.core.clock import Clock
from bot.core.commands import ActionSpec, CommandRegistry, CommandSpec
from bot.core.community import Community
from bot.core.config import Config
from bot.core.dispatch import Dispatcher
from bot.core.events import EventBus
from bot.core.i18n import Translator
from bot.core.identity import Identity
from bot.core.platforms import PlatformName
from bot.core.ports import Platform
from bot.core.privacy import Privacy
from bot.core.services import Entitlements
from bot.core.supervise import Supervisor
from bot.core.versions import Versions
from bot.store.db import Database

log = logging.getLogger(__name__)


class NoEntitlements:
    """No one holds a tier: the answer until a gating cog is loaded."""

    async def tiers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        """Return no tiers."""
        return frozenset()


@dataclass(frozen=True, slots=True)
class RecurringJob:
    """Work a cog wants run every ``every``, by the runtime's scheduler."""

    id: str
    every: timedelta
    run: Callable[[], Awaitable[object]]
    # False: one process at a time runs it (an advisory lock on PostgreSQL); True: every
    # process runs it, the rows it works on being leased one by one (lecture deliveries).
    shared: bool = False


class Cohort:
    """Config, store, clock, translations, commands, events and platforms of one process."""

    def __init__(self, config: Config, db: Database, clock: Clock) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.i18n = Translator()
        self.registry = CommandRegistry()
        self.events = EventBus()
        self.versions = Versions(
            db, clock, staleness=timedelta(seconds=config.work.cache_staleness)
        )
        self.identity = Identity(
            db, clock, self.versions, link_code_ttl=config.identity.link_code_ttl
        )
        self.privacy = Privacy(db, clock, self.identity)
        self.buttons = ButtonCodec(db, clock)
        self.entitlements: Entitlements = NoEntitlements()
        self.dispatcher = Dispatcher(self)
        self.platforms: dict[PlatformName, Platform] = {}
        self.supervisor = Supervisor(config.supervise, clock)
        self.communities: dict[str, Community] = {}
        self.jobs: list[RecurringJob] = []
        self.startup: list[Callable[[], Awaitable[object]]] = []
        self.shutdown: list[Callable[[], Awaitable[object]]] = []
        self._owner = ""

    async def open(self) -> None:
        """Make sure every configured community has its row; call once before serving."""
        for community in self.config.communities:
            row_id = await self.identity.ensure_community(community.id, community.name)
            self.communities[community.id] = Community(row_id, community)

    def load_cogs(self, names: tuple[str, ...]) -> None:
        """Import each cog package and call its ``setup(cohort)``."""
        for name in names:
            module = importlib.import_module(name)
            self._owner = name
            try:
                module.setup(self)
            finally:
                self._owner = ""
            log.debug("loaded cog %s", name)

    def command(self, spec: CommandSpec) -> None:
        """Register a command for the cog being loaded."""
        self.registry.add(spec, owner=self._owner)

    def action(self, spec: ActionSpec) -> None:
        """Register a button action for the cog being loaded."""
        self.registry.add_action(spec)

    def every(
        self,
        job_id: str,
        every: timedelta,
        run: Callable[[], Awaitable[object]],
        *,
        shared: bool = False,
    ) -> None:
        """Ask the runtime to call ``run`` every ``every`` (``shared``: in each process at once)."""
        if any(job.id == job_id for job in self.jobs):
            raise ValueError(f"job {job_id!r} is registered twice")
        self.jobs.append(RecurringJob(job_id, every, run, shared))

    def on_start(self, run: Callable[[], Awaitable[object]]) -> None:
        """Ask the runtime to await ``run`` once everything is up (workers, catch-up)."""
        self.startup.append(run)

    def on_stop(self, run: Callable[[], Awaitable[object]]) -> None:
        """Ask the runtime to await ``run`` on shutdown, before the database closes."""
        self.shutdown.append(run)

    async def start(self) -> None:
        """Start the store's checkpointer, then run the cogs' start hooks in their order."""
        self.watch_store()
        for run in self.startup:
            await run()

    def watch_store(self) -> None:
        """Run the SQLite WAL's checkpointer, supervised as ``store.checkpoint`` (once)."""
        checkpointer = self.db.checkpointer
        if checkpointer is None or "store.checkpoint" in self.supervisor.watches:
            return
        watch = self.supervisor.run("store.checkpoint", checkpointer.run)
        watch.details = checkpointer.report
        checkpointer.on_done = watch.ok

    async def stop(self) -> None:
        """Run the cogs' stop hooks, last registered first; one failure does not stop the rest."""
        for run in reversed(self.shutdown):
            try:
                await run()
            except Exception:
                log.exception("a stop hook failed")

    def community_for(self, platform: PlatformName, space_id: str) -> Community | None:
        """Return the community a Discord guild or Telegram chat belongs to."""
        for community in self.communities.values():
            spaces = {
                PlatformName.DISCORD: community.config.discord_guilds,
                PlatformName.TELEGRAM: community.config.telegram_chats,
            }.get(platform, ())
            if space_id in spaces:
                return community
        return None
