"""The population NPS estimators against a planted truth: unbiased when either nuisance model is right."""

from __future__ import annotations

import numpy as np
import pytest
from nps_worlds import N, world
from scipy.special import softmax

from cxpredict.estimation.estimators import (
    augmented_estimate,
    class_contribution,
    residual_variance_fit,
    silent_weights,
)
from cxpredict.estimation.population import population_nps

REPLICATES = 300


def wrong_proba(proba: np.ndarray) -> np.ndarray:
    """A deliberately wrong NPS model: the same share for everyone, from the wrong customers."""
    return np.tile([0.5, 0.3, 0.2], (len(proba), 1))



def run(make_proba, make_e):
    errors, covered, naive_errors = [], [], []
    for seed in range(REPLICATES):
        observed, proba, e, truth = world(seed)
        pop = population_nps(observed, make_proba(proba), make_e(e, observed), trim_quantile=1.0)
        errors.append(pop.estimate - truth)
        covered.append(pop.low <= truth <= pop.high)
        naive_errors.append(pop.naive - truth)
    return np.array(errors), np.mean(covered), np.array(naive_errors)



def assert_unbiased(errors: np.ndarray):
    se_of_mean = errors.std(ddof=1) / np.sqrt(len(errors))
    assert abs(errors.mean()) < 4 * se_of_mean, (errors.mean(), se_of_mean)



def right_e(e, observed):
    return e



def wrong_e(e, observed):
    return np.full(len(e), (observed >= 0).mean())



def test_unbiased_with_a_wrong_nps_model_and_the_right_response_model():
    errors, coverage, naive = run(wrong_proba, right_e)
    assert_unbiased(errors)
    assert abs(naive.mean()) > 8 * naive.std(ddof=1) / np.sqrt(len(naive))  # the setting is biased for the naive
    assert 0.84 <= coverage <= 0.96  # 90% nominal; +-4 binomial sd at 300 replicates is about +-0.07



def test_unbiased_with_the_right_nps_model_and_a_wrong_response_model():
    errors, coverage, _ = run(lambda p: p, wrong_e)
    assert_unbiased(errors)
    assert 0.84 <= coverage <= 0.96



def test_biased_when_both_models_are_wrong():
    """The double robustness is real, not an artefact: wrong on both sides, the estimate is off."""
    errors, _, _ = run(wrong_proba, wrong_e)
    assert abs(errors.mean()) > 8 * errors.std(ddof=1) / np.sqrt(len(errors))



def test_a_better_model_gives_a_narrower_interval_than_hajek():
    observed, proba, e, _ = world(0)
    pop = population_nps(observed, proba, e)
    aipw, hajek = pop.estimators["aipw"], pop.estimators["hajek"]
    assert aipw["se"] < hajek["se"]
    assert pop.method == "aipw" and pop.estimate == aipw["estimate"]



def test_hajek_is_the_augmented_estimate_without_a_model():
    observed, proba, e, _ = world(1)
    v = np.zeros(N)
    responded = observed >= 0
    v[responded] = silent_weights(e[responded])
    d = class_contribution(observed)
    est, _ = augmented_estimate(d, np.zeros(N), v, responded)
    silent_mean = np.sum(v[responded] * d[responded]) / v[responded].sum()
    assert est == pytest.approx(100 * (d[responded].sum() + (~responded).sum() * silent_mean) / N)



def test_bootstrap_interval_agrees_with_the_influence_function():
    observed, proba, e, _ = world(3)
    influence = population_nps(observed, proba, e)
    boot = population_nps(observed, proba, e, interval_method="bootstrap", n_bootstrap=300)
    assert boot.estimate == influence.estimate
    # resampling customers also varies the population itself, so it is a little wider, never narrower by much
    assert 0.8 < boot.se / influence.se < 1.6



def test_residual_variance_line_finds_an_over_confident_model():
    """Calibrated probabilities: the respondents' squared residuals follow the model's Var(d | x) (slope ~1,
    intercept ~0); probabilities sharpened towards certainty: the line lifts the small variances (intercept > 0),
    so the survey design stops trusting them."""
    rng = np.random.default_rng(3)
    n = 60_000
    x = rng.normal(size=n)
    proba = softmax(np.column_stack([2 * x, np.zeros(n), -2 * x]), axis=1)
    cls = (rng.random(n)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
    d = class_contribution(cls)

    def line(p):
        m = p[:, 2] - p[:, 0]
        return residual_variance_fit(d, m, p[:, 0] + p[:, 2])

    calibrated = line(proba)
    sharp = line(softmax(np.column_stack([4 * x, np.zeros(n), -4 * x]), axis=1))
    assert abs(calibrated["slope"] - 1) < 0.05 and abs(calibrated["intercept"]) < 0.02
    assert sharp["intercept"] > 0.05
    assert residual_variance_fit(d[:10], np.zeros(10), np.ones(10)) is None  # too few respondents to fit
