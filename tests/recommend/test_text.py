"""The text part: serving one text gives the vectorizer's own scores, however it gets them."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.recommend import _text
from bot.recommend._sources import _CHINESE, _SYLLABLES, SyntheticSpec, synthetic
from bot.recommend._text import TextModel

pytestmark = pytest.mark.backend_free

WORDS = ("pandas", "Pandas", "SQL", "机器学习", "数据", "İstanbul", "ΟΔΟΣ", "naïve", "a", "x")


@cache
def fitted() -> TextModel:
    """Fit a small text model on a synthetic community with English and Chinese topics."""
    data = synthetic(
        SyntheticSpec(members=300, courses=40, purchases=2000, topics=6, chinese_share=0.4, seed=2)
    )
    texts = data.texts_by_row(limit=20)
    return TextModel.fit(data.courses, texts, data.matrix())


def reference(model: TextModel, texts: list[str]) -> np.ndarray:
    """Score texts through scikit-learn's vectorizer and the course matrix, no shortcuts."""
    return np.asarray((model.profile(texts) @ model.courses.T).toarray(), dtype=np.float32)


def test_common_features_are_dense_and_rare_ones_sparse() -> None:
    model = fitted()
    assert len(model._dense) > 0
    assert model._light.nnz > 0
    assert model._dense.shape[1] == model.courses.shape[0]


text_parts = st.one_of(
    st.sampled_from(WORDS),
    st.lists(st.sampled_from(_SYLLABLES), min_size=3, max_size=3).map("".join),  # topic words
    st.text(alphabet=_CHINESE, min_size=2, max_size=4),
    st.text(alphabet="abc 数据\n\t.-", max_size=12),
    st.sampled_from(("https://example.com/pandas", "HTTP://X.Y", "  ", "\n\n")),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(text_parts, max_size=30).map(" ".join))
def test_one_text_scores_as_the_vectorizer_does(text: str) -> None:
    model = fitted()
    np.testing.assert_allclose(model.score_one(text), reference(model, [text])[0], atol=1e-6)
    ids, weights = model.features(text)
    assert np.all(np.diff(ids) > 0)
    assert len(ids) == 0 or abs(float(np.dot(weights, weights)) - 1) < 1e-5


def test_a_repeated_word_counts_once_per_use_and_cached_words_give_the_same_scores() -> None:
    model = TextModel(fitted().idf, fitted().courses, fitted().keywords)
    text = "pandas pandas 数据 sql\nPANDAS https://example.com/x pandas"
    first = model.score_one(text)
    assert {"pandas", "数据", "sql"} <= set(model._words)
    np.testing.assert_allclose(model.score_one(text), first)
    np.testing.assert_allclose(first, reference(model, [text])[0], atol=1e-6)


def test_a_full_word_cache_still_scores_new_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_text, "WORD_CACHE", 2)
    model = TextModel(fitted().idf, fitted().courses, fitted().keywords)
    texts = ["one two three four", "four five six 数据", "seven"]
    for text in texts:
        np.testing.assert_allclose(model.score_one(text), reference(model, [text])[0], atol=1e-6)
    assert len(model._words) == 2


@pytest.mark.parametrize("size", ["one word", "every course's text"])
def test_few_or_most_common_features_score_the_same(size: str) -> None:
    model = fitted()
    catalog = synthetic(
        SyntheticSpec(members=300, courses=40, purchases=2000, topics=6, chinese_share=0.4, seed=2)
    ).courses
    text = (
        catalog[0].title.split()[0] if size == "one word" else " ".join(c.text() for c in catalog)
    )
    ids, _ = model.features(text)
    most = bool(np.count_nonzero(model._slot[ids] >= 0) * 3 > len(model._dense))
    assert most is (size != "one word")
    np.testing.assert_allclose(model.score_one(text), reference(model, [text])[0], atol=1e-6)


def test_many_texts_score_as_one_at_a_time() -> None:
    model = fitted()
    texts = ["pandas and sql", "机器学习 数据", "", "kalomi nerut"]
    batch = model.scores(texts)
    np.testing.assert_allclose(batch, reference(model, texts), atol=1e-6)
    np.testing.assert_allclose(batch[1], model.score_one(texts[1]), atol=1e-6)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(text_parts, max_size=20).map(" ".join), max_size=6))
def test_counting_by_words_gives_the_vectorizers_own_counts(texts: list[str]) -> None:
    got = _text.ngram_counts(texts)
    if not texts:  # scikit-learn's vectorizer cannot take none; ours gives an empty matrix
        assert got.shape == (0, _text.N_FEATURES)
        return
    expected = _text._vectorizer().transform([_text.clean(t) for t in texts])
    assert got.shape == expected.shape
    assert abs(got - expected).sum() == 0
