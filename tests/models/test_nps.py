"""NPS model: valid ordered distributions, calibration to the weighted population, tuned decisions, exact reload."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from cxpredict.config import CLASSES, Scale
from cxpredict.errors import InputError
from cxpredict.models.formulations import stage2_apply
from cxpredict.models.nps import NpsClassifier

SCALE = Scale()
FAST = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1}


def simulate(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "tickets": rng.poisson(1.0, n).astype(float),
        "tenure": rng.uniform(0, 60, n),
        "noise": rng.normal(size=n),
        "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], n)),
    })
    latent = 8.0 - 1.2 * X["tickets"] + 0.02 * X["tenure"] - 0.8 * (X["plan"] == "basic") + rng.logistic(0, 1.0, n)
    return X, np.clip(np.floor(latent + 0.5), 0, 10).astype(int).to_numpy()


@pytest.fixture(scope="module")
def data():
    return simulate()


@pytest.fixture(scope="module")
def models(data):
    X, score = data
    return {f: NpsClassifier(scale=SCALE, formulation=f, candidates="configured", cv=3, random_state=1,
                             **FAST).fit(X, score)
            for f in ("multiclass", "regression", "ordinal")}


@pytest.mark.parametrize("formulation", ["multiclass", "regression", "ordinal"])
def test_probabilities_sum_to_one_and_respect_the_order(models, data, formulation):
    X, _ = data
    pred = models[formulation].predict_frame(X.iloc[:300])
    classes = pred[["p_detractor", "p_passive", "p_promoter"]].to_numpy()
    assert np.allclose(classes.sum(axis=1), 1.0) and (classes >= 0).all()
    assert set(pred["predicted_class"].unique()) <= {"detractor", "passive", "promoter"}
    points = [c for c in pred.columns if c.startswith("p_score_")]
    if formulation == "multiclass":
        assert not points
        return
    dist = pred[points].to_numpy()
    assert points == [f"p_score_{k}" for k in SCALE.points]
    assert np.allclose(dist.sum(axis=1), 1.0) and (dist >= -1e-12).all()
    survival = 1.0 - np.cumsum(dist, axis=1)[:, :-1]  # P(score > k), k = 0..9
    assert (np.diff(survival, axis=1) <= 1e-12).all()
    assert np.allclose(dist[:, :7].sum(axis=1), classes[:, 0])  # 0-6 = detractor
    assert np.allclose(dist[:, 9:].sum(axis=1), classes[:, 2])  # 9-10 = promoter
    assert np.allclose(pred["predicted_score"], dist @ np.arange(11))


def test_predictions_track_the_planted_signal(models, data):
    X, score = data
    for model in models.values():
        assert model.cv_metrics_["detractor_auc"] > 0.7
        assert len(model.oof_) == len(X) and model.oof_.index.equals(X.index)
    p = models["ordinal"].predict_frame(X)["p_detractor"]
    assert spearmanr(p, X["tickets"]).statistic > 0.5


@pytest.mark.parametrize("formulation", ["multiclass", "regression", "ordinal"])
def test_detractor_booster_raw_output_increases_with_detraction(models, data, formulation):
    X, _ = data
    model = models[formulation]
    booster, class_index = model.detractor_booster()
    raw = booster.predict(X, raw_score=True)
    raw = raw[:, class_index] if class_index is not None else raw
    assert spearmanr(raw, model.predict_class_proba(X)[:, 0]).statistic > 0.8


@pytest.mark.parametrize("formulation", ["multiclass", "regression", "ordinal"])
def test_save_load_roundtrip_gives_identical_predictions(models, data, tmp_path, formulation):
    X, _ = data
    model = models[formulation]
    model.save(tmp_path / "nps")
    assert not list(tmp_path.rglob("*.pkl"))
    loaded = NpsClassifier.load(tmp_path / "nps")
    pd.testing.assert_frame_equal(model.predict_frame(X), loaded.predict_frame(X))
    np.testing.assert_array_equal(model.predict_proba(X), loaded.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X), loaded.predict(X))
    assert loaded.classes_.tolist() == model.classes_.tolist() and loaded.class_names_.tolist() == list(CLASSES)
    assert loaded.cv_metrics_ == pytest.approx(model.cv_metrics_, nan_ok=True)
    assert loaded.cv_intervals_ == model.cv_intervals_ and loaded.held_out_choices_ == model.held_out_choices_
    assert isinstance(loaded.detractor_booster()[0], lgb.Booster)


def test_calibration_matches_the_weighted_population(data):
    """Weights that up-weight high-ticket customers must move the predicted detractor share to their weighted rate."""
    X, score = data
    w = np.where(X["tickets"] >= 2, 4.0, 1.0)
    model = NpsClassifier(formulation="regression", cv=3, random_state=2, **FAST).fit(X, score, w)
    is_det = score <= SCALE.detractor_max
    weighted_rate = np.average(is_det, weights=w)
    oof_rate = np.average(model.oof_["p_detractor"], weights=w)
    assert abs(oof_rate - weighted_rate) < 0.02
    assert abs(np.average(is_det) - weighted_rate) > 0.05  # the weights really do change the target
    assert model.cv_metrics_["ece_detractor"] < 0.06


def test_candidates_compete_and_the_simplest_within_one_standard_error_is_kept(data):
    X, score = data
    model = NpsClassifier(formulation="auto", cv=3, random_state=3, **FAST).fit(X.iloc[:800], score[:800])
    table = model.selection_
    names = [row["candidate"] for row in table]
    assert names[:2] == ["configured-multiclass", "configured-regression"]
    assert {"shallow-regression", "smooth-multiclass", "large-multiclass"} <= set(names)
    best = min(table, key=lambda row: row["log_loss"])
    assert best["loss_minus_best"] == 0.0
    within = [row for row in table if row["loss_minus_best"] <= row["se_of_difference"]]
    kept = min(within, key=lambda row: row["complexity"])
    assert [row["candidate"] for row in table if row["chosen"]] == [kept["candidate"]]
    assert model.candidate_["name"] == kept["candidate"] and model.formulation_ == kept["formulation"]
    assert model.selected_oof_metrics_["log_loss"] == pytest.approx(kept["log_loss"])


def test_best_rule_keeps_the_lowest_loss(data):
    X, score = data
    model = NpsClassifier(cv=3, selection_rule="best", random_state=3, **FAST).fit(X.iloc[:800], score[:800])
    best = min(model.selection_, key=lambda row: row["log_loss"])
    assert model.candidate_["name"] == best["candidate"]


def test_cross_fitted_probabilities_of_new_rows_come_from_the_fold_models(models, data):
    X, _ = data
    model = models["regression"]
    new = X.iloc[:200]
    cross = model.cross_fitted_proba(new)
    assert cross.shape == (200, 3) and np.allclose(cross.sum(axis=1), 1.0)
    assert not np.allclose(cross, model.predict_class_proba(new))  # other models than the final one ...
    assert spearmanr(cross[:, 0], model.predict_class_proba(new)[:, 0]).statistic > 0.9  # ... of the same signal


@pytest.mark.parametrize("formulation", ["multiclass", "regression", "ordinal"])
def test_cross_fitted_probabilities_are_the_fold_models_lightgbm_predictions(models, data, formulation):
    """The fold models predict through a compiled forest: to the bit what LightGBM's predictor gives them."""
    X, _ = data
    model, new = models[formulation], X.iloc[:300]
    folds = np.arange(len(new)) % 3
    expected = np.zeros((len(new), 3))
    for k in range(3):
        rows = folds == k
        parts = [np.full(rows.sum(), c) if m is None else m[k][0].predict(new[rows], raw_score=True,
                                                                         num_iteration=m[k][1])
                 for m, c in zip(model.fold_models_, model.constants_)]
        link, calibrator = model.stage2_folds_[k]
        expected[rows] = stage2_apply(model.formulation_, model._raw(model.formulation_, parts), link, calibrator,
                                      model.scale_)[1]
    np.testing.assert_array_equal(model.cross_fitted_proba(new, folds=folds), expected)
    assert len(model._fold_forests) == 3 and all(f is not None for f in model._fold_forests.values())  # compiled


def test_signal_is_found_when_planted_and_not_in_noise(models, data):
    X, score = data
    assert models["multiclass"].no_signal_ is False and models["multiclass"].signal_["low"] > 0.5
    noise = np.random.default_rng(7).permutation(score)  # answers unrelated to the features
    model = NpsClassifier(candidates="configured", cv=3, random_state=0, **FAST).fit(X, noise)
    assert model.no_signal_ is True and model.signal_["low"] <= 0.5


def test_a_two_point_scale_has_two_classes_and_no_warnings(data):
    import warnings

    X, score = data
    binary = (score >= 8).astype(int)
    scale = Scale(min=0, max=1, detractor_max=0, promoter_min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = NpsClassifier(scale=scale, cv=3, random_state=0, **FAST).fit(X, binary)
        frame = model.predict_frame(X.iloc[:50])
    assert list(model.class_names_) == ["detractor", "promoter"] and list(model.classes_) == [0, 1]
    assert model.predict_class_proba(X.iloc[:50]).shape == model.predict_proba(X.iloc[:50]).shape == (50, 2)
    assert (frame["p_passive"] == 0).all() and set(frame["predicted_class"]) <= {"detractor", "promoter"}
    assert model.cv_metrics_["detractor_auc"] > 0.7


def test_bad_scores_raise_input_error(data):
    X, score = data
    bad = score.astype(float).copy()
    bad[3] = 11
    with pytest.raises(InputError, match="outside the scale"):
        NpsClassifier(**FAST).fit(X, bad)
    with pytest.raises(InputError, match="feature rows"):
        NpsClassifier(**FAST).fit(X, score[:10])


def test_reported_metrics_are_those_of_the_held_out_predictions(data):
    """cv_metrics_ are computed from held_out_ (every row scored by the choice made without its fold); with
    candidates competing, the kept candidate's own OOF metrics stay apart as the named diagnostic."""
    from cxpredict.metrics import nps_metrics
    from cxpredict.models.held_out import fold_mean_auc

    X, score = data
    w = np.where(X["tickets"] >= 2, 3.0, 1.0)
    model = NpsClassifier(formulation="auto", cv=3, random_state=4, **FAST).fit(X.iloc[:900], score[:900],
                                                                             population_weight=w[:900])
    held = model.held_out_
    assert held.index.equals(X.index[:900]) and len(model.held_out_choices_) == 3
    truth = np.digitize(score[:900], [6.5, 8.5])
    expected = nps_metrics(truth, held[["p_detractor", "p_passive", "p_promoter"]].to_numpy(),
                           held["predicted_class"].to_numpy(dtype=object), w[:900] / w[:900].mean(), score[:900],
                           held["predicted_score"].to_numpy())
    expected["detractor_auc"] = fold_mean_auc(truth == 0, held["p_detractor"].to_numpy(), held["fold"].to_numpy(),
                                              w[:900])  # ranks compared within a fold (models/held_out.py)
    assert {k: model.cv_metrics_[k] for k in expected} == pytest.approx(expected, nan_ok=True)
    assert set(model.selected_oof_metrics_) == set(model.cv_metrics_)
    assert set(model.cv_intervals_) == {"detractor_auc", "log_loss"}
    for name in ("detractor_auc", "log_loss"):
        interval = model.cv_intervals_[name]
        assert interval["low"] <= model.cv_metrics_[name] <= interval["high"] and interval["level"] == 0.9


def test_without_a_choice_the_held_out_probabilities_are_the_out_of_fold_ones(models):
    """One candidate: nothing is chosen, so the held-out class probabilities are the OOF ones; only the decision
    offsets are tuned again per fold."""
    model = models["regression"]
    columns = ["p_detractor", "p_passive", "p_promoter"]
    pd.testing.assert_frame_equal(model.held_out_[columns], model.oof_[columns])
    assert set(model.held_out_choices_) == {"configured-regression"}


def test_one_fold_per_row_gives_that_fold_models_prediction(models, data):
    X, _ = data
    model, new = models["regression"], X.iloc[:300]
    per_fold = [model.cross_fitted_proba(new, folds=np.full(len(new), k)) for k in range(3)]
    assert np.allclose(np.mean(per_fold, axis=0), model.cross_fitted_proba(new))  # the fold mean, one fold at a time
    mixed = np.arange(len(new)) % 3
    assert np.allclose(model.cross_fitted_proba(new, folds=mixed), np.choose(mixed[:, None], per_fold))
    with pytest.raises(InputError, match="fold number 0..2"):
        model.cross_fitted_proba(new, folds=np.full(len(new), 3))
