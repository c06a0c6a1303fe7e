"""The numpy TF-IDF equals scikit-learn's TfidfVectorizer (words and word pairs, sublinear tf, smooth idf, l2) on
the same tokens, prunes by min_df / max_df / max_features as it does, and reloads from its terms."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from cxpredict.data.text import TOKENIZERS, normalise
from cxpredict.data.tokens import tokens_of
from cxpredict.models.tfidf import Tfidf, _most_frequent
from cxpredict.synthetic.text import PHRASES, _write


def _texts(language: str, n: int = 600) -> list[str]:
    rng = np.random.default_rng(1)
    topics = list(PHRASES)
    return [normalise(_write(rng, [topics[i % len(topics)], topics[(i * 7) % len(topics)]], language, True))
            for i in range(n)] + ["", "the and"]


def _reference(language: str, **kw) -> TfidfVectorizer:
    return TfidfVectorizer(tokenizer=TOKENIZERS[language], token_pattern=None, lowercase=False, ngram_range=(1, 2),
                           sublinear_tf=True, **kw)


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("min_df,max_df", [(1, 1.0), (3, 0.5)])
def test_same_matrix_as_scikit_learn(language, min_df, max_df):
    texts = _texts(language)
    reference = _reference(language, min_df=min_df, max_df=max_df)
    expected = reference.fit_transform(texts)
    model = Tfidf(min_df, max_df)
    X = model.fit_transform(tokens_of(texts, language))
    names = list(reference.get_feature_names_out())
    assert sorted(model.terms_) == sorted(names)
    column = {t: j for j, t in enumerate(model.terms_)}
    assert abs(X[:, [column[t] for t in names]] - expected).max() < 1e-12
    again = Tfidf.from_terms(model.terms_, model.idf_).transform(tokens_of(texts[:50], language))
    assert abs(again - X[:50]).max() == 0


@pytest.mark.parametrize("language", ["en", "zh"])
def test_max_features_keeps_the_most_frequent_terms(language):
    texts = _texts(language)
    counter = TfidfVectorizer(tokenizer=TOKENIZERS[language], token_pattern=None, lowercase=False,
                              ngram_range=(1, 2), min_df=2, use_idf=False, norm=None).fit(texts)
    total = dict(zip(counter.get_feature_names_out(), np.asarray(counter.transform(texts).sum(axis=0))[0]))
    model = Tfidf(min_df=2, max_features=100)
    model.fit_transform(tokens_of(texts, language))
    kept = set(model.terms_)
    boundary = min(total[t] for t in kept)
    assert len(kept) == 100 and all(total[t] <= boundary for t in set(total) - kept)


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("min_df,max_features", [(1, None), (2, 100)])
def test_the_fitted_matrix_is_the_transform_of_the_same_tokens(language, min_df, max_features):
    """fit_transform builds its matrix from the fit's counts: the very arrays `transform` makes."""
    tokens = tokens_of(_texts(language), language)
    model = Tfidf(min_df, max_features=max_features)
    X, again = model.fit_transform(tokens), model.transform(tokens)
    for a, b in ((X.data, again.data), (X.indices, again.indices), (X.indptr, again.indptr)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert X.has_sorted_indices and X.shape == again.shape


def test_unknown_words_and_empty_texts_give_empty_rows():
    model = Tfidf()
    model.fit_transform(tokens_of(["bill wrong", "bill late"], "en"))
    X = model.transform(tokens_of(["", "zebra", "bill zebra"], "en"))
    assert X.shape == (3, len(model.terms_)) and X[:2].nnz == 0 and X[2].nnz == 1


def test_nothing_left_after_pruning_is_a_value_error():
    with pytest.raises(ValueError, match="min_df"):
        Tfidf(min_df=5).fit_transform(tokens_of(["bill wrong", "late again"], "en"))


def test_the_most_frequent_terms_are_those_of_sorting_every_candidate_by_count_then_name():
    """max_features names only the candidates it needs; the choice and order are those of naming them all."""
    rng = np.random.default_rng(0)
    names = np.array([f"t{i:03d}" for i in rng.permutation(300)], dtype=object)
    terms = np.sort(rng.choice(1000, 300, replace=False))
    total = rng.integers(1, 6, 300)  # few distinct counts: many ties at every cut
    asked = []

    def name_of(chosen):
        asked.append(len(chosen))
        return names[np.searchsorted(terms, chosen)]
    for m in (1, 37, 150, 299):
        asked.clear()
        every = terms[np.lexsort((names.astype(str), -total))[:m]]
        np.testing.assert_array_equal(_most_frequent(terms, total, name_of, m), every)
        assert sum(asked) < len(terms) + m  # not every candidate named
