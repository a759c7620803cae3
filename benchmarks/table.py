"""Every benchmark at a small size, in one table: figure, goal, measured, anchor, load average.

Run: ``make bench`` or ``.venv/bin/python -m benchmarks.table [--only foundation,lectures]``.
Each benchmark runs in its own process (as it does alone), one after another, with sizes chosen
so that the whole table takes under five minutes on the project's 2-core machine. The figures are
read from each benchmark's own printed lines; a figure a benchmark did not print shows as
"not printed" (and the raw output is kept for a look with ``--verbose``). The load average is
the 1-minute figure, the highest seen at the start and the end of that benchmark: on a shared
machine compare a figure with its anchor from the same run, not with another day's figure.
Small sizes measure the code paths, not their behaviour at scale: the README's figures come
from each benchmark run at its full size.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

NUMBER = r"([\d,]+(?:\.\d+)?)"


@dataclass(frozen=True)
class Figure:
    """One row: a regular expression over a benchmark's output picks the measured value."""

    name: str
    goal: str
    measured: str  # a pattern; its groups are put into ``shown``
    shown: str
    anchor: str | None = None  # a pattern for the anchor measured in the same run
    anchor_shown: str = "{0}"


@dataclass(frozen=True)
class Part:
    """One benchmark run: its module, arguments, time limit and the figures it gives."""

    name: str
    args: tuple[str, ...]
    timeout: float
    figures: tuple[Figure, ...]


PARTS = (
    Part(
        "foundation",
        ("benchmarks.foundation", "--commands", "2000", "--messages", "2000"),
        90,
        (
            Figure(
                "console dispatch, median / p99",
                "median <= 1 ms, p99 <= 5 ms",
                rf"console dispatch: .* median {NUMBER} ms, p99 {NUMBER} ms",
                "{0} / {1} ms",
            ),
            Figure(
                "console dispatch, commands that change nothing, median / p99",
                "median <= 1 ms, p99 <= 5 ms",
                rf"change nothing .*?: median {NUMBER} ms, p99 {NUMBER} ms",
                "{0} / {1} ms",
                rf"change nothing .*CPU median {NUMBER} ms, p99 {NUMBER} ms",
                "CPU time {0} / {1} ms",
            ),
            Figure(
                "ingest, 50 senders",
                ">= 25% of the anchor",
                rf"50 sender\(s\): .*?{NUMBER} msg/s \(([\d.]+%) of the anchor",
                "{0} msg/s ({1})",
                rf"anchor, plain sqlite3 .*?{NUMBER} rows/s",
                "raw sqlite3 {0} rows/s",
            ),
            Figure(
                "ingest, 1 sender",
                "-",
                rf" 1 sender\(s\): .*?{NUMBER} msg/s",
                "{0} msg/s",
            ),
        ),
    ),
    Part(
        "start",
        ("benchmarks.start", "--runs", "1", "--settle", "1"),
        90,
        (
            Figure(
                "console start to first prompt, existing database",
                "<= 1.5 s",
                rf"first prompt, existing database: {NUMBER} ms",
                "{0} ms",
                rf"anchor, bare python: first prompt {NUMBER} ms, RSS {NUMBER} MiB",
                "bare python {0} ms, {1} MiB",
            ),
            Figure(
                "console idle RSS",
                "<= 120 MB (114.4 MiB)",
                rf"idle RSS: {NUMBER} MiB",
                "{0} MiB",
            ),
        ),
    ),
    Part(
        "lectures (real time)",
        ("benchmarks.lectures", "--real-time", "--lectures", "20", "--window", "5"),
        150,
        tuple(
            Figure(
                f"lecture {label} lateness, p50 / p99 / latest",
                "p99 <= 1000 ms",
                rf"{label}, alarm \(after\): .* p50 {NUMBER} ms, p99 {NUMBER} ms, max {NUMBER} ms",
                "{0} / {1} / {2} ms",
                rf"{label}, 10 s sweep grid \(before\): .* p50 {NUMBER} ms, p99 {NUMBER} ms, "
                rf"max {NUMBER} ms",
                "10 s sweep grid {0} / {1} / {2} ms",
            )
            for label in ("announcements", "reminders", "starting now")
        ),
    ),
    Part(
        "timers (real time)",
        (
            "benchmarks.timers",
            *("--questions", "50", "--grants", "50", "--retries", "50", "--window", "5"),
        ),
        150,
        (
            Figure(
                "Q&A reminder lateness, p50 / p99 / latest",
                "p99 <= 1000 ms",
                rf"q&a reminders, alarm \(after\).*: .* p50 {NUMBER} ms, p99 {NUMBER} ms, "
                rf"max {NUMBER} ms",
                "{0} / {1} / {2} ms",
                rf"q&a reminders, 5 min sweep grid \(before\).*: .* p50 {NUMBER} ms, "
                rf"p99 {NUMBER} ms, max {NUMBER} ms",
                "5 min sweep grid, by the clock {0} / {1} / {2} ms",
            ),
            Figure(
                "gating expiry lateness (platform call), p50 / p99 / latest",
                "p99 <= 1000 ms",
                rf"gating expiries, next lapse \(after\): .* p50 {NUMBER} ms, p99 {NUMBER} ms, "
                rf"max {NUMBER} ms",
                "{0} / {1} / {2} ms",
                rf"gating expiries, 5 s poll \(before\): .* p50 {NUMBER} ms, p99 {NUMBER} ms, "
                rf"max {NUMBER} ms",
                "5 s poll {0} / {1} / {2} ms",
            ),
            Figure(
                "gating deferred event retry lateness (platform call), p50 / p99 / latest",
                "p99 <= 1000 ms",
                rf"gating retries, timer \(after\): .* p50 {NUMBER} ms, p99 {NUMBER} ms, "
                rf"max {NUMBER} ms",
                "{0} / {1} / {2} ms",
                rf"gating retries, 5 s poll \(before\): .* p50 {NUMBER} ms, p99 {NUMBER} ms, "
                rf"max {NUMBER} ms",
                "5 s poll {0} / {1} / {2} ms",
            ),
        ),
    ),
    Part(
        "telegram",
        ("benchmarks.telegram", "--messages", "500", "--commands", "100"),
        90,
        (
            Figure(
                "telegram group messages",
                "-",
                rf"telegram messages: .*?{NUMBER} updates/s",
                "{0} updates/s",
            ),
            Figure(
                "telegram /help one at a time, p50 / p99",
                "-",
                rf"one at a time: .*p50 {NUMBER} ms, p99 {NUMBER} ms",
                "{0} / {1} ms",
            ),
        ),
    ),
    Part(
        "discord",
        ("benchmarks.discord", "--messages", "500", "--interactions", "100"),
        90,
        (
            Figure(
                "discord messages",
                "-",
                rf"discord messages: .*?{NUMBER} events/s",
                "{0} events/s",
            ),
            Figure(
                "discord /help one at a time, p50 / p99",
                "within 3 s",
                rf"one at a time: .*p50 {NUMBER} ms, p99 {NUMBER} ms",
                "{0} / {1} ms",
            ),
        ),
    ),
    Part(
        "points",
        ("benchmarks.points", "--members", "2000", "--entries", "50000"),
        90,
        (
            Figure(
                "points awards, 50 writers",
                "-",
                rf"awards, 50 concurrent writers: {NUMBER} awards/s",
                "{0}/s",
            ),
            Figure(
                "/leaderboard week, p99",
                "p99 < 20 ms",
                rf"/leaderboard week\s+p50\s+{NUMBER} ms\s+p99\s+{NUMBER} ms",
                "{1} ms",
            ),
        ),
    ),
    Part(
        "qa",
        ("benchmarks.qa", "--questions", "2000", "--answers", "8000", "--runs", "20"),
        90,
        (
            Figure(
                "/questions search English 2 words, p99",
                "p99 < 30 ms",
                rf"english, 2 words\s+p50\s+{NUMBER} ms\s+p99\s+{NUMBER} ms",
                "{1} ms",
            ),
            Figure(
                "/questions search Chinese 2 characters, p99",
                "p99 < 30 ms",
                rf"chinese, 2 chars\s+p50\s+{NUMBER} ms\s+p99\s+{NUMBER} ms",
                "{1} ms",
            ),
        ),
    ),
    Part(
        "gating",
        ("benchmarks.gating", "--events", "300", "--seconds", "5"),
        150,
        (
            Figure(
                "gating burst applied",
                "-",
                rf"all applied after .*= {NUMBER} events/s",
                "{0} events/s",
                rf"in-order replay, one worker, no HTTP: .*= {NUMBER}/s",
                "in-order replay {0}/s",
            ),
            Figure(
                "gating end state equals in-order replay",
                "yes",
                r"end state equals the in-order replay: (\w+)",
                "{0}",
            ),
        ),
    ),
    Part(
        "recommend",
        (
            "benchmarks.recommend",
            "scale",
            "--members",
            "3000",
            "--courses",
            "200",
            "--purchases",
            "30000",
            "--samples",
            "200",
            "--rounds",
            "1",
        ),
        120,
        (
            Figure(
                "one member's top 5 in process, p99",
                "p99 < 5 ms",
                rf"top 5, in process: median p50 {NUMBER} ms, p99 {NUMBER} ms",
                "{1} ms",
            ),
        ),
    ),
)


@dataclass
class Ran:
    """What one part printed, how long it took and the load around it."""

    part: Part
    output: str
    seconds: float
    load: float
    failed: str | None


def run(part: Part) -> Ran:
    """Run one benchmark in its own process."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    failed: str | None = None
    try:
        done = subprocess.run(
            [sys.executable, "-m", *part.args],
            capture_output=True,
            text=True,
            timeout=part.timeout,
            check=False,
        )
        output = done.stdout
        if done.returncode != 0:
            failed = f"exit {done.returncode}"
            output += done.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout
        output = out.decode() if isinstance(out, bytes) else (out or "")
        failed = f"over {part.timeout:.0f} s"
    seconds = time.perf_counter() - started
    return Ran(part, output, seconds, max(load, os.getloadavg()[0]), failed)


def pick(pattern: str | None, shown: str, output: str) -> str:
    """Return ``shown`` filled from the first match of ``pattern``, or "not printed"."""
    if pattern is None:
        return "-"
    found = re.search(pattern, output)
    return shown.format(*found.groups()) if found else "not printed"


def table(results: list[Ran]) -> str:
    """Lay out every figure in a Markdown table."""
    lines = [
        "| figure | goal | measured | anchor (same run) | load average |",
        "| --- | --- | --- | --- | --- |",
    ]
    for ran in results:
        for figure in ran.part.figures:
            measured = pick(figure.measured, figure.shown, ran.output)
            if ran.failed and measured == "not printed":
                measured = f"failed ({ran.failed})"
            anchor = pick(figure.anchor, figure.anchor_shown, ran.output)
            lines.append(
                f"| {figure.name} | {figure.goal} | {measured} | {anchor} | {ran.load:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    """Run the parts asked for and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated part names (default: all)")
    parser.add_argument("--verbose", action="store_true", help="print each part's own output")
    args = parser.parse_args()
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    results: list[Ran] = []
    started = time.perf_counter()
    for part in PARTS:
        if wanted and part.name.split(" ")[0] not in wanted:
            continue
        print(f"running {part.name} ...", file=sys.stderr, flush=True)
        ran = run(part)
        results.append(ran)
        note = f" ({ran.failed})" if ran.failed else ""
        print(f"  {ran.seconds:.0f} s{note}", file=sys.stderr, flush=True)
        if args.verbose or ran.failed:
            print(ran.output, file=sys.stderr)
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), end=", ")
    print(f"{time.perf_counter() - started:.0f} s in all, on {os.cpu_count()} CPUs")
    print(table(results))


if __name__ == "__main__":
    main()
