"""Start and memory: time to the first console prompt and the idle RSS of ``cohort run``.

Run: ``make bench`` or ``.venv/bin/python -m benchmarks.start [--runs N]``.
Each run starts ``cohort run`` on the example config (no tokens: the console; the web app on a
free port) in a fresh folder, on a pseudo-terminal as a person would, and times the start until
the first prompt is printed: once on a new database file (it is migrated) and once more on the
same file. It then waits ``--settle`` seconds and reads the process's resident memory (idle
RSS), types a few everyday commands and a message, and reads it again. The anchor, measured in
the same run: a bare ``python`` that imports nothing of Cohort's (its start and its RSS).
Medians of ``--runs`` runs (3) are printed with the load average, beside the goals of issue 18
(first prompt <= 1.5 s, idle RSS <= 120 MB).
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT = b"@#"  # the console's prompt: "alice@#general> "
COMMANDS = (b"/help\n", b"/points show\n", b"/leaderboard\n", b"hello everyone\n")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Start:
    """One start of a process: seconds to its first prompt and its RSS after it."""

    seconds: float
    idle_rss: int  # bytes, ``--settle`` seconds after the prompt
    busy_rss: int  # bytes, after the everyday commands (0 for the anchor)


def free_port() -> int:
    """Return a TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_config(folder: Path) -> Path:
    """Write the example config into ``folder`` with the web app on a free port."""
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    path = folder / "config.toml"
    path.write_text(text.replace("port = 8080", f"port = {free_port()}", 1), encoding="utf-8")
    return path


def rss(pid: int) -> int:
    """Return the resident memory of process ``pid`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    """Read the terminal ``fd`` until ``marker`` appears; fail after ``timeout`` seconds."""
    seen = b""
    end = time.monotonic() + timeout
    while marker not in seen:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {marker!r} after {timeout} s; output: {seen[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other end closed: the process ended
                raise RuntimeError(f"the process ended; output: {seen[-2000:]!r}") from None
            seen += chunk
    return seen


def start(argv: list[str], cwd: Path, marker: bytes, settle: float, chat: bool) -> Start:
    """Start ``argv`` on a pseudo-terminal, time it to ``marker`` and measure its memory."""
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}
    env["PYTHONPATH"] = str(REPO)
    began = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, stdin=terminal, stdout=terminal, stderr=subprocess.DEVNULL, env=env
    )
    os.close(terminal)
    try:
        read_until(controller, marker, timeout=60)
        seconds = time.perf_counter() - began
        time.sleep(settle)
        idle = rss(process.pid)
        busy = 0
        if chat:
            for line in COMMANDS:
                os.write(controller, line)
                read_until(controller, PROMPT, timeout=30)
            time.sleep(settle)
            busy = rss(process.pid)
        return Start(seconds, idle, busy)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(controller)


def cohort_starts(settle: float) -> tuple[Start, Start]:
    """Start ``cohort run`` on a new database, then again on the same file."""
    with tempfile.TemporaryDirectory(prefix="cohort-start-") as name:
        folder = Path(name)
        config = write_config(folder)
        argv = [sys.executable, "-m", "bot", "run", "--config", str(config)]
        fresh = start(argv, folder, PROMPT, settle, chat=False)
        again = start(argv, folder, PROMPT, settle, chat=True)
        return fresh, again


def anchor(settle: float) -> Start:
    """Start a bare interpreter that prints a prompt and waits: the floor of any start."""
    code = "import sys; sys.stdout.write('anchor@#> '); sys.stdout.flush(); sys.stdin.readline()"
    with tempfile.TemporaryDirectory(prefix="cohort-anchor-") as name:
        return start([sys.executable, "-c", code], Path(name), PROMPT, settle, chat=False)


def load() -> str:
    """Return the 1-minute load average."""
    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    """Measure ``--runs`` times, alternating the anchor and Cohort, and print medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before reading RSS")
    args = parser.parse_args()
    loads = [load()]
    anchors: list[Start] = []
    fresh: list[Start] = []
    again: list[Start] = []
    for _ in range(args.runs):
        anchors.append(anchor(args.settle))
        first, second = cohort_starts(args.settle)
        fresh.append(first)
        again.append(second)
    loads.append(load())

    def median(values: list[float]) -> float:
        return statistics.median(values)

    bare = median([s.seconds for s in anchors])
    print(f"runs: {args.runs}, load average {loads[0]} -> {loads[1]}")
    print(
        f"anchor, bare python: first prompt {bare * 1000:.0f} ms, "
        f"RSS {median([s.idle_rss for s in anchors]) / MIB:.1f} MiB"
    )
    print(
        f"first prompt, new database (migrated): "
        f"{median([s.seconds for s in fresh]) * 1000:.0f} ms (goal <= 1500 ms)"
    )
    print(
        f"first prompt, existing database: {median([s.seconds for s in again]) * 1000:.0f} ms "
        f"(goal <= 1500 ms; runs {', '.join(f'{s.seconds * 1000:.0f}' for s in again)} ms)"
    )
    print(
        f"idle RSS: {median([s.idle_rss for s in again]) / MIB:.1f} MiB (goal <= 120 MB = "
        f"{120e6 / MIB:.1f} MiB); after {len(COMMANDS)} everyday commands "
        f"{median([s.busy_rss for s in again]) / MIB:.1f} MiB"
    )


if __name__ == "__main__":
    main()
