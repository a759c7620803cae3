"""Q&A figures: /questions search latency over 50,000 questions and 200,000 answers.

Builds a SQLite file through the migrations, bulk loads ``--questions`` questions (half in
English, half in Chinese) with ``--answers`` answers (a third of the questions solved, their
accepted answer in the FTS5 index), then times ``qa.search`` — the function behind
``/questions search`` — for English and Chinese queries, including one- and two-character
Chinese terms (the word index below a trigram).
Run: ``.venv/bin/python -m benchmarks.qa [--questions 50000] [--answers 200000] [--runs 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.foundation import percentile
from bot.cogs import qa
from bot.store.db import Database
from bot.store.fts import spaced

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WORDS = [
    "numpy",
    "pandas",
    "install",
    "error",
    "version",
    "python",
    "import",
    "module",
    "compile",
    "wheel",
    "build",
    "cache",
    "docker",
    "deploy",
    "server",
    "database",
    "query",
    "index",
    "migration",
    "async",
    "thread",
    "lock",
    "memory",
    "leak",
    "session",
    "token",
    "login",
    "password",
    "email",
    "upload",
    "file",
    "path",
    "config",
    "logging",
    "test",
    "fixture",
]
HANZI = (
    "如何安装配置错误版本导入模块编译缓存部署服务器数据库查询索引迁移异步线程"
    "内存泄漏登录密码邮件上传文件路径日志测试"
)
QUERIES = {
    "english, 1 word": ["numpy", "docker", "migration", "password"],
    "english, 2 words": ["numpy install", "database index", "async thread", "upload file"],
    "chinese, 4 chars": ["安装错误", "数据库查", "内存泄漏", "登录密码"],
    "chinese, 2 chars": ["安装", "部署", "日志", "缓存"],
    "chinese, 1 char": ["装", "库", "志", "存"],
    "mixed": ["numpy 安装错误", "docker 部署"],
}


def _english(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _chinese(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(HANZI) for _ in range(n))


async def create_schema(path: Path) -> None:
    """Create the tables (and the FTS5 index) through the migrations."""
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.upgrade()
    await db.close()


def bulk_load(path: Path, questions: int, answers: int, seed: int = 1) -> None:
    """Fill the database the fast way (one transaction, executemany)."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.000000")
    conn.execute(
        "INSERT INTO communities (id, slug, name, created_at) VALUES (1, 'bench', 'Bench', ?)",
        (stamp,),
    )
    members = 2000
    conn.executemany(
        "INSERT INTO members (id, community_id, created_at) VALUES (?, 1, ?)",
        [(m, stamp) for m in range(1, members + 1)],
    )
    rows, index = [], []
    for q in range(1, questions + 1):
        chinese = q % 2 == 0
        title = _chinese(rng, 12) if chinese else _english(rng, 7)
        body = _chinese(rng, 60) if chinese else _english(rng, 30)
        at = (NOW - timedelta(minutes=q)).strftime("%Y-%m-%d %H:%M:%S.000000")
        state = "solved" if q % 3 == 0 else "answered"
        rows.append((q, rng.randint(1, members), "console", "qa", f"t{q}", title, body, state, at))
        index.append((q, title, body))
    conn.executemany(
        "INSERT INTO qa_questions (id, community_id, asker_id, platform, channel_id, thread_id,"
        " title, body, state, created_at, active_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*r, r[-1]) for r in rows],
    )
    answer_rows, accepted = [], {}
    for a in range(1, answers + 1):
        q = rng.randint(1, questions)
        text = _chinese(rng, 40) if q % 2 == 0 else _english(rng, 20)
        answer_rows.append((a, q, rng.randint(1, members), f"m{a}", text, stamp))
        if q % 3 == 0 and q not in accepted:
            accepted[q] = (a, text)
    conn.executemany(
        "INSERT INTO qa_answers (id, community_id, question_id, author_id, platform, channel_id,"
        " message_id, text, posted_at) VALUES (?, 1, ?, ?, 'console', 'qa', ?, ?, ?)",
        answer_rows,
    )
    answer_of = {q: text for q, (_, text) in accepted.items()}
    conn.executemany(
        "INSERT INTO qa_search (rowid, title, body, answer) VALUES (?, ?, ?, ?)",
        [(q, t, b, answer_of.get(q, "")) for q, t, b in index],
    )
    conn.executemany(
        "INSERT INTO qa_words (rowid, title, body, answer) VALUES (?, ?, ?, ?)",
        [(q, spaced(t), spaced(b), spaced(answer_of.get(q, ""))) for q, t, b in index],
    )
    conn.executemany(
        "UPDATE qa_questions SET accepted_answer_id = ? WHERE id = ?",
        [(a, q) for q, (a, _) in accepted.items()],
    )
    conn.commit()
    conn.close()


async def measure(path: Path, runs: int) -> None:
    """Time qa.search for each kind of query and print p50/p99 and hits."""
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        for kind, queries in QUERIES.items():
            timings, hits = [], 0
            for run in range(runs):
                query = queries[run % len(queries)]
                start = time.perf_counter()
                found = await qa.search(db, 1, query)
                timings.append((time.perf_counter() - start) * 1000)
                hits += len(found)
            print(
                f"  {kind:<26} p50 {percentile(timings, 0.5):6.2f} ms   "
                f"p99 {percentile(timings, 0.99):6.2f} ms   ({hits / runs:.1f} hits per search)"
            )
    finally:
        await db.close()


def main() -> None:
    """Parse the sizes, build the data set and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=50_000)
    parser.add_argument("--answers", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "qa.db"
        asyncio.run(create_schema(path))
        start = time.perf_counter()
        bulk_load(path, args.questions, args.answers)
        load = time.perf_counter() - start
        size = path.stat().st_size / 1e6
        print(
            f"Q&A: {args.questions:,} questions, {args.answers:,} answers "
            f"(loaded in {load:.1f} s, {size:.0f} MB)"
        )
        print(f"/questions search, {args.runs} searches per kind, limit 10:")
        asyncio.run(measure(path, args.runs))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
