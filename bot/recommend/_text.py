"""The text part: courses and members as TF-IDF vectors of character n-grams.

Character n-grams need no word segmentation, so Chinese ("机器学习") matches as well as English.
Features are hashed (no vocabulary to keep), and a course's vector is its own text plus what
the members who took it wrote. A member's vector is computed on request from their recent
messages; there is never a members x vocabulary matrix.

Serving one member is on the bot's event loop, so it avoids scikit-learn's per-character Python
loop: ``char_wb`` n-grams never cross a space, so a text's counts are the sum of its words'
counts, and each word's hashed n-grams are computed once and kept (``WORD_CACHE`` words per
model). Features that most courses share are scored from a dense block, the rest sparsely.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from bot.recommend._algos import top_k_per_row
from bot.recommend._types import Course

N_FEATURES = 2**18
NGRAMS = (2, 3)
MAX_TERMS = 600  # features kept per course vector
CHUNK = 4096
WORD_CACHE = 50_000  # words whose hashed n-grams a model keeps for serving
DENSE_SHARE = 0.25  # a feature in at least this share of courses is scored from a dense row
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


def ngram_counts(texts: Sequence[str]) -> sparse.csr_matrix:
    """Return each text's hashed ``char_wb`` n-gram counts, as the vectorizer gives them.

    ``char_wb`` n-grams never cross a space, so a text's counts are the sum of its words':
    each distinct word is hashed once, then a texts x words count matrix sums them. Far less
    of scikit-learn's per-character Python loop when words repeat, as they do in messages.
    """
    vocabulary: dict[str, int] = {}
    text_of: list[int] = []
    word_of: list[int] = []
    for row, text in enumerate(texts):
        ids = [vocabulary.setdefault(w, len(vocabulary)) for w in clean(text).lower().split()]
        word_of += ids
        text_of += [row] * len(ids)
    if not vocabulary:
        return sparse.csr_matrix((len(texts), N_FEATURES), dtype=np.float32)
    hashed = _vectorizer().transform(list(vocabulary)).tocsr()
    uses = sparse.csr_matrix(
        (np.ones(len(word_of), dtype=np.float32), (text_of, word_of)),
        shape=(len(texts), len(vocabulary)),
    )
    counts: sparse.csr_matrix = (uses @ hashed).tocsr()
    counts.sum_duplicates()
    counts.sort_indices()
    return counts


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
        self._vectorizer = _vectorizer()
        self._words: dict[str, bytes] = {}
        # Features x courses, split: rows of common features dense, the others sparse.
        by_feature = self.courses.T.tocsr()
        n_items = self.courses.shape[0]
        heavy = np.diff(by_feature.indptr) >= max(1.0, DENSE_SHARE * n_items)
        self._slot = np.full(by_feature.shape[0], -1, dtype=np.int32)
        self._slot[heavy] = np.arange(int(heavy.sum()), dtype=np.int32)
        self._dense = np.ascontiguousarray(by_feature[heavy].toarray(), dtype=np.float32)
        light = sparse.diags((~heavy).astype(np.float32)) @ by_feature
        light.eliminate_zeros()
        self._light = light.tocsr()
        self._light.sort_indices()

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
        catalog = ngram_counts([c.text() for c in courses])
        catalog.data = np.log1p(catalog.data)
        document_freq = np.asarray((catalog > 0).sum(axis=0), dtype=np.float64).ravel()
        n_docs = catalog.shape[0]
        n_items = len(courses)
        buyers = sparse.csr_matrix((n_items, N_FEATURES), dtype=np.float32)
        rows = sorted(member_texts)
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            vectors = ngram_counts([member_texts[r] for r in chunk])
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
        vectors = ngram_counts(list(texts))
        counts = np.diff(vectors.indptr)
        data = np.log1p(vectors.data) * self.idf[vectors.indices]
        rows = np.repeat(np.arange(len(counts)), counts)
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=len(counts)))
        norms[norms == 0] = 1.0
        vectors.data = (data / norms[rows]).astype(np.float32)
        return vectors

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Return one text's feature ids (ascending) and L2-normalised TF-IDF weights.

        The same vector as ``profile([text])``, built from cached per-word n-grams.
        """
        words = Counter(clean(text).lower().split())
        cache = self._words
        fresh: dict[str, bytes] = {}
        missing = [w for w in words if w not in cache]
        if missing:
            hashed = self._vectorizer.transform(missing)
            counts = hashed.data.astype(np.int64)
            ids = np.repeat(hashed.indices.astype(np.int32), counts)
            bounds = np.concatenate(([0], np.cumsum(counts)))[hashed.indptr].tolist()
            fresh = {w: ids[bounds[i] : bounds[i + 1]].tobytes() for i, w in enumerate(missing)}
            room = WORD_CACHE - len(cache)  # full: the next training brings an empty one
            if room > 0:
                cache.update(zip(missing[:room], [fresh[w] for w in missing[:room]], strict=True))
        joined = b"".join([(fresh[w] if w in fresh else cache[w]) * c for w, c in words.items()])
        every = np.frombuffer(joined, dtype=np.int32)
        ids_u, counts = np.unique(every, return_counts=True)
        weights = np.log1p(counts.astype(np.float32)) * self.idf[ids_u]
        norm = float(np.sqrt(np.dot(weights, weights)))
        return ids_u, weights / norm if norm else weights

    def score_one(self, text: str) -> np.ndarray:
        """Return the cosine of one text with each course."""
        ids, weights = self.features(text)
        slots = self._slot[ids]
        common = slots >= 0
        out = np.zeros(self.courses.shape[0], dtype=np.float32)
        # einsum, not BLAS: a threaded gemv on a busy machine costs milliseconds, not microseconds
        n_common = int(np.count_nonzero(common))
        if n_common * 3 > len(self._dense):  # most of the block: one pass, no copy of its rows
            x = np.zeros(len(self._dense), dtype=np.float32)
            x[slots[common]] = weights[common]
            out += np.einsum("i,ij->j", x, self._dense)
        elif n_common:
            out += np.einsum("i,ij->j", weights[common], self._dense[slots[common]])
        rare = ~common
        if rare.any():  # the rows of the member's rare features only, in C
            out += np.asarray(self._light[ids[rare]].T @ weights[rare], dtype=np.float32)
        return out

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Return the cosine of each text with each course (texts x courses)."""
        if not texts:
            return np.zeros((0, self.courses.shape[0]), dtype=np.float32)
        if len(texts) == 1:
            return self.score_one(texts[0])[None, :]
        profiles = self.profile(texts)
        out = np.asarray((profiles @ self._light).toarray(), dtype=np.float32)
        slots = self._slot[profiles.indices]
        common = sparse.csr_matrix(
            (np.where(slots >= 0, profiles.data, 0), np.maximum(slots, 0), profiles.indptr),
            shape=(profiles.shape[0], max(len(self._dense), 1)),
        )
        if len(self._dense):
            out += np.asarray(common @ self._dense, dtype=np.float32)
        return out

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
        sizes = [self.idf, self._slot, self._dense]
        for m in (self.courses, self._light):
            sizes += [m.data, m.indices, m.indptr]
        return int(sum(a.nbytes for a in sizes))
