"""models/embeddings.py: wordllama's weights load from the package with no network, English rows are unit vectors,
other languages zeros, and a topic model with embeddings appends them and survives a save/load."""

from __future__ import annotations

import numpy as np
import pytest

from cxpredict.models import embeddings
from cxpredict.models.text import TopicModel

pytestmark = pytest.mark.skipif(not embeddings.available(), reason="wordllama is not installed")


def test_loads_offline_and_embeds_english_only(monkeypatch):
    import requests

    def no_network(*args, **kwargs):
        raise AssertionError("wordllama tried to download")

    monkeypatch.setattr(requests, "get", no_network)
    embeddings._model.cache_clear()
    E = embeddings.embed(["the room was dirty", "房间很脏", "friendly staff"], ["en", "zh", "en"])
    assert E.shape == (3, embeddings.DIM)
    assert np.allclose(np.linalg.norm(E[[0, 2]], axis=1), 1.0) and not E[1].any()


def _with_and_without_embeddings(texts: list[str], langs: list[str]):
    """(the matrix without embeddings, the topic model with them, its matrix), which is DIM columns wider."""
    plain = TopicModel(2, min_df=1, seed=0).fit_transform(texts, langs)
    model = TopicModel(2, min_df=1, seed=0, embeddings=True)
    X = model.fit_transform(texts, langs)
    assert X.shape == (len(texts), plain.shape[1] + embeddings.DIM)
    return plain, model, X


def test_a_topic_model_with_embeddings_appends_them_and_round_trips(tmp_path):
    texts = [f"{a} {b}" for a in ("dirty room", "rude staff", "great view", "slow wifi") for b in ("ok", "bad", "nice")
             for _ in range(3)]
    langs = ["en"] * len(texts)
    plain, model, X = _with_and_without_embeddings(texts, langs)
    assert abs(X[:, plain.shape[1]:]).sum() > 0
    model.save_arrays(tmp_path)
    again = TopicModel.from_dict(model.to_dict(), tmp_path)
    assert again.embeddings and np.allclose(again.vectorize(texts, langs).toarray(), X.toarray())


def test_chinese_texts_get_empty_embedding_columns_after_their_characters():
    """Embedding columns exist for every text (the classifiers' width is fixed) but only English rows fill them;
    a Chinese-only matrix is widened, not copied, and vectorize gives the fitted matrix."""
    texts = [f"{a}{b}" for a in ("房间很脏", "服务态度差", "早餐不错", "位置很好") for b in ("，还行", "，太差了", "，推荐")
             for _ in range(3)]
    langs = ["zh"] * len(texts)
    plain, model, X = _with_and_without_embeddings(texts, langs)
    assert X[:, plain.shape[1]:].nnz == 0
    assert abs(X[:, :plain.shape[1]] - plain).max() == 0 and abs(model.vectorize(texts, langs) - X).max() == 0
    both = TopicModel(2, min_df=1, seed=0, embeddings=True).fit_transform(
        texts + [f"{a} {b}" for a in ("dirty room", "rude staff", "great view") for b in ("ok", "bad", "nice")],
        langs + ["en"] * 9)
    assert both[:len(texts), -embeddings.DIM:].nnz == 0 and both[len(texts):, -embeddings.DIM:].getnnz(axis=1).min() > 0


def test_word_by_word_pooling_is_wordllamas_own_embedding():
    texts = ["the room was dirty and the staff didn't care", "great view, friendly staff!!", "wifi",
             "check-in at 3pm; room 1203 smelled of smoke", "the the the"]
    own = embeddings.pooled(texts)
    theirs = np.asarray(embeddings._model().embed(texts, norm=True), dtype=np.float64)
    np.testing.assert_allclose(own, theirs, atol=2e-6)


def test_dense_rows_is_scipys_conversion_of_dense_and_zero_rows():
    import scipy.sparse as sp

    D = np.random.default_rng(0).random((6, embeddings.DIM))
    D[[1, 4]] = 0.0  # rows of a language without embeddings
    D[2, 7] = 0.0  # an exact zero inside a dense row
    ours, theirs = embeddings.dense_rows(D), sp.csr_matrix(D)
    assert ours.nnz == theirs.nnz == 4 * embeddings.DIM - 1
    assert (ours != theirs).nnz == 0 and np.array_equal(ours.indptr, theirs.indptr)
    assert embeddings.dense_rows(np.zeros((0, embeddings.DIM))).shape == (0, embeddings.DIM)


@pytest.mark.parametrize("words", [
    ["room", "dirty,", "didn't", "check-in", "1203", "(smoke)", "naïve", "🙂", "café!!", "a", "zzzzqxj"],
    ["room", "odd\u2581mark", "staff"],  # the tokenizer's own space mark inside a word: split word by word
    ["x"],
])
def test_words_encoded_together_get_the_ids_they_get_one_by_one(words):
    counts, flat = embeddings._word_ids(words)
    own = embeddings._model().tokenizer  # the model's own tokenizer: no split at the space mark; without padding
    tokenizer = type(own).from_str(own.to_str())
    tokenizer.no_padding()
    one_by_one = [e.ids for e in tokenizer.encode_batch(words, add_special_tokens=False)]
    assert counts.tolist() == [len(i) for i in one_by_one]
    assert flat.tolist() == [t for i in one_by_one for t in i]


def test_embeddings_are_made_beside_the_words_and_change_nothing(monkeypatch):
    """With two threads in the budget the embeddings run while the words are vectorised (the words wait for the
    embedding to start: one after the other this would time out); the matrix is the one a single thread makes."""
    import threading

    from cxpredict import threads
    from cxpredict.models import text as text_models

    texts = [f"{a} {b}" for a in ("dirty room", "rude staff", "great view", "slow wifi") for b in ("ok", "bad", "nice")
             for _ in range(3)]
    langs = ["en"] * len(texts)
    embedding, overlapped, tokens_of, embed = threading.Event(), [], text_models.tokens_of, embeddings.embed

    def words(*args, wait=5.0):
        overlapped.append(embedding.wait(timeout=wait))
        return tokens_of(*args)

    def tracked_embed(*args):
        embedding.set()
        return embed(*args)
    monkeypatch.setattr(text_models, "embed", tracked_embed)
    try:
        matrices = {}
        for n, wait in ((2, 5.0), (1, 0.2)):
            embedding.clear()
            monkeypatch.setattr(text_models, "tokens_of", lambda *a, wait=wait: words(*a, wait=wait))
            monkeypatch.setenv(threads.ENV, str(n))
            threads.use()
            matrices[n] = TopicModel(2, min_df=1, seed=0, embeddings=True).fit_transform(texts, langs)
    finally:
        monkeypatch.delenv(threads.ENV)
        threads.use()  # the default plan again for the tests that follow
    assert overlapped == [True, False]  # two threads: side by side; one: the words first, then the embeddings
    assert (matrices[1] != matrices[2]).nnz == 0
