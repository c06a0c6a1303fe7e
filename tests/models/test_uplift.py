"""The DR-learner ranks customers by a planted heterogeneous effect and survives a save / load round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from sklearn.base import clone

from cxpredict.models.uplift import DRLearner, UpliftModels

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
