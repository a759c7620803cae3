"""Offline evaluation: our recommender against popularity, item-kNN, EASE and implicit's ALS.

Protocol: a per-member temporal hold-out (the last 20% of each member's courses); a member's
courses before their cut-off are known, later ones are to be found, and only messages from
before the cut-off are read. A share of the members with messages become *cold*: their
courses and messages are removed from training, and they are ranked from their earlier
messages alone. Hyper-parameters are tuned on a validation split carved the same way out of
the training part. ``SplitBy.GLOBAL`` holds out everything after one moment instead, so no
model sees what other members did after a test member's cut-off (tuning stays per member).
Metrics at K per member, with bootstrap 95% intervals over members and paired intervals
between our model and each baseline on the same members.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from bot.recommend._algos import item_scores, popularity
from bot.recommend._data import Dataset, SplitBy, global_split, recency_matrix, temporal_split
from bot.recommend._metrics import METRICS, Interval, bootstrap, coverage, paired, per_member, top_k
from bot.recommend._select import Grid, binary, choose, fit
from bot.recommend._train import TrainParams, describe, train

Progress = Callable[[str, int, int], None]
# Validation data for tuning: the training matrix, validation rows, and each row's held-out items.
Tuning = tuple[sparse.csr_matrix, np.ndarray, list[np.ndarray]]
MODELS = ("popularity", "item_knn", "ease", "als", "ours")
ALS_GRID = ((32, 0.05), (64, 0.5), (16, 5.0), (64, 20.0))
BATCH = 4096


@dataclass(slots=True)
class Result:
    """One model's per-member metrics for warm and cold members."""

    name: str
    chosen: str
    warm: dict[str, np.ndarray]
    cold: dict[str, np.ndarray]
    coverage: float
    seconds: float


@dataclass(slots=True)
class Report:
    """Every model's results on one dataset, with intervals."""

    dataset: str
    k: int
    members: int
    courses: int
    events: int
    warm: int
    cold: int
    results: list[Result] = field(default_factory=list)
    rounds: int = 1000
    seed: int = 0

    def interval(self, result: Result, metric: str, group: str = "all") -> Interval:
        """Return a metric's mean and 95% interval for ``all``, ``warm`` or ``cold`` members."""
        return bootstrap(_values(result, metric, group), rounds=self.rounds, seed=self.seed)

    def versus(self, other: Result, group: str) -> Interval:
        """Return ours minus ``other`` in NDCG on the same members of a group, with interval."""
        ours = self.result("ours")
        return paired(
            _values(ours, "ndcg", group),
            _values(other, "ndcg", group),
            rounds=self.rounds,
            seed=self.seed,
        )

    def result(self, name: str) -> Result:
        """Return the result of the model called ``name``."""
        return next(r for r in self.results if r.name == name)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain data for ``--json``."""

        def iv(interval: Interval) -> dict[str, float]:
            return {"mean": interval.mean, "low": interval.low, "high": interval.high}

        models = {}
        for r in self.results:
            entry: dict[str, Any] = {
                "chosen": r.chosen,
                "seconds": round(r.seconds, 3),
                "coverage": r.coverage,
            }
            for metric in METRICS:
                entry[metric] = iv(self.interval(r, metric))
            entry["ndcg_warm"] = iv(self.interval(r, "ndcg", "warm"))
            entry["ndcg_cold"] = iv(self.interval(r, "ndcg", "cold"))
            if r.name != "ours" and any(x.name == "ours" for x in self.results):
                entry["ours_minus_this_ndcg_warm"] = iv(self.versus(r, "warm"))
                entry["ours_minus_this_ndcg_cold"] = iv(self.versus(r, "cold"))
            models[r.name] = entry
        return {
            "dataset": self.dataset,
            "k": self.k,
            "members": self.members,
            "courses": self.courses,
            "events": self.events,
            "warm_members": self.warm,
            "cold_members": self.cold,
            "models": models,
        }

    def table(self) -> str:
        """Return the comparison as a text table."""
        k = self.k
        head = (
            f"{'model':<11} {'P@' + str(k):>7} {'R@' + str(k):>7} {'NDCG@' + str(k):>22} "
            f"{'MAP':>7} {'HR':>7} {'cov':>6} {'NDCG warm':>22} {'NDCG cold':>22}"
        )
        lines = [
            f"{self.dataset}: {self.members} members, {self.courses} courses, {self.events} "
            f"events; evaluated {self.warm} warm and {self.cold} cold members, K={k}",
            head,
            "-" * len(head),
        ]
        for r in self.results:
            nd = self.interval(r, "ndcg")
            warm = self.interval(r, "ndcg", "warm")
            cold = self.interval(r, "ndcg", "cold")
            lines.append(
                f"{r.name:<11} {self.interval(r, 'precision').mean:7.4f} "
                f"{self.interval(r, 'recall').mean:7.4f} {_ci(nd):>22} "
                f"{self.interval(r, 'map').mean:7.4f} {self.interval(r, 'hit').mean:7.4f} "
                f"{r.coverage:6.1%} {_ci(warm):>22} {_ci(cold):>22}"
            )
        if any(r.name == "ours" for r in self.results):
            lines += ["", "ours minus baseline, NDCG on the same members (95% paired CI):"]
            for r in self.results:
                if r.name == "ours":
                    continue
                warm_diff = self.versus(r, "warm")
                rel = warm_diff.mean / max(self.interval(r, "ndcg", "warm").mean, 1e-12)
                lines.append(
                    f"  vs {r.name:<11} warm {_ci(warm_diff, signed=True):>24} ({rel:+.1%})   "
                    f"cold {_ci(self.versus(r, 'cold'), signed=True):>24}"
                )
        lines += ["", "chosen hyper-parameters (on a validation split of the training part):"]
        lines += [f"  {r.name:<11} {r.chosen}" for r in self.results]
        return "\n".join(lines)


def _ci(interval: Interval, *, signed: bool = False) -> str:
    if np.isnan(interval.mean):
        return "—"
    fmt = "{:+.4f}" if signed else "{:.4f}"
    low, high = fmt.format(interval.low), fmt.format(interval.high)
    return f"{fmt.format(interval.mean)} [{low}, {high}]"


def _values(result: Result, metric: str, group: str) -> np.ndarray:
    if group == "warm":
        return result.warm[metric]
    if group == "cold":
        return result.cold[metric]
    return np.concatenate((result.warm[metric], result.cold[metric]))


def _subset(data: Dataset, events: np.ndarray, messages: np.ndarray) -> Dataset:
    return Dataset(
        courses=data.courses,
        member_ids=data.member_ids,
        event_rows=data.event_rows[events],
        event_items=data.event_items[events],
        event_times=data.event_times[events],
        event_weights=data.event_weights[events],
        message_rows=data.message_rows[messages],
        message_times=data.message_times[messages],
        message_texts=[data.message_texts[i] for i in np.flatnonzero(messages)],
        version=data.version + ":train",
    )


def _tune_split(data: Dataset, params: TrainParams) -> Tuning:
    """Carve a validation split out of training data, as training does."""
    inner = temporal_split(data)
    rng = np.random.default_rng(params.seed)
    rows = np.array(sorted(inner.test), dtype=np.int64)
    if len(rows) > params.validation_members:
        rows = np.sort(rng.choice(rows, size=params.validation_members, replace=False))
    is_val = np.zeros(data.n_members, dtype=bool)
    is_val[rows] = True
    matrix = data.matrix(inner.train_mask | ~is_val[data.event_rows])
    rows = rows[np.asarray(matrix[rows].getnnz(axis=1) > 0)]
    return matrix, rows, [inner.test[int(r)] for r in rows]


def _scores_in_batches(
    score: Callable[[np.ndarray], np.ndarray],
    rows: np.ndarray,
    exclude: sparse.csr_matrix | None,
    k: int,
) -> np.ndarray:
    tops = []
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        ex = exclude[chunk] if exclude is not None else None
        tops.append(top_k(score(chunk), ex, k))
    return np.concatenate(tops) if tops else np.zeros((0, k), dtype=np.int64)


def evaluate(
    data: Dataset,
    *,
    name: str = "dataset",
    k: int = 10,
    fraction: float = 0.2,
    split_by: SplitBy = SplitBy.MEMBER,
    cold_share: float = 0.2,
    models: Sequence[str] = MODELS,
    params: TrainParams | None = None,
    rounds: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
) -> Report:
    """Run the protocol on ``data`` for each model in ``models``; ALS only if installed.

    The report's name says which split was used when it is not the per-member one.
    """
    params = params or TrainParams(seed=seed)
    say = progress or (lambda _name, _done, _total: None)
    rng = np.random.default_rng(seed)
    if split_by is SplitBy.GLOBAL:
        split = global_split(data, fraction)
    else:
        split = temporal_split(data, fraction)
    test_rows = np.array(sorted(split.test), dtype=np.int64)
    cutoff = split.cutoff
    before = np.isfinite(cutoff)
    texts = data.texts_by_row(
        before=np.where(before, cutoff, np.inf), limit=params.messages_per_member
    )
    train_counts = np.asarray(data.matrix(split.train_mask).getnnz(axis=1))
    writers = np.array([r for r in test_rows if int(r) in texts], dtype=np.int64)
    natural_cold = writers[train_counts[writers] == 0]
    warm_writers = writers[train_counts[writers] > 0]
    n_cold = round(len(warm_writers) * cold_share)
    chosen = rng.choice(warm_writers, size=n_cold, replace=False) if n_cold else np.zeros(0)
    cold_rows = np.sort(np.concatenate((natural_cold, np.asarray(chosen, dtype=np.int64))))
    is_cold = np.zeros(data.n_members, dtype=bool)
    is_cold[cold_rows] = True
    warm_rows = np.array(
        [r for r in test_rows if not is_cold[r] and train_counts[r] > 0], dtype=np.int64
    )
    events = split.train_mask & ~is_cold[data.event_rows]
    messages = (data.message_times < cutoff[data.message_rows]) & ~is_cold[data.message_rows]
    training = _subset(data, events, messages)
    matrix = training.matrix()
    warm_truth = [split.test[int(r)] for r in warm_rows]
    cold_truth = [split.test[int(r)] for r in cold_rows]
    report = Report(
        dataset=name if split_by is SplitBy.MEMBER else f"{name} ({split_by.value} split)",
        k=k,
        members=data.n_members,
        courses=data.n_items,
        events=len(data.event_rows),
        warm=len(warm_rows),
        cold=len(cold_rows),
        rounds=rounds,
        seed=seed,
    )
    pop = popularity(matrix)

    def pop_scores(rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(pop, (len(rows), len(pop)))

    wanted = [m for m in models if m != "als" or importlib.util.find_spec("implicit")]
    tuning: Tuning | None = None
    for done, model_name in enumerate(wanted):
        say(model_name, done, len(wanted))
        started = time.perf_counter()
        warm_score: Callable[[np.ndarray], np.ndarray] = pop_scores
        cold_score: Callable[[np.ndarray], np.ndarray] = pop_scores
        chosen_text = "-"
        if model_name in ("item_knn", "ease"):
            if tuning is None:
                tuning = _tune_split(training, params)
            tune_matrix, tune_rows, tune_truth = tuning
            is_ease = model_name == "ease"
            grid = Grid(
                memory_mb=math.inf,  # a baseline is run whatever it needs
                ease_lambdas=params.ease_lambdas if is_ease else (),
                knn_ks=() if is_ease else params.knn_ks,
                knn_shrinks=() if is_ease else (0.0,),
                half_lives=(),
                k=params.k,
            )

            def same(_half_life: float, m: sparse.csr_matrix = tune_matrix) -> sparse.csr_matrix:
                return m

            found = choose(
                same,
                binary(tune_matrix[tune_rows]),
                tune_truth,
                grid,
                0.0,
                level=logging.DEBUG,  # a baseline's tuning: only ours is reported at INFO
            )
            weights = fit(found.candidate, matrix)
            assert weights is not None
            chosen_text = found.candidate.label()

            def warm_score(rows: np.ndarray, w: Any = weights) -> np.ndarray:
                return item_scores(w, matrix[rows])

        elif model_name == "als":
            if tuning is None:
                tuning = _tune_split(training, params)
            factors, reg, user_f, item_f = _als(tuning, matrix, params, seed)
            chosen_text = f"factors={factors}, regularization={reg:g}"

            def warm_score(rows: np.ndarray, u: Any = user_f, i: Any = item_f) -> np.ndarray:
                return np.asarray(u[rows] @ i.T, dtype=np.float32)

        elif model_name == "ours":
            end = float(data.event_times.max()) if len(data.event_times) else 0.0
            model = train(training, datetime.fromtimestamp(end, UTC), params)
            chosen_text = describe(model)
            # Each owned course weighs what serving gives it: by recency, if training chose it.
            recent = recency_matrix(training, None, model.recency)

            def warm_score(rows: np.ndarray, m: Any = model, x: Any = recent) -> np.ndarray:
                scores: np.ndarray = m.score_rows(x[rows], [texts.get(int(r)) for r in rows])
                return scores

            def cold_score(rows: np.ndarray, m: Any = model) -> np.ndarray:
                nothing = sparse.csr_matrix((len(rows), data.n_items), dtype=np.float32)
                scores: np.ndarray = m.score_rows(nothing, [texts.get(int(r)) for r in rows])
                return scores

        warm_top = _scores_in_batches(warm_score, warm_rows, matrix, k)
        cold_top = _scores_in_batches(cold_score, cold_rows, None, k)
        report.results.append(
            Result(
                name=model_name,
                chosen=chosen_text,
                warm=per_member(warm_top, warm_truth, k),
                cold=per_member(cold_top, cold_truth, k),
                coverage=coverage(
                    np.concatenate((warm_top.ravel(), cold_top.ravel())), data.n_items
                ),
                seconds=time.perf_counter() - started,
            )
        )
    say("done", len(wanted), len(wanted))
    return report


def _als(
    tuning: Tuning,
    matrix: sparse.csr_matrix,
    params: TrainParams,
    seed: int,
) -> tuple[int, float, np.ndarray, np.ndarray]:
    """Tune and fit implicit's ALS (CPU); return its factors."""
    # implicit is an optional benchmark dependency: imported only when ALS is evaluated.
    from implicit.cpu.als import AlternatingLeastSquares  # noqa: PLC0415

    def fit(x: sparse.csr_matrix, factors: int, reg: float) -> tuple[np.ndarray, np.ndarray]:
        with threadpool_limits(1, "blas"):
            als = AlternatingLeastSquares(
                factors=factors, regularization=reg, iterations=15, random_state=seed
            )
            als.fit(x.astype(np.float32), show_progress=False)
        return np.asarray(als.user_factors), np.asarray(als.item_factors)

    tune_matrix, rows, truth = tuning
    best = (ALS_GRID[0][0], ALS_GRID[0][1], -1.0)
    for factors, reg in ALS_GRID:
        users, items = fit(tune_matrix, factors, reg)
        top = top_k(users[rows] @ items.T, tune_matrix[rows], params.k)
        ndcg = float(per_member(top, truth, params.k)["ndcg"].mean()) if len(rows) else 0.0
        if ndcg > best[2]:
            best = (factors, reg, ndcg)
    users, items = fit(matrix, best[0], best[1])
    return best[0], best[1], users, items


def report_json(report: Report) -> str:
    """Return the report as JSON."""
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)
