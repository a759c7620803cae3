"""The ``cohort`` command: run the bot, migrate the database, check the config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import __version__
from bot.adapters.console._adapter import iterate
from bot.cogs import points
from bot.core.config import Config, load_config
from bot.core.errors import ConfigError
from bot.runtime import build, serve
from bot.store.db import Database, head_revision

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cohort", description="Run the Cohort community bot.")
    parser.add_argument("--version", action="version", version=f"cohort {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("COHORT_LOG_LEVEL", "WARNING"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log to standard error (default WARNING, or $COHORT_LOG_LEVEL)",
    )
    config_help = "the config file (default ./config.toml, or $COHORT_CONFIG)"
    default_config = os.environ.get("COHORT_CONFIG", "config.toml")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the bot (the local console when no token is set)")
    run.add_argument("--config", type=Path, default=Path(default_config), help=config_help)
    run.add_argument(
        "--script",
        type=Path,
        help="feed the console the lines of this file instead of the keyboard ('-' for stdin)",
    )

    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the migrations")
    upgrade.add_argument("--config", type=Path, default=Path(default_config), help=config_help)

    points = sub.add_parser("points", help="points commands")
    points_sub = points.add_subparsers(dest="points_command", required=True)
    rebuild = points_sub.add_parser(
        "rebuild", help="recompute balances and leaderboard totals from the ledger"
    )
    rebuild.add_argument("--config", type=Path, default=Path(default_config), help=config_help)
    rebuild.add_argument(
        "--dry-run", action="store_true", help="report differences without fixing them"
    )

    config = sub.add_parser("config", help="config commands")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate the config and summarise it")
    check.add_argument("--config", type=Path, default=Path(default_config), help=config_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.config)
        if args.command == "config":
            return _check(config)
        if args.command == "db":
            return asyncio.run(_upgrade(config))
        if args.command == "points":
            return asyncio.run(_rebuild(config, fix=not args.dry_run))
        return asyncio.run(_run(config, args.script))
    except ConfigError as exc:
        print(f"cohort: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _check(config: Config) -> int:
    print(f"{config.source}: OK")
    for line in config.describe():
        print(f"  {line}")
    return 0


async def _upgrade(config: Config) -> int:
    db = Database(config.database.url)
    try:
        await db.upgrade()
        print(f"database at revision {await db.current_revision()} (head {head_revision()})")
    finally:
        await db.close()
    return 0


async def _rebuild(config: Config, *, fix: bool) -> int:
    cohort = await build(config)
    try:
        for community in cohort.communities.values():
            differences = await points.rebuild(cohort.db, community, fix=fix)
            verb = "fixed" if fix else "found"
            print(f"{community.slug}: {len(differences)} difference(s) {verb}")
            for diff in differences[:50]:
                print(
                    f"  member #{diff.member_id} {diff.period}: kept {diff.kept}, "
                    f"ledger says {diff.ledger}"
                )
            if len(differences) > 50:
                print(f"  … and {len(differences) - 50} more")
    finally:
        await cohort.db.close()
    return 0


async def _run(config: Config, script: Path | None) -> int:
    if script is None or str(script) == "-":
        return await serve(config)
    try:
        with script.open(encoding="utf-8") as fh:
            return await serve(config, lines=iterate(fh))
    except OSError as exc:
        raise ConfigError("--script", "a readable file", f"{script} ({exc.strerror})") from None
