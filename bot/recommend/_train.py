"""Training: choose the collaborative model and the blend weights on a validation split, then fit.

Everything here is plain CPU work on arrays; the caller runs it in a worker thread so the bot
keeps serving the previous model meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse

from bot.recommend._algos import ease, item_knn, item_scores, popularity
from bot.recommend._data import Dataset, temporal_split
from bot.recommend._metrics import coverage, per_member, top_k
from bot.recommend._model import Model, blend, zscore
from bot.recommend._text import TextModel
from bot.recommend._types import Algorithm, ModelInfo, catalog_digest

Progress = Callable[[str], None]
MIN_VALIDATION = 30  # fewer validation members than this: keep the default blend weights
DEFAULT_COLD_POPULARITY = 0.5


@dataclass(frozen=True, slots=True)
class TrainParams:
    """The search space and the sizes that bound training time."""

    ease_max_items: int = 3000
    ease_lambdas: tuple[float, ...] = (5.0, 50.0, 500.0, 5000.0)
    knn_ks: tuple[int, ...] = (20, 100)
    text_weights: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0)
    popularity_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
    cold_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    validation_members: int = 5000
    text_members: int = 10_000
    messages_per_member: int = 20
    k: int = 10
    seed: int = 0


def fit_collab(
    algorithm: Algorithm, matrix: sparse.csr_matrix, param: float
) -> np.ndarray | sparse.csr_matrix | None:
    """Fit one collaborative model (``param`` is EASE's lambda or kNN's k)."""
    if algorithm is Algorithm.EASE:
        return ease(matrix, param)
    if algorithm is Algorithm.ITEM_KNN:
        return item_knn(matrix, int(param))
    return None


def candidates(params: TrainParams, n_items: int) -> list[tuple[Algorithm, float]]:
    """Return the (algorithm, parameter) pairs to try; EASE only up to ``ease_max_items``."""
    pairs: list[tuple[Algorithm, float]] = []
    if n_items <= params.ease_max_items:
        pairs += [(Algorithm.EASE, lam) for lam in params.ease_lambdas]
    pairs += [(Algorithm.ITEM_KNN, float(k)) for k in params.knn_ks]
    return pairs


def mean_ndcg(
    scores: np.ndarray, exclude: sparse.csr_matrix, truth: list[np.ndarray], k: int
) -> float:
    """Return the mean NDCG at ``k`` of score rows against the held-out courses."""
    if not truth:
        return 0.0
    return float(per_member(top_k(scores, exclude, k), truth, k)["ndcg"].mean())


def tune_collab(
    matrix: sparse.csr_matrix,
    rows: np.ndarray,
    truth: list[np.ndarray],
    params: TrainParams,
    pairs: list[tuple[Algorithm, float]],
) -> tuple[Algorithm, float, float]:
    """Return the (algorithm, parameter) with the best validation NDCG, and that NDCG."""
    best = (pairs[0][0], pairs[0][1], -1.0)
    seen = matrix[rows]
    for algorithm, param in pairs:
        weights = fit_collab(algorithm, matrix, param)
        assert weights is not None
        ndcg = mean_ndcg(item_scores(weights, seen), seen, truth, params.k)
        if ndcg > best[2]:
            best = (algorithm, param, ndcg)
    return best


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
    """Train a model on everything in ``data``, with weights chosen on a temporal validation."""
    params = params or TrainParams()
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(params.seed)
    n_items = data.n_items
    split = temporal_split(data)
    val_rows = _sample(np.array(sorted(split.test), dtype=np.int64), params.validation_members, rng)
    is_val = np.zeros(data.n_members, dtype=bool)
    is_val[val_rows] = True
    train_matrix = data.matrix(split.train_mask | ~is_val[data.event_rows])
    seen = train_matrix[val_rows]
    warm_val = val_rows[np.asarray(seen.getnnz(axis=1) > 0)]
    warm_truth = [split.test[int(r)] for r in warm_val]
    validation: dict[str, float] = {"validation_members": float(len(val_rows))}

    algorithm, param = Algorithm.POPULARITY, 0.0
    pairs = candidates(params, n_items)
    if train_matrix.nnz and pairs:
        algorithm, param = pairs[0]
        if len(warm_val):
            say("choosing the collaborative model")
            algorithm, param, ndcg = tune_collab(train_matrix, warm_val, warm_truth, params, pairs)
            validation["collab_ndcg"] = ndcg

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
        pop_z = zscore(popularity(train_matrix)[None, :])[0]
        if train_matrix.nnz:
            weights = fit_collab(algorithm, train_matrix, param)
            text_weight, popularity_weight, warm_ndcg = _choose_warm_weights(
                text_model, weights, train_matrix, warm_val, warm_truth, texts, pop_z, params
            )
            validation["blend_ndcg"] = warm_ndcg
        if text_model is not None:
            cold_popularity, cold_ndcg = _choose_cold_weight(
                text_model, val_rows, split.test, texts, pop_z, params
            )
            validation["cold_ndcg"] = cold_ndcg

    say("fitting the final model on all the data")
    matrix = data.matrix()
    weights = fit_collab(algorithm, matrix, param) if matrix.nnz else None
    if weights is None:
        algorithm = Algorithm.POPULARITY
    all_texts = data.texts_by_row(limit=params.messages_per_member)
    text_model_final: TextModel | None = None
    if all_texts and n_items:
        learn = _sample(np.array(sorted(all_texts), dtype=np.int64), params.text_members, rng)
        text_model_final = TextModel.fit(
            data.courses, {int(r): all_texts[r] for r in learn}, matrix
        )
    model = Model(
        data.courses,
        info=ModelInfo(
            trained_at=now,
            data_version=data.version,
            catalog=catalog_digest(data.courses),
            algorithm=algorithm,
        ),
        weights=weights,
        popularity=popularity(matrix),
        text=text_model_final,
        text_weight=text_weight,
        cold_popularity=cold_popularity,
        popularity_weight=popularity_weight,
    )
    validation["coverage"] = _coverage(model, matrix, all_texts, params, rng)
    model.info = ModelInfo(
        trained_at=now,
        data_version=data.version,
        catalog=catalog_digest(data.courses),
        algorithm=algorithm,
        params={
            "param": param,
            "text_weight": text_weight,
            "cold_popularity": cold_popularity,
            "popularity_weight": popularity_weight,
        },
        members=int(np.count_nonzero(matrix.getnnz(axis=1))),
        purchases=int(matrix.nnz),
        validation=validation,
    )
    return model


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
    for beta in sorted(params.popularity_weights):
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
) -> tuple[float, float]:
    """Pick popularity's share for members with text and no courses (1 is popularity alone).

    Validation members with text stand in for them, their courses hidden.
    """
    with_text = [int(r) for r in rows if int(r) in texts]
    if not with_text:
        return 1.0, 0.0
    truth = [test[r] for r in with_text]
    text_z = zscore(text.scores([texts[r] for r in with_text]))
    nothing = sparse.csr_matrix(text_z.shape, dtype=np.float32)
    best = (1.0, -1.0)
    for beta in sorted(params.cold_weights, reverse=True):
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
        if ndcg > best[1] + 1e-9:
            best = (beta, ndcg)
    return best
