"""The topic factorisation (models/kl_nmf.py) is scikit-learn's KL NMF, only faster: same topics, same weights."""

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import NMF

from cxpredict.models.kl_nmf import KLNMF


def _texts_matrix(seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = sp.random(300, 120, density=0.05, random_state=rng, format="csr")
    X.data = 1.0 + np.log1p(X.data * 5)
    return X


def test_same_topics_and_weights_as_scikit_learn():
    X = _texts_matrix()
    ref = NMF(6, init="nndsvda", beta_loss="kullback-leibler", solver="mu", random_state=3, max_iter=200,
              tol=1e-3).fit(X)
    own = KLNMF(6, seed=3, max_iter=200, tol=1e-3).fit(X)
    assert own.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(own.components_, ref.components_, rtol=1e-8, atol=1e-12)
    new = _texts_matrix(1)
    np.testing.assert_allclose(own.transform(new), ref.transform(new), rtol=1e-8, atol=1e-12)


def test_rebuilt_from_components_weighs_texts_alike():
    X = _texts_matrix()
    own = KLNMF(4, seed=0).fit(X)
    again = KLNMF.of_components(own.components_.copy(), seed=0)
    np.testing.assert_allclose(again.transform(X), own.transform(X), rtol=1e-12, atol=1e-15)


def test_a_text_without_known_words_gets_no_weight():
    X = _texts_matrix().tolil()
    X[5, :] = 0
    W = KLNMF(4, seed=0).fit(X.tocsr()).transform(X.tocsr())
    assert np.all(W[5] == 0) and np.all(W >= 0)


def test_the_topics_never_depend_on_the_threads():
    """The topic model fits beside other work on its share of the threads: the factors must be the same bits."""
    X = _texts_matrix()
    one, two = KLNMF(5, seed=1).fit(X, n_threads=1), KLNMF(5, seed=1).fit(X, n_threads=2)
    assert one.n_iter_ == two.n_iter_
    np.testing.assert_array_equal(one.components_, two.components_)
