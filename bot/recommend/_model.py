"""A trained recommender: scores, the blend, filters, diversity and explanations."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
from scipy import sparse

from bot.recommend._algos import item_scores
from bot.recommend._data import recency_weights
from bot.recommend._text import TextModel
from bot.recommend._types import Course, ModelInfo, Reason, Suggestion

TIE_BREAK = 1e-3  # popularity's share among equal scores
SHORTLIST = 200  # candidates fully sorted before the tag cap; more only when it needs them
BOOSTS = 64  # languages whose "same language first" boost a model keeps


def zscore(scores: np.ndarray) -> np.ndarray:
    """Standardise each row (mean 0, deviation 1); a constant row becomes zeros."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.shape[-1] == 0:  # no courses: nothing to standardise (and no mean to take)
        return scores
    mean = scores.mean(axis=-1, keepdims=True)
    std = scores.std(axis=-1, keepdims=True)
    std[std == 0] = 1.0
    standard: np.ndarray = (scores - mean) / std
    return standard


class Model:
    """Scores courses for one member from their courses and their recent text."""

    def __init__(
        self,
        courses: Sequence[Course],
        *,
        info: ModelInfo,
        weights: np.ndarray | sparse.csr_matrix | None,
        popularity: np.ndarray,
        text: TextModel | None,
        text_weight: float = 0.0,
        cold_popularity: float = 1.0,
        popularity_weight: float = 0.0,
        recency: float = math.inf,
    ) -> None:
        self.courses = list(courses)
        self.info = info
        self.weights = weights
        self.popularity = np.asarray(popularity, dtype=np.float32)
        self.text = text
        self.text_weight = float(text_weight)
        self.cold_popularity = float(cold_popularity)
        self.popularity_weight = float(popularity_weight)
        # A member's n-th latest course weighs 0.5 ** (n / recency) in their row; inf: all 1.
        self.recency = float(recency)
        self.index = {c.id: i for i, c in enumerate(self.courses)}
        self._pop_z = zscore(self.popularity[None, :])[0]
        self._tags = [c.tags for c in self.courses]
        self._languages = np.array([c.language for c in self.courses], dtype=object)
        self._boosts: dict[str, np.ndarray] = {}
        # kNN weights by column, to find which owned course explains a suggestion.
        self._by_column: sparse.csc_matrix | None = None
        if weights is not None and not isinstance(weights, np.ndarray):
            self._by_column = sparse.csc_matrix(weights)
            self._by_column.sort_indices()

    # --- batch scoring (training and evaluation) -----------------------------------------------

    def score_rows(self, rows: sparse.csr_matrix, texts: Sequence[str | None]) -> np.ndarray:
        """Blend scores for many members: their course rows and their texts (or None).

        ``rows`` carry each owned course's weight (``recency_matrix`` with ``self.recency``).
        """
        n = rows.shape[0]
        warm = np.asarray(rows.getnnz(axis=1) > 0)
        has_text = np.array([bool(t and t.strip()) for t in texts], dtype=bool)
        text_z = np.zeros((n, len(self.courses)), dtype=np.float32)
        if self.text is not None and has_text.any():
            chosen = np.flatnonzero(has_text)
            text_z[chosen] = zscore(self.text.scores([texts[int(i)] or "" for i in chosen]))
        collab_z = np.zeros_like(text_z)
        if self.weights is not None and warm.any():
            chosen = np.flatnonzero(warm)
            collab_z[chosen] = zscore(item_scores(self.weights, rows[chosen]))
        return blend(
            collab_z,
            text_z,
            self._pop_z,
            warm=warm,
            has_text=has_text,
            text_weight=self.text_weight,
            cold_popularity=self.cold_popularity,
            popularity_weight=self.popularity_weight,
        )

    # --- one member (serving) ------------------------------------------------------------------

    def recommend(
        self,
        owned: Collection[str],
        text: str | None = None,
        *,
        taken: Sequence[float] | None = None,
        allowed: Collection[str] | np.ndarray | None = None,
        language: str | None = None,
        k: int = 5,
        max_per_tag: int = 3,
    ) -> list[Suggestion]:
        """Suggest up to ``k`` courses the member does not own and may see, with reasons.

        ``taken[i]`` is when the member took ``owned[i]`` (epoch seconds; ``owned`` is then a
        sequence): with a recency half-life, later courses weigh more. Without it every
        owned course weighs the same.
        ``allowed`` limits the candidates (the current catalog, cut to the member's tiers), as
        course ids or as a boolean mask from ``mask()``;
        ``language`` puts courses in that language first for a member with nothing else to go
        on. At most ``max_per_tag`` suggestions share a tag.
        """
        n = len(self.courses)
        owned_idx, owned_weight = self._owned(owned, taken)
        text = text if text and text.strip() and self.text is not None else None
        warm = bool(len(owned_idx)) and self.weights is not None
        zeros = np.zeros(n, np.float32)
        collab_z = zscore(self._collab_one(owned_idx, owned_weight)) if warm else zeros
        text_z = zeros
        if text is not None:
            assert self.text is not None
            text_z = zscore(self.text.score_one(text))
        if warm:  # the same sums as blend(), for one member without 2-D temporaries
            final = collab_z + (self.popularity_weight + TIE_BREAK) * self._pop_z
            if text is not None:
                final += self.text_weight * text_z
        elif text is not None:
            final = (1 - self.cold_popularity) * text_z
            final += (self.cold_popularity + TIE_BREAK) * self._pop_z
        else:
            final = self._pop_z.copy()
            if language:
                final += self._language_boost(language)
        candidate = np.ones(n, dtype=bool)
        if isinstance(allowed, np.ndarray):
            candidate &= allowed
        elif allowed is not None:
            candidate &= self.mask(allowed)
        candidate[owned_idx] = False
        picked = self._pick(np.where(candidate, final, -np.inf), k, max_per_tag)
        return [
            self._explain(
                int(i),
                float(final[i]),
                owned_idx,
                owned_weight,
                text,
                collab_z[i],
                text_z[i],
                warm=warm,
            )
            for i in picked
        ]

    def _owned(
        self, owned: Collection[str], taken: Sequence[float] | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the owned courses' indexes (sorted) and their recency weights (None: all 1).

        A course taken twice counts at its latest time.
        """
        if taken is None or not math.isfinite(self.recency):
            known = sorted({self.index[c] for c in owned if c in self.index})
            return np.array(known, dtype=np.intp), None
        if not isinstance(owned, Sequence) or len(taken) != len(owned):
            raise ValueError("taken needs one time per owned course, in the same order")
        latest: dict[int, float] = {}
        for course, at in zip(owned, taken, strict=True):
            i = self.index.get(course)
            if i is not None and at >= latest.get(i, -math.inf):
                latest[i] = float(at)
        index = np.array(sorted(latest), dtype=np.intp)
        times = np.array([latest[int(i)] for i in index], dtype=np.float64)
        return index, recency_weights(times, np.zeros(len(index), np.int64), self.recency)

    def _collab_one(self, owned: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """Return one member's item-item scores: their courses' weight rows, summed.

        ``weight`` scales each owned course's row (recency); None is 1 for each.
        """
        weights = self.weights
        if isinstance(weights, np.ndarray):
            rows = weights[owned]
            if weight is not None:
                rows *= weight[:, None]  # a copy already: fancy indexing
            summed: np.ndarray = np.add.reduce(rows, axis=0, dtype=np.float32)
            return summed
        assert weights is not None
        starts = weights.indptr[owned]
        lengths = weights.indptr[owned + 1] - starts
        at = np.arange(int(lengths.sum())) + np.repeat(
            starts - (np.cumsum(lengths) - lengths), lengths
        )
        values = weights.data[at]
        if weight is not None:
            values = values * np.repeat(weight, lengths)
        sums = np.bincount(weights.indices[at], weights=values, minlength=len(self.courses))
        return sums.astype(np.float32)

    def _language_boost(self, language: str) -> np.ndarray:
        boost = self._boosts.get(language)
        if boost is None:
            same = (self._languages == "") | (self._languages == language)
            boost = np.where(same, 1000.0, 0.0).astype(np.float32)
            if len(self._boosts) < BOOSTS:
                self._boosts[language] = boost
        return boost

    def _pick(self, scores: np.ndarray, k: int, max_per_tag: int) -> list[int]:
        """Take the best ``k`` of the finite scores (ties: lower index first) under the tag cap.

        Only a shortlist is sorted; the rest only when the tag cap needs it.
        """
        count = int(np.count_nonzero(np.isfinite(scores)))
        head = min(count, max(SHORTLIST, 4 * k))
        if not head:
            return []
        if head < len(scores):
            top = np.argpartition(-scores, head - 1)[:head]
        else:
            top = np.arange(len(scores))
        top = top[np.isfinite(scores[top])]
        picked = diversify(top[np.lexsort((top, -scores[top]))], self._tags, k, max_per_tag)
        if len(picked) < k and head < count:
            rest = np.flatnonzero(np.isfinite(scores))
            picked = diversify(rest[np.lexsort((rest, -scores[rest]))], self._tags, k, max_per_tag)
        return picked

    def mask(self, allowed: Collection[str]) -> np.ndarray:
        """Return which of the model's courses are among ``allowed`` (ids), as booleans."""
        permitted = set(allowed)
        return np.array([c.id in permitted for c in self.courses], dtype=bool)

    def _explain(
        self,
        item: int,
        score: float,
        owned: np.ndarray,
        owned_weight: np.ndarray | None,
        text: str | None,
        collab: float,
        text_z: float,
        *,
        warm: bool,
    ) -> Suggestion:
        course_id = self.courses[item].id
        text_share = (self.text_weight if warm else 1 - self.cold_popularity) * text_z
        if text is not None and text_share > 0 and (not warm or text_share >= collab):
            assert self.text is not None
            word = self.text.keyword(item, text)
            if word is not None:
                return Suggestion(course_id, score, Reason.WROTE_ABOUT, word)
            if not warm or collab <= 0:
                return Suggestion(course_id, score, Reason.MATCHES_TEXT)
        if warm and self.weights is not None:
            if isinstance(self.weights, np.ndarray):
                parts = self.weights[owned, item]
            else:
                column = self._by_column
                assert column is not None
                start, end = column.indptr[item], column.indptr[item + 1]
                parts = np.zeros(len(owned), np.float32)
                where = np.searchsorted(owned, column.indices[start:end])
                inside = where < len(owned)
                hit = inside & (
                    owned[np.minimum(where, len(owned) - 1)] == column.indices[start:end]
                )
                parts[where[hit]] = column.data[start:end][hit]
            if owned_weight is not None:
                parts = parts * owned_weight
            best = int(np.argmax(parts))
            if parts[best] > 0:
                return Suggestion(course_id, score, Reason.ALSO_TOOK, self.courses[owned[best]].id)
        return Suggestion(course_id, score, Reason.POPULAR)

    @property
    def nbytes(self) -> int:
        """Return roughly how much memory the model's arrays take."""
        total = self.popularity.nbytes + (self.text.nbytes if self.text is not None else 0)
        if isinstance(self.weights, np.ndarray):
            total += self.weights.nbytes
        elif self.weights is not None:
            w = self.weights
            total += w.data.nbytes + w.indices.nbytes + w.indptr.nbytes
        return int(total)


def blend(
    collab_z: np.ndarray,
    text_z: np.ndarray,
    pop_z: np.ndarray,
    *,
    warm: np.ndarray,
    has_text: np.ndarray,
    text_weight: float,
    cold_popularity: float,
    popularity_weight: float = 0.0,
) -> np.ndarray:
    """Combine z-scored parts per member: warm rows collab + w * text; cold rows text and pop.

    A member with courses gets ``collab + text_weight * text + popularity_weight * popularity``;
    one with only text gets ``(1 - cold_popularity) * text + cold_popularity * popularity``; one
    with neither gets popularity. Popularity breaks ties everywhere.
    """
    out = np.broadcast_to(pop_z, collab_z.shape).astype(np.float32)
    if warm.all():  # training's warm validation: no row to pick out
        return np.asarray(
            collab_z
            + np.where(has_text[:, None], text_weight * text_z, 0)
            + (popularity_weight + TIE_BREAK) * pop_z,
            dtype=np.float32,
        )
    if warm.any():
        rows = np.flatnonzero(warm)
        out[rows] = (
            collab_z[rows]
            + np.where(has_text[rows, None], text_weight * text_z[rows], 0)
            + (popularity_weight + TIE_BREAK) * pop_z
        )
    cold = ~warm & has_text
    if cold.any():
        rows = np.flatnonzero(cold)
        out[rows] = (1 - cold_popularity) * text_z[rows] + (cold_popularity + TIE_BREAK) * pop_z
    return out


def diversify(
    order: Sequence[int] | np.ndarray, tags: Sequence[tuple[str, ...]], k: int, max_per_tag: int
) -> list[int]:
    """Take items in order, skipping one that would put more than ``max_per_tag`` on a tag.

    ``tags[item]`` are the tags of an item.
    """
    counts: dict[str, int] = {}
    picked: list[int] = []
    for item in order:
        item_tags = tags[item]
        if any(counts.get(t, 0) >= max_per_tag for t in item_tags):
            continue
        picked.append(int(item))
        for t in item_tags:
            counts[t] = counts.get(t, 0) + 1
        if len(picked) == k:
            break
    return picked
