"""Selection-honest quality: each fold is scored by a choice made without it; fast resampled metrics agree with
metrics.py."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cxpredict.metrics import detractor_auc, multiclass_log_loss
from cxpredict.models.held_out import bootstrap_intervals, held_out_predictions, resampled_metrics


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
    w = rng.uniform(0.5, 2.0, n)
    counts = rng.integers(0, 3, (3, n))
    got = resampled_metrics(cls, proba, w, counts)
    for b in range(3):
        v = w * counts[b]
        keep = v > 0
        assert got["detractor_auc"][b] == pytest.approx(detractor_auc(cls[keep] == 0, proba[keep, 0], v[keep]))
        assert got["log_loss"][b] == pytest.approx(multiclass_log_loss(cls[keep], proba[keep], v[keep]))


def test_bootstrap_interval_covers_the_figure_and_narrows_with_more_rows():
    def interval(n):
        rng = np.random.default_rng(2)
        cls = rng.integers(0, 3, n)
        p_det = 0.2 + 0.1 * (cls == 0) + rng.uniform(0, 0.3, n)  # an informative, imperfect ranking
        proba = np.column_stack([p_det, (1 - p_det) / 2, (1 - p_det) / 2])
        found = bootstrap_intervals(cls, proba, np.ones(n), seed=0)["detractor_auc"]
        assert found["low"] < detractor_auc(cls == 0, p_det) < found["high"]
        return found

    small, large = interval(200), interval(3200)
    # the AUC's standard error shrinks as 1/sqrt(n): 16 times the rows, a quarter of the width (within resampling)
    assert (large["high"] - large["low"]) / (small["high"] - small["low"]) == pytest.approx(0.25, abs=0.08)
