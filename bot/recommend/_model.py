"""A trained recommender: scores, the blend, filters, diversity and explanations."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np
from scipy import sparse

from bot.recommend._algos import item_scores
from bot.recommend._data import Course
from bot.recommend._text import TextModel

TIE_BREAK = 1e-3  # popularity's share among equal scores
SHORTLIST = 200  # candidates fully sorted before the tag cap; more only when it needs them


class Algorithm(StrEnum):
    """Which collaborative model a recommender uses."""

    EASE = "ease"
    ITEM_KNN = "item_knn"
    POPULARITY = "popularity"


class Reason(StrEnum):
    """Why a course is suggested."""

    ALSO_TOOK = "also_took"  # members who took X also took this
    WROTE_ABOUT = "wrote_about"  # you wrote about <keyword>
    MATCHES_TEXT = "matches_text"  # close to what you wrote, no single word to quote
    POPULAR = "popular"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One suggested course and why: ``because`` is a course id (ALSO_TOOK) or a keyword."""

    course_id: str
    score: float
    reason: Reason
    because: str = ""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model was trained on and how it was chosen."""

    trained_at: datetime
    data_version: str
    catalog: str
    algorithm: Algorithm
    params: dict[str, float] = field(default_factory=dict)
    members: int = 0
    purchases: int = 0
    validation: dict[str, float] = field(default_factory=dict)


def zscore(scores: np.ndarray) -> np.ndarray:
    """Standardise each row (mean 0, deviation 1); a constant row becomes zeros."""
    scores = np.asarray(scores, dtype=np.float32)
    mean = scores.mean(axis=-1, keepdims=True)
    std = scores.std(axis=-1, keepdims=True)
    std[std == 0] = 1.0
    return (scores - mean) / std


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
    ) -> None:
        self.courses = list(courses)
        self.info = info
        self.weights = weights
        self.popularity = np.asarray(popularity, dtype=np.float32)
        self.text = text
        self.text_weight = float(text_weight)
        self.cold_popularity = float(cold_popularity)
        self.index = {c.id: i for i, c in enumerate(self.courses)}
        self._pop_z = zscore(self.popularity[None, :])[0]
        self._tags = [c.tags for c in self.courses]
        self._languages = np.array([c.language for c in self.courses], dtype=object)

    # --- batch scoring (training and evaluation) -----------------------------------------------

    def score_rows(self, rows: sparse.csr_matrix, texts: Sequence[str | None]) -> np.ndarray:
        """Blend scores for many members: their course rows and their texts (or None)."""
        n = rows.shape[0]
        warm = np.asarray(rows.getnnz(axis=1) > 0)
        has_text = np.array([bool(t and t.strip()) for t in texts], dtype=bool)
        text_z = np.zeros((n, len(self.courses)), dtype=np.float32)
        if self.text is not None and has_text.any():
            chosen = np.flatnonzero(has_text)
            text_z[chosen] = zscore(self.text.scores([texts[i] or "" for i in chosen]))
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
        )

    # --- one member (serving) ------------------------------------------------------------------

    def recommend(
        self,
        owned: Collection[str],
        text: str | None = None,
        *,
        allowed: Collection[str] | np.ndarray | None = None,
        language: str | None = None,
        k: int = 5,
        max_per_tag: int = 3,
    ) -> list[Suggestion]:
        """Suggest up to ``k`` courses the member does not own and may see, with reasons.

        ``allowed`` limits the candidates (the current catalog, cut to the member's tiers), as
        course ids or as a boolean mask from ``mask()``;
        ``language`` puts courses in that language first for a member with nothing else to go
        on. At most ``max_per_tag`` suggestions share a tag.
        """
        n = len(self.courses)
        owned_idx = sorted({self.index[c] for c in owned if c in self.index})
        row = sparse.csr_matrix(
            (np.ones(len(owned_idx), np.float32), (np.zeros(len(owned_idx), int), owned_idx)),
            shape=(1, n),
        )
        text = text if text and text.strip() and self.text is not None else None
        warm = bool(owned_idx) and self.weights is not None
        collab_z = np.zeros(n, np.float32)
        if warm:
            assert self.weights is not None
            collab_z = zscore(item_scores(self.weights, row))[0]
        text_z = np.zeros(n, np.float32)
        if text is not None:
            assert self.text is not None
            text_z = zscore(self.text.scores([text]))[0]
        final = blend(
            collab_z[None, :],
            text_z[None, :],
            self._pop_z,
            warm=np.array([warm]),
            has_text=np.array([text is not None]),
            text_weight=self.text_weight,
            cold_popularity=self.cold_popularity,
        )[0]
        if language and not warm and text is None:
            same = (self._languages == "") | (self._languages == language)
            final = final + np.where(same, 1000.0, 0.0).astype(np.float32)
        candidate = np.ones(n, dtype=bool)
        candidate[owned_idx] = False
        if isinstance(allowed, np.ndarray):
            candidate &= allowed
        elif allowed is not None:
            candidate &= self.mask(allowed)
        order = np.flatnonzero(candidate)
        head = min(len(order), max(SHORTLIST, 4 * k))
        picked: list[int] = []
        if head < len(order):  # sort a shortlist; the rest only if the tag cap needs it
            top = np.argpartition(-final[order], head - 1)[:head]
            shortlist = order[top[np.argsort(-final[order][top], kind="stable")]]
            picked = diversify(shortlist, self._tags, k, max_per_tag)
        if head == len(order) or len(picked) < k:
            order = order[np.argsort(-final[order], kind="stable")]
            picked = diversify(order, self._tags, k, max_per_tag)
        return [
            self._explain(
                int(i), float(final[i]), owned_idx, text, collab_z[i], text_z[i], warm=warm
            )
            for i in picked
        ]

    def mask(self, allowed: Collection[str]) -> np.ndarray:
        """Return which of the model's courses are among ``allowed`` (ids), as booleans."""
        permitted = set(allowed)
        return np.array([c.id in permitted for c in self.courses], dtype=bool)

    def _explain(
        self,
        item: int,
        score: float,
        owned: list[int],
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
                parts = np.asarray(self.weights[owned][:, item].toarray()).ravel()
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
) -> np.ndarray:
    """Combine z-scored parts per member: warm rows collab + w * text; cold rows text and pop.

    A member with courses gets ``collab + text_weight * text``; one with only text gets
    ``(1 - cold_popularity) * text + cold_popularity * popularity``; one with neither gets
    popularity. Popularity breaks ties everywhere.
    """
    out = np.broadcast_to(pop_z, collab_z.shape).astype(np.float32)
    warm_rows = warm[:, None]
    text_rows = has_text[:, None]
    warm_score = collab_z + np.where(text_rows, text_weight * text_z, 0) + TIE_BREAK * pop_z
    cold_score = (1 - cold_popularity) * text_z + (cold_popularity + TIE_BREAK) * pop_z
    out = np.where(warm_rows, warm_score, np.where(text_rows, cold_score, out))
    return np.asarray(out, dtype=np.float32)


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
