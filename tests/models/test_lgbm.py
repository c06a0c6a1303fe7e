"""LightGBM plumbing: stratified folds and honest cross-fitting."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxpredict.models.lgbm import cross_fit, fold_ids, lgbm_params
from cxpredict.models.nps import NpsClassifier


def test_folds_are_stratified_and_balanced():
    strata = np.r_[np.zeros(90, int), np.ones(10, int)]
    folds = fold_ids(strata, 5, seed=0)
    assert np.bincount(folds).tolist() == [20] * 5
    assert all(np.bincount(folds[strata == 1]) == 2)


def test_cross_fit_predicts_each_row_from_a_model_that_never_saw_it():
    """A pure-noise target that memorises row ids: in-sample fits would look good, out-of-fold ones must not."""
    rng = np.random.default_rng(0)
    n = 600
    X = pd.DataFrame({"row": np.arange(n, dtype=float)})
    y = rng.normal(size=n)
    params = lgbm_params(NpsClassifier(num_leaves=64, min_child_samples=1, n_jobs=1), objective="regression",
                         min_data_in_bin=1, max_bin=1024)
    folds = fold_ids(np.zeros(n, int), 3, seed=0)
    folds[:30] = -1  # never trained on: scored by the mean of the fold models
    oof, rounds = cross_fit(X, y, np.ones(n), params, 50, folds, np.zeros(n, int), None, 0)
    assert rounds == 50 and oof.shape == (n,)
    assert abs(np.corrcoef(oof[30:], y[30:])[0, 1]) < 0.2
    _, stopped = cross_fit(X, y, np.ones(n), params, 300, folds, np.zeros(n, int), 10, 0)
    assert stopped < 300  # early stopping on the inner split ends a noise fit early
