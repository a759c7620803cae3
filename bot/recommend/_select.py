"""Choosing the collaborative model: every candidate that fits the memory budget, on validation.

EASE is tried whenever its items x items float32 matrix fits ``train_memory_mb``; item-kNN with
shrinkage always, over a k x shrink grid. The best on validation NDCG wins, so the chosen model
is never worse on validation than a plain EASE that fits. Then a time decay of the training
events (the split is temporal: recent co-purchases may say more) is tried on the winner.
Each candidate is scored with each recency half-life of the member's input row (a member's
n-th latest course weighs ``0.5 ** (n / h)``; ``inf`` is no weighting) and keeps its best.
What was tried, what fitted and why the winner won goes to the log at INFO.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TypeAlias

import numpy as np
from scipy import sparse

from bot.recommend._algos import (
    cooccurrence,
    ease,
    ease_bytes,
    ease_from_gram,
    gram,
    item_scores,
    knn_bytes,
    row_value_order,
    shrunk_cosine,
    top_k_per_row,
)
from bot.recommend._metrics import per_member, top_k_bounded
from bot.recommend._model import TIE_BREAK, zscore
from bot.recommend._types import Algorithm

log = logging.getLogger(__name__)

SCORE_BATCH = 2048  # validation members scored at a time
SAMPLE_MEMBERS = 2048  # validation members that rank every candidate of the grid
FINALISTS = 3  # the best on that sample, ranked again on every validation member
MB = 2**20
Weights: TypeAlias = np.ndarray | sparse.csr_matrix


@dataclass(frozen=True, slots=True)
class Candidate:
    """One collaborative model to try: EASE's lambda, or kNN's k and shrink; decay, recency."""

    algorithm: Algorithm
    param: float
    shrink: float = 0.0
    half_life: float = math.inf  # seconds; inf: no decay
    recency: float = math.inf  # courses: the n-th latest weighs 0.5 ** (n / recency); inf: 1

    def label(self) -> str:
        """Return the hyper-parameters in words, like ``ease lambda=500``."""
        if self.algorithm is Algorithm.EASE:
            text = f"ease lambda={self.param:g}"
        elif self.algorithm is Algorithm.ITEM_KNN:
            text = f"item_knn k={self.param:g} shrink={self.shrink:g}"
        else:
            text = "popularity"
        if math.isfinite(self.half_life):
            text += f" half-life={self.half_life / 86400:.3g}d"
        if math.isfinite(self.recency):
            text += f" recency={self.recency:g}"
        return text


@dataclass(frozen=True, slots=True)
class Grid:
    """The search space and the memory budget."""

    memory_mb: float
    ease_lambdas: tuple[float, ...]
    knn_ks: tuple[int, ...]
    knn_shrinks: tuple[float, ...]
    half_lives: tuple[float, ...]  # shares of the data's time span; empty: no decay tried
    k: int


@dataclass(slots=True)
class Choice:
    """The winner, its validation NDCG, and the best plain EASE's (``nan`` if none fitted).

    ``weights`` is the winner as fitted on the validation split, kept when a third items x
    items matrix fits the budget (else None: the caller fits it again).
    """

    candidate: Candidate
    ndcg: float
    ease_ndcg: float
    tried: int
    weights: Weights | None = None


def binary(rows: sparse.csr_matrix) -> sparse.csr_matrix:
    """Return the rows with every stored value 1 (what serving knows: owned or not)."""
    out = rows.copy()
    out.data[:] = 1.0
    return out


def fit(candidate: Candidate, matrix: sparse.csr_matrix) -> Weights | None:
    """Fit one candidate on ``matrix`` (already decayed if it has a half-life)."""
    if candidate.algorithm is Algorithm.EASE:
        return ease(matrix, candidate.param)
    if candidate.algorithm is Algorithm.ITEM_KNN:
        return _top(shrunk_cosine(matrix, candidate.shrink), int(candidate.param))
    return None


def mean_ndcg(
    weights: Weights,
    seen: sparse.csr_matrix,
    truth: list[np.ndarray],
    k: int,
    tie: np.ndarray | None = None,
) -> float:
    """Return the mean validation NDCG at ``k`` of an item-item model, scored in batches.

    Scores are standardised per member and ``tie`` (popularity, standardised) breaks ties,
    as the served blend does.
    """
    if not truth:
        return 0.0
    values = []
    for start in range(0, seen.shape[0], SCORE_BATCH):
        rows = seen[start : start + SCORE_BATCH]
        scores = zscore(item_scores(weights, rows))
        if tie is not None:
            scores = scores + TIE_BREAK * tie
        top = top_k_bounded(scores, rows, k)
        values.append(per_member(top, truth[start : start + SCORE_BATCH], k)["ndcg"])
    return float(np.concatenate(values).mean())


def ease_fits(n_items: int, memory_mb: float) -> bool:
    """Tell whether EASE on ``n_items`` courses fits a budget of ``memory_mb``."""
    return ease_bytes(n_items) <= memory_mb * MB


def choose(
    matrix_for: Callable[[float], sparse.csr_matrix],
    seen: sparse.csr_matrix,
    truth: list[np.ndarray],
    grid: Grid,
    span: float,
    tie: np.ndarray | None = None,
    *,
    level: int = logging.INFO,
    recent: Mapping[float, sparse.csr_matrix] | None = None,
) -> Choice:
    """Try every candidate that fits on validation and return the best.

    ``matrix_for(half_life)`` gives the training matrix with that decay; ``seen`` are the
    validation members' known courses and ``truth`` their held-out ones; ``span`` is the
    training data's time span in seconds (decays are shares of it); ``tie`` breaks ties.
    ``recent[h]`` are the same rows weighted by a recency half-life ``h`` (courses): each
    candidate is scored with each and keeps its best, no weighting first (it wins ties).
    What was chosen and why is logged at ``level``.
    """
    matrix = matrix_for(math.inf)
    n_items = matrix.shape[1]
    seen = binary(seen)
    inputs = {math.inf: seen} | {h: rows for h, rows in (recent or {}).items() if h != math.inf}
    # Every grid candidate is ranked on a fixed random sample of the validation members; the
    # best few (and the best EASE) are ranked again on all of them, and that decides. Only
    # when their weights fit the budget at once: the gram, the one being fitted, the served
    # model and the finalists. Otherwise (large catalogues, where fitting EASE costs more
    # than scoring) every candidate is ranked on all validation members, as before.
    finalists_fit = (4 + FINALISTS) * ease_bytes(n_items) // 2 <= grid.memory_mb * MB
    sample = _sample_rows(seen.shape[0]) if finalists_fit else None
    inputs_sample = inputs if sample is None else {h: r[sample] for h, r in inputs.items()}
    truth_sample = truth if sample is None else [truth[int(i)] for i in sample]
    # Without a sample only the leader's weights are kept, when a third matrix fits.
    keep_dense = (
        finalists_fit
        if sample is not None
        else 3 * ease_bytes(n_items) // 2 <= (grid.memory_mb * MB)
    )
    ranked: list[_Scored] = []
    tried = 0

    def consider(candidate: Candidate, weights: Weights | None) -> float:
        nonlocal tried
        if weights is None:
            return math.nan
        ndcg = -math.inf
        by_recency: dict[float, float] = {}
        for h, rows in inputs_sample.items():
            found = by_recency[h] = mean_ndcg(weights, rows, truth_sample, grid.k, tie)
            log.debug(
                "recommend: %s validation NDCG@%d %.4f",
                replace(candidate, recency=h).label(),
                grid.k,
                found,
            )
            if found > ndcg + 1e-12:
                ndcg, candidate = found, replace(candidate, recency=h)
        tried += 1
        keep = not isinstance(weights, np.ndarray) or keep_dense
        ranked.append(_Scored(ndcg, len(ranked), candidate, weights if keep else None, by_recency))
        ranked.sort(key=lambda s: (-s.ndcg, s.order))
        kept = {id(s) for s in ranked[: FINALISTS if sample is not None else 1]}
        ease_kept = next((s for s in ranked if s.candidate.algorithm is Algorithm.EASE), None)
        if ease_kept is not None and sample is not None:
            kept.add(id(ease_kept))
        for scored in ranked:
            if id(scored) not in kept:
                scored.weights = None
        return ndcg

    need = ease_bytes(n_items) // MB
    if not grid.ease_lambdas:
        pass
    elif ease_fits(n_items, grid.memory_mb):
        log.log(
            level,
            "recommend: EASE fits (%d courses need %d MB of the %g MB train_memory_mb)",
            n_items,
            need,
            grid.memory_mb,
        )
        # One Gram matrix for every lambda when a copy of it fits beside the two EASE counts.
        shared = gram(matrix) if 2 * ease_bytes(n_items) <= grid.memory_mb * MB else None
        for lam in sorted(grid.ease_lambdas):
            candidate = Candidate(Algorithm.EASE, lam)
            if shared is None:
                weights = _try_fit(candidate, matrix)
            else:
                weights = _try(candidate, partial(ease_from_gram, shared.copy(), lam))
            consider(candidate, weights)
            del weights
        del shared
    else:
        log.log(
            level,
            "recommend: EASE skipped (%d courses need %d MB, over train_memory_mb %g); "
            "item-kNN with shrinkage instead",
            n_items,
            need,
            grid.memory_mb,
        )
    co = cooccurrence(matrix)
    ks = sorted(k for k in grid.knn_ks if knn_bytes(n_items, k, co.nnz) <= grid.memory_mb * MB)
    if grid.knn_ks and not ks:
        ks = [min(grid.knn_ks)]
        log.warning(
            "recommend: even item-kNN needs more than train_memory_mb %g; trying k=%d alone",
            grid.memory_mb,
            ks[0],
        )
    for shrink in grid.knn_shrinks:
        similarity = _top(shrunk_cosine(matrix, shrink, co), max(ks, default=0))
        rank = _row_ranks(similarity)  # one sort serves every smaller k
        for k in ks:
            consider(Candidate(Algorithm.ITEM_KNN, float(k), shrink), _first(similarity, rank, k))
        del similarity, rank
    del co
    if not ranked:
        return Choice(Candidate(Algorithm.POPULARITY, 0.0), 0.0, math.nan, tried)
    best, ease_best = _final_round(ranked, matrix, inputs, truth, grid, tie, sample is not None)
    for share in grid.half_lives:
        if span <= 0:
            break
        candidate = replace(best.candidate, half_life=share * span)
        weights = _try_fit(candidate, matrix_for(candidate.half_life))
        if weights is None:
            continue
        tried += 1
        ndcg = mean_ndcg(weights, inputs[candidate.recency], truth, grid.k, tie)
        log.debug("recommend: %s validation NDCG@%d %.4f", candidate.label(), grid.k, ndcg)
        if ndcg > best.ndcg + 1e-12:
            keep = not isinstance(weights, np.ndarray) or 3 * ease_bytes(n_items) // 2 <= (
                grid.memory_mb * MB
            )
            best = Choice(candidate, ndcg, math.nan, 0, weights if keep else None)
        del weights
    final: Choice = best
    final.ease_ndcg = ease_best
    final.tried = tried
    if not grid.ease_lambdas:
        ease_text = "not tried"
    elif math.isnan(ease_best):
        ease_text = "did not fit"
    else:
        ease_text = f"{ease_best:.4f}"
    log.log(
        level,
        "recommend: chose %s: validation NDCG@%d %.4f, best of %d candidates (plain EASE %s)",
        final.candidate.label(),
        grid.k,
        final.ndcg,
        tried,
        ease_text,
    )
    if len(inputs) > 1:
        _say_recency(final.candidate, ranked, grid.k, level)
    return final


def _say_recency(candidate: Candidate, ranked: list[_Scored], k: int, level: int) -> None:
    """Log the winner's recency half-life and what each half-life gave it on validation."""
    base = replace(candidate, half_life=math.inf)
    scored = next((s for s in ranked if s.candidate == base), None)
    if scored is None:
        return
    found = ", ".join(
        f"{'none' if math.isinf(h) else f'{h:g}'} {ndcg:.4f}"
        for h, ndcg in scored.by_recency.items()
    )
    log.log(
        level,
        "recommend: recency half-life %s chosen for %s: validation NDCG@%d by half-life "
        "(courses; the ranking sample) %s",
        "none" if math.isinf(candidate.recency) else f"{candidate.recency:g}",
        replace(base, recency=math.inf).label(),
        k,
        found,
    )


@dataclass(slots=True, eq=False)
class _Scored:
    """A candidate's NDCG on the validation sample, and its weights while it may still win."""

    ndcg: float
    order: int
    candidate: Candidate
    weights: Weights | None
    by_recency: dict[float, float]  # the NDCG with each recency half-life


def _sample_rows(n: int) -> np.ndarray | None:
    """Return the validation rows that rank every candidate (None: all of them)."""
    if n <= SAMPLE_MEMBERS:
        return None
    return np.sort(np.random.default_rng(0).choice(n, size=SAMPLE_MEMBERS, replace=False))


def _final_round(
    ranked: list[_Scored],
    matrix: sparse.csr_matrix,
    inputs: Mapping[float, sparse.csr_matrix],
    truth: list[np.ndarray],
    grid: Grid,
    tie: np.ndarray | None,
    sampled: bool,
) -> tuple[Choice, float]:
    """Rank the finalists on every validation member; return the winner and the best EASE's.

    The finalists are the best ``FINALISTS`` on the sample and the best EASE, so the winner
    is never worse on validation than that EASE.
    """
    finalists = ranked[:FINALISTS]
    first_ease = next((s for s in ranked if s.candidate.algorithm is Algorithm.EASE), None)
    if first_ease is not None and all(s is not first_ease for s in finalists):
        finalists.append(first_ease)
    if not sampled:
        best = ranked[0]
        ease_ndcg = math.nan if first_ease is None else first_ease.ndcg
        return Choice(best.candidate, best.ndcg, ease_ndcg, 0, best.weights), ease_ndcg
    winner: Choice | None = None
    ease_ndcg = math.nan
    for scored in sorted(finalists, key=lambda s: s.order):
        weights = scored.weights
        if weights is None:
            weights = _try_fit(scored.candidate, matrix)
        if weights is None:
            continue
        ndcg = mean_ndcg(weights, inputs[scored.candidate.recency], truth, grid.k, tie)
        log.debug(
            "recommend: finalist %s validation NDCG@%d %.4f on all members (sample %.4f)",
            scored.candidate.label(),
            grid.k,
            ndcg,
            scored.ndcg,
        )
        if scored is first_ease:
            ease_ndcg = ndcg
        if winner is None or ndcg > winner.ndcg + 1e-12:
            winner = Choice(scored.candidate, ndcg, math.nan, 0, scored.weights)
        scored.weights = None
        del weights
    assert winner is not None
    return winner, ease_ndcg


def _row_ranks(matrix: sparse.csr_matrix) -> np.ndarray:
    """Return each stored entry's rank in its row: largest first, ties lower column first."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = row_value_order(rows, matrix.data)  # CSR order: ties by lower column
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - matrix.indptr[rows[order]]
    return rank


def _first(matrix: sparse.csr_matrix, rank: np.ndarray, k: int) -> sparse.csr_matrix:
    """Return ``top_k_per_row(matrix, k)`` from the entries' ranks (``_row_ranks``)."""
    keep = rank < k
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    counts = np.bincount(rows[keep], minlength=matrix.shape[0])
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(matrix.indptr.dtype)
    out = sparse.csr_matrix(
        (matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape, dtype=np.float32
    )
    return out


def _top(similarity: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    kept: sparse.csr_matrix = top_k_per_row(similarity, k).astype(np.float32)
    return kept


def _try_fit(candidate: Candidate, matrix: sparse.csr_matrix) -> Weights | None:
    return _try(candidate, lambda: fit(candidate, matrix))


def _try(candidate: Candidate, fit_it: Callable[[], Weights | None]) -> Weights | None:
    try:
        return fit_it()
    except np.linalg.LinAlgError as exc:
        log.warning("recommend: %s left out: %s", candidate.label(), exc)
        return None
