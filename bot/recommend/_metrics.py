"""Ranking metrics at K per member, and bootstrap confidence intervals over members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

METRICS = ("precision", "recall", "ndcg", "map", "hit")
BOUND_BLOCK = 32  # columns a block maximum covers in top_k_bounded


def top_k(scores: np.ndarray, exclude: sparse.csr_matrix | None, k: int) -> np.ndarray:
    """Return each row's ``k`` best columns, best first, never one set in ``exclude``."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None and exclude.nnz:
        coo = exclude.tocoo()
        scores[coo.row, coo.col] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def top_k_bounded(scores: np.ndarray, exclude: sparse.csr_matrix | None, k: int) -> np.ndarray:
    """Return what ``top_k`` does, ties broken by lower column, without partitioning whole rows.

    The k-th largest of a row's block maxima (blocks of ``BOUND_BLOCK`` columns) is at most its
    k-th largest score, so only the columns at or above it (a few times k) are sorted. Model
    selection ranks every candidate with it; evaluation keeps ``top_k``.
    """
    scores = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None and exclude.nnz:
        coo = exclude.tocoo()
        scores[coo.row, coo.col] = -np.inf
    m, n = scores.shape
    k = min(k, n)
    blocks = n // BOUND_BLOCK
    if k <= 0 or not m:
        return np.zeros((m, max(k, 0)), dtype=np.intp)
    if blocks < 4 * k:  # few columns: one stable sort of each row is as cheap
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    whole = blocks * BOUND_BLOCK
    maxima = scores[:, :whole].reshape(m, blocks, BOUND_BLOCK).max(axis=2)
    if whole < n:
        maxima = np.concatenate((maxima, scores[:, whole:].max(axis=1, keepdims=True)), axis=1)
    width = maxima.shape[1]
    bound = np.partition(maxima, width - k, axis=1)[:, width - k : width - k + 1]
    rows, cols = np.nonzero(scores >= bound)  # at least k a row: k blocks reach the bound
    order = np.lexsort((cols, -scores[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, np.arange(m))
    rank = np.arange(len(rows)) - starts[rows]
    return cols[rank < k].reshape(m, k)


def per_member(top: np.ndarray, truth: Sequence[np.ndarray], k: int) -> dict[str, np.ndarray]:
    """Compute precision, recall, NDCG, average precision and hit at ``k`` for each member.

    ``top[i]`` are member i's ranked columns and ``truth[i]`` their held-out ones (distinct).
    Vectorised: one ``isin`` over every (member, column) pair instead of one per member.
    """
    n = len(truth)
    out = {name: np.zeros(n) for name in METRICS}
    if n == 0:
        return out
    lengths = np.array([len(t) for t in truth], dtype=np.int64)
    ranked = np.asarray(top)[:n, :k].astype(np.int64)
    flat = np.concatenate(truth).astype(np.int64) if lengths.sum() else np.zeros(0, np.int64)
    width = 1 + max(int(ranked.max(initial=-1)), int(flat.max(initial=-1)))
    truth_keys = np.repeat(np.arange(n, dtype=np.int64), lengths) * width + flat
    keys = np.arange(n, dtype=np.int64)[:, None] * width + ranked
    hits = np.isin(keys, truth_keys)
    depth = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    some = lengths > 0
    n_hits = hits.sum(axis=1)
    at_most = np.minimum(lengths, k)
    ideal = np.concatenate(([1.0], np.cumsum(discounts)))[at_most]
    out["precision"] = np.where(some, n_hits / k, 0.0)
    out["recall"] = np.where(some, n_hits / np.maximum(lengths, 1), 0.0)
    out["ndcg"] = np.where(some, (hits * discounts[:depth]).sum(axis=1) / ideal, 0.0)
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, depth + 1)
    out["map"] = np.where(some, (precision_at * hits).sum(axis=1) / np.maximum(at_most, 1), 0.0)
    out["hit"] = np.where(some, (n_hits > 0).astype(np.float64), 0.0)
    return out


def coverage(top: np.ndarray, n_items: int) -> float:
    """Return the share of the catalogue that appears in anyone's top K."""
    return len(np.unique(top)) / n_items if n_items else 0.0


@dataclass(frozen=True, slots=True)
class Interval:
    """A mean with a bootstrap 95% confidence interval."""

    mean: float
    low: float
    high: float


def bootstrap(values: np.ndarray, *, rounds: int = 1000, seed: int = 0) -> Interval:
    """Return the mean of ``values`` with a percentile bootstrap 95% interval over members."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(rounds)
    for start in range(0, rounds, 100):
        stop = min(rounds, start + 100)
        picks = rng.integers(0, len(values), size=(stop - start, len(values)))
        means[start:stop] = values[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(values.mean()), float(low), float(high))


def paired(a: np.ndarray, b: np.ndarray, *, rounds: int = 1000, seed: int = 0) -> Interval:
    """Return the mean difference ``a - b`` over the same members, with a 95% interval."""
    return bootstrap(np.asarray(a) - np.asarray(b), rounds=rounds, seed=seed)
