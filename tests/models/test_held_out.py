"""Selection-honest quality: each fold is scored by a choice made without it; the AUC compares ranks within a
fold; fast resampled metrics agree with the metric functions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cxpredict.metrics import detractor_auc, multiclass_log_loss
from cxpredict.models.held_out import (
    bootstrap_intervals,
    fold_mean_auc,
    fold_mean_auc_interval,
    held_out_predictions,
    held_out_report,
    resampled_metrics,
)


def test_each_fold_is_predicted_by_the_choice_made_on_the_other_folds():
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(4), 25)
    fits = [{"candidate": SimpleNamespace(name=f"c{i}"), "proba": rng.dirichlet([1, 1, 1], 100)} for i in range(4)]
    seen = []

    def choose(rows):  # keeps candidate = the fold left out (a choice that depends on which rows it saw)
        seen.append(rows.copy())
        left_out = int(np.setdiff1d(np.arange(4), np.unique(folds[rows]))[0])
        return left_out, np.array([0.0, 0.0, 50.0])  # a huge promoter offset: the decision is 'promoter'

    held = held_out_predictions(fits, folds, choose, lambda fit, rows, fit_rows: fit["proba"][rows, 0])
    for k, rows in enumerate(seen):
        assert not rows[folds == k].any() and rows[folds != k].all()  # fold k never seen by its own choice
        np.testing.assert_array_equal(held["proba"][folds == k], fits[k]["proba"][folds == k])
        np.testing.assert_array_equal(held["predicted_score"][folds == k], fits[k]["proba"][folds == k, 0])
    assert held["choices"] == ["c0", "c1", "c2", "c3"] and (held["predicted_class"] == 2).all()


def test_resampled_metrics_equal_the_metric_functions():
    rng = np.random.default_rng(1)
    n = 400
    cls = rng.integers(0, 3, n)
    proba = rng.dirichlet([1, 1, 1], n)
    proba[:, 0] = np.round(proba[:, 0], 2)  # ties in P(detractor)
    proba /= proba.sum(axis=1, keepdims=True)
    w, folds = rng.uniform(0.5, 2.0, n), np.arange(n) % 4
    counts = rng.integers(0, 3, (3, n))
    got = resampled_metrics(cls, proba, w, counts, folds)
    for b in range(3):
        v = w * counts[b]
        keep = v > 0
        assert got["detractor_auc"][b] == pytest.approx(fold_mean_auc(cls[keep] == 0, proba[keep, 0], folds[keep],
                                                                      v[keep]))
        assert got["log_loss"][b] == pytest.approx(multiclass_log_loss(cls[keep], proba[keep], v[keep]))


def test_fold_mean_auc_compares_ranks_only_within_a_fold():
    """Two folds ranked perfectly inside, on shifted scales (as two candidates' probabilities can be): pooled, the
    ranking looks poor; within folds it is perfect."""
    is_det = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    folds = np.repeat([0, 1], 4)
    assert detractor_auc(is_det, score) < 0.8
    assert fold_mean_auc(is_det, score, folds) == 1.0
    found = fold_mean_auc_interval(is_det, score, folds, 0.9)
    assert found["auc"] == 1.0 and found["low"] <= found["auc"] <= found["high"]


def test_fold_mean_interval_covers_chance_at_its_level_and_finds_signal():
    """In answers unrelated to the scores, the 90% interval contains 0.5 in about 90% of samples (200 samples:
    within 3 binomial standard errors, 0.84-0.96); a planted signal is found."""
    rng = np.random.default_rng(3)
    n, folds = 300, np.arange(300) % 5
    covers = []
    for _ in range(200):
        is_det = rng.random(n) < 0.3
        found = fold_mean_auc_interval(is_det, rng.normal(0, 1.0, n), folds, 0.9)
        covers.append(found["low"] < 0.5 < found["high"])
    assert 0.84 <= np.mean(covers) <= 0.96
    is_det = rng.random(n) < 0.3
    assert fold_mean_auc_interval(is_det, is_det + rng.normal(0, 1.0, n), folds, 0.9)["low"] > 0.5


def test_bootstrap_interval_covers_the_figure_and_narrows_with_more_rows():
    def interval(n):
        rng = np.random.default_rng(2)
        cls = rng.integers(0, 3, n)
        p_det = 0.2 + 0.1 * (cls == 0) + rng.uniform(0, 0.3, n)  # an informative, imperfect ranking
        proba = np.column_stack([p_det, (1 - p_det) / 2, (1 - p_det) / 2])
        folds = np.arange(n) % 5
        found = bootstrap_intervals(cls, proba, np.ones(n), folds, seed=0)["detractor_auc"]
        assert found["low"] < fold_mean_auc(cls == 0, p_det, folds) < found["high"]
        return found

    small, large = interval(200), interval(3200)
    # the AUC's standard error shrinks as 1/sqrt(n): 16 times the rows, a quarter of the width (within resampling)
    assert (large["high"] - large["low"]) / (small["high"] - small["low"]) == pytest.approx(0.25, abs=0.08)


@pytest.mark.parametrize("signal", [True, False])
def test_held_out_report_keeps_the_predictions_and_flags_no_signal_when_the_interval_includes_chance(signal):
    rng = np.random.default_rng(1)
    true_class = rng.integers(0, 3, 600)
    folds = np.tile(np.arange(5), 120)
    p_det = np.where(true_class == 0, 0.7, 0.2) if signal else np.full(600, 0.3)
    p_det = np.clip(p_det + rng.normal(0, 0.05 if signal else 0.0, 600), 0.01, 0.9)
    proba = np.column_stack([p_det, (1 - p_det) / 2, (1 - p_det) / 2])
    held = {"proba": proba, "predicted_score": 10 * proba[:, 2], "predicted_class": np.argmax(proba, axis=1),
            "folds": folds}
    index = pd.Index(np.arange(600) + 1_000, name="customer_id")
    report = held_out_report(held, true_class, np.ones(600), index)
    frame = report["frame"]
    assert list(frame.columns) == ["predicted_score", "p_detractor", "p_passive", "p_promoter", "predicted_class",
                                   "fold"]
    assert frame.index.equals(index) and (frame["fold"].to_numpy() == folds).all()
    assert list(frame["predicted_class"]) == list(np.array(["detractor", "passive", "promoter"])[held["predicted_class"]])
    assert report["signal"]["n_respondents"] == 600
    assert report["no_signal"] is (not signal)  # a constant detractor probability has AUC 0.5 in every fold
    assert set(report["reliability"]) == {"respondents", "weighted_population"}
