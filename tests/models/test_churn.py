"""Churn model: calibration, honest metrics, NPS-feature cross-fitting, save/load without pickle."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from cxpredict.errors import InputError
from cxpredict.models.churn import (
    NPS_FEATURES,
    Calibrator,
    ChurnClassifier,
    cross_fit_nps_features,
    with_nps_features,
)

FAST = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15, "n_jobs": 1}


def churn_data(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Behaviour with a planted churn probability (tenure protects, complaints and month-to-month hurt)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n).astype(float)
    complaints = rng.poisson(1.0, n).astype(float)
    contract = rng.choice(["month", "year", "two-year"], n, p=[0.5, 0.3, 0.2])
    logit = -1.0 - 0.04 * tenure + 0.8 * complaints + np.where(contract == "month", 1.2, -0.5)
    p_true = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < p_true).astype(float)
    X = pd.DataFrame({"tenure": tenure, "complaints": complaints, "noise": rng.normal(size=n),
                      "contract": pd.Categorical(contract)}, index=pd.Index([f"C{i}" for i in range(n)]))
    return X, y, p_true


@pytest.fixture(scope="module")
def fitted() -> tuple[ChurnClassifier, pd.DataFrame, np.ndarray, np.ndarray]:
    X, y, p_true = churn_data()
    model = ChurnClassifier(horizon_days=60, random_state=3, **FAST).fit(X, y)
    return model, X, y, p_true


def test_calibrators_recover_a_known_miscalibration():
    rng = np.random.default_rng(1)
    margin = rng.normal(0, 2, 20_000)
    p = 1 / (1 + np.exp(-(0.5 * margin - 1.0)))  # true link: slope 0.5, intercept -1
    y = (rng.random(margin.size) < p).astype(float)
    platt = Calibrator.fit("platt", margin, y)
    assert platt.slope == pytest.approx(0.5, abs=0.05) and platt.intercept == pytest.approx(-1.0, abs=0.08)
    iso = Calibrator.fit("isotonic", margin, y, weight=np.ones_like(y))
    assert np.abs(iso.transform(margin) - p).mean() < 0.03
    assert np.all(np.diff(iso.transform(np.sort(margin))) >= 0)  # monotone
    assert Calibrator.from_dict(json.loads(json.dumps(iso.to_dict()))).transform([0.3]) == iso.transform([0.3])


def test_fit_reports_honest_holdout_metrics_and_is_calibrated(fitted):
    model, X, y, p_true = fitted
    m = model.metrics_
    assert {"auc", "pr_auc", "brier", "ece", "log_loss", "n_train", "n_calibration"} <= set(m)
    assert m["n_calibration"] == pytest.approx(0.2 * len(X), abs=1) and m["horizon_days"] == 60
    assert m["auc"] > 0.75 and m["ece"] < 0.06
    table = model.calibration_table_
    assert table["weight"].sum() == m["n_calibration"]
    assert {"p_low", "p_high", "mean_predicted", "observed_rate"} <= set(table.columns)
    p = model.predict_proba(X)[:, 1]
    assert np.corrcoef(p, p_true)[0, 1] > 0.85
    assert abs(p.mean() - y.mean()) < 0.03  # calibrated on average


def test_large_training_sets_train_the_booster_on_a_weighted_case_control_subsample():
    X, y, p_true = churn_data(n=8000, seed=2)
    model = ChurnClassifier(random_state=3, max_rows=1500, **FAST).fit(X, y)
    assert model.metrics_["n_train"] == 1500 and model.metrics_["n_train_customers"] == 6400
    assert model.metrics_["n_calibration"] == 1600  # the whole hold-out calibrates: probabilities for everyone
    p = model.predict_proba(X)[:, 1]
    assert abs(p.mean() - y.mean()) < 0.03 and np.corrcoef(p, p_true)[0, 1] > 0.85


def test_save_load_roundtrip_without_pickle(fitted, tmp_path):
    model, X, _, _ = fitted
    model.save(tmp_path / "churn")
    files = {f.name for f in (tmp_path / "churn").iterdir()}
    assert files == {"churn.txt", "churn.json", "calibration_table.csv"}  # LightGBM text + JSON/CSV only
    meta = json.loads((tmp_path / "churn" / "churn.json").read_text(encoding="utf-8"))
    assert meta["calibrator"]["method"] == "platt" and meta["feature_names"] == list(X.columns)
    loaded = ChurnClassifier.load(tmp_path / "churn")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-12)
    assert loaded.metrics_["auc"] == model.metrics_["auc"]
    pd.testing.assert_frame_equal(loaded.calibration_table_, model.calibration_table_, check_dtype=False)
    with pytest.raises(InputError, match="same order"):  # scikit-learn's rule: the columns of fit, in order
        loaded.predict_proba(X[list(reversed(X.columns))])
    with pytest.raises(InputError, match="complaints"):
        loaded.predict_proba(X.drop(columns=["complaints"]))


def test_label_must_be_known_zero_one():
    X, y, _ = churn_data(200)
    y = y.copy()
    y[5] = np.nan
    with pytest.raises(InputError, match="known label"):
        ChurnClassifier(**FAST).fit(X, y)
    with pytest.raises(InputError, match="one class cannot be learned"):
        ChurnClassifier(**FAST).fit(X, np.zeros(200))


def cross_fit_predict(model: ChurnClassifier, X: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    return cross_val_predict(model, X, y, cv=folds, method="predict_proba")[:, 1]


def test_cross_val_predict_is_out_of_fold():
    X, y, _ = churn_data(1500, seed=2)
    model = ChurnClassifier(calibration="isotonic", **{**FAST, "min_child_samples": 2})
    oof = cross_fit_predict(model, X, y)
    assert oof.shape == (len(X),) and np.all((oof >= 0) & (oof <= 1)) and roc_auc_score(y, oof) > 0.7
    # pure noise can be memorised in sample (an overfit model), but out of fold it must look like chance
    noise = pd.DataFrame(np.random.default_rng(0).normal(size=(len(X), 3)), index=X.index)
    noise.columns = ["a", "b", "c"]
    in_sample = model.fit(noise, y).booster_.predict(noise)
    assert roc_auc_score(y, in_sample) > 0.75
    assert roc_auc_score(y, cross_fit_predict(model, noise, y)) < 0.6


class RecordingNps:
    """Stand-in NPS model that records which customers it was trained on."""

    trained_on: list[set] = []

    def fit(self, X, score, sample_weight=None):
        self.seen = set(X.index)
        RecordingNps.trained_on.append(self.seen)
        return self

    def predict_frame(self, X):
        p = np.tile([0.2, 0.3, 0.5], (len(X), 1))
        p[:, 0] = [0.9 if i in self.seen else 0.2 for i in X.index]  # in-sample rows would look different
        p[:, 2] = 1 - p[:, 0] - p[:, 1]
        return pd.DataFrame(p, index=X.index, columns=["p_detractor", "p_passive", "p_promoter"])


def test_nps_features_are_cross_fitted_for_respondents():
    X, _, _ = churn_data(300)
    respondent = np.zeros(len(X), dtype=bool)
    respondent[:100] = True
    score = np.random.default_rng(0).integers(0, 11, 100)
    RecordingNps.trained_on = []
    full = RecordingNps().fit(X[respondent], score)
    feats = cross_fit_nps_features(full, X, respondent, make_nps_model=RecordingNps, score=score, folds=4, seed=0)
    assert list(feats.columns) == list(NPS_FEATURES.values()) and feats.notna().all().all()
    assert len(RecordingNps.trained_on) == 1 + 4
    assert (feats["nps_p_detractor"] == 0.2).all()  # no row scored by a model that saw its own answer
    for seen in RecordingNps.trained_on[1:]:
        assert seen < set(X.index[respondent])


def test_nps_features_use_the_models_own_out_of_fold_predictions():
    X, _, _ = churn_data(60)
    respondent = np.arange(60) < 20
    full = RecordingNps().fit(X[respondent], None)
    full.oof_ = pd.DataFrame({"p_detractor": 0.7, "p_passive": 0.2, "p_promoter": 0.1, "predicted_score": 3.0},
                             index=X.index[respondent])
    feats = cross_fit_nps_features(full, X, respondent)
    assert (feats.loc[respondent, "nps_p_detractor"] == 0.7).all()
    assert (feats.loc[~respondent, "nps_p_detractor"] == 0.2).all()


def test_nps_features_of_silent_customers_come_from_given_predictions():
    """Training passes the NPS stage's predictions of every customer: the silent take theirs, not a new predict."""
    X, _, _ = churn_data(60)
    respondent = np.arange(60) < 20
    full = RecordingNps().fit(X[respondent], None)
    full.oof_ = pd.DataFrame({"p_detractor": 0.7, "p_passive": 0.2, "p_promoter": 0.1}, index=X.index[respondent])
    given = pd.DataFrame({"p_detractor": np.linspace(0, 0.5, 60), "p_passive": 0.25}, index=X.index[::-1])
    given["p_promoter"] = 1 - given["p_detractor"] - given["p_passive"]
    full.predict_frame = None  # calling the model would fail
    feats = cross_fit_nps_features(full, X, respondent, predictions=given)
    np.testing.assert_array_equal(feats.loc[~respondent, "nps_p_detractor"],
                                  given.loc[X.index[~respondent], "p_detractor"])  # aligned by customer, not order
    assert (feats.loc[respondent, "nps_p_detractor"] == 0.7).all()


def test_nps_feature_lift_is_measured(fitted):
    _, X, y, _ = fitted
    rng = np.random.default_rng(0)
    nps_pred = pd.DataFrame(rng.dirichlet([1, 1, 1], len(X)), index=X.index,
                            columns=["p_detractor", "p_passive", "p_promoter"])
    model = ChurnClassifier(**FAST).fit(with_nps_features(X, nps_pred), y)
    assert model.uses_nps_features_
    assert {"auc_without_nps", "nps_feature_auc_lift"} <= set(model.metrics_)
    assert abs(model.metrics_["nps_feature_auc_lift"]) < 0.05  # random NPS probabilities add nothing
    with pytest.raises(InputError, match="with_nps_features"):
        model.predict_proba(X)


def test_the_model_and_its_lift_reference_are_fitted_side_by_side_with_a_thread_each(fitted, monkeypatch):
    import lightgbm as lgb

    _, X, y, _ = fitted
    rng = np.random.default_rng(0)
    X = with_nps_features(X, pd.DataFrame(rng.dirichlet([1, 1, 1], len(X)), index=X.index,
                                          columns=["p_detractor", "p_passive", "p_promoter"]))
    serial = ChurnClassifier(**FAST).fit(X, y)
    booster_threads, train = [], lgb.train
    monkeypatch.setattr(lgb, "train", lambda params, *a, **k: booster_threads.append(params["num_threads"])
                        or train(params, *a, **k))
    side_by_side = ChurnClassifier(**{**FAST, "n_jobs": 2}).fit(X, y)
    assert booster_threads == [1, 1]
    assert side_by_side.metrics_ == serial.metrics_
    np.testing.assert_array_equal(side_by_side.predict_proba(X), serial.predict_proba(X))
