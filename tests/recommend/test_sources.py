"""Outside data: the Stack Exchange sample in data/, and MovieLens-format folders."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.recommend._movielens import SourceError, load_movielens
from bot.recommend._sources import SAMPLE, SyntheticSpec, load_stack_exchange, synthetic

pytestmark = pytest.mark.backend_free

REPO = Path(__file__).resolve().parents[2]
TINY = Path(__file__).resolve().parent / "movielens_tiny"


def test_the_stack_exchange_sample_ships_in_the_repository_with_its_licence() -> None:
    assert SAMPLE == REPO / "data" / "se-matheducators" / "Posts.xml.gz"
    assert SAMPLE.stat().st_size < 1_200_000  # small: gzip, and only the attributes read
    readme = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    for promise in ("CC BY-SA 3.0", "https://matheducators.stackexchange.com", "OwnerUserId"):
        assert promise in readme
    digest = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert digest == "ff9bac7c1b26664c3033710c200b8d768df8b8d4bcc42578684ccc576c4f3052"


def test_the_sample_reads_as_the_readme_says() -> None:
    data = load_stack_exchange(SAMPLE)
    assert (data.n_members, data.n_items, len(data.event_rows)) == (360, 148, 4989)
    assert len(data.message_texts) > 1800


@pytest.mark.slow
def test_cohort_recommend_evaluate_runs_with_no_arguments_outside_the_repository(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "recommend", "evaluate"],
        cwd=tmp_path,  # not the repository: the sample is found beside the code
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("stack-exchange se-matheducators: 360 members, 148 courses")
    assert "chosen hyper-parameters (on a validation split of the training part):" in out
    assert "  ease        ease lambda=" in out
    assert "cold members: " in out
    assert "ours minus baseline, NDCG on the same members (95% paired CI):" in out


def test_a_movielens_format_folder_reads_ratings_items_and_tags() -> None:
    data = load_movielens(TINY)
    assert [c.id for c in data.courses] == ["1", "2", "3", "4"]
    assert data.courses[1].title == "Jumanji, the game (1995)"
    assert data.courses[0].tags == ("Adventure", "Animation", "Children")
    assert data.courses[3].tags == ()
    assert data.member_ids.tolist() == [1, 2, 7, 9]
    rows, items, times = data.event_rows, data.event_items, data.event_times
    events = sorted(zip(rows.tolist(), items.tolist(), times.tolist(), strict=True))
    assert events[0] == (0, 0, 964982703.0)
    assert len(events) == 6
    assert data.message_texts == ["pixar", "heist, slow burn", "board game"]
    assert data.message_rows.tolist() == [1, 1, 3]  # user 9 only wrote: a cold member
    np.testing.assert_array_equal(data.event_weights, np.ones(6, np.float32))


def test_min_rating_leaves_low_ratings_out() -> None:
    data = load_movielens(TINY, min_rating=4.0)
    assert len(data.event_rows) == 3
    assert 2.0 not in data.event_times  # and nothing else was mixed up
    assert sorted(data.event_items.tolist()) == [0, 0, 2]


BAD = [
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0\n", "ratings.csv line 2: 3 fields"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,1,great,5\n", "rating 'great' is not"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,nan\n", "timestamp 'nan' is not"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,99,4,5\n", "item '99' is not in the item"),
    ("ratings.csv", "userId,movieId,rating,timestamp\nbob,1,4,5\n", "userId 'bob' is not a whole"),
    ("ratings.csv", "user,movieId,rating,timestamp\n1,1,4,5\n", "line 1: header"),
    ("ratings.csv", "", "ratings.csv: empty"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n", "no ratings"),
    ("ratings.csv", b"userId,movieId,rating,timestamp\n1,1,4,\xff\n", "not UTF-8"),
    ("movies.csv", "movieId,title,genres\n1,A,x\n1,B,y\n", "movies.csv line 3: item '1' listed"),
    ("movies.csv", "movieId,title\n1,A\n", "lacks genres"),
    ("tags.csv", "userId,movieId,tag,timestamp\n1,1,fun\n", "tags.csv line 2: 3 fields"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD, ids=[m for _, _, m in BAD])
def test_a_malformed_file_is_a_clear_error_naming_the_file_and_line(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    folder = tmp_path / "ml"
    shutil.copytree(TINY, folder)
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        load_movielens(folder)
    assert message in str(caught.value)


def test_a_missing_folder_or_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a folder"):
        load_movielens(tmp_path / "nope")
    with pytest.raises(SourceError, match=r"no movies\.csv or items\.csv"):
        load_movielens(tmp_path)
    (tmp_path / "items.csv").write_text("itemId,title,genres\n1,A,x\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"no ratings\.csv"):
        load_movielens(tmp_path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.sampled_from(list('0123456789,."\n\r ab|-\u00e9')), max_size=80))
def test_any_ratings_text_reads_or_is_a_source_error(tmp_path: Path, text: str) -> None:
    folder = tmp_path / "fuzz"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(TINY, folder)
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + text, "utf-8")
    try:
        data = load_movielens(folder)
    except SourceError as exc:
        assert str(exc)
    else:
        assert len(data.event_rows) == len(data.event_items) == len(data.event_times) > 0


@pytest.mark.slow
def test_the_cli_reads_a_movielens_folder_and_refuses_a_bad_one(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "recommend", "evaluate", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
            check=False,
        )

    done = run("--source", "movielens-format", str(TINY), "--rounds", "20")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("movielens-format movielens_tiny: 4 members, 4 courses, 6 events")
    broken = tmp_path / "broken"
    shutil.copytree(TINY, broken)
    (broken / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1\n", "utf-8")
    refused = run("--source", "movielens-format", str(broken))
    assert refused.returncode == 2
    assert "ratings.csv line 2: 2 fields, expected 4" in refused.stderr
    assert "Traceback" not in refused.stderr
    missing = run("--source", "movielens-format")
    assert missing.returncode == 2
    assert "PATH: expected a folder of MovieLens-format CSV files" in missing.stderr


def _top_courses(items: np.ndarray, n: int = 30) -> set[int]:
    return set(np.argsort(-np.bincount(items, minlength=2000))[:n].tolist())


@pytest.mark.parametrize(("drift", "most_overlap"), [(0.0, 1.0), (0.6, 0.6)])
def test_with_drift_what_is_popular_and_what_members_take_moves_over_the_year(
    drift: float, most_overlap: float
) -> None:
    spec = SyntheticSpec(members=4000, courses=2000, purchases=60_000, topics=20, drift=drift)
    data = synthetic(spec)
    assert data.n_items == 2000 and len(data.event_rows) == pytest.approx(60_000, rel=0.02)
    order = np.argsort(data.event_times)
    quarter = len(order) // 4
    early = _top_courses(data.event_items[order[:quarter]])
    late = _top_courses(data.event_items[order[-quarter:]])
    overlap = len(early & late) / 30
    if drift:
        assert overlap < most_overlap
    else:
        assert overlap >= 0.6  # the same long tail all year: mostly the same head
    counts = np.bincount(data.event_items, minlength=2000)
    assert np.sort(counts)[-100:].sum() > np.sort(counts)[:1000].sum()  # top 5% beat bottom 50%
