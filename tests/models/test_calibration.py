"""Stage 2 of the NPS model: the cut-point link, rearranged distributions, vector scaling, tuned decisions."""

from __future__ import annotations

import numpy as np
import pytest

from cxpredict.config import Scale, ThresholdConfig
from cxpredict.metrics import macro_f1, multiclass_log_loss, per_class_precision_recall
from cxpredict.models.calibration import (
    OFFSET_GRID,
    apply_cutpoints,
    apply_vector_scaling,
    cumulative_to_distribution,
    fit_cutpoints,
    fit_vector_scaling,
    tune_offsets,
)


def test_tune_offsets_finds_the_best_grid_point_and_meets_recall_targets():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    proba = rng.dirichlet([1, 1, 1], 400) * 0.5 + np.eye(3)[y] * 0.5 * rng.uniform(0, 1, (400, 1))
    proba /= proba.sum(axis=1, keepdims=True)
    w = np.ones(400)
    offsets = tune_offsets(proba, y, w, ThresholdConfig(objective="macro_f1"))
    tuned = np.argmax(np.log(proba) + offsets, axis=1)
    plain = np.argmax(proba, axis=1)
    assert macro_f1(y, tuned) >= macro_f1(y, plain) - 1e-12
    for t_det in (-1.0, 0.0, 0.7):  # no other grid point beats the tuned one
        for t_pro in (-0.5, 0.0, 1.2):
            other = np.argmax(np.log(proba) + [t_det, 0, t_pro], axis=1)
            assert macro_f1(y, tuned) >= macro_f1(y, other) - 1e-9
    target = ThresholdConfig(objective="recall_targets", recall_targets={"detractor": 0.9})
    recall = per_class_precision_recall(y, np.argmax(np.log(proba) + tune_offsets(proba, y, w, target), axis=1))
    assert recall["detractor"]["recall"] >= 0.9
    assert (tune_offsets(proba, y, w, ThresholdConfig(objective="argmax")) == 0).all()


def test_cutpoint_link_recovers_a_proportional_odds_model():
    rng = np.random.default_rng(1)
    z = rng.normal(size=20_000)
    theta = np.array([-2.0, -0.5, 0.4, 1.5])  # CSAT 1-5: P(score <= k) = sigmoid(theta_k + 1.3 z)
    cdf = 1 / (1 + np.exp(-(theta[None, :] + 1.3 * z[:, None])))
    score = 1 + (rng.random(len(z))[:, None] > cdf).sum(axis=1)
    csat = Scale(min=1, max=5, detractor_max=3, promoter_min=5)
    link = fit_cutpoints(z, score, np.ones(len(z)), csat)
    assert link["beta"] * 1 / link["z_sd"] == pytest.approx(1.3, abs=0.08)
    dist = apply_cutpoints(np.array([0.0]), link)
    expected = np.diff(np.r_[0, 1 / (1 + np.exp(-theta)), 1])
    assert dist[0] == pytest.approx(expected, abs=0.03)


def test_cumulative_probabilities_are_rearranged_into_a_valid_distribution():
    crossing = np.array([[0.3, 0.2, 0.9], [0.1, 0.5, 0.6]])  # first row: P(<=0) > P(<=1)
    dist = cumulative_to_distribution(crossing)
    assert np.allclose(dist.sum(axis=1), 1.0) and (dist >= 0).all()
    assert dist[0] == pytest.approx([0.2, 0.1, 0.6, 0.1])
    assert dist[1] == pytest.approx([0.1, 0.4, 0.1, 0.4])


def test_cumulative_rows_already_sorted_give_the_differences_of_the_sorted_rows():
    rng = np.random.default_rng(0)
    cdf = np.sort(rng.random((200, 10)), axis=1)
    cdf[::7] = cdf[::7, ::-1]  # some rows crossing: sorted first
    expected = np.diff(np.hstack([np.zeros((200, 1)), np.sort(cdf, axis=1), np.ones((200, 1))]), axis=1)
    assert np.array_equal(cumulative_to_distribution(cdf), expected)


def test_vector_scaling_fixes_overconfident_shifted_probabilities():
    rng = np.random.default_rng(3)
    true = rng.dirichlet([2, 2, 2], 5000)
    y = np.array([rng.choice(3, p=p) for p in true])
    distorted = true**3 * np.array([3.0, 1.0, 0.5])  # overconfident, biased towards class 0
    distorted /= distorted.sum(axis=1, keepdims=True)
    calibrated = apply_vector_scaling(distorted, fit_vector_scaling(distorted, y, np.ones(len(y))))
    assert multiclass_log_loss(y, calibrated) < multiclass_log_loss(y, distorted) - 0.05
    assert calibrated.mean(axis=0) == pytest.approx(np.bincount(y) / len(y), abs=0.01)
    assert apply_vector_scaling(distorted, None) is distorted


def _offsets_by_brute_force(proba, y, w, targets):
    """The search tune_offsets makes, written plainly: every grid pair, the weighted confusion matrix of
    argmax(log p + offsets), first the recall shortfall, then macro-F1, then closeness to argmax."""
    logp = np.log(np.clip(proba, 1e-9, 1.0))
    true_w = np.bincount(y, weights=w, minlength=3)
    best_key, best = None, None
    for t_det in OFFSET_GRID:
        for t_pro in OFFSET_GRID:
            pred = np.argmax(logp + [t_det, 0.0, t_pro], axis=1)
            cm = np.bincount(y * 3 + pred, weights=w, minlength=9).reshape(3, 3)
            tp, pred_w = np.diag(cm), cm.sum(axis=0)
            precision = np.divide(tp, pred_w, out=np.zeros(3), where=pred_w > 0)
            recall = np.divide(tp, true_w, out=np.zeros(3), where=true_w > 0)
            f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(3), where=precision + recall > 0)
            key = (-round(float(np.clip(targets - recall, 0, None).sum()), 9), round(float(f1.mean()), 9),
                   -abs(t_det) - abs(t_pro))
            if best_key is None or key > best_key:
                best_key, best = key, np.array([t_det, 0.0, t_pro])
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tune_offsets_equals_the_plain_search_over_the_grid(seed):
    """The cumulative-sum search (O(rows) per detractor offset) decides every row as argmax would, ties included:
    probabilities rounded to one decimal make many exact ties between classes and grid points."""
    rng = np.random.default_rng(seed)
    n = 150
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet([1, 1, 1], n) * 0.6 + np.eye(3)[y] * 0.4 * rng.uniform(0, 1, (n, 1))
    if seed == 1:
        proba = np.clip(np.round(proba, 1), 0.0, 1.0)
    w = rng.uniform(0.2, 3.0, n) if seed != 0 else np.ones(n)
    for cfg, targets in ((ThresholdConfig(objective="macro_f1"), np.zeros(3)),
                         (ThresholdConfig(objective="recall_targets", recall_targets={"detractor": 0.85}),
                          np.array([0.85, 0.0, 0.0]))):
        assert tune_offsets(proba, y, w, cfg).tolist() == _offsets_by_brute_force(proba, y, w, targets).tolist()
