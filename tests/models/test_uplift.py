"""The DR-learner ranks customers by a planted heterogeneous effect and survives a save / load round trip."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from sklearn.base import clone

from cxpredict.models import uplift
from cxpredict.models.uplift import DRLearner, UpliftModels, _stumps, fit_learners, stump_predict

PARAMS = dict(n_estimators=80, learning_rate=0.08, num_leaves=7, min_child_samples=100, n_jobs=1)


def _experiment(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    tau = 0.15 * np.tanh(X["a"].to_numpy())  # helps when a > 0, harms when a < 0
    t = rng.random(n) < 0.5
    y = (rng.random(n) < 0.4 + 0.1 * np.tanh(X["b"].to_numpy()) + t * tau).astype(float)
    return X, y, t, tau


def test_dr_learner_recovers_the_ranking_of_a_planted_effect():
    X, y, t, tau = _experiment(20_000, 0)
    model = clone(DRLearner(**PARAMS, n_folds=3)).fit(X, y, t, 0.5)
    assert spearmanr(model.oof_uplift_, tau)[0] > 0.6  # out-of-fold: no customer scored by its own model
    assert abs(model.ate_ - tau.mean()) < 0.03


def test_outcome_models_take_outcome_rows_and_the_effect_models_max_rows(monkeypatch):
    """The outcome models (mu0, mu1) are capped at `outcome_rows`, the effect models at `max_rows`; the pseudo-
    outcome's mean (the ATE) stays unbiased with coarse outcome models (tolerance: about 3 standard errors)."""
    X, y, t, tau = _experiment(20_000, 0)
    sizes, train = [], lgb.train
    monkeypatch.setattr(lgb, "train", lambda p, data, **kw: sizes.append(data.num_data()) or train(p, data, **kw))
    model = DRLearner(**PARAMS, n_folds=2, max_rows=8_000, outcome_rows=2_000).fit(X, y, t, 0.5)
    assert sizes == [2_000] * 4 + [8_000] * 3  # 2 folds x 2 arms, then 2 folds + the final effect model
    assert abs(model.ate_ - tau.mean()) < 0.03


@pytest.mark.parametrize("budget", [1, 2])
def test_learners_on_one_pool_are_the_learners_fitted_alone(budget):
    """fit_learners boosts several learners' jobs on shared workers and starts at most IN_FLIGHT learners at a
    time (their data built lazily); every model equals the one its learner fits alone."""
    experiments = [_experiment(4_000, seed) for seed in range(4)]
    alone = [DRLearner(**PARAMS, n_folds=2, random_state=s).fit(X, y, t, 0.5)
             for s, (X, y, t, _) in enumerate(experiments)]
    started, finished = [], []

    def tasks():
        for s, (X, y, t, _) in enumerate(experiments):
            started.append(s)
            assert len(started) - sum(hasattr(m, "ate_") for m in finished) <= uplift.IN_FLIGHT
            finished.append(learner := DRLearner(**PARAMS, n_folds=2, random_state=s))
            yield learner, (X, y, t, 0.5)

    pooled = fit_learners(tasks(), budget)
    assert pooled == finished and started == [0, 1, 2, 3]
    for a, b in zip(alone, pooled):
        assert a.booster_.model_to_string() == b.booster_.model_to_string()
        np.testing.assert_array_equal(a.oof_uplift_, b.oof_uplift_)
        np.testing.assert_array_equal(a.pseudo_outcome_, b.pseudo_outcome_)


def test_learners_pool_takes_its_budget_from_their_n_jobs(monkeypatch):
    """Without a budget the pool has the learners' own thread budget: n_jobs=1 fits them one after another on
    this thread (no pool); no learners, no pool either."""
    pools = []
    monkeypatch.setattr(uplift.threads, "workers", lambda count: pools.append(count) or ThreadPoolExecutor(count))
    X, y, t, _ = _experiment(2_000, 3)
    assert fit_learners(iter([])) == [] and pools == []
    serial = fit_learners([(DRLearner(**{**PARAMS, "n_jobs": 1}, n_folds=2), (X, y, t, 0.5))])
    assert pools == [] and hasattr(serial[0], "ate_")
    fit_learners([(DRLearner(**{**PARAMS, "n_jobs": 2}, n_folds=2), (X, y, t, 0.5))])
    budget = uplift.threads.count(2)  # CXPREDICT_THREADS or the usable cores may cap it
    assert pools == ([budget] if budget > 1 else [])


def test_uplift_models_round_trip_through_text_files(tmp_path):
    X, y, t, _ = _experiment(3_000, 1)
    model = DRLearner(**PARAMS, n_folds=2).fit(X, y, t, 0.5)
    models = UpliftModels({"retention": model}, "churned", -1.0, list(X.columns))
    models.save(tmp_path / "uplift")
    assert not list((tmp_path / "uplift").glob("*.pkl"))
    loaded = UpliftModels.load(tmp_path / "uplift")
    scored = pd.DataFrame(index=X.index)
    np.testing.assert_allclose(loaded.columns(X, scored)["uplift_retention"], model.predict(X))


def test_bad_parameters_and_inputs_are_named():
    import pytest

    from cxpredict.errors import InputError

    X, y, t, _ = _experiment(500, 2)
    with pytest.raises((ValueError, InputError), match="n_folds"):
        DRLearner(n_folds=1).fit(X, y, t, 0.5)
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        DRLearner(**PARAMS).fit(X, y, t, 1.0)


def _stump_data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n)),
                      "n": rng.integers(0, 4, n),
                      "k": pd.Categorical(rng.choice(["x", "y", "z", "w"], n)),
                      "k2": pd.Categorical(rng.choice(["p", "q", "r"], n))})
    X.loc[rng.random(n) < 0.2, "a"] = np.nan
    X.loc[rng.random(n) < 0.1, "k"] = np.nan
    y = (X["a"].fillna(1) * 0.3 + (X["b"] == 0) * 0.4 + X["n"] * 0.1 + X["k"].cat.codes * 0.2
         + (X["k2"] == "q") * 0.5 + rng.normal(size=n)).to_numpy()
    return X, y


@pytest.mark.parametrize("missing", [{}, {"use_missing": False}, {"zero_as_missing": True}])
def test_stump_predict_gives_lightgbms_numbers_exactly(missing):
    """The numpy sum of stumps is LightGBM's predictor bit for bit: missing values of each missing_type, zeros,
    categorical splits with NaN, unseen and reordered categories, and a booster read back from its text."""
    X, y = _stump_data(20_000, 0)
    booster = lgb.train(dict(objective="regression", num_leaves=2, min_child_samples=100, min_data_per_group=10,
                             verbose=-1, num_threads=1, **missing), lgb.Dataset(X, y), 60)
    assert _stumps(booster) is not None and {"a", "b", "k"} <= {t[0] for t in _stumps(booster)}
    other = X.copy()
    other["k"] = pd.Categorical(np.random.default_rng(1).choice(["x", "NEW", "z"], len(X)))
    other["k2"] = pd.Categorical(X["k2"].astype(str), categories=["r", "q", "p"])
    for booster_ in (booster, lgb.Booster(model_str=booster.model_to_string())):
        for frame in (X, other):
            assert np.array_equal(stump_predict(booster_, frame), booster.predict(frame))


@pytest.mark.parametrize("shape", [{"num_leaves": 4}, {"num_leaves": 2, "linear_tree": True}])
def test_stump_predict_leaves_other_trees_to_lightgbm(shape):
    X, y = _stump_data(5_000, 2)
    X = X.drop(columns=["k", "k2"]) if shape.get("linear_tree") else X
    booster = lgb.train(dict(objective="regression", verbose=-1, num_threads=1, **shape), lgb.Dataset(X, y), 5)
    assert _stumps(booster) is None
    assert np.array_equal(stump_predict(booster, X), booster.predict(X))
