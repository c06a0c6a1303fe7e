"""The composed population NPS result: the headline method and its notes."""

from __future__ import annotations

import numpy as np
import pytest
from factories import survey_world
from nps_worlds import world

from cxpredict.estimation.population import nps_arrays, population_nps
from cxpredict.models.nps import NpsClassifier

FAST = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1}


def test_no_signal_makes_hajek_the_headline():
    observed, proba, e, _ = world(2)
    pop = population_nps(observed, proba, e, no_signal=True)
    assert pop.method == "hajek" and pop.estimate == pop.hajek
    assert any("No signal" in note for note in pop.notes)


# ------------------------------------------------------------------ one fold model per silent customer
@pytest.fixture(scope="module")
def fitted():
    """An NPS model with 3 fold models fitted on 1,000 respondents; 1,500 more customers are silent (all of them
    fit in the probe, so the measured draw variance is exact)."""
    X, score = survey_world(2500, seed=4)
    y = score.astype(float)
    y[1000:] = np.nan
    model = NpsClassifier(candidates="configured", cv=3, random_state=2, **FAST).fit(X.iloc[:1000], score[:1000])
    return model, X, y


def test_drawn_fold_models_keep_the_fold_mean_estimate_and_the_interval_carries_their_variance(fitted):
    model, X, y = fitted
    observed, mean_cross, full, none = nps_arrays(model, X, y, fold_mean_max_silent=None)
    assert none is None
    base = population_nps(observed, mean_cross, None, full)
    gaps, ses = [], []
    for seed in range(400):
        _, cross, _, drawn = nps_arrays(model, X, y, full, fold_mean_max_silent=0, seed=seed)
        assert np.all(drawn[observed >= 0] == 0) and np.all(drawn[observed < 0] > 0)
        pop = population_nps(observed, cross, None, full, draw_variance=drawn)
        gaps.append(pop.estimate - base.estimate)
        ses.append(np.sqrt(pop.se ** 2 - base.se ** 2))  # what the draws added to the standard error
    gaps = np.array(gaps)
    assert abs(gaps.mean()) < 4 * gaps.std(ddof=1) / np.sqrt(len(gaps))  # unbiased for the fold-mean estimate
    # the added variance is the draws' own (exact here: every silent customer is in the probe); the spread of
    # 400 draws estimates it within a few per cent, a wrong variance (e.g. ddof=1 over 3 folds) is 22% off
    assert np.std(gaps, ddof=1) / np.mean(ses) == pytest.approx(1.0, abs=0.12)


def test_few_silent_customers_get_the_mean_of_the_fold_models(fitted):
    model, X, y = fitted
    _, cross, _, drawn = nps_arrays(model, X, y, fold_mean_max_silent=1500)
    assert drawn is None
    assert np.allclose(cross[1000:], model.cross_fitted_proba(X.iloc[1000:]))
