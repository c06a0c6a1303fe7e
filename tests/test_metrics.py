"""Metrics against values computed by hand on tiny examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxpredict import metrics as m
from cxpredict.config import Scale

NPS = Scale()
CSAT = Scale(min=1, max=5, detractor_max=3, promoter_min=5)


def test_score_to_class_on_two_scales_and_missing():
    assert m.score_to_class([0, 6, 7, 8, 9, 10, np.nan], NPS).tolist() == [0, 0, 1, 1, 2, 2, -1]
    assert m.score_to_class([1, 3, 4, 5], CSAT).tolist() == [0, 0, 1, 2]


def test_nps_from_scores_classes_and_probabilities():
    assert m.nps_from_scores([0, 6, 7, 8, 9, 10], NPS) == 0.0
    assert m.nps_from_scores([9, 9, 0], NPS) == pytest.approx(100 / 3)
    assert m.nps_from_classes(["promoter", "detractor", "detractor"], sample_weight=[2, 1, 0]) == pytest.approx(100 / 3)
    # (0.5 - 0.2) weighted 3 : (0.0 - 1.0) weighted 1 -> (0.9 - 1.0) / 4
    assert m.nps_from_probabilities([0.2, 1.0], [0.5, 0.0], sample_weight=[3, 1]) == pytest.approx(-2.5)


def test_score_mae_weighted():
    assert m.score_mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert m.score_mae([1, 2, 3], [2, 2, 5], sample_weight=[0, 1, 1]) == pytest.approx(1.0)
    assert m.score_mae([1, 2, 3], [2, 2, 5], sample_weight=[1, 1, 0]) == pytest.approx(0.5)


def test_quadratic_weighted_kappa_by_hand():
    # O = (0,0),(1,2),(2,2); sum w*O = 1/4; sum w*E = 2/3 + 1/4 + 1/3 = 5/4 -> 1 - 0.2 = 0.8
    assert m.quadratic_weighted_kappa([0, 1, 2], [0, 2, 2]) == pytest.approx(0.8)
    assert m.quadratic_weighted_kappa([0, 1, 2, 2], [0, 1, 2, 2]) == pytest.approx(1.0)


def test_macro_f1_and_per_class_by_hand():
    y_true, y_pred = [0, 0, 1, 2], [0, 1, 1, 2]
    assert m.macro_f1(y_true, y_pred) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    per = m.per_class_precision_recall(y_true, y_pred)
    assert per["detractor"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3})
    assert per["passive"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3})
    # weight 0 on the misclassified detractor: everything is right
    assert m.macro_f1(y_true, y_pred, sample_weight=[1, 0, 1, 1]) == pytest.approx(1.0)


def test_confusion_is_weighted():
    cm = m.confusion([0, 0, 2], [0, 1, 2], sample_weight=[2.0, 1.0, 0.5])
    assert cm[0, 0] == 2.0 and cm[0, 1] == 1.0 and cm[2, 2] == 0.5 and cm.sum() == 3.5


def test_detractor_auc_and_lift_by_hand():
    assert m.detractor_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.75)
    assert np.isnan(m.detractor_auc([1, 1], [0.2, 0.3]))
    y = [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    score = np.linspace(1, 0, 10)
    assert m.lift_at_k(y, score, k=0.1) == pytest.approx(5.0)  # top row is positive, base rate 0.2
    assert m.lift_at_k(y, score, k=0.5) == pytest.approx(2.0)  # 2 of the top 5
    with pytest.raises(ValueError):
        m.lift_at_k(y, score, k=0)


def test_expected_calibration_error_by_hand():
    y, p = [0, 1, 1, 0], [0.15, 0.15, 0.85, 0.85]
    assert m.expected_calibration_error(y, p) == pytest.approx(0.35)
    # weight only the correct-ish rows: bin 1 observed 1.0 vs 0.15, bin 8 observed 1.0 vs 0.85
    assert m.expected_calibration_error(y, p, sample_weight=[0, 1, 1, 0]) == pytest.approx(0.5 * 0.85 + 0.5 * 0.15)
    assert m.expected_calibration_error([0, 1], [0.0, 1.0]) == pytest.approx(0.0)
    table = m.reliability_table(y, p, strategy="quantile", n_bins=2)
    assert table["weight"].tolist() == [2.0, 2.0]


def test_log_loss_coverage_and_error():
    proba = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    assert m.multiclass_log_loss([0, 2], proba) == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 2)
    assert m.interval_coverage([0, 0, 5], [2, 1, 6], 1.5) == pytest.approx(1 / 3)
    assert m.population_nps_error(-40.0, -42.5) == pytest.approx(2.5)


def test_nps_metrics_bundle_has_the_reported_keys():
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    out = m.nps_metrics(["detractor", "passive", "promoter", "promoter"], proba, [0, 1, 2, 0],
                        true_score=[3, 7, 9, 10], predicted_score=[4, 7, 9, 5])
    assert out["detractor_auc"] == pytest.approx(1.0)
    assert out["detractor_recall"] == 1.0 and out["detractor_precision"] == 0.5
    assert out["score_mae"] == pytest.approx((1 + 0 + 0 + 5) / 4)
    assert {"log_loss", "qwk", "macro_f1", "ece_detractor", "lift_at_10", "promoter_recall"} <= set(out)


def test_standardized_differences_by_hand():
    X = pd.DataFrame({"x": [1.0, 3.0, 0.0, 2.0], "c": pd.Categorical(["a", "a", "b", "a"])})
    table = m.standardized_differences(X, np.array([True, True, False, False]))
    x = table.set_index("feature").loc["x"]
    assert x["smd"] == pytest.approx((2.0 - 1.0) / np.sqrt((1.0 + 1.0) / 2))
    assert table.loc[table["feature"] == "c=a", "smd"].item() == pytest.approx((1.0 - 0.5) / np.sqrt(0.125))


def test_calibration_slope_is_one_for_calibrated_predictions_and_smaller_for_spread_out_ones():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.2, 0.4, 200_000)
    y = rng.random(len(p)) < p
    spread = 0.3 + 2 * (p - 0.3)  # the same ranking, twice as far from the mean
    assert abs(m.calibration_slope(y, p) - 1) < 0.03
    assert abs(m.calibration_slope(y, spread) - 0.5) < 0.05
    assert m.calibration_slope(y, np.full(len(p), 0.3)) == 0.0 and m.calibration_slope(y, 1 - p) == 0.0
