"""Start and stop everything one process runs: store, cogs, adapters, web app, scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from aiohttp import web
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.adapters.console import ConsoleAdapter
from bot.adapters.console._adapter import stdin_lines
from bot.cogs import DEFAULT_COGS
from bot.core import logs
from bot.core.clock import Clock, SystemClock
from bot.core.cohort import Cohort, RecurringJob
from bot.core.config import Config
from bot.core.errors import ConfigError
from bot.core.platforms import PlatformName
from bot.core.supervise import ExitCode
from bot.store.db import Database
from bot.store.locks import one_at_a_time
from bot.web.app import build_app
from bot.web.limits import server_options

if TYPE_CHECKING:
    from bot.adapters.discord import DiscordAdapter
    from bot.adapters.telegram import TelegramAdapter

log = logging.getLogger(__name__)

# Adapter packages by platform; a platform is started when its token is configured.
ADAPTER_MODULES = {
    PlatformName.DISCORD: "bot.adapters.discord",
    PlatformName.TELEGRAM: "bot.adapters.telegram",
}


def _require_adapters(config: Config) -> None:
    """Refuse a token for a platform whose adapter this build does not have."""
    tokens = {
        PlatformName.DISCORD: config.discord.token,
        PlatformName.TELEGRAM: config.telegram.token,
    }
    for platform, token in tokens.items():
        if token and importlib.util.find_spec(ADAPTER_MODULES[platform]) is None:
            raise ConfigError(
                f"{platform}.token",
                f"no token: this build of Cohort has no {platform} adapter yet",
                "a token",
            )


async def build(config: Config, *, clock: Clock | None = None) -> Cohort:
    """Open the database (migrated), sync communities and load the cogs."""
    db = Database(config.database.url)
    try:
        await db.upgrade()
        cohort = Cohort(config, db, clock or SystemClock())
        await cohort.open()
        cohort.load_cogs(DEFAULT_COGS)
    except BaseException:
        await db.close()
        raise
    return cohort


def start_scheduler(cohort: Cohort) -> AsyncIOScheduler:
    """Start APScheduler with every recurring job the cogs asked for, each one watched.

    A job's failure (APScheduler logs it at ERROR) and a missed run are recorded in the
    supervisor as ``job.<id>``; ``max_failures`` failures in a row give up on the process.
    """
    scheduler = AsyncIOScheduler(timezone=UTC)
    watches = {job.id: cohort.supervisor.watch(f"job.{job.id}") for job in cohort.jobs}

    def record(event: JobExecutionEvent) -> None:
        watch = watches.get(event.job_id)
        if watch is None or isinstance(event.exception, asyncio.CancelledError):
            return  # a run cut short by the shutdown
        if event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
            watch.skip("missed")
        elif event.exception is not None:
            watch.failed(event.exception)
        else:
            watch.ok()

    scheduler.add_listener(record, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    for job in cohort.jobs:
        scheduler.add_job(
            job.run if job.shared else _alone(cohort.db, job),
            IntervalTrigger(seconds=job.every.total_seconds(), timezone=UTC),
            id=job.id,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(job.every.total_seconds()),
        )
    scheduler.start()
    return scheduler


def _alone(db: Database, job: RecurringJob) -> Callable[[], Awaitable[object]]:
    """Wrap a job so that of several processes on one database one runs it at a time."""

    async def run() -> object:
        async with one_at_a_time(db, f"job:{job.id}") as mine:
            if not mine:
                log.debug("job %s: another process is running it", job.id)
                return None
            return await job.run()

    return run


async def start_web(cohort: Cohort, routes: Sequence[web.RouteDef] = ()) -> web.AppRunner | None:
    """Serve the web app when enabled; return its runner to clean up."""
    if not cohort.config.web.enabled:
        return None
    runner = web.AppRunner(
        build_app(cohort, routes),
        handle_signals=False,
        access_log=None,
        **server_options(cohort.config.web),
    )
    await runner.setup()
    host, port = cohort.config.web.host, cohort.config.web.port
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            "web.port", "an address and port free to listen on", f"{host}:{port} ({exc.strerror})"
        ) from None
    log.info("web app on http://%s:%s", host, port)
    return runner


async def serve(
    config: Config,
    *,
    lines: AsyncIterator[str] | None = None,
    out: TextIO | None = None,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run until the console input ends, /quit, SIGINT or SIGTERM; then shut down cleanly.

    Return the exit code: 0, or ``ExitCode`` when a supervised task gave up (2 for a token or
    setting refused while running, 3 after ``supervise.max_failures`` failures in a row).
    When the console runs, logs and warnings go to ``[console] log_file``, not into its chat.
    """
    _require_adapters(config)
    log_file = console_log_file(config)
    if log_file is None:
        return await _serve(config, lines=lines, out=out, clock=clock, stop=stop)
    with logs.diverted(log_file):
        return await _serve(config, lines=lines, out=out, clock=clock, stop=stop, log_file=log_file)


def console_log_file(config: Config) -> Path | None:
    """Return where the console's logs go (a file it may write), or None for standard error."""
    if config.has_platform_credentials() or not config.console.log_file:
        return None
    path = Path(config.console.log_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.open("a", encoding="utf-8").close()
    except OSError as exc:
        raise ConfigError(
            "console.log_file", "a file Cohort may write", f"{path} ({exc.strerror})"
        ) from None
    return path


async def _serve(
    config: Config,
    *,
    lines: AsyncIterator[str] | None,
    out: TextIO | None,
    clock: Clock | None,
    stop: asyncio.Event | None,
    log_file: Path | None = None,
) -> int:
    secrets = logs.secret_values(config)
    logs.protect(secrets)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)

    cohort = await build(config, clock=clock)
    cohort.supervisor.stop_with(stop)  # a task that cannot recover stops the process
    scheduler = start_scheduler(cohort)
    runner: web.AppRunner | None = None
    console: ConsoleAdapter | None = None
    console_task: asyncio.Task[None] | None = None
    telegram: TelegramAdapter | None = None
    discord: DiscordAdapter | None = None
    try:
        routes: list[web.RouteDef] = []
        if config.telegram.token:
            from bot.adapters.telegram import TelegramAdapter  # noqa: PLC0415 (only with a token)

            telegram = TelegramAdapter(cohort, config.telegram)
            cohort.platforms[PlatformName.TELEGRAM] = telegram
            routes += telegram.web_routes()
        if config.discord.token:
            from bot.adapters.discord import DiscordAdapter  # noqa: PLC0415 (only with a token)

            discord = DiscordAdapter(cohort, config.discord)
            cohort.platforms[PlatformName.DISCORD] = discord
        runner = await start_web(cohort, routes)
        if telegram is not None:
            await telegram.start()
        if discord is not None:
            await discord.start()
        await cohort.start()
        logs.protect(secrets)  # again: a library may have added a handler while starting
        # What starting loaded (modules, the libraries' tables, the config) lives as long as the
        # process: moved out of the collector's reach, a full collection no longer walks it
        # (about 100 ms at the dashboard's full size, paid by whichever request set it off).
        gc.freeze()
        if not config.has_platform_credentials():
            interactive = lines is None and sys.stdin.isatty()
            console = ConsoleAdapter(
                cohort,
                cohort.communities[config.console_community().id],
                user=config.console.user,
                out=out or sys.stdout,
                color=interactive,
                echo=not interactive,
                files_dir=Path.cwd() / "exports",
                log_file=log_file,
            )
            cohort.platforms[PlatformName.CONSOLE] = console
            if config.demo.enabled:  # /as discord:alice and telegram:alice; grants print here
                console.simulate(PlatformName.DISCORD)
                console.simulate(PlatformName.TELEGRAM)
            console_task = asyncio.create_task(
                console.run(lines or stdin_lines(), interactive=interactive)
            )
            console_task.add_done_callback(lambda _task: stop.set())
        await stop.wait()
    finally:
        log.info("shutting down")
        if console is not None:
            console.stopping = True
        scheduler.pause()  # no new sweeps or jobs; the ones running finish below
        # The cogs stop first, while the adapters can still send: a lecture delivery in hand is
        # posted, not dropped, and the gating worker's platform calls go through.
        await cohort.stop()
        if telegram is not None:
            await telegram.stop()  # no new updates; PTB finishes the ones in hand
        if discord is not None:
            await discord.stop()  # no new events; the interactions in hand get answered
        await cohort.dispatcher.drain()
        if console_task is not None and not console_task.done():
            console_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await console_task
        scheduler.shutdown(wait=False)
        if runner is not None:
            await runner.cleanup()
        await cohort.supervisor.close()
        await cohort.db.close()
        for sig in installed:
            loop.remove_signal_handler(sig)
    if console_task is not None and not console_task.cancelled() and console_task.exception():
        log.error("the console stopped on an error", exc_info=console_task.exception())
        return ExitCode.ERROR
    return cohort.supervisor.exit_code
