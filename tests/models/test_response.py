"""Response propensity, weights and the population NPS: bias correction, interval width, overlap, persistence."""

from __future__ import annotations

import numpy as np
import pytest
from factories import respond, survey_world

from cxpredict.config import config_from_dict
from cxpredict.models.response import ResponsePropensity
from cxpredict.workflows.train import fit_nps_stage

FAST = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1}


def config():
    return config_from_dict({
        "data": {"survey": {"path": "survey.csv"}, "behaviour": [{"name": "b", "path": "b.csv"}]},
        "seed": 0,
        "nps": {"formulation": "regression", "candidates": "configured", "params": FAST, "cv_folds": 3},
        "response": {"params": FAST, "cv_folds": 3},
    })


@pytest.fixture(scope="module")
def biased_run():
    X, score = survey_world()
    resp = respond(X, 0.2, 0.9, seed=1)
    stage = fit_nps_stage(X, np.where(resp, score, np.nan), config(), segments=X[["region"]])
    return X, score, resp, stage


def test_weights_are_stabilised_and_trimmed(biased_run):
    X, _, resp, stage = biased_run
    for target in ("silent", "population"):
        w = stage.response.weights(target)
        assert w.index.equals(X.index[resp])
        assert w.mean() == pytest.approx(1.0)
        assert (w == w.max()).sum() >= 0.01 * len(w) * 0.5  # the top 1% is capped at one value
    e = stage.response.propensity_[resp]
    w = stage.response.weights("population")
    untrimmed = w < w.max()
    assert np.corrcoef(w[untrimmed], 1 / e[untrimmed])[0, 1] > 0.999  # proportional to 1/e below the cap


def test_low_overlap_is_warned():
    X, _ = survey_world(n=3000, seed=4)
    resp = respond(X, 0.2, 6.0, seed=5)  # nearly deterministic in tickets
    model = ResponsePropensity(cv=3, **FAST).fit(X, resp)
    assert model.auc_ > 0.85 and "little overlap" in model.overlap_warning_


def test_large_populations_train_the_propensity_on_a_weighted_subsample():
    X, _ = survey_world(n=4000, seed=6)
    resp = respond(X, 0.1, 0.9, seed=7)
    full = ResponsePropensity(cv=3, **FAST).fit(X, resp)
    sub = ResponsePropensity(cv=3, max_rows=1500, **FAST).fit(X, resp)
    assert sub.propensity_.notna().all() and len(sub.propensity_) == len(X)
    outside = ~sub._training_sample(resp)[0]  # scored once, by the final model, which never saw them
    assert outside.sum() == len(X) - 1500
    np.testing.assert_allclose(sub.propensity_[outside], sub.predict_proba(X[outside])[:, 1])
    assert abs(sub.propensity_.mean() - resp.mean()) < 0.02  # weighted up: still calibrated for everyone
    assert np.corrcoef(sub.propensity_, full.propensity_)[0, 1] > 0.8
    mostly = respond(X, 0.9, 0.9, seed=8)  # the silent are the small group now: all of them are kept
    high = ResponsePropensity(cv=3, max_rows=1500, **FAST).fit(X, mostly)
    assert abs(high.propensity_.mean() - mostly.mean()) < 0.02


def test_every_respondent_trains_the_propensity_however_many_answer():
    X, _ = survey_world(n=4000, seed=6)
    resp = respond(X, 0.3, 0.9, seed=9)  # more respondents than half of max_rows
    model = ResponsePropensity(cv=3, max_rows=1500, **FAST)
    sampled, w = model._training_sample(resp)
    assert sampled[resp].all() and sampled.sum() == 2 * resp.sum()  # as many silent as respondents
    assert w[sampled].sum() == pytest.approx(len(X))  # the weighted sample stands for every customer
    model.fit(X, resp)
    assert abs(model.propensity_.mean() - resp.mean()) < 0.02


def test_response_model_roundtrip(biased_run, tmp_path):
    X, _, _, stage = biased_run
    stage.response.save(tmp_path / "response")
    loaded = ResponsePropensity.load(tmp_path / "response")
    np.testing.assert_array_equal(loaded.predict_proba(X), stage.response.predict_proba(X))
    assert loaded.summary()["respondent_vs_silent_auc"] == stage.response.auc_
