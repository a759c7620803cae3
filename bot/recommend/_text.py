"""The text part: courses and members as TF-IDF vectors of character n-grams.

Character n-grams need no word segmentation, so Chinese ("机器学习") matches as well as English.
Features are hashed (no vocabulary to keep), and a course's vector is its own text plus what
the members who took it wrote. A member's vector is computed on request from their recent
messages; there is never a members x vocabulary matrix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from bot.recommend._algos import top_k_per_row
from bot.recommend._data import Course

N_FEATURES = 2**18
NGRAMS = (2, 3)
MAX_TERMS = 600  # features kept per course vector
CHUNK = 4096
_URL_RE = re.compile(r"https?://\S+")


def _vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=NGRAMS,
        n_features=N_FEATURES,
        alternate_sign=False,
        norm=None,
        lowercase=True,
        dtype=np.float32,
    )


def clean(text: str) -> str:
    """Drop links, which say little about a topic and cost many n-grams."""
    return _URL_RE.sub(" ", text)


def keywords_of(course: Course) -> tuple[str, ...]:
    """Return what an explanation may quote for a course, best first.

    Its tags, its title, then the title's words (four letters or more) and, for Chinese, the
    title's runs of two characters or more, longest first.
    """
    words: list[str] = []
    for tag in course.tags:
        words.append(tag.lower())
        if "-" in tag or "_" in tag:
            words.append(re.sub(r"[-_]+", " ", tag.lower()))
    title = course.title.lower()
    if title:
        words.append(title)
    words += [w for w in re.findall(r"[a-z0-9+#]{4,}", title)]
    for run in re.findall(r"[\u3400-\u9fff]{2,}", title):
        words += [
            run[i : i + size] for size in range(len(run), 1, -1) for i in range(len(run) - size + 1)
        ]
    return tuple(dict.fromkeys(w for w in words if len(w.strip()) >= 2))


class TextModel:
    """Course vectors and the IDF weights to turn a member's text into a comparable vector."""

    def __init__(
        self, idf: np.ndarray, courses: sparse.csr_matrix, keywords: Sequence[tuple[str, ...]]
    ) -> None:
        self.idf = idf.astype(np.float32)
        self.courses = courses.tocsr().astype(np.float32)
        self.keywords = [tuple(k) for k in keywords]
        self._courses_t = self.courses.T.tocsr()
        self._vectorizer = _vectorizer()

    @classmethod
    def fit(
        cls,
        courses: Sequence[Course],
        member_texts: dict[int, str],
        purchases: sparse.csr_matrix,
    ) -> TextModel:
        """Learn IDF from members' texts and course texts; give each course its buyers' words.

        ``purchases`` is the members x courses matrix; only rows in ``member_texts`` count.
        """
        vectorizer = _vectorizer()
        catalog = vectorizer.transform([clean(c.text()) for c in courses])
        catalog.data = np.log1p(catalog.data)
        document_freq = np.asarray((catalog > 0).sum(axis=0), dtype=np.float64).ravel()
        n_docs = catalog.shape[0]
        n_items = len(courses)
        buyers = sparse.csr_matrix((n_items, N_FEATURES), dtype=np.float32)
        rows = sorted(member_texts)
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            vectors = vectorizer.transform([clean(member_texts[r]) for r in chunk])
            vectors.data = np.log1p(vectors.data)
            document_freq += np.asarray((vectors > 0).sum(axis=0), dtype=np.float64).ravel()
            n_docs += len(chunk)
            took = purchases[chunk]
            if took.nnz:
                buyers = buyers + (took.T @ normalize(vectors)).tocsr()
                buyers = top_k_per_row(buyers, MAX_TERMS * 4)
        idf = (np.log((1 + n_docs) / (1 + document_freq)) + 1).astype(np.float32)
        scale = sparse.diags(idf)
        course_vectors = normalize(catalog @ scale)
        if buyers.nnz:
            course_vectors = course_vectors + normalize(buyers @ scale)
        course_vectors = normalize(top_k_per_row(course_vectors.tocsr(), MAX_TERMS))
        return cls(idf, course_vectors, [keywords_of(c) for c in courses])

    def profile(self, texts: Iterable[str]) -> sparse.csr_matrix:
        """Return the L2-normalised TF-IDF vectors of texts (one row each)."""
        vectors = self._vectorizer.transform([clean(t) for t in texts]).tocsr()
        counts = np.diff(vectors.indptr)
        data = np.log1p(vectors.data) * self.idf[vectors.indices]
        rows = np.repeat(np.arange(len(counts)), counts)
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=len(counts)))
        norms[norms == 0] = 1.0
        vectors.data = (data / norms[rows]).astype(np.float32)
        return vectors

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Return the cosine of each text with each course (texts x courses)."""
        if not texts:
            return np.zeros((0, self.courses.shape[0]), dtype=np.float32)
        profiles = self.profile(texts)
        if len(texts) == 1:  # one member: only the course rows of their features
            rows = self._courses_t[profiles.indices]
            return np.asarray(rows.T @ profiles.data, dtype=np.float32)[None, :]
        return np.asarray((profiles @ self._courses_t).toarray(), dtype=np.float32)

    def keyword(self, course: int, text: str) -> str | None:
        """Return a tag or title of the course that the text mentions, if any."""
        lowered = text.lower()
        for word in self.keywords[course]:
            if word in lowered:
                return word
        return None

    @property
    def nbytes(self) -> int:
        """Return the memory the arrays take."""
        c = self.courses
        return int(self.idf.nbytes + 2 * (c.data.nbytes + c.indices.nbytes + c.indptr.nbytes))
