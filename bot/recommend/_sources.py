"""Datasets from outside the bot: the Stack Exchange dump and a synthetic generator for scale."""

from __future__ import annotations

import gzip
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np

from bot.recommend._data import Dataset
from bot.recommend._types import Course

# The Stack Exchange sample shipped in the repository (see data/README.md).
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "se-matheducators" / "Posts.xml.gz"
_TAG_RE = re.compile(r"<([^<>]+)>")
_HTML_RE = re.compile(r"<[^>]+>")


def _plain(body: str) -> str:
    """Turn a post's HTML body into plain text."""
    return re.sub(r"\s+", " ", html.unescape(_HTML_RE.sub(" ", body))).strip()


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()


def load_stack_exchange(path: Path) -> Dataset:
    """Read a Stack Exchange ``Posts.xml``: posts are messages, question tags are courses.

    A member "took" a tag the first time they asked or answered a question carrying it (an
    answer carries its question's tags). A course is described by its tag name only; the text
    of the questions it was asked in reaches the model as its takers' messages, and only those
    the evaluation allows (before each member's cut-off).
    """
    questions: dict[str, tuple[str, ...]] = {}
    posts: list[tuple[int, float, str, tuple[str, ...]]] = []
    for row in _rows(path):
        kind = row.get("PostTypeId")
        owner = row.get("OwnerUserId")
        if kind == "1":
            tags = tuple(_TAG_RE.findall(html.unescape(row.get("Tags", ""))))
            questions[row["Id"]] = tags
            if owner:
                text = f"{html.unescape(row.get('Title', ''))}\n{_plain(row.get('Body', ''))}"
                posts.append((int(owner), _epoch(row["CreationDate"]), text, tags))
        elif kind == "2" and owner:
            tags = questions.get(row.get("ParentId", ""), ())
            posts.append(
                (int(owner), _epoch(row["CreationDate"]), _plain(row.get("Body", "")), tags)
            )
    tag_names = sorted({t for _, _, _, tags in posts for t in tags})
    index = {t: i for i, t in enumerate(tag_names)}
    courses = [Course(id=t, title=t.replace("-", " "), tags=(t,), language="en") for t in tag_names]
    owners = sorted({p[0] for p in posts})
    row_of = {o: i for i, o in enumerate(owners)}
    ev_rows, ev_items, ev_times = [], [], []
    for poster, time, _text, tags in posts:
        for tag in tags:
            ev_rows.append(row_of[poster])
            ev_items.append(index[tag])
            ev_times.append(time)
    return Dataset(
        courses=courses,
        member_ids=np.array(owners, dtype=np.int64),
        event_rows=np.array(ev_rows, dtype=np.int64),
        event_items=np.array(ev_items, dtype=np.int64),
        event_times=np.array(ev_times, dtype=np.float64),
        event_weights=np.ones(len(ev_rows), dtype=np.float32),
        message_rows=np.array([row_of[p[0]] for p in posts], dtype=np.int64),
        message_times=np.array([p[1] for p in posts], dtype=np.float64),
        message_texts=[p[2] for p in posts],
        version=f"se:{path.name}:{len(posts)}",
    )


def _rows(path: Path) -> Iterator[dict[str, str]]:
    """Yield the attributes of each ``row`` of a Posts.xml, gzipped or not."""
    with _open(path) as fh:
        for _event, element in ET.iterparse(fh, events=("end",)):
            if element.tag == "row":
                yield dict(element.attrib)
                element.clear()


def _open(path: Path) -> IO[bytes] | gzip.GzipFile:
    """Open a file for reading bytes, through gzip if its name ends in ``.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path)
    return path.open("rb")


# --- synthetic data for scale ------------------------------------------------------------------

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vi", "zo", "pe", "su", "da", "ge", "hu", "ri")
_CHINESE = "数据学习机器分析统计模型网络编程算法设计产品运营增长写作摄影投资理财健康心理语言"


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    """Sizes of a synthetic community."""

    members: int = 100_000
    courses: int = 2_000
    purchases: int = 2_000_000
    topics: int = 80
    messages_per_member: int = 3
    chinese_share: float = 0.2
    seed: int = 7
    drift: float = 0.0  # the share of members whose tastes move to new topics over the year


def _word(rng: np.random.Generator, chinese: bool) -> str:
    if chinese:
        return "".join(rng.choice(list(_CHINESE), size=2))
    return "".join(rng.choice(_SYLLABLES, size=3))


def synthetic(spec: SyntheticSpec) -> Dataset:
    """Generate members with topic tastes, courses on topics, purchases and messages.

    Each member likes one to three topics; purchases follow their tastes and a long-tailed
    course popularity; their messages use their topics' words, so text carries signal.
    With ``drift``, tastes move over the year: that share of members drifts from their first
    topics to others (the later a purchase or message, the likelier it follows the new ones),
    and every course's popularity moves from one long-tailed draw to another.
    """
    rng = np.random.default_rng(spec.seed)
    chinese_topic = rng.random(spec.topics) < spec.chinese_share
    vocab = [[_word(rng, bool(chinese_topic[t])) for _ in range(12)] for t in range(spec.topics)]
    course_topic = rng.integers(0, spec.topics, size=spec.courses)
    courses = [
        Course(
            id=f"c{i:05d}",
            title=f"{vocab[course_topic[i]][i % 4]} {vocab[course_topic[i]][4 + i % 8]}",
            description=" ".join(rng.choice(vocab[course_topic[i]], size=6)),
            tags=(f"t{course_topic[i]}",),
            language="zh_CN" if chinese_topic[course_topic[i]] else "en",
        )
        for i in range(spec.courses)
    ]
    by_topic = [np.flatnonzero(course_topic == t) for t in range(spec.topics)]
    weight = rng.pareto(1.2, size=spec.courses) + 1
    per_member = rng.poisson(spec.purchases / spec.members, size=spec.members)
    per_member = np.maximum(per_member, 0)
    scale = spec.purchases / max(per_member.sum(), 1)
    per_member = np.round(per_member * scale).astype(np.int64)
    tastes = rng.integers(0, spec.topics, size=(spec.members, 3))
    n_tastes = rng.integers(1, 4, size=spec.members)
    rows = np.repeat(np.arange(spec.members), per_member)
    pick = rng.integers(0, 3, size=len(rows)) % n_tastes[rows]
    topic = tastes[rows, pick]
    drift = _Drift(spec, pick, rows) if spec.drift > 0 else None
    if drift is not None:
        topic = drift.topics(topic, rows, pick, drift.phase)
    explore = rng.random(len(rows)) < 0.1
    topic[explore] = rng.integers(0, spec.topics, size=int(explore.sum()))
    items = np.empty(len(rows), dtype=np.int64)
    late = drift.late if drift is not None else np.zeros(len(rows), dtype=bool)
    for t in range(spec.topics):
        pool = by_topic[t]
        if not len(pool):
            pool = np.arange(spec.courses)
        for is_late, weights in ((False, weight), (True, drift.weight if drift else weight)):
            where = np.flatnonzero((topic == t) & (late == is_late))
            if not len(where):
                continue
            p = weights[pool] / weights[pool].sum()
            items[where] = rng.choice(pool, size=len(where), p=p)
    start = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    times = start + (drift.phase if drift is not None else rng.random(len(rows))) * 365 * 86400
    n_messages = spec.members * spec.messages_per_member
    msg_rows = rng.integers(0, spec.members, size=n_messages)
    msg_pick = rng.integers(0, 3, size=n_messages) % n_tastes[msg_rows]
    msg_topic = tastes[msg_rows, msg_pick]
    msg_phase: np.ndarray | None = None
    if drift is not None:
        msg_phase = drift.phases(n_messages)
        msg_topic = drift.topics(msg_topic, msg_rows, msg_pick, msg_phase)
    texts = []
    for t in msg_topic:
        words = vocab[t]
        texts.append(" ".join(words[j] for j in rng.integers(0, len(words), size=6)))
    if msg_phase is None:
        msg_phase = rng.random(n_messages)
    return Dataset(
        courses=courses,
        member_ids=np.arange(1, spec.members + 1, dtype=np.int64),
        event_rows=rows,
        event_items=items,
        event_times=times,
        event_weights=np.ones(len(rows), dtype=np.float32),
        message_rows=msg_rows,
        message_times=start + msg_phase * 365 * 86400,
        message_texts=texts,
        version=f"synthetic:{spec.members}x{spec.courses}x{spec.purchases}:{spec.seed}"
        + (f":drift{spec.drift:g}" if drift is not None else ""),
    )


class _Drift:
    """Tastes and popularity that move over the year (drawn apart from the main stream)."""

    def __init__(self, spec: SyntheticSpec, pick: np.ndarray, rows: np.ndarray) -> None:
        rng = np.random.default_rng([spec.seed, 1])
        self.new_tastes = rng.integers(0, spec.topics, size=(spec.members, 3))
        self.drifting = rng.random(spec.members) < spec.drift
        self.phase = rng.random(len(rows))  # when in the year each purchase happens
        self.late = rng.random(len(rows)) < self.phase
        self.weight = rng.pareto(1.2, size=spec.courses) + 1
        self._rng = rng

    def phases(self, n: int) -> np.ndarray:
        """Return when in the year each of ``n`` messages is written."""
        phase: np.ndarray = self._rng.random(n)
        return phase

    def topics(
        self, topic: np.ndarray, rows: np.ndarray, pick: np.ndarray, phase: np.ndarray
    ) -> np.ndarray:
        """Return the topics with a drifting member's later ones moved to their new tastes."""
        moved = self.drifting[rows] & (self._rng.random(len(rows)) < phase)
        out = topic.copy()
        out[moved] = self.new_tastes[rows[moved], pick[moved]]
        return out
