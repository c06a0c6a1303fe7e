"""The scikit-learn contract of the four estimators: scikit-learn's own estimator checks (small, single-threaded
models so they are fast), config bridges, parameter validation in fit, clone / set_params / cross_val_predict.

Checks that cannot apply are listed per estimator with the reason; `xfail_strict` makes a listed check that
starts passing fail the suite, so the list never goes stale. What those checks would have covered is tested
below on the estimators' own terms (survey scores, reason texts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from cxpredict.config import (
    CampaignConfig,
    ChurnConfig,
    DriversConfig,
    NpsModelConfig,
    ResponseConfig,
    Scale,
)
from cxpredict.errors import ConfigError, InputError
from cxpredict.models.churn import ChurnClassifier
from cxpredict.models.nps import NpsClassifier
from cxpredict.models.reasons import ReasonClassifier
from cxpredict.models.response import ResponsePropensity
from cxpredict.models.uplift import DRLearner

SMALL = {"n_estimators": 5, "num_leaves": 4, "min_child_samples": 2, "n_jobs": 1}
# the checks' targets are small integers (0/1/2, -1/1): a scale on which they are detractors, passives, promoters
CHECK_SCALE = Scale(min=-1, max=3, detractor_max=0, promoter_min=2)

WEIGHTS_ARE_NOT_REPEATS = ("fits on folds / a hold-out / a random validation split of the rows, so a row repeated "
                           "k times is not the same as weight k")
SCORES_ONLY = ("y are survey scores, numbers on the scale: the check's text labels ('one', 'two', ...) are not "
               "scores and are refused with 'Unknown label type'")

NPS_EXPECTED = {
    "check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_REPEATS,
    "check_classifiers_classes": SCORES_ONLY,
}
REASON_EXPECTED = {"check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_REPEATS}
CHURN_EXPECTED = {"check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_REPEATS}

ESTIMATORS = [
    NpsClassifier(scale=CHECK_SCALE, formulation="multiclass", cv=2, early_stopping_rounds=None, **SMALL),
    ResponsePropensity(cv=2, **SMALL),
    ChurnClassifier(calibration_share=0.5, **SMALL),  # the checks' data sets are tiny: a hold-out with both classes
    ReasonClassifier(min_count=1, **SMALL),
]


def expected_failures(estimator) -> dict[str, str]:
    return {NpsClassifier: NPS_EXPECTED, ReasonClassifier: REASON_EXPECTED, ChurnClassifier: CHURN_EXPECTED}.get(
        type(estimator), {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures, xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------------------------- on their own terms
def nps_data(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"tickets": rng.poisson(1.0, n).astype(float), "noise": rng.normal(size=n),
                      "plan": pd.Categorical(rng.choice(["basic", "pro"], n))})
    latent = 8.0 - 1.5 * X["tickets"] - (X["plan"] == "basic") + rng.logistic(0, 1.0, n)
    return X, np.clip(np.floor(latent + 0.5), 0, 10).astype(int).to_numpy()


FAST_NPS = {"cv": 3, "n_estimators": 30, "learning_rate": 0.1, "num_leaves": 7, "n_jobs": 1,
            "candidates": "configured"}


@pytest.mark.parametrize(("estimator", "section"), [
    (NpsClassifier(), NpsModelConfig()), (ResponsePropensity(), ResponseConfig()), (ChurnClassifier(), ChurnConfig()),
    (ReasonClassifier(), DriversConfig()), (DRLearner(), CampaignConfig())])
def test_the_config_defaults_are_the_estimator_defaults(estimator, section):
    """One set of defaults: the keyword defaults are the settings class's, and from_config bridges every key."""
    assert type(estimator).from_config(section).get_params() == estimator.get_params()


def test_keyword_init_keeps_every_value_and_refuses_unknown_or_positional_arguments():
    model = ChurnClassifier(horizon_days=30, num_leaves=5)
    assert (model.horizon_days, model.num_leaves, model.calibration) == (30, 5, ChurnConfig().calibration)
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['horizon'\]"):
        ChurnClassifier(horizon=30)
    with pytest.raises(TypeError, match="positional"):
        ChurnClassifier(30)


def test_from_config_passes_every_key_and_the_seed():
    section = NpsModelConfig(formulation="ordinal", cv_folds=3, params={"learning_rate": 0.2, "extra": {"max_bin": 63}},
                             thresholds={"objective": "recall_targets", "recall_targets": {"detractor": 0.8}})
    params = NpsClassifier.from_config(section, Scale(min=1, max=5, detractor_max=3, promoter_min=5), seed=7).get_params()
    assert params["formulation"] == "ordinal" and params["cv"] == 3 and params["learning_rate"] == 0.2
    assert params["extra_params"] == {"max_bin": 63} and params["random_state"] == 7
    assert params["decision"] == "recall_targets" and params["recall_targets"] == {"detractor": 0.8}
    assert params["scale"].max == 5


@pytest.mark.parametrize(("estimator", "allowed"), [
    (NpsClassifier(formulation="best"), "multiclass"), (NpsClassifier(decision="top"), "argmax"),
    (NpsClassifier(learning_rate=0.0), r"learning_rate=0.0 must be a number in \(0"),
    (ResponsePropensity(weight_target="everyone"), "population"), (ChurnClassifier(calibration="beta"), "isotonic"),
    (ReasonClassifier(min_count=0), "min_count")])
def test_parameters_are_checked_in_fit_and_errors_name_the_allowed_values(estimator, allowed):
    X, score = nps_data(100)
    y = {NpsClassifier: score, ReasonClassifier: np.where(score > 7, "price", None)}.get(type(estimator), score > 7)
    with pytest.raises(ConfigError, match=allowed):
        estimator.fit(X, y)


def test_clone_set_params_grid_search_and_cross_val_predict_work():
    X, score = nps_data()
    model = NpsClassifier(formulation="multiclass", **FAST_NPS)
    tuned = clone(model).set_params(learning_rate=0.3, num_leaves=3)
    assert (tuned.learning_rate, model.learning_rate) == (0.3, 0.1) and not hasattr(tuned, "classes_")
    predicted = cross_val_predict(model, X, score, cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert predicted.shape == (len(X),) and set(predicted) <= set(score)
    search = GridSearchCV(model, {"num_leaves": [3, 7]}, cv=2).fit(X, score)
    assert search.best_params_["num_leaves"] in (3, 7) and 0 < search.best_score_ <= 1


@pytest.mark.parametrize("formulation", ["multiclass", "regression"])
def test_probabilistic_scorers_give_finite_numbers(formulation):
    """classes_ are the scores y holds, so scikit-learn's log loss reads predict_proba's columns as scores."""
    X, score = nps_data()
    model = NpsClassifier(formulation=formulation, **FAST_NPS)
    losses = cross_val_score(model, X, score, cv=StratifiedKFold(3, shuffle=True, random_state=0),
                             scoring="neg_log_loss", error_score="raise")
    assert np.isfinite(losses).all() and (losses < 0).all()
    # better than knowing only how often each score is given (the fitted model ranks on a planted signal)
    shares = np.bincount(score, minlength=11)[np.unique(score)] / len(score)
    assert -losses.mean() < -np.sum(shares * np.log(shares))


def test_nps_scores_and_classes_agree():
    """Scores and NPS classes from one model agree: predict_proba sums to predict_class_proba within each class
    (the multiclass formulation spreads a class over its scores by their shares among the answers); predict is
    its argmax, predict_class the tuned class decision that predict_frame writes."""
    X, score = nps_data()
    for formulation in ("regression", "multiclass"):
        model = NpsClassifier(formulation=formulation, **FAST_NPS).fit(X, score)
        given = model.classes_
        assert given.tolist() == sorted(set(score)) and model.class_names_.tolist()[0] == "detractor"
        proba, classes = model.predict_proba(X), model.predict_class_proba(X)
        assert proba.shape == (len(X), len(given)) and classes.shape == (len(X), 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_allclose(proba[:, given <= 6].sum(axis=1), classes[:, 0], atol=0.02)  # unseen points
        predicted = model.predict(X)
        np.testing.assert_array_equal(predicted, given[np.argmax(proba, axis=1)])
        frame = model.predict_frame(X)
        assert (frame["predicted_class"].to_numpy(dtype=object) == model.predict_class(X)).all()
        assert model.score(X, score) == pytest.approx(np.mean(predicted == score))  # the contract's accuracy
    regression = NpsClassifier(formulation="regression", **FAST_NPS).fit(X, score)
    np.testing.assert_allclose(regression.predict_score_distribution(X)[:, :7].sum(axis=1),
                               regression.predict_class_proba(X)[:, 0])
    assert regression.cross_validate(X, score) == {**regression.cv_metrics_, "candidate": "configured-regression",
                                                  "formulation": "regression"}
    unfitted = NpsClassifier(formulation="regression", **FAST_NPS)
    assert unfitted.cross_validate(X, score) == regression.cross_validate(X, score) and not hasattr(unfitted, "scale_")
    multiclass = NpsClassifier(formulation="multiclass", **FAST_NPS).fit(X, score)
    assert not hasattr(multiclass, "predict_score_distribution")  # only the ordered formulations have one
    with pytest.raises(AttributeError) as missing:
        multiclass.predict_score_distribution(X)
    assert "formulation='regression' or 'ordinal'" in str(missing.value.__cause__)  # says why, and the fix


def test_feature_names_are_checked_as_scikit_learn_does():
    X, score = nps_data(200)
    model = NpsClassifier(formulation="multiclass", **FAST_NPS).fit(X, score)
    assert model.feature_names_in_.tolist() == list(X.columns) and model.n_features_in_ == 3
    with pytest.raises(InputError, match="feature manifest"):
        model.predict(X.drop(columns=["noise"]))
