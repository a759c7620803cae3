"""Training: choose the collaborative model and the blend weights on a validation split, then fit.

Everything here is plain CPU work on arrays; the caller runs it in a worker thread so the bot
keeps serving the previous model meanwhile. What was chosen, and why, goes to the log at INFO.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from bot.recommend._algos import item_scores, popularity
from bot.recommend._data import Dataset, latest_matrix, recency_matrix, reweigh, temporal_split
from bot.recommend._metrics import coverage, per_member, top_k, top_k_bounded
from bot.recommend._model import Model, blend, zscore
from bot.recommend._select import Candidate, Grid, binary, choose, fit
from bot.recommend._text import TextModel
from bot.recommend._types import Algorithm, ModelInfo, catalog_digest

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
MIN_VALIDATION = 30  # fewer validation members than this: keep the default blend weights
DEFAULT_COLD_POPULARITY = 0.5
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class TrainParams:
    """The search space and the sizes that bound training time and memory."""

    train_memory_mb: float = 1536.0
    ease_lambdas: tuple[float, ...] = (5.0, 50.0, 200.0, 500.0, 2000.0, 5000.0)
    knn_ks: tuple[int, ...] = (20, 50, 100, 200)
    knn_shrinks: tuple[float, ...] = (0.0, 10.0, 100.0)
    half_lives: tuple[float, ...] = (0.25, 1.0)  # shares of the data's time span
    # A member's n-th latest course weighs 0.5 ** (n / h) in their input row; no weighting
    # (inf) is always tried, first, and wins ties.
    recencies: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0)
    text_weights: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0)
    popularity_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
    cold_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    validation_members: int = 5000
    text_members: int = 10_000
    messages_per_member: int = 20
    k: int = 10
    seed: int = 0

    def grid(self) -> Grid:
        """Return the collaborative search space."""
        return Grid(
            memory_mb=self.train_memory_mb,
            ease_lambdas=self.ease_lambdas,
            knn_ks=self.knn_ks,
            knn_shrinks=self.knn_shrinks,
            half_lives=self.half_lives,
            k=self.k,
        )


def decayed_matrix(data: Dataset, mask: np.ndarray | None, half_life: float) -> sparse.csr_matrix:
    """Return the events under ``mask``, each weighing half as much per ``half_life`` of age.

    Age counts back from the latest event under the mask; ``inf`` is no decay.
    """
    if not math.isfinite(half_life):
        return data.matrix(mask)
    times = data.event_times if mask is None else data.event_times[mask]
    end = float(times.max()) if len(times) else 0.0
    # Events after ``end`` are outside the mask: age 0, not a negative one that overflows.
    age = np.maximum(end - data.event_times, 0.0)
    factor = np.power(0.5, age / half_life).astype(np.float32)
    return data.matrix(mask, weights=data.event_weights * factor)


def fit_collab(
    algorithm: Algorithm, matrix: sparse.csr_matrix, param: float, shrink: float = 0.0
) -> np.ndarray | sparse.csr_matrix | None:
    """Fit one collaborative model (``param`` is EASE's lambda or kNN's k)."""
    return fit(Candidate(algorithm, param, shrink), matrix)


def mean_ndcg(
    scores: np.ndarray, exclude: sparse.csr_matrix, truth: list[np.ndarray], k: int
) -> float:
    """Return the mean NDCG at ``k`` of score rows against the held-out courses."""
    if not truth:
        return 0.0
    return float(per_member(top_k_bounded(scores, exclude, k), truth, k)["ndcg"].mean())


def _span(data: Dataset, mask: np.ndarray | None = None) -> float:
    times = data.event_times if mask is None else data.event_times[mask]
    return float(times.max() - times.min()) if len(times) else 0.0


def _sample(rows: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    if len(rows) <= limit:
        return rows
    return np.sort(rng.choice(rows, size=limit, replace=False))


def train(
    data: Dataset,
    now: datetime,
    params: TrainParams | None = None,
    progress: Progress | None = None,
) -> Model:
    """Train a model on everything in ``data``, with weights chosen on a temporal validation.

    BLAS runs on one thread: training shares the machine with the bot it trains for, and on
    a busy machine a second BLAS thread spins more than it computes.
    """
    with threadpool_limits(1, "blas"):
        return _train(data, now, params or TrainParams(), progress)


def _train(data: Dataset, now: datetime, params: TrainParams, progress: Progress | None) -> Model:
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(params.seed)
    n_items = data.n_items
    split = temporal_split(data)
    val_rows = _sample(np.array(sorted(split.test), dtype=np.int64), params.validation_members, rng)
    is_val = np.zeros(data.n_members, dtype=bool)
    is_val[val_rows] = True
    train_mask = split.train_mask | ~is_val[data.event_rows]
    train_matrix = data.matrix(train_mask)
    seen = binary(train_matrix[val_rows])
    warm_val = val_rows[np.asarray(seen.getnnz(axis=1) > 0)]
    warm_truth = [split.test[int(r)] for r in warm_val]
    validation: dict[str, float] = {"validation_members": float(len(val_rows))}
    pop_half_life = math.inf
    if n_items and len(val_rows):
        pop_half_life, validation["popularity_ndcg"] = _choose_popularity_decay(
            data, train_mask, val_rows, split.test, seen, params
        )
    pop_z = zscore(_popularity(data, train_mask, pop_half_life)[None, :])[0]

    candidate = Candidate(Algorithm.POPULARITY, 0.0)
    chosen_weights: np.ndarray | sparse.csr_matrix | None = None
    if train_matrix.nnz and n_items:
        candidate = Candidate(Algorithm.ITEM_KNN, float(min(params.knn_ks, default=20)))
        if len(warm_val):
            say("choosing the collaborative model")
            latest = latest_matrix(data, train_mask)[warm_val]
            choice = choose(
                lambda half_life: decayed_matrix(data, train_mask, half_life),
                binary(train_matrix[warm_val]),
                warm_truth,
                params.grid(),
                _span(data, train_mask),
                pop_z,
                recent={h: reweigh(latest, h) for h in params.recencies},
            )
            del latest
            candidate, chosen_weights = choice.candidate, choice.weights
            validation["collab_ndcg"] = choice.ndcg
            validation["candidates"] = float(choice.tried)
            if not math.isnan(choice.ease_ndcg):
                validation["ease_ndcg"] = choice.ease_ndcg

    say("fitting the text part on the validation split")
    cutoff = np.where(is_val, split.cutoff, np.inf)
    texts = data.texts_by_row(before=cutoff, limit=params.messages_per_member)
    text_weight, cold_popularity, popularity_weight = 0.0, DEFAULT_COLD_POPULARITY, 0.0
    if n_items and len(val_rows) >= MIN_VALIDATION:
        text_model: TextModel | None = None
        if texts:
            learn = np.array([r for r in texts if not is_val[r]], dtype=np.int64)
            learn = _sample(learn, params.text_members, rng)
            text_model = TextModel.fit(
                data.courses, {int(r): texts[r] for r in learn}, train_matrix
            )
        if train_matrix.nnz and candidate.algorithm is not Algorithm.POPULARITY:
            weights = chosen_weights
            if weights is None:
                weights = fit(candidate, decayed_matrix(data, train_mask, candidate.half_life))
            text_weight, popularity_weight, warm_ndcg = _choose_warm_weights(
                text_model,
                weights,
                recency_matrix(data, train_mask, candidate.recency),
                warm_val,
                warm_truth,
                texts,
                pop_z,
                params,
            )
            validation["blend_ndcg"] = warm_ndcg
            del weights, chosen_weights
        if text_model is not None:
            cold_popularity, cold_ndcg, cold_pop_ndcg = _choose_cold_weight(
                text_model, val_rows, split.test, texts, pop_z, params
            )
            validation["cold_ndcg"] = cold_ndcg
            validation["cold_popularity_ndcg"] = cold_pop_ndcg
            _say_cold(cold_popularity, cold_ndcg, cold_pop_ndcg, params.k)
        else:
            log.info("recommend: cold members get popularity (no messages to learn text from)")

    say("fitting the final model on all the data")
    matrix = data.matrix()
    weights = None
    if matrix.nnz:
        weights = fit(candidate, decayed_matrix(data, None, candidate.half_life))
    algorithm = candidate.algorithm if weights is not None else Algorithm.POPULARITY
    all_texts = data.texts_by_row(limit=params.messages_per_member)
    text_model_final: TextModel | None = None
    if all_texts and n_items:
        learn = _sample(np.array(sorted(all_texts), dtype=np.int64), params.text_members, rng)
        text_model_final = TextModel.fit(
            data.courses, {int(r): all_texts[r] for r in learn}, matrix
        )
    info = ModelInfo(
        trained_at=now,
        data_version=data.version,
        catalog=catalog_digest(data.courses),
        algorithm=algorithm,
    )
    model = Model(
        data.courses,
        info=info,
        weights=weights,
        popularity=_popularity(data, None, pop_half_life),
        text=text_model_final,
        text_weight=text_weight,
        cold_popularity=cold_popularity,
        popularity_weight=popularity_weight,
        recency=candidate.recency,
    )
    recent = recency_matrix(data, None, candidate.recency)
    validation["coverage"] = _coverage(model, recent, all_texts, params, rng)
    model.info = ModelInfo(
        trained_at=now,
        data_version=data.version,
        catalog=catalog_digest(data.courses),
        algorithm=algorithm,
        params={
            "param": candidate.param,
            "shrink": candidate.shrink,
            "half_life_days": _days(candidate.half_life),
            "popularity_half_life_days": _days(pop_half_life),
            "text_weight": text_weight,
            "cold_popularity": cold_popularity,
            "popularity_weight": popularity_weight,
            "recency": _courses(candidate.recency),
        },
        members=int(np.count_nonzero(matrix.getnnz(axis=1))),
        purchases=int(matrix.nnz),
        validation=validation,
    )
    log.info(
        "recommend: trained %s; text weight %g, popularity weight %g (half-life %s), "
        "cold popularity share %g",
        candidate.label(),
        text_weight,
        popularity_weight,
        "none" if math.isinf(pop_half_life) else f"{pop_half_life / DAY:.3g}d",
        cold_popularity,
    )
    return model


def describe(model: Model) -> str:
    """Return the chosen hyper-parameters of a trained model in one line."""
    p = model.info.params
    candidate = Candidate(
        model.info.algorithm,
        p.get("param", 0.0),
        p.get("shrink", 0.0),
        p.get("half_life_days", 0.0) * DAY or math.inf,
        model.recency,
    )
    pop_days = p.get("popularity_half_life_days", 0.0)
    cold = (
        "popularity"
        if model.cold_popularity >= 1.0
        else f"text (popularity share {model.cold_popularity:g})"
    )
    # The label names a recency half-life (in courses) when there is one.
    plain = model.info.algorithm is not Algorithm.POPULARITY and math.isinf(model.recency)
    recency = " no recency weighting" if plain else ""
    return (
        f"{candidate.label()}{recency}, text weight {model.text_weight:g}, popularity weight "
        f"{model.popularity_weight:g}"
        + (f" (half-life {pop_days:.3g}d)" if pop_days else "")
        + f", cold members: {cold}"
    )


def _courses(half_life: float) -> float:
    """Return a recency half-life in courses; 0 stands for none (no weighting)."""
    return 0.0 if math.isinf(half_life) else half_life


def _days(seconds: float) -> float:
    """Return a half-life in days; 0 stands for none (no decay)."""
    return 0.0 if math.isinf(seconds) else seconds / DAY


def _popularity(data: Dataset, mask: np.ndarray | None, half_life: float) -> np.ndarray:
    """Return each course's popularity: members who took it, or their decayed weights."""
    if math.isinf(half_life):
        return popularity(data.matrix(mask))
    return popularity(decayed_matrix(data, mask, half_life), weighted=True)


def _choose_popularity_decay(
    data: Dataset,
    mask: np.ndarray,
    rows: np.ndarray,
    test: dict[int, np.ndarray],
    seen: sparse.csr_matrix,
    params: TrainParams,
) -> tuple[float, float]:
    """Pick the half-life of popularity (recent takers count more) by validation NDCG."""
    truth = [test[int(r)] for r in rows]
    span = _span(data, mask)
    best = (math.inf, -1.0)
    for share in (math.inf, *sorted(params.half_lives)):
        half_life = share * span if math.isfinite(share) else math.inf
        if math.isfinite(half_life) and half_life <= 0:
            continue
        pop = _popularity(data, mask, half_life)
        ndcg = mean_ndcg(np.broadcast_to(pop, seen.shape), seen, truth, params.k)
        if ndcg > best[1] + 1e-9:
            best = (half_life, ndcg)
    return best


def _say_cold(cold_popularity: float, cold_ndcg: float, pop_ndcg: float, k: int) -> None:
    """Log what members with messages and no courses get, and why."""
    if cold_popularity >= 1.0:
        log.info(
            "recommend: cold members get popularity: text did not beat it on validation"
            " (NDCG@%d %.4f)",
            k,
            cold_ndcg,
        )
    else:
        log.info(
            "recommend: cold members get the text model (popularity share %g): validation"
            " NDCG@%d %.4f against popularity's %.4f",
            cold_popularity,
            k,
            cold_ndcg,
            pop_ndcg,
        )


def _coverage(
    model: Model,
    matrix: sparse.csr_matrix,
    texts: dict[int, str],
    params: TrainParams,
    rng: np.random.Generator,
) -> float:
    """Return the share of the catalogue in the top K of a sample of members with history."""
    active = np.union1d(np.flatnonzero(matrix.getnnz(axis=1)), np.array(sorted(texts), np.int64))
    rows = _sample(active.astype(np.int64), 2000, rng)
    if not len(rows) or not model.courses:
        return 0.0
    seen = matrix[rows]
    scores = model.score_rows(seen, [texts.get(int(r)) for r in rows])
    return coverage(top_k(scores, seen, params.k), len(model.courses))


def _choose_warm_weights(
    text: TextModel | None,
    weights: np.ndarray | sparse.csr_matrix | None,
    matrix: sparse.csr_matrix,
    rows: np.ndarray,
    truth: list[np.ndarray],
    texts: dict[int, str],
    pop_z: np.ndarray,
    params: TrainParams,
) -> tuple[float, float, float]:
    """Pick popularity's weight, then the text weight, for warm members, and their NDCG.

    Each weight 0 (the collaborative part alone) wins unless a weight does better.
    """
    if weights is None or not len(rows):
        return 0.0, 0.0, 0.0
    seen = matrix[rows]
    collab_z = zscore(item_scores(weights, seen))
    has_text = np.array([text is not None and int(r) in texts for r in rows], dtype=bool)
    text_z = np.zeros_like(collab_z)
    if text is not None and has_text.any():
        with_text = rows[has_text]
        text_z[has_text] = zscore(text.scores([texts[int(r)] for r in with_text]))

    def ndcg(text_weight: float, popularity_weight: float) -> float:
        scores = blend(
            collab_z,
            text_z,
            pop_z,
            warm=np.ones(len(rows), dtype=bool),
            has_text=has_text,
            text_weight=text_weight,
            cold_popularity=1.0,
            popularity_weight=popularity_weight,
        )
        return mean_ndcg(scores, seen, truth, params.k)

    best_pop, best = 0.0, ndcg(0.0, 0.0)
    for beta in sorted(b for b in params.popularity_weights if b):
        found = ndcg(0.0, beta)
        if found > best + 1e-9:
            best_pop, best = beta, found
    best_text = 0.0
    if has_text.any():
        for w in sorted(params.text_weights):
            found = ndcg(w, best_pop)
            if found > best + 1e-9:
                best_text, best = w, found
    return best_text, best_pop, best


def _choose_cold_weight(
    text: TextModel,
    rows: np.ndarray,
    test: dict[int, np.ndarray],
    texts: dict[int, str],
    pop_z: np.ndarray,
    params: TrainParams,
) -> tuple[float, float, float]:
    """Pick popularity's share for members with text and no courses (1 is popularity alone).

    Return the share, its validation NDCG and popularity alone's.

    Validation members with text stand in for them, their courses hidden.
    """
    with_text = [int(r) for r in rows if int(r) in texts]
    if not with_text:
        return 1.0, 0.0, 0.0
    truth = [test[r] for r in with_text]
    text_z = zscore(text.scores([texts[r] for r in with_text]))
    nothing = sparse.csr_matrix(text_z.shape, dtype=np.float32)
    best = (1.0, -1.0)
    alone = 0.0
    for beta in sorted({1.0, *params.cold_weights}, reverse=True):
        scores = blend(
            np.zeros_like(text_z),
            text_z,
            pop_z,
            warm=np.zeros(len(with_text), dtype=bool),
            has_text=np.ones(len(with_text), dtype=bool),
            text_weight=0.0,
            cold_popularity=beta,
        )
        ndcg = mean_ndcg(scores, nothing, truth, params.k)
        if beta == 1.0:
            alone = ndcg
        if ndcg > best[1] + 1e-9:
            best = (beta, ndcg)
    return best[0], best[1], alone
