"""The collaborative models: popularity, EASE and cosine item-kNN on an implicit-feedback matrix."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def popularity(matrix: sparse.csr_matrix) -> np.ndarray:
    """Return how many members took each course, as float32."""
    binary = matrix.copy()
    binary.data[:] = 1
    return np.asarray(binary.sum(axis=0), dtype=np.float32).ravel()


def ease(matrix: sparse.csr_matrix, lam: float) -> np.ndarray:
    """Fit EASE (Steck 2019): ``B = I - P / diag(P)`` with ``P = (X'X + lam I)^-1``, diag 0.

    Costs O(items^3) time and items^2 memory; scores are ``x_u @ B``.
    """
    gram = (matrix.T @ matrix).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    inverse = np.linalg.inv(gram)
    weights = inverse / (-np.diag(inverse))
    weights[np.diag_indices_from(weights)] = 0.0
    result: np.ndarray = weights.astype(np.float32)
    return result


def item_knn(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Fit cosine item-kNN: row i keeps the ``k`` courses most similar to course i.

    Scores are ``x_u @ S``: course j gains sim(i, j) for each course i the member has.
    """
    binary = matrix.tocsc(copy=True)
    norms = np.sqrt(np.asarray(binary.multiply(binary).sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    normalised = binary @ sparse.diags(1.0 / norms)
    similarity = (normalised.T @ normalised).tocsr()
    similarity.setdiag(0)
    similarity.eliminate_zeros()
    return top_k_per_row(similarity, k).astype(np.float32)


def top_k_per_row(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the ``k`` largest entries of each row of a sparse matrix."""
    matrix = matrix.tocsr()
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    keep_rows: list[np.ndarray] = []
    keep_cols: list[np.ndarray] = []
    keep_vals: list[np.ndarray] = []
    for row in range(matrix.shape[0]):
        start, end = indptr[row], indptr[row + 1]
        if start == end:
            continue
        values = data[start:end]
        n = end - start
        chosen = np.argpartition(-values, k - 1)[:k] if n > k else np.arange(n)
        keep_rows.append(np.full(len(chosen), row, dtype=np.int32))
        keep_cols.append(indices[start:end][chosen])
        keep_vals.append(values[chosen])
    if not keep_rows:
        return sparse.csr_matrix(matrix.shape, dtype=matrix.dtype)
    out = sparse.csr_matrix(
        (np.concatenate(keep_vals), (np.concatenate(keep_rows), np.concatenate(keep_cols))),
        shape=matrix.shape,
    )
    out.sort_indices()
    return out


def item_scores(weights: np.ndarray | sparse.csr_matrix, rows: sparse.csr_matrix) -> np.ndarray:
    """Score every course for each member row with an item-item model (EASE or kNN)."""
    scores = rows @ weights
    if sparse.issparse(scores):
        scores = scores.toarray()
    return np.asarray(scores, dtype=np.float32)
