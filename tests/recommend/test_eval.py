"""The offline evaluation: metrics with known values, the protocol on a tiny fixture, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from bot.recommend import Course, Dataset, TrainParams
from bot.recommend._data import SplitBy, global_split
from bot.recommend._eval import evaluate
from bot.recommend._metrics import bootstrap, coverage, paired, per_member, top_k
from bot.recommend._sources import SyntheticSpec, load_stack_exchange, synthetic

pytestmark = pytest.mark.backend_free

REPO = Path(__file__).resolve().parents[2]


def test_metrics_at_k_match_values_worked_by_hand() -> None:
    top = np.array([[1, 2, 0], [0, 1, 2], [2, 0, 1]])
    truth = [np.array([1]), np.array([1, 2]), np.array([3])]
    got = per_member(top, truth, k=2)
    np.testing.assert_allclose(got["precision"], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(got["recall"], [1.0, 0.5, 0.0])
    # Member 1 hits at rank 2 of an ideal two: (1/log2 3) / (1 + 1/log2 3).
    np.testing.assert_allclose(got["ndcg"], [1.0, 0.63093 / 1.63093, 0.0], atol=1e-5)
    np.testing.assert_allclose(got["map"], [1.0, 0.25, 0.0])
    np.testing.assert_allclose(got["hit"], [1.0, 1.0, 0.0])
    assert coverage(top[:, :2], 4) == 0.75


def test_top_k_never_returns_an_excluded_course() -> None:
    scores = np.array([[5.0, 4.0, 3.0, 2.0]])
    exclude = sparse.csr_matrix(np.array([[1, 0, 1, 0]]))
    assert top_k(scores, exclude, 2).tolist() == [[1, 3]]


def test_bootstrap_intervals_hold_the_mean_and_shrink_to_it_for_constants() -> None:
    values = np.random.default_rng(1).random(500)
    interval = bootstrap(values, rounds=300)
    assert interval.low < interval.mean < interval.high
    assert abs(interval.mean - values.mean()) < 1e-12
    same = paired(np.ones(50), np.ones(50), rounds=100)
    assert (same.mean, same.low, same.high) == (0.0, 0.0, 0.0)


def tiny() -> Dataset:
    """Two members to evaluate, four more who shape popularity: c1 (3) > c0 (2) > c2 (1)."""
    events = [(0, 0, 1), (0, 1, 2), (1, 0, 1), (1, 2, 2)]
    events += [(2, 1, 1), (3, 1, 1), (4, 2, 5), (5, 1, 1)]
    rows, items, times = (np.array(x) for x in zip(*events, strict=True))
    return Dataset(
        courses=[Course(id=f"c{i}", title=f"c{i}") for i in range(3)],
        member_ids=np.arange(6),
        event_rows=rows,
        event_items=items,
        event_times=times.astype(np.float64),
        event_weights=np.ones(len(rows), dtype=np.float32),
    )


def test_an_evaluation_on_a_tiny_fixture_gives_the_known_values() -> None:
    report = evaluate(tiny(), k=2, models=("popularity",), rounds=50)
    assert (report.warm, report.cold) == (2, 0)
    result = report.result("popularity")
    # Member 0 (has c0) gets [c1, c2] and wanted c1; member 1 (has c0) gets [c1, c2], wanted c2.
    assert report.interval(result, "precision").mean == pytest.approx(0.5)
    assert report.interval(result, "recall").mean == pytest.approx(1.0)
    assert report.interval(result, "ndcg").mean == pytest.approx((1 + 1 / np.log2(3)) / 2)
    assert report.interval(result, "map").mean == pytest.approx(0.75)
    assert report.interval(result, "hit").mean == pytest.approx(1.0)
    assert result.coverage == pytest.approx(2 / 3)
    assert "popularity" in report.table()


def test_every_model_runs_and_ours_is_compared_pairwise() -> None:
    data = synthetic(SyntheticSpec(members=800, courses=40, purchases=6000, topics=6, seed=2))
    params = TrainParams(validation_members=200, text_members=300, ease_lambdas=(10.0, 100.0))
    report = evaluate(
        data, models=("popularity", "item_knn", "ease", "ours"), params=params, rounds=100
    )
    assert report.warm > 50 and report.cold > 10
    out = report.as_dict()
    assert set(out["models"]) == {"popularity", "item_knn", "ease", "ours"}
    ours = out["models"]["ours"]
    assert ours["ndcg_warm"]["mean"] >= out["models"]["popularity"]["ndcg_warm"]["mean"]
    assert ours["ndcg_cold"]["mean"] > out["models"]["popularity"]["ndcg_cold"]["mean"]
    assert "ours_minus_this_ndcg_warm" in out["models"]["ease"]
    assert "vs ease" in report.table()


def test_the_stack_exchange_loader_reads_posts_as_messages_and_tags_as_courses(
    tmp_path: Path,
) -> None:
    posts = tmp_path / "Posts.xml"
    posts.write_text(
        """<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" CreationDate="2014-03-13T20:32:04.033" OwnerUserId="21"
       Title="Teaching proofs" Body="&lt;p&gt;How to teach &lt;b&gt;proofs&lt;/b&gt;?&lt;/p&gt;"
       Tags="&lt;proofs&gt;&lt;geometry&gt;" />
  <row Id="2" PostTypeId="2" ParentId="1" CreationDate="2014-03-14T10:00:00.000"
       OwnerUserId="30" Body="&lt;p&gt;Start with triangles.&lt;/p&gt;" />
  <row Id="3" PostTypeId="5" CreationDate="2014-03-15T10:00:00.000" OwnerUserId="30" Body="x" />
</posts>
""",
        encoding="utf-8",
    )
    data = load_stack_exchange(posts)
    assert [c.id for c in data.courses] == ["geometry", "proofs"]
    assert data.member_ids.tolist() == [21, 30]
    assert sorted(zip(data.event_rows.tolist(), data.event_items.tolist(), strict=True)) == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    ]
    assert data.message_texts == ["Teaching proofs\nHow to teach proofs ?", "Start with triangles."]


def test_cohort_recommend_evaluate_prints_json(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "recommend",
            "evaluate",
            "--source",
            "synthetic",
            "--size",
            "300x20x2000",
            "--rounds",
            "50",
            "--json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["k"] == 10
    assert "ours" in report["models"]


def test_a_global_split_holds_out_everything_from_one_moment_for_every_member() -> None:
    data = Dataset(
        courses=[Course(id=f"c{i}", title=f"Course {i}") for i in range(4)],
        member_ids=np.array([10, 11, 12]),
        # Times 1..10: the last fifth of the events (times 9 and 10) come after the cut.
        event_rows=np.array([0, 0, 1, 1, 2, 2, 0, 1, 2, 0]),
        event_items=np.array([0, 1, 0, 2, 1, 3, 2, 2, 0, 1]),
        event_times=np.arange(1, 11, dtype=np.float64),
        event_weights=np.ones(10, dtype=np.float32),
    )
    split = global_split(data, 0.2)
    cut = split.cutoff[0]
    assert 8 < cut <= 9 and np.all(split.cutoff == cut)
    assert split.train_mask.tolist() == [True] * 8 + [False] * 2
    # Member 2 takes c0 after the cut: new. Member 0 takes c1 again: not new, not test.
    assert {r: v.tolist() for r, v in split.test.items()} == {2: [0]}


def test_an_evaluation_with_a_global_split_names_it_and_scores_every_model() -> None:
    data = synthetic(SyntheticSpec(members=400, courses=30, purchases=3000, topics=5, seed=3))
    params = TrainParams(validation_members=100, text_members=100, ease_lambdas=(10.0,))
    report = evaluate(
        data,
        models=("popularity", "ease", "ours"),
        params=params,
        rounds=50,
        split_by=SplitBy.GLOBAL,
    )
    assert "global split" in report.dataset
    assert report.warm > 50
    ours = report.as_dict()["models"]["ours"]
    assert ours["ndcg_warm"]["mean"] > report.as_dict()["models"]["popularity"]["ndcg_warm"]["mean"]
