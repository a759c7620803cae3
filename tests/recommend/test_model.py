"""The recommender's model: EASE, kNN, the split, the blend, filters, explanations, files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from bot.recommend import (
    Algorithm,
    Course,
    Dataset,
    Model,
    ModelFileError,
    ModelInfo,
    Reason,
    TrainParams,
    catalog_digest,
    load,
    save,
    temporal_split,
    train,
)
from bot.recommend._algos import ease, item_knn, popularity
from bot.recommend._metrics import top_k
from bot.recommend._model import diversify, zscore
from bot.recommend._sources import SyntheticSpec, synthetic
from bot.recommend._text import TextModel
from bot.recommend._train import _choose_warm_weights, fit_collab

pytestmark = pytest.mark.backend_free

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TINY = TrainParams(validation_members=300, text_members=300, ease_lambdas=(5.0, 50.0))


def matrix(rows: list[list[int]]) -> sparse.csr_matrix:
    return sparse.csr_matrix(np.array(rows, dtype=np.float32))


def test_ease_matches_the_closed_form_worked_by_hand() -> None:
    # G + I = [[3,1,1],[1,2,0],[1,0,2]], whose inverse is [[4,-2,-2],[-2,5,1],[-2,1,5]] / 8.
    weights = ease(matrix([[1, 1, 0], [1, 0, 1]]), lam=1.0)
    expected = np.array([[0, 0.4, 0.4], [0.5, 0, -0.2], [0.5, -0.2, 0]])
    np.testing.assert_allclose(weights, expected, atol=1e-6)


def test_item_knn_keeps_the_k_most_cosine_similar_courses() -> None:
    # Columns: c0 = [1,1,1], c1 = [1,0,1], c2 = [0,1,0]; cos(0,1) = 2/√6, cos(0,2) = 1/√3.
    got = item_knn(matrix([[1, 1, 0], [1, 0, 1], [1, 1, 0]]), k=1).toarray()
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[1, 0] = 2 / np.sqrt(6)
    expected[2, 0] = 1 / np.sqrt(3)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_array_equal(popularity(matrix([[1, 1, 0], [1, 0, 1]])), [2, 1, 1])


def dataset(events: list[tuple[int, int, float]], n_members: int, n_items: int) -> Dataset:
    rows, items, times = (np.array(x) for x in zip(*events, strict=True))
    return Dataset(
        courses=[Course(id=f"c{i}", title=f"Course {i}") for i in range(n_items)],
        member_ids=np.arange(100, 100 + n_members),
        event_rows=rows.astype(np.int64),
        event_items=items.astype(np.int64),
        event_times=times.astype(np.float64),
        event_weights=np.ones(len(rows), dtype=np.float32),
    )


def test_the_temporal_split_holds_out_the_last_fifth_and_keeps_ties_together() -> None:
    data = dataset(
        [
            *[(0, i, float(i)) for i in range(5)],  # five courses: the last one is test
            (1, 0, 1.0),
            (1, 1, 2.0),
            (1, 2, 2.0),  # 3 courses, 1 held out, but the tie at t=2 goes too
            (2, 3, 5.0),  # a single course: not split
            (3, 0, 1.0),
            (3, 1, 1.0),  # everything at one moment: all test (cold)
            (0, 4, 9.0),  # a repeat of a test course stays test only once
        ],
        n_members=4,
        n_items=5,
    )
    split = temporal_split(data)
    assert {r: list(v) for r, v in split.test.items()} == {0: [4], 1: [1, 2], 3: [0, 1]}
    assert list(split.cutoff[:3]) == [4.0, 2.0, np.inf]
    assert data.matrix(split.train_mask)[3].nnz == 0
    assert data.matrix(split.train_mask)[0].toarray().tolist() == [[1, 1, 1, 1, 0]]


def small_model(text: TextModel | None = None, text_weight: float = 0.0) -> Model:
    courses = [
        Course("py", "Python", tags=("code",), language="en"),
        Course("pandas", "Pandas", tags=("code", "data"), language="en"),
        Course("sql", "SQL", tags=("data",), language="en"),
        Course("stats", "Statistics", tags=("data",), language="en"),
        Course("ml", "机器学习", tags=("ai",), language="zh_CN"),
        Course("photo", "Photography", tags=("art",), language="en"),
    ]
    x = matrix(
        [
            [1, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [0, 0, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 1],
        ]
    )
    info = ModelInfo(NOW, "v1", catalog_digest(courses), Algorithm.EASE)
    return Model(
        courses,
        info=info,
        weights=ease(x, 1.0),
        popularity=popularity(x),
        text=text,
        text_weight=text_weight,
        cold_popularity=0.25,
    )


def test_a_warm_member_gets_co_purchases_explained_and_never_what_they_own() -> None:
    got = small_model().recommend(["py"], k=3)
    assert got[0].course_id == "pandas"
    assert (got[0].reason, got[0].because) == (Reason.ALSO_TOOK, "py")
    assert "py" not in [s.course_id for s in got]


@pytest.mark.parametrize(
    ("owned", "allowed"),
    [
        ([], None),
        (["py", "pandas"], None),
        (["photo"], ["py", "sql", "ml"]),
        (["py"], ["py"]),
        (["py", "pandas", "sql", "stats", "ml", "photo"], None),
    ],
)
def test_never_owned_and_never_outside_what_the_member_may_see(
    owned: list[str], allowed: list[str] | None
) -> None:
    got = [s.course_id for s in small_model().recommend(owned, allowed=allowed, k=6)]
    assert not set(got) & set(owned)
    if allowed is not None:
        assert set(got) <= set(allowed)
    assert len(got) == len(set(got))


def test_at_most_n_suggestions_share_a_tag() -> None:
    tags = [("a",), ("a",), ("a", "b"), ("b",), ("a",), ("c",)]
    assert diversify(range(6), tags, k=10, max_per_tag=2) == [0, 1, 3, 5]
    assert diversify(range(6), tags, k=2, max_per_tag=1) == [0, 3]
    data_tags = [s.course_id for s in small_model().recommend(["photo"], k=4, max_per_tag=1)]
    assert sum(c in {"pandas", "sql", "stats"} for c in data_tags) <= 1


def test_a_member_with_nothing_gets_popular_courses_in_their_language_first() -> None:
    model = small_model()
    plain = model.recommend([], k=2)
    assert [s.course_id for s in plain] == ["py", "pandas"]  # 3 buyers each, photo has 3 too
    assert all(s.reason is Reason.POPULAR for s in plain)
    chinese = model.recommend([], language="zh_CN", k=2)
    assert chinese[0].course_id == "ml"


def text_model(courses: list[Course]) -> TextModel:
    texts = {
        0: "I love python scripts and pandas dataframes",
        1: "机器学习 和 深度学习 的 模型 训练",
        2: "sunset photography with a wide lens",
    }
    x = sparse.csr_matrix((3, len(courses)), dtype=np.float32)
    return TextModel.fit(courses, texts, x)


def test_the_text_part_finds_a_course_from_chinese_messages_and_says_why() -> None:
    base = small_model()
    model = small_model(text_model(base.courses))
    got = model.recommend([], "我最近在学习机器学习，想找入门课程", k=3)
    assert got[0].course_id == "ml"
    assert (got[0].reason, got[0].because) == (Reason.WROTE_ABOUT, "机器学习")
    english = model.recommend([], "how do I take better photography at night?", k=1)
    assert (english[0].course_id, english[0].because) == ("photo", "photography")


def test_text_weight_zero_leaves_warm_results_to_the_collaborative_part() -> None:
    base = small_model()
    with_text = small_model(text_model(base.courses), text_weight=0.0)
    text = "photography photography photography"
    assert with_text.recommend(["py"], text, k=3) == base.recommend(["py"], k=3)


def test_training_picks_a_text_weight_never_worse_than_none_on_validation() -> None:
    data = synthetic(SyntheticSpec(members=600, courses=40, purchases=4000, topics=6, seed=3))
    model = train(data, NOW, TINY)
    validation = model.info.validation
    assert validation["blend_ndcg"] >= validation["collab_ndcg"] - 1e-9
    assert model.text_weight in TINY.text_weights
    assert model.info.algorithm in (Algorithm.EASE, Algorithm.ITEM_KNN)
    assert 0 < validation["coverage"] <= 1
    # Noise for text: the weight chosen must still not lose to text off.
    rng = np.random.default_rng(0)
    data.message_texts = ["".join(rng.choice(list("abcdefgh "), 40)) for _ in data.message_texts]
    noisy = train(data, NOW, TINY)
    assert noisy.info.validation["blend_ndcg"] >= noisy.info.validation["collab_ndcg"] - 1e-9


def test_past_the_memory_budget_training_uses_item_knn() -> None:
    data = synthetic(SyntheticSpec(members=300, courses=30, purchases=2000, topics=5, seed=4))
    params = TrainParams(train_memory_mb=0.001, validation_members=100, text_members=100)
    assert train(data, NOW, params).info.algorithm is Algorithm.ITEM_KNN


def test_a_model_file_keeps_the_model_its_training_time_and_data_version(tmp_path: Path) -> None:
    data = synthetic(SyntheticSpec(members=300, courses=30, purchases=2000, topics=5, seed=5))
    model = train(data, NOW, TINY)
    path = tmp_path / "m.npz"
    save(model, path)
    again = load(path)
    assert again.info == model.info
    assert again.info.trained_at == NOW
    assert again.info.data_version == data.version
    owned = [data.courses[0].id]
    text = data.message_texts[0]
    assert again.recommend(owned, text, k=5) == model.recommend(owned, text, k=5)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.unlink(),
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
        lambda p: p.write_bytes(b"not a model at all"),
    ],
    ids=["missing", "truncated", "garbage"],
)
def test_a_missing_or_corrupt_model_file_is_a_model_file_error(tmp_path: Path, damage) -> None:
    path = tmp_path / "m.npz"
    save(small_model(), path)
    damage(path)
    with pytest.raises(ModelFileError):
        load(path)


def test_a_model_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    header = np.frombuffer(b'{"format": 99}', dtype=np.uint8)
    with path.open("wb") as fh:
        np.savez(fh, header=header)
    with pytest.raises(ModelFileError, match="format 99"):
        load(path)


@pytest.mark.parametrize(
    ("algorithm", "param"), [(Algorithm.EASE, 50.0), (Algorithm.ITEM_KNN, 5.0)]
)
def test_one_member_is_ranked_and_explained_as_the_batch_path_does(
    algorithm: Algorithm, param: float
) -> None:
    data = synthetic(SyntheticSpec(members=200, courses=40, purchases=1500, topics=6, seed=5))
    x = data.matrix()
    texts = data.texts_by_row(limit=20)
    weights = fit_collab(algorithm, x, param)
    model = Model(
        data.courses,
        info=ModelInfo(NOW, "v1", catalog_digest(data.courses), algorithm),
        weights=weights,
        popularity=popularity(x),
        text=TextModel.fit(data.courses, texts, x),
        text_weight=0.5,
        cold_popularity=0.5,
    )
    dense = weights if isinstance(weights, np.ndarray) else weights.toarray()
    kinds = set()
    for row in range(60):
        owned = x[row].indices
        text = texts.get(row) if row % 3 else None  # warm, cold with text, and neither
        got = model.recommend([data.courses[i].id for i in owned], text, k=10, max_per_tag=99)
        batch = model.score_rows(x[[row]], [text])
        expected = top_k(batch, x[[row]], 10)[0]
        np.testing.assert_allclose([s.score for s in got], batch[0, expected], atol=1e-5)
        assert not {s.course_id for s in got} & {data.courses[i].id for i in owned}
        for s in got:
            kinds.add(s.reason)
            if s.reason is Reason.ALSO_TOOK:
                item = model.index[s.course_id]
                assert data.courses[owned[np.argmax(dense[owned, item])]].id == s.because
    assert {Reason.ALSO_TOOK, Reason.WROTE_ABOUT} <= kinds


@pytest.mark.parametrize("collab", ["noise", "right"])
def test_popularity_gets_weight_for_warm_members_only_when_validation_says_so(
    collab: str,
) -> None:
    rng = np.random.default_rng(1)
    n_items, n_members = 30, 200
    x = sparse.csr_matrix((rng.random((n_members, n_items)) < 0.1).astype(np.float32))
    popular = np.arange(n_items, dtype=np.float32)[::-1].copy()  # course 0 is the most popular
    pop_z = zscore(popular[None, :])[0]
    rows = np.arange(n_members)
    wanted = rng.integers(n_items // 2, n_items, size=n_members)  # one unpopular course each
    if collab == "noise":
        weights = rng.normal(size=(n_items, n_items)).astype(np.float32)
        truth = [np.array([i]) for i in rng.integers(0, 3, size=n_members)]  # popular ones
    else:  # every owned course points at the member's wanted course
        weights = np.zeros((n_items, n_items), np.float32)
        for member, item in enumerate(wanted):
            weights[x[member].indices, item] += 1.0
        truth = [np.array([i]) for i in wanted]
    x = x.tolil()
    x[:, :3] = 0  # nobody owns what the noise case wants
    x = x.tocsr()
    params = TrainParams(popularity_weights=(0.0, 1.0, 4.0))
    text_weight, popularity_weight, ndcg = _choose_warm_weights(
        None, weights, x, rows, truth, {}, pop_z, params
    )
    assert text_weight == 0.0
    assert (popularity_weight > 0) is (collab == "noise")
    assert ndcg > 0.3


def test_a_model_file_from_before_the_popularity_weight_serves_without_it(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    model = small_model()
    model.popularity_weight = 2.0
    save(model, path)
    assert load(path).popularity_weight == 2.0
    with np.load(path) as arrays:
        parts = dict(arrays)
    header = json.loads(bytes(parts["header"]).decode())
    del header["popularity_weight"]
    parts["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **parts)
    assert load(path).popularity_weight == 0.0


def test_zscore_of_no_courses_is_empty() -> None:
    # A community with no courses yet: /recommend stats builds its fallback from no columns.
    assert zscore(np.zeros((1, 0), dtype=np.float32)).shape == (1, 0)
