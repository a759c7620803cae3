"""The collaborative models: popularity, EASE and item-kNN with shrinkage on implicit feedback."""

from __future__ import annotations

import numpy as np
from scipy import sparse

BLOCKS = 16  # dense work on an items x items matrix goes a sixteenth of its rows at a time
DENSE_TOP = 0.05  # top k per row goes through dense row blocks above this share of stored cells
TOP_BLOCK = 2**22  # cells in one dense block of rows (32 MiB as float64)


def popularity(matrix: sparse.csr_matrix, *, weighted: bool = False) -> np.ndarray:
    """Return how many members took each course (or the sum of its weights), as float32."""
    if weighted:
        return np.asarray(matrix.sum(axis=0), dtype=np.float32).ravel()
    return np.asarray(matrix.getnnz(axis=0), dtype=np.float32).ravel()


def ease_bytes(n_items: int) -> int:
    """Return the memory EASE needs at its peak for ``n_items`` courses, in bytes.

    One float32 items x items matrix is factorised and inverted in place; the model being
    served meanwhile is another such matrix, so two count.
    """
    return 2 * 4 * n_items * n_items


def knn_bytes(n_items: int, k: int, pairs: int) -> int:
    """Return the memory item-kNN needs at its peak: the co-occurrences and the kept rows."""
    return 16 * pairs + 2 * 12 * n_items * k


def gram(matrix: sparse.csr_matrix) -> np.ndarray:
    """Return ``X'X`` as a dense float32 array, built a block of rows at a time."""
    n = matrix.shape[1]
    by_item = matrix.T.tocsr().astype(np.float32)
    out = np.zeros((n, n), dtype=np.float32)
    step = _block(n)
    for start in range(0, n, step):
        end = min(n, start + step)
        out[start:end] = (by_item[start:end] @ matrix).toarray()
    return out


def ease(matrix: sparse.csr_matrix, lam: float) -> np.ndarray:
    """Fit EASE (Steck 2019): ``B = I - P / diag(P)`` with ``P = (X'X + lam I)^-1``, diag 0.

    Float32 and in place: the Gram matrix is factorised (Cholesky) and inverted where it lies,
    so the peak is one items x items float32 array (400 MB for 10,000 courses).
    Costs O(items^3) time; scores are ``x_u @ B``. Raises ``LinAlgError`` if not positive.
    """
    return ease_from_gram(gram(matrix), lam)


def ease_from_gram(weights: np.ndarray, lam: float) -> np.ndarray:
    """Fit EASE from ``X'X`` (a float32 C-ordered array, overwritten: pass a copy to keep it).

    Model selection makes the Gram matrix once and passes a copy per lambda.
    """
    # scipy.linalg is slow to import: only training needs it, serving a model never does.
    from scipy.linalg import lapack  # noqa: PLC0415

    n = weights.shape[0]
    if n == 0:
        return weights
    weights[np.diag_indices(n)] += np.float32(lam)
    # A C-ordered symmetric array's transpose is the same matrix in Fortran order: LAPACK
    # works on it without a copy. Its upper triangle is our lower one.
    fortran = weights.T
    _, info = lapack.spotrf(fortran, lower=0, clean=0, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: Gram + {lam} I is not positive definite ({info})")
    _, info = lapack.spotri(fortran, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: inverse failed ({info})")
    _mirror_lower(weights)
    diagonal = weights[np.diag_indices(n)].copy()
    weights /= -diagonal[None, :]
    weights[np.diag_indices(n)] = 0.0
    return weights


def _mirror_lower(square: np.ndarray) -> None:
    """Copy the lower triangle of a square array onto its upper one, in place, block by block."""
    n = square.shape[0]
    step = _block(n)
    for start in range(0, n, step):
        end = min(n, start + step)
        block = square[start:end, start:end]
        square[start:end, start:end] = np.tril(block) + np.tril(block, -1).T
        if end < n:
            square[start:end, end:] = square[end:, start:end].T


def _block(n: int) -> int:
    """Return how many rows of an items x items matrix to work on at a time."""
    return max(64, -(-n // BLOCKS))


def cooccurrence(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Return ``X'X`` as a sparse matrix (its diagonal is each course's own weight)."""
    by_item = matrix.T.tocsr()
    result: sparse.csr_matrix = (by_item @ matrix).tocsr()
    return result


def item_knn(
    matrix: sparse.csr_matrix,
    k: int,
    shrink: float = 0.0,
    co: sparse.csr_matrix | None = None,
) -> sparse.csr_matrix:
    """Fit item-kNN: row i keeps the ``k`` courses most similar to course i.

    Similarity is cosine with shrinkage, ``x_i . x_j / (|x_i| |x_j| + shrink)``: a pair seen
    together only a few times counts less. ``co`` is ``cooccurrence(matrix)`` if already made.
    Scores are ``x_u @ S``: course j gains sim(i, j) for each course i the member has.
    """
    return top_k_per_row(shrunk_cosine(matrix, shrink, co), k).astype(np.float32)


def shrunk_cosine(
    matrix: sparse.csr_matrix, shrink: float, co: sparse.csr_matrix | None = None
) -> sparse.csr_matrix:
    """Return every pair's cosine similarity with shrinkage, the diagonal removed."""
    co = cooccurrence(matrix) if co is None else co
    similarity = co.tocoo(copy=True)
    norms = np.sqrt(np.maximum(co.diagonal(), 0)).astype(np.float64)
    off = similarity.row != similarity.col
    rows, cols = similarity.row[off], similarity.col[off]
    values = similarity.data[off] / (norms[rows] * norms[cols] + shrink)
    out = sparse.csr_matrix(
        (values.astype(np.float32), (rows, cols)), shape=co.shape, dtype=np.float32
    )
    out.eliminate_zeros()
    out.sort_indices()
    return out


def top_k_per_row(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the ``k`` largest entries of each row of a sparse matrix (ties: lower column first).

    A dense enough matrix (item similarities) is partitioned a block of dense rows at a time;
    a sparse one is one sort of all the stored entries by (row, value). No loop over rows.
    """
    matrix = matrix.tocsr()
    matrix.sort_indices()
    n_rows, n_cols = matrix.shape
    if k <= 0 or not matrix.nnz:
        return sparse.csr_matrix(matrix.shape, dtype=matrix.dtype)
    if k < n_cols and matrix.nnz >= DENSE_TOP * n_rows * n_cols:
        return _top_k_dense_rows(matrix, k)
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), counts)
    order = row_value_order(rows, matrix.data)
    rank = np.arange(len(order), dtype=np.int64) - matrix.indptr[rows]
    keep = order[rank < k]
    out = sparse.csr_matrix(
        (matrix.data[keep], (rows[keep], matrix.indices[keep])),
        shape=matrix.shape,
        dtype=matrix.dtype,
    )
    out.sort_indices()
    return out


def row_value_order(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return the order by row, then value descending, then position: ``lexsort`` made cheap.

    One stable sort of a 64-bit key, the row above the value's bits turned into an unsigned
    integer that sorts as the float does (3x faster than a two-key ``lexsort``).
    """
    negated = (-values.astype(np.float32) + np.float32(0.0)).view(np.uint32)  # no -0.0
    sign = np.uint32(0x80000000)
    sortable = np.where(negated & sign, ~negated, negated | sign).astype(np.uint64)
    key = (rows.astype(np.uint64) << np.uint64(32)) | sortable
    order: np.ndarray = np.argsort(key, kind="stable")
    return order


def _top_k_dense_rows(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """``top_k_per_row`` for a dense enough matrix: argpartition of dense row blocks."""
    n_rows, n_cols = matrix.shape
    step = max(1, TOP_BLOCK // n_cols)
    parts = []
    for start in range(0, n_rows, step):
        rows = matrix[start : start + step]
        block = np.full(rows.shape, -np.inf, dtype=np.float64)
        row_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        block[row_of, rows.indices] = rows.data
        # The k-th largest value of each row; those above it, then ties by lower column.
        kth = -np.partition(-block, k - 1, axis=1)[:, k - 1 : k]
        above = block > kth
        tie = (block == kth) & np.isfinite(block)
        room = k - above.sum(axis=1, keepdims=True)
        keep = above | (tie & (np.cumsum(tie, axis=1) <= room))
        kept_rows, kept_cols = np.nonzero(keep)
        parts.append(
            sparse.csr_matrix(
                (block[kept_rows, kept_cols].astype(matrix.dtype), (kept_rows, kept_cols)),
                shape=rows.shape,
            )
        )
    out: sparse.csr_matrix = sparse.vstack(parts, format="csr")
    out.sort_indices()
    return out


def item_scores(weights: np.ndarray | sparse.csr_matrix, rows: sparse.csr_matrix) -> np.ndarray:
    """Score every course for each member row with an item-item model (EASE or kNN)."""
    scores = rows @ weights
    if sparse.issparse(scores):
        scores = scores.toarray()
    return np.asarray(scores, dtype=np.float32)
