"""The ``cohort`` command: run the bot, migrate the database, check the config, train models."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__, demo
from bot.adapters.console._adapter import iterate
from bot.cogs import analytics, points
from bot.cogs.gating import _simulate as gating_simulate
from bot.core import logs
from bot.core.clock import SystemClock
from bot.core.config import Config, load_config, mask_url_password
from bot.core.errors import ConfigError
from bot.runtime import build, serve
from bot.store.copy import CopyError, copy_database
from bot.store.db import Database, head_revision

if TYPE_CHECKING:
    from bot.recommend import Dataset

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cohort", description="Run the Cohort community bot.")
    parser.add_argument("--version", action="version", version=f"cohort {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("COHORT_LOG_LEVEL", "WARNING"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help=(
            "how much to log to standard error, or to [console] log_file while the console "
            "runs (default WARNING, or $COHORT_LOG_LEVEL)"
        ),
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

    demo = sub.add_parser(
        "demo", help="try Cohort in the console: a demo community with pretend payments"
    )
    demo.add_argument(
        "--dir",
        type=Path,
        default=Path("demo"),
        help="the folder for the demo's config and database (default ./demo)",
    )
    demo.add_argument("--fresh", action="store_true", help="forget the demo and seed it anew")
    demo.add_argument(
        "--script",
        type=Path,
        help="feed the console the lines of this file instead of the keyboard ('-' for stdin)",
    )

    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the migrations")
    upgrade.add_argument("--config", type=Path, default=Path(default_config), help=config_help)
    copy = db_sub.add_parser(
        "copy",
        help="copy a whole database into a new, empty one (SQLite to PostgreSQL), verified",
    )
    copy.add_argument(
        "--from", dest="source", required=True, help="the source URL, like sqlite:///cohort.db"
    )
    copy.add_argument(
        "--to", dest="target", required=True, help="the target URL, like postgresql://u@host/db"
    )

    points = sub.add_parser("points", help="points commands")
    points_sub = points.add_subparsers(dest="points_command", required=True)
    rebuild = points_sub.add_parser(
        "rebuild", help="recompute balances and leaderboard totals from the ledger"
    )
    rebuild.add_argument("--config", type=Path, default=Path(default_config), help=config_help)
    rebuild.add_argument(
        "--dry-run", action="store_true", help="report differences without fixing them"
    )

    stats = sub.add_parser("analytics", help="analytics commands")
    stats_sub = stats.add_subparsers(dest="analytics_command", required=True)
    stats_rebuild = stats_sub.add_parser(
        "rebuild", help="recount the analytics rollups from the message log"
    )
    stats_rebuild.add_argument(
        "--config", type=Path, default=Path(default_config), help=config_help
    )

    rec = sub.add_parser("recommend", help="course recommender commands")
    rec_sub = rec.add_subparsers(dest="recommend_command", required=True)
    rec_train = rec_sub.add_parser("train", help="retrain every community's model now")
    rec_train.add_argument("--config", type=Path, default=Path(default_config), help=config_help)
    evaluate = rec_sub.add_parser(
        "evaluate", help="compare the recommender with baselines offline, on held-out data"
    )
    evaluate.add_argument(
        "--source",
        choices=["stack-exchange", "movielens-format", "store", "synthetic"],
        default="stack-exchange",
        help=(
            "the data: a Stack Exchange Posts.xml (default: the sample in data/), a folder of "
            "MovieLens-format CSV files (PATH), this bot's database, or synthetic"
        ),
    )
    evaluate.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="for --source movielens-format: the folder with ratings.csv, movies.csv, tags.csv",
    )
    evaluate.add_argument(
        "--posts",
        type=Path,
        help="the Posts.xml (or .xml.gz) for --source stack-exchange (default: data/'s sample)",
    )
    evaluate.add_argument(
        "--min-rating",
        type=float,
        default=None,
        help="for --source movielens-format: leave out ratings below this (default: keep all)",
    )
    evaluate.add_argument("--config", type=Path, default=Path(default_config), help=config_help)
    evaluate.add_argument("--community", help="the community id for --source store")
    evaluate.add_argument(
        "--size",
        default="10000x500x100000",
        help="members x courses x purchases for --source synthetic (default 10000x500x100000)",
    )
    evaluate.add_argument(
        "--drift",
        type=float,
        default=0.0,
        help="for --source synthetic: the share of members whose tastes move (default 0)",
    )
    evaluate.add_argument("--k", type=int, default=10, help="the cut-off K (default 10)")
    evaluate.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")

    stripe = sub.add_parser("stripe", help="Stripe commands")
    stripe_sub = stripe.add_subparsers(dest="stripe_command", required=True)
    simulate = stripe_sub.add_parser(
        "simulate",
        help="post a signed, synthetic Stripe event to the running bot's webhook (test mode)",
    )
    simulate.add_argument("event", choices=gating_simulate.KINDS, help="the event type")
    simulate.add_argument(
        "--member",
        required=True,
        help="platform:user_id of an account the bot has seen, like console:alice",
    )
    simulate.add_argument("--offer", required=True, help="the offer id from the config")
    simulate.add_argument("--community", help="the community id (when there are several)")
    simulate.add_argument(
        "--url", help="the webhook URL (default: http://<web.host>:<web.port>/stripe/webhook)"
    )
    simulate.add_argument("--config", type=Path, default=Path(default_config), help=config_help)

    docs = sub.add_parser(
        "docs", help="rewrite the command tables (docs/commands*.md, README) from the registry"
    )
    docs.add_argument("--root", type=Path, default=Path(), help="the repository (default .)")
    docs.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a table is out of date"
    )

    config = sub.add_parser("config", help="config commands")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate the config and summarise it")
    check.add_argument("--config", type=Path, default=Path(default_config), help=config_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the process exit code."""
    args = _parser().parse_args(argv)
    with logs.configured(args.log_level):
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    try:
        if args.command == "recommend" and args.recommend_command == "evaluate":
            return _evaluate(args)
        if args.command == "docs":
            return _docs(args.root, check=args.check)
        if args.command == "demo":
            return asyncio.run(_demo(args.dir, args.fresh, args.script))
        if args.command == "db" and args.db_command == "copy":
            return asyncio.run(_copy(args.source, args.target))
        config = load_config(args.config)
        logs.protect(logs.secret_values(config))
        if args.command == "config":
            return _check(config)
        if args.command == "db":
            return asyncio.run(_upgrade(config))
        if args.command == "recommend":
            return asyncio.run(_train(config))
        if args.command == "stripe":
            return asyncio.run(_simulate(config, args))
        if args.command == "points":
            return asyncio.run(_rebuild(config, fix=not args.dry_run))
        if args.command == "analytics":
            return asyncio.run(_rebuild_analytics(config))
        return asyncio.run(_run(config, args.script))
    except ConfigError as exc:
        print(f"cohort: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


async def _simulate(config: Config, args: argparse.Namespace) -> int:
    try:
        sent = await gating_simulate.simulate(
            config,
            args.event,
            member=args.member,
            offer_id=args.offer,
            now=SystemClock().now(),
            community=args.community,
            url=args.url,
        )
    except gating_simulate.SimulateError as exc:
        print(f"cohort: {exc}", file=sys.stderr)
        return 1
    for event_type, status in sent:
        print(f"{event_type}: {status}{'' if status == 200 else ' (refused)'}")
    return 0 if all(status == 200 for _, status in sent) else 1


def _docs(root: Path, *, check: bool) -> int:
    from bot import docs  # noqa: PLC0415 (it loads the Discord library: only for this command)

    if not (root / docs.README).is_file():
        raise ConfigError("--root", "the repository (with README.md)", str(root))
    changed = docs.stale(root) if check else docs.write(root)
    for path in changed:
        print(f"{path}: {'out of date' if check else 'rewritten'}")
    return 1 if check and changed else 0


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


async def _copy(source: str, target: str) -> int:
    def progress(table: str, rows: int) -> None:
        print(f"  {table}: {rows} rows", flush=True)

    print(f"copying {mask_url_password(source)} to {mask_url_password(target)}")
    try:
        tables = await copy_database(source, target, progress=progress)
    except CopyError as exc:
        print(f"cohort: {exc}", file=sys.stderr)
        return 1
    total = sum(t.rows for t in tables)
    print(f"verified: {len(tables)} tables, {total} rows, counts and checksums match")
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


async def _rebuild_analytics(config: Config) -> int:
    cohort = await build(config)
    try:
        for community in cohort.communities.values():
            read = await analytics.rebuild(cohort.db, community.id, community.tz)
            print(f"{community.slug}: analytics rebuilt from {read} message(s)")
    finally:
        await cohort.db.close()
    return 0


async def _train(config: Config) -> int:
    # The recommender's numpy/scikit-learn load only for the recommend commands.
    from bot.cogs import recommend  # noqa: PLC0415

    cohort = await build(config)
    try:
        for community in cohort.communities.values():
            if not community.config.courses:
                print(f"{community.slug}: no courses configured, nothing to train")
                continue
            started = time.perf_counter()
            service = recommend.Recommender(
                cohort.db,
                community,
                cohort.clock,
                recommend.model_path(
                    config.database.url, community.config.recommend.model_dir, community.slug
                ),
            )
            model = await service.retrain()
            info = model.info
            print(
                f"{community.slug}: {info.algorithm.value} on {info.purchases} purchases of "
                f"{info.members} members in {time.perf_counter() - started:.1f} s, "
                f"coverage {info.validation.get('coverage', 0):.0%}; saved {service.path}"
            )
    finally:
        await cohort.db.close()
    return 0


def _progress(name: str, done: int, total: int) -> None:
    width = 20
    filled = width * done // max(total, 1)
    bar = "#" * filled + "." * (width - filled)
    end = "\n" if done == total else ""
    print(f"\r[{bar}] {done}/{total} {name:<12}", end=end, file=sys.stderr, flush=True)


def _evaluate(args: argparse.Namespace) -> int:
    from bot.recommend import _eval, _sources  # noqa: PLC0415 (see _train)

    if args.source != "movielens-format" and args.path is not None:
        raise ConfigError("PATH", "no folder unless --source movielens-format", str(args.path))
    if args.source == "stack-exchange":
        posts = args.posts or _sources.SAMPLE
        if not posts.is_file():
            raise ConfigError("--posts", "a Stack Exchange Posts.xml file", str(posts))
        data = _sources.load_stack_exchange(posts)
        name = f"stack-exchange {posts.parent.name}"
    elif args.source == "movielens-format":
        from bot.recommend import _movielens  # noqa: PLC0415 (see _train)

        if args.path is None:
            raise ConfigError("PATH", "a folder of MovieLens-format CSV files", "nothing")
        low = -math.inf if args.min_rating is None else args.min_rating
        try:
            data = _movielens.load_movielens(args.path, min_rating=low)
        except _movielens.SourceError as exc:
            raise ConfigError("--source movielens-format", "readable data", str(exc)) from None
        name = f"movielens-format {args.path.resolve().name}"
    elif args.source == "synthetic":
        try:
            members, courses, bought = (int(x) for x in args.size.lower().split("x"))
        except ValueError:
            raise ConfigError("--size", "members x courses x purchases", args.size) from None
        if not 0 <= args.drift <= 1:
            raise ConfigError("--drift", "a share from 0 to 1", str(args.drift))
        spec = _sources.SyntheticSpec(
            members=members, courses=courses, purchases=bought, drift=args.drift
        )
        data = _sources.synthetic(spec)
        name = f"synthetic {args.size}" + (f" drift {args.drift:g}" if args.drift else "")
    else:
        data, name = asyncio.run(_store_data(load_config(args.config), args.community))
    report = _eval.evaluate(
        data,
        name=name,
        k=args.k,
        rounds=args.rounds,
        progress=None if args.json else _progress,
    )
    print(_eval.report_json(report) if args.json else report.table())
    return 0


async def _store_data(config: Config, community_id: str | None) -> tuple[Dataset, str]:
    from bot.recommend._load import load_dataset  # noqa: PLC0415 (see _train)

    logs.protect(logs.secret_values(config))
    slug = community_id or config.communities[0].id
    try:
        community = config.community(slug)
    except KeyError:
        raise ConfigError("--community", "a configured community id", repr(slug)) from None
    cohort = await build(config)
    try:
        data = await load_dataset(
            cohort.db,
            cohort.communities[slug].id,
            now=cohort.clock.now(),
            text_window=community.recommend.text_window,
            messages_per_member=community.recommend.text_messages,
        )
    finally:
        await cohort.db.close()
    return data, f"store {slug}"


async def _run(config: Config, script: Path | None) -> int:
    if script is None or str(script) == "-":
        return await serve(config)
    try:
        with script.open(encoding="utf-8") as fh:
            return await serve(config, lines=iterate(fh))
    except OSError as exc:
        raise ConfigError("--script", "a readable file", f"{script} ({exc.strerror})") from None


async def _demo(directory: Path, fresh: bool, script: Path | None) -> int:
    if script is None or str(script) == "-":
        return await demo.run(directory, fresh=fresh)
    try:
        with script.open(encoding="utf-8") as fh:
            return await demo.run(directory, fresh=fresh, lines=iterate(fh))
    except OSError as exc:
        raise ConfigError("--script", "a readable file", f"{script} ({exc.strerror})") from None
