"""Top k: the bounded selection that model selection uses equals a stable sort of each row."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from bot.recommend._metrics import top_k, top_k_bounded

pytestmark = pytest.mark.backend_free


def stable_top(scores: np.ndarray, exclude: sparse.csr_matrix, k: int) -> np.ndarray:
    """Return each row's k best columns, ties by lower column: one stable sort a row."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    coo = exclude.tocoo()
    scores[coo.row, coo.col] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, : min(k, scores.shape[1])]


@settings(max_examples=150, deadline=None)
@given(
    rows=st.integers(1, 12),
    columns=st.integers(1, 1500),
    k=st.integers(1, 20),
    levels=st.sampled_from([0, 3, 1000]),  # 0: continuous scores; else that many values (ties)
    excluded=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_the_bounded_top_k_is_a_stable_sort_of_each_row(
    rows: int, columns: int, k: int, levels: int, excluded: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((rows, columns)).astype(np.float32)
    if levels:
        scores = rng.integers(0, levels, size=(rows, columns)).astype(np.float32)
    exclude = sparse.random(rows, columns, density=excluded, random_state=seed, format="csr")
    got = top_k_bounded(scores, exclude, k)
    assert np.array_equal(got, stable_top(scores, exclude, k))


def test_without_ties_both_top_ks_agree() -> None:
    scores = np.random.default_rng(4).permutation(5 * 2000).reshape(5, 2000).astype(np.float32)
    nothing = sparse.csr_matrix(scores.shape, dtype=np.float32)
    assert np.array_equal(top_k_bounded(scores, nothing, 10), top_k(scores, nothing, 10))
