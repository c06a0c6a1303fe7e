"""LightGBM plumbing: stratified folds and honest cross-fitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxpredict.models.lgbm import case_control_sample, cross_fit, fold_ids, lgbm_params
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


def test_case_control_sample_keeps_the_small_class_and_weights_by_exact_inverse_rates():
    y = np.r_[np.ones(300, bool), np.zeros(9_700, bool)]
    sampled, w = case_control_sample(y, 2_000, seed=1)
    assert sampled.sum() == 2_000 and sampled[y].all()  # every case is kept
    # each class's sampled weights sum to its size exactly, so the weighted base rate is the full data's
    assert w[sampled & y].sum() == pytest.approx(300) and w[sampled & ~y].sum() == pytest.approx(9_700)
    assert np.average(y[sampled], weights=w[sampled]) == pytest.approx(y.mean())
    many = np.r_[np.ones(6_000, bool), np.zeros(4_000, bool)]  # both classes above half: both sampled
    sampled, w = case_control_sample(many, 2_000, seed=1)
    assert sampled[many].sum() == 1_000 and sampled[~many].sum() == 1_000 and w[many][0] == 6.0
    everything, ones = case_control_sample(y, 10_000, seed=1)
    assert everything.all() and (ones == 1).all()


def test_case_control_weighted_means_are_unbiased():
    """Horvitz-Thompson: over repeated draws the weighted sample mean of any fixed x averages to its full mean
    (the weights sum to N in every draw), while the plain sample mean is pulled toward the over-sampled class."""
    rng = np.random.default_rng(0)
    y = rng.random(5_000) < 0.04
    x = rng.exponential(size=5_000) + 3 * y
    draws = [case_control_sample(y, 1_000, seed) for seed in range(400)]
    weighted = np.array([np.average(x[s], weights=w[s]) for s, w in draws])
    se = weighted.std(ddof=1) / np.sqrt(len(weighted))
    assert abs(weighted.mean() - x.mean()) < 4 * se
    assert np.mean([x[s].mean() for s, _ in draws]) - x.mean() > 0.3  # unweighted: about +0.4


def test_shared_fold_datasets_give_the_models_of_separate_ones():
    """One binned Dataset per fold, relabelled for each target and reused by boosters with other parameters
    (min_child_samples included), gives the same out-of-fold predictions as a Dataset per booster."""
    from cxpredict.models.lgbm import FoldDatasets

    rng = np.random.default_rng(0)
    n = 900
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.poisson(2, n).astype(float), "c": rng.uniform(size=n)})
    y_class = np.digitize(X["a"] + rng.normal(size=n), [-0.5, 0.7])
    y_reg = X["b"].to_numpy() + rng.normal(size=n)
    folds = fold_ids(y_class, 4, seed=0)
    est = NpsClassifier(n_jobs=1, colsample_bytree=0.8, random_state=5)
    native = lambda **kw: lgbm_params(est, feature_pre_filter=False, **kw)  # noqa: E731 (as the NPS model's)
    runs = [(y_class, native(objective="multiclass", num_class=3, num_leaves=7, min_child_samples=40)),
            (y_reg, native(objective="regression", num_leaves=3, min_child_samples=5)),
            ((y_class == 0).astype(float), native(objective="binary", num_leaves=15))]
    shared = FoldDatasets(X, None, folds)
    for y, params in runs:
        alone, _ = cross_fit(X, y, None, params, 40, folds, y_class, None, 0)
        together, _ = cross_fit(X, y, None, params, 40, folds, y_class, None, 0, datasets=shared)
        np.testing.assert_allclose(together, alone, rtol=0, atol=1e-12)
    assert len(shared._sets) == 4  # one binned set per fold, built once


@pytest.mark.parametrize("n_rows, budget, expected", [(1_000, 2, (2, 1)), (1_000, 8, (5, 1)), (1_000, 1, (1, 1)),
                                                      (100_000, 2, (2, 1)), (1_000_000, 2, (1, 2))])
def test_small_folds_run_in_parallel_with_single_threaded_boosters_never_both(n_rows, budget, expected):
    from cxpredict.models.lgbm import SMALL_FIT_CELLS, fold_threads

    assert 100_000 * 4 // 5 * 10 <= SMALL_FIT_CELLS < 1_000_000 * 4 // 5 * 10
    workers, params = fold_threads({"num_threads": budget, "seed": 3}, n_rows, 10, 5)
    assert (workers, params["num_threads"]) == expected and params["seed"] == 3
    assert workers * params["num_threads"] <= budget


def test_parallel_folds_give_the_models_of_sequential_ones(monkeypatch):
    """Single-threaded boosters in parallel and all-thread boosters in turn: the same out-of-fold predictions."""
    from cxpredict.models import lgbm

    rng = np.random.default_rng(1)
    n = 900
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    y = (X["a"] + 0.5 * X["b"] ** 2 + rng.normal(size=n) > 0.5).astype(int).to_numpy()
    params = lgbm_params(NpsClassifier(n_jobs=2), objective="binary")
    folds = fold_ids(y, 5, seed=0)
    assert lgbm.fold_threads(params, n, 4, 5)[0] == 2  # this size is fitted in parallel
    parallel, _ = cross_fit(X, y, None, params, 60, folds, y, None, 0)
    stopped_parallel, rounds_parallel = cross_fit(X, y, None, params, 300, folds, y, 10, 0)
    monkeypatch.setattr(lgbm, "SMALL_FIT_CELLS", -1)
    sequential, _ = cross_fit(X, y, None, params, 60, folds, y, None, 0)
    stopped_sequential, rounds_sequential = cross_fit(X, y, None, params, 300, folds, y, 10, 0)
    np.testing.assert_allclose(parallel, sequential, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stopped_parallel, stopped_sequential, rtol=1e-9, atol=1e-12)
    assert rounds_parallel == rounds_sequential
