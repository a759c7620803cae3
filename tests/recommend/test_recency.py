"""Recency weighting: a member's n-th latest course weighs 0.5 ** (n / h) in their input row."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from bot.recommend import Algorithm, Course, Dataset, Model, ModelInfo, TrainParams, load, save
from bot.recommend import train as train_model
from bot.recommend._data import recency_matrix, recency_weights
from bot.recommend._eval import evaluate
from bot.recommend._metrics import top_k
from bot.recommend._train import describe

pytestmark = pytest.mark.backend_free

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DAY = 86400.0
# Two courses taken long ago point at "wrong", the latest at "right", more weakly than both.
COURSES = ["old1", "old2", "latest", "wrong", "right"]
QUICK = TrainParams(
    validation_members=400,
    text_members=50,
    ease_lambdas=(1.0, 10.0),
    knn_ks=(10,),
    knn_shrinks=(0.0,),
    half_lives=(),
)


def hand_model(recency: float) -> Model:
    courses = [Course(c, c.title()) for c in COURSES]
    weights = np.zeros((5, 5), dtype=np.float32)
    weights[0, 3] = weights[1, 3] = 0.6  # old1, old2 -> wrong: 1.2 when each weighs 1
    weights[2, 4] = 1.0  # latest -> right
    return Model(
        courses,
        info=ModelInfo(NOW, "v", "digest", Algorithm.EASE),
        weights=weights,
        popularity=np.ones(5, np.float32),
        text=None,
        recency=recency,
    )


@pytest.mark.parametrize(
    ("recency", "taken", "first"),
    [
        (1.0, [10.0, 20.0, 30.0], "right"),  # old ones weigh .25 and .5: wrong 0.45 < 1
        (4.0, [10.0, 20.0, 30.0], "right"),  # .71 and .84: wrong 0.93 < 1
        (16.0, [10.0, 20.0, 30.0], "wrong"),  # .92 and .96: wrong 1.13 > 1
        (math.inf, [10.0, 20.0, 30.0], "wrong"),  # no weighting: wrong 1.2 > 1
        (1.0, None, "wrong"),  # no times known: every course weighs 1
        (1.0, [30.0, 20.0, 10.0], "wrong"),  # old1 is the latest here: wrong 0.6 + 0.3 > .25
        (1.0, [10.0, 10.0, 30.0], "right"),  # the old ones tie: .5 each, wrong 0.6 < 1
    ],
)
def test_the_latest_course_counts_most_with_a_recency_half_life(
    recency: float, taken: list[float] | None, first: str
) -> None:
    got = hand_model(recency).recommend(["old1", "old2", "latest"], taken=taken, k=2)
    assert got[0].course_id == first


def test_the_explanation_names_the_course_that_weighs_most() -> None:
    model = hand_model(1.0)
    assert isinstance(model.weights, np.ndarray)
    model.weights[0, 4] = 1.5  # old1 -> right, above latest's 1, but old1 weighs .25
    got = model.recommend(["old1", "old2", "latest"], taken=[10.0, 20.0, 30.0], k=1)
    assert (got[0].course_id, got[0].because) == ("right", "latest")  # 1.5 x .25 < 1 x 1
    unweighted = hand_model(math.inf)
    assert isinstance(unweighted.weights, np.ndarray)
    unweighted.weights[0, 4] = 1.5
    got = unweighted.recommend(["old1", "old2", "latest"], taken=[10.0, 20.0, 30.0], k=1)
    assert (got[0].course_id, got[0].because) == ("right", "old1")


@pytest.mark.parametrize(
    ("rows", "times", "half_life", "expected"),
    [
        ([0, 0, 0], [1.0, 2.0, 3.0], 1.0, [0.25, 0.5, 1.0]),
        ([0, 0, 0], [3.0, 1.0, 2.0], 2.0, [1.0, 0.5, 2**-0.5]),
        ([0, 0, 0], [1.0, 2.0, 2.0], 1.0, [0.25, 1.0, 1.0]),  # two latest: a course counts later
        ([0, 1, 0, 1], [5.0, 1.0, 6.0, 2.0], 1.0, [0.5, 0.5, 1.0, 1.0]),  # per member
        ([0, 0], [1.0, 2.0], math.inf, [1.0, 1.0]),  # no weighting
        ([0] * 200, list(range(200)), 1.0, [1e-30] * 100 + [2.0**-n for n in range(99, -1, -1)]),
    ],
)
def test_recency_weights_count_a_members_later_courses(
    rows: list[int], times: list[float], half_life: float, expected: list[float]
) -> None:
    got = recency_weights(np.array(times), np.array(rows, dtype=np.int64), half_life)
    np.testing.assert_allclose(got, np.array(expected, dtype=np.float32), rtol=1e-6)
    assert (got > 0).all()  # never a stored zero: an owned course stays owned


def dataset(events: list[tuple[int, int, float]], n_members: int, names: list[str]) -> Dataset:
    rows, items, times = (np.array(x) for x in zip(*events, strict=True))
    return Dataset(
        courses=[Course(id=n, title=n.title()) for n in names],
        member_ids=np.arange(1, n_members + 1),
        event_rows=rows.astype(np.int64),
        event_items=items.astype(np.int64),
        event_times=times.astype(np.float64),
        event_weights=np.ones(len(rows), dtype=np.float32),
    )


@pytest.mark.parametrize("recency", [1.0, 4.0, 16.0, math.inf])
def test_batch_rows_rank_as_serving_one_member_does(recency: float) -> None:
    # Evaluation and training score rows from recency_matrix; serving passes the times.
    events = [(0, 0, 10.0), (0, 1, 20.0), (0, 2, 30.0), (0, 0, 5.0), (1, 2, 1.0), (1, 0, 2.0)]
    data = dataset(events, 2, COURSES)
    model = hand_model(recency)
    rows = recency_matrix(data, None, recency)
    batch = top_k(model.score_rows(rows, [None, None]), rows, 2)
    members = [
        (["old1", "old2", "latest", "old1"], [10.0, 20.0, 30.0, 5.0]),  # old1 twice: latest 10
        (["latest", "old1"], [1.0, 2.0]),
    ]
    for member, (owned, taken) in enumerate(members):
        one = [s.course_id for s in model.recommend(owned, taken=taken, k=2, max_per_tag=9)]
        assert one == [COURSES[i] for i in batch[member]]


def ring(members: int = 600, courses: int = 40, seed: int = 0) -> Dataset:
    """Each member takes a run of courses around a ring, in order: the next is the latest's
    successor, while the run's first course points as much back to its predecessor."""
    rng = np.random.default_rng(seed)
    events = []
    for m in range(members):
        start, length = int(rng.integers(courses)), int(rng.integers(5, 10))
        t0 = float(rng.integers(0, 100)) * DAY
        events += [(m, (start + i) % courses, t0 + i * DAY) for i in range(length)]
    return dataset(events, members, [f"c{i}" for i in range(courses)])


def test_validation_picks_a_recency_half_life_when_the_latest_course_predicts_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.recommend"):
        model = train_model(ring(), NOW, QUICK)
    assert math.isfinite(model.recency)
    assert model.info.params["recency"] == model.recency
    assert f"recency={model.recency:g}" in describe(model)
    said = [r.getMessage() for r in caplog.records if "recency half-life" in r.getMessage()]
    assert len(said) == 1 and "none" in said[0]  # what no weighting gave, beside the winner
    plain = train_model(ring(), NOW, replace(QUICK, recencies=()))
    assert math.isinf(plain.recency)
    assert "no recency weighting" in describe(plain)


def test_ours_beats_ease_on_held_out_data_when_recency_matters() -> None:
    report = evaluate(ring(seed=1), models=("ease", "ours"), params=QUICK, rounds=200)
    ours = report.interval(report.result("ours"), "ndcg", "warm").mean
    ease = report.interval(report.result("ease"), "ndcg", "warm").mean
    assert "recency=" in report.result("ours").chosen
    assert report.versus(report.result("ease"), "warm").low > 0
    assert ours > ease + 0.1


@pytest.mark.parametrize("recency", [4.0, math.inf])
def test_the_model_file_keeps_the_recency_half_life(tmp_path: Path, recency: float) -> None:
    model = hand_model(recency)
    model.info = ModelInfo(NOW, "v", "digest", Algorithm.EASE)
    save(model, tmp_path / "model.npz")
    again = load(tmp_path / "model.npz")
    assert again.recency == recency
    owned, taken = ["old1", "old2", "latest"], [10.0, 20.0, 30.0]
    assert again.recommend(owned, taken=taken) == model.recommend(owned, taken=taken)
