"""What a recommender learns from: the catalog, who took which course when, and what they wrote."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from scipy import sparse

from bot.recommend._types import Course

RECENCY_FLOOR = 1e-30  # the least weight an owned course keeps in a member's input row


@dataclass(slots=True)
class Dataset:
    """Interactions and messages of one community, with members as dense row numbers.

    ``member_ids[row]`` is the store's member id of a row. Events are (row, course index, time
    in epoch seconds, weight); a purchase weighs 1, and later signals (a completed course,
    attended lectures) may add weight through ``weights``. Messages are (row, time, text).
    """

    courses: list[Course]
    member_ids: np.ndarray
    event_rows: np.ndarray
    event_items: np.ndarray
    event_times: np.ndarray
    event_weights: np.ndarray
    message_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    message_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    message_texts: list[str] = field(default_factory=list)
    version: str = ""
    # The events grouped by (member, course), made once: training builds a dozen matrices.
    _groups: EventGroups | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_members(self) -> int:
        """Return how many member rows there are."""
        return len(self.member_ids)

    @property
    def n_items(self) -> int:
        """Return how many courses there are."""
        return len(self.courses)

    def matrix(
        self, mask: np.ndarray | None = None, weights: np.ndarray | None = None
    ) -> sparse.csr_matrix:
        """Return the members x courses matrix of the events (all, or those under ``mask``).

        ``weights`` replaces the events' own weights (one per event, before the mask).
        """
        weights = self.event_weights if weights is None else weights
        return self.groups().matrix(weights, mask, self.n_members, self.n_items)

    def groups(self) -> EventGroups:
        """Return the events grouped by (member, course), sorted once and kept."""
        if self._groups is None:
            self._groups = EventGroups(self.event_rows, self.event_items, self.n_items)
        return self._groups

    def texts_by_row(self, before: np.ndarray | None = None, limit: int = 50) -> dict[int, str]:
        """Return each member's latest ``limit`` messages as one text, optionally before a time.

        ``before[row]`` is a per-member cut-off (epoch seconds); messages at or after it are left
        out, so an evaluation never reads what a member wrote after the moment it predicts.
        """
        rows, times = self.message_rows, self.message_times
        keep = np.ones(len(rows), dtype=bool)
        if before is not None and len(rows):
            keep = times < before[rows]
        index = np.flatnonzero(keep)
        if not len(index):
            return {}
        order = index[np.lexsort((-times[index], rows[index]))]
        sorted_rows = rows[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_rows[1:] != sorted_rows[:-1])))
        first = np.repeat(starts, np.diff(np.concatenate((starts, [len(order)]))))
        kept = order[np.arange(len(order)) - first < limit]  # each member's latest ``limit``
        kept_rows = rows[kept]
        edges = np.flatnonzero(kept_rows[1:] != kept_rows[:-1]) + 1
        starts = np.concatenate(([0], edges)).tolist()
        ends = np.concatenate((edges, [len(kept)])).tolist()
        texts = self.message_texts
        # Oldest first: each member's run reversed. Slices of one list, not an array a member.
        ordered = [texts[i] for i in kept[::-1].tolist()]
        total = len(ordered)
        return {
            row: "\n".join(ordered[total - end : total - start])
            for row, start, end in zip(kept_rows[starts].tolist(), starts, ends, strict=True)
        }


class EventGroups:
    """Events sorted once by (member, course), to build matrices without sorting again."""

    def __init__(self, rows: np.ndarray, items: np.ndarray, n_items: int) -> None:
        key = rows.astype(np.int64) * n_items + items.astype(np.int64)
        self.order = np.argsort(key, kind="stable")
        ordered = key[self.order]
        first = np.ones(len(ordered), dtype=bool)
        first[1:] = ordered[1:] != ordered[:-1]
        self.starts = np.flatnonzero(first)
        self.rows = rows[self.order[self.starts]].astype(np.int64)
        self.items = items[self.order[self.starts]].astype(np.int32)

    def matrix(
        self, weights: np.ndarray, mask: np.ndarray | None, n_rows: int, n_items: int
    ) -> sparse.csr_matrix:
        """Return the same matrix as ``interaction_matrix`` of the events under ``mask``."""
        return self.largest(weights, mask, n_rows, n_items).astype(np.float32)

    def largest(
        self, values: np.ndarray, mask: np.ndarray | None, n_rows: int, n_items: int
    ) -> sparse.csr_matrix:
        """Return each (member, course)'s largest event value under ``mask``, as float64."""
        if not len(self.order):
            return sparse.csr_matrix((n_rows, n_items), dtype=np.float64)
        ordered = values.astype(np.float64)[self.order]  # float64: seconds stay apart
        if mask is not None:
            ordered[~mask[self.order]] = -np.inf
        largest = np.maximum.reduceat(ordered, self.starts)
        keep = largest > -np.inf
        rows = self.rows[keep]
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        index_type = np.int32 if len(rows) < 2**31 else np.int64
        return sparse.csr_matrix(
            (largest[keep], self.items[keep].astype(index_type), indptr.astype(index_type)),
            shape=(n_rows, n_items),
        )


def recency_weights(latest: np.ndarray, rows: np.ndarray, half_life: float) -> np.ndarray:
    """Return each course's weight ``0.5 ** (n / half_life)`` in its member's input row.

    ``latest[i]`` is when the member of ``rows[i]`` last took course ``i``; ``n`` counts that
    member's courses taken strictly later (0 for the latest; ties share a weight). Serving and
    training weigh a member's row the same way; ``inf`` is no weighting (every weight 1).
    """
    out = np.ones(len(latest), dtype=np.float32)
    if not math.isfinite(half_life) or not len(latest):
        return out
    order = np.lexsort((-latest, rows))
    sorted_rows, sorted_times = rows[order], latest[order]
    index = np.arange(len(order))
    new_row = np.ones(len(order), dtype=bool)
    new_row[1:] = sorted_rows[1:] != sorted_rows[:-1]
    new_time = new_row.copy()
    new_time[1:] |= sorted_times[1:] != sorted_times[:-1]
    row_start = np.maximum.accumulate(np.where(new_row, index, 0))
    tie_start = np.maximum.accumulate(np.where(new_time, index, 0))
    later = (tie_start - row_start).astype(np.float64)
    # Clamped above zero: a stored zero would make an owned course look unowned.
    out[order] = np.maximum(np.power(0.5, later / half_life), RECENCY_FLOOR)
    return out


def recency_matrix(data: Dataset, mask: np.ndarray | None, half_life: float) -> sparse.csr_matrix:
    """Return the members x courses input rows under ``mask``, weighted by recency.

    A member's n-th latest course (n = 0 for the latest) weighs ``0.5 ** (n / half_life)``;
    ``inf`` gives every owned course 1. The structure is ``data.matrix(mask)``'s.
    """
    return reweigh(latest_matrix(data, mask), half_life)


def latest_matrix(data: Dataset, mask: np.ndarray | None) -> sparse.csr_matrix:
    """Return when each member last took each course (under ``mask``), as float64 seconds."""
    return data.groups().largest(data.event_times, mask, data.n_members, data.n_items)


def reweigh(latest: sparse.csr_matrix, half_life: float) -> sparse.csr_matrix:
    """Turn ``latest_matrix`` rows into recency weights with ``half_life`` (float32)."""
    rows = np.repeat(np.arange(latest.shape[0]), np.diff(latest.indptr))
    return sparse.csr_matrix(
        (recency_weights(latest.data, rows, half_life), latest.indices, latest.indptr),
        shape=latest.shape,
        dtype=np.float32,
    )


def interaction_matrix(
    rows: np.ndarray, items: np.ndarray, weights: np.ndarray, n_rows: int, n_items: int
) -> sparse.csr_matrix:
    """Build a members x courses matrix; a repeated (member, course) keeps its largest weight."""
    if not len(rows):
        return sparse.csr_matrix((n_rows, n_items), dtype=np.float32)
    key = rows.astype(np.int64) * n_items + items.astype(np.int64)
    order = np.lexsort((-weights, key))
    key_sorted = key[order]
    first = np.ones(len(key_sorted), dtype=bool)
    first[1:] = key_sorted[1:] != key_sorted[:-1]
    chosen = order[first]
    matrix = sparse.csr_matrix(
        (weights[chosen].astype(np.float32), (rows[chosen], items[chosen])),
        shape=(n_rows, n_items),
        dtype=np.float32,
    )
    matrix.sort_indices()
    return matrix


class SplitBy(StrEnum):
    """How an evaluation holds data out: each member's last courses, or everything after a time."""

    MEMBER = "member"
    GLOBAL = "global"


@dataclass(slots=True)
class Split:
    """A per-member temporal hold-out of a dataset.

    ``train_mask`` selects the events a model may learn from; ``test[row]`` holds the courses a
    member took at or after their ``cutoff[row]`` (and did not already have before it).
    """

    train_mask: np.ndarray
    cutoff: np.ndarray
    test: dict[int, np.ndarray]


def temporal_split(data: Dataset, fraction: float = 0.2, min_events: int = 2) -> Split:
    """Hold out the last ``fraction`` of each member's courses (ties in time stay together).

    A member needs ``min_events`` distinct courses to be split; the first test course's time is
    their cut-off, and everything taken at that moment or later is test. A member whose every
    course came at one moment has nothing to train on: their row is all test (a cold member).
    """
    n = data.n_members
    cutoff = np.full(n, np.inf)
    train_mask = np.ones(len(data.event_rows), dtype=bool)
    test: dict[int, np.ndarray] = {}
    if not len(data.event_rows):
        return Split(train_mask, cutoff, test)
    # The first time each member took each course, (member, course) pairs in key order.
    groups = data.groups()
    rows = groups.rows
    times = np.minimum.reduceat(data.event_times[groups.order], groups.starts)
    by_row = np.lexsort((times, rows))
    rows, times, items = rows[by_row], times[by_row], groups.items[by_row].astype(np.int64)
    bounds = np.flatnonzero(np.diff(rows)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(rows)]))
    count = ends - starts
    split = count >= min_events
    # Python's round and numpy's both round half to even.
    n_test = np.maximum(1, np.round(count * fraction)).astype(np.int64)
    members = rows[starts[split]]
    cutoff[members] = times[(ends - n_test)[split]]
    # Each (member, course) is here once (its first time), so held courses need only a sort.
    held = np.flatnonzero(times >= cutoff[rows])
    order = held[np.lexsort((items[held], rows[held]))]
    held_rows = rows[order]
    edges = np.flatnonzero(np.diff(held_rows)) + 1
    for row, courses in zip(
        held_rows[np.concatenate(([0], edges))].tolist() if len(order) else [],
        np.split(items[order], edges) if len(order) else [],
        strict=True,
    ):
        test[int(row)] = courses
    train_mask = data.event_times < cutoff[data.event_rows]
    return Split(train_mask, cutoff, test)


def global_split(data: Dataset, fraction: float = 0.2) -> Split:
    """Hold out everything from one moment on: the time before the last ``fraction`` of events.

    Every member's cut-off is that moment, so no model learns from anything that happened
    after it (a per-member split lets a model see other members' later courses). A member's
    test courses are those first taken at or after it.
    """
    n = data.n_members
    if not len(data.event_rows):
        return Split(np.ones(0, dtype=bool), np.full(n, np.inf), {})
    cut = float(np.quantile(data.event_times, 1 - fraction))
    train_mask = data.event_times < cut
    before = interaction_matrix(
        data.event_rows[train_mask],
        data.event_items[train_mask],
        data.event_weights[train_mask],
        n,
        data.n_items,
    )
    after = ~train_mask
    test: dict[int, np.ndarray] = {}
    for row in np.unique(data.event_rows[after]):
        items = np.unique(data.event_items[after & (data.event_rows == row)])
        items = np.setdiff1d(items, before[int(row)].indices)
        if len(items):
            test[int(row)] = items
    return Split(train_mask, np.full(n, cut), test)
