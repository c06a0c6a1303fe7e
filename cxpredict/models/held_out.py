"""Selection-honest quality: the NPS model's reported metrics from predictions that no choice saw.

Why: the candidates, the decision offsets and the calibration are all chosen on the respondents' out-of-fold
(OOF) predictions. Reporting the metrics of those same predictions rewards the luckiest of several candidates (a
winner's curse that a few hundred answers make visible: the detractor AUC reported can exceed what the silent
customers get by 0.03-0.05). The cheapest honest scheme re-uses the OOF predictions the selection already has:
for every fold k of the same cross-validation, the candidate and its decision offsets are chosen again on the
rows outside k only, and the rows of k are scored by that choice's OOF predictions (trees trained without k,
stage 2, the link and calibrator, fitted on the other folds). So no row's reported prediction was picked,
calibrated or thresholded using its own answer; no booster is refitted, and the cost is K extra selections on
arrays (milliseconds), not K extra cross-validations.
What remains shared: the other folds' OOF predictions come from trees that were trained on rows of k, so a
choice for k is not independent of k's answers through those trees (second order; full nested cross-validation
would remove it at K times the fit time).

The interval (detractor AUC and log loss): a percentile bootstrap over respondents of the weighted metric with
the held-out predictions fixed (`bootstrap_intervals`): it measures how much the figure would move with another
sample of respondents of the same size, not the variation of the fitted model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cxpredict.models.calibration import EPS

INTERVAL_LEVEL = 0.90
N_RESAMPLES = 500
INTERVAL_METHOD = (f"percentile bootstrap over respondents ({N_RESAMPLES} resamples) of the weighted metric, "
                   "held-out predictions fixed")


def log_losses(proba: np.ndarray, true_class: np.ndarray) -> np.ndarray:
    """Each row's log loss, clipped as scikit-learn's log_loss clips (machine epsilon)."""
    return -np.log(np.clip(proba[np.arange(len(true_class)), true_class], np.finfo(float).eps, 1.0))


def decide(proba: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The class decision: argmax of log-probability plus the tuned offsets."""
    return np.argmax(np.log(np.clip(proba, EPS, 1.0)) + offsets, axis=1)


def held_out_predictions(fits: list[dict[str, Any]], folds: np.ndarray,
                         choose: Callable[[np.ndarray], tuple[int, np.ndarray]],
                         expected: Callable[[dict[str, Any], np.ndarray, np.ndarray], np.ndarray]
                         ) -> dict[str, Any]:
    """Class probabilities, decided classes and expected scores of every row from the choice made without its fold.

    fits: the cross-fitted candidates (each with OOF `proba`, rows in `folds` order); choose(rows): (index of the
    kept candidate, its decision offsets), using only `rows` (a boolean mask); expected(fit, rows, fit_rows):
    the expected score of `rows` from that fit, with anything estimated from answers taken from `fit_rows`.
    """
    n = len(folds)
    proba, pred, score = np.zeros((n, 3)), np.zeros(n, dtype=int), np.zeros(n)
    choices = []
    for k in np.unique(folds):
        this, other = folds == k, folds != k
        chosen, offsets = choose(other)
        fit = fits[chosen]
        proba[this] = fit["proba"][this]
        pred[this] = decide(proba[this], offsets)
        score[this] = expected(fit, this, other)
        choices.append(fit["candidate"].name)
    return {"proba": proba, "predicted_class": pred, "predicted_score": score, "choices": choices}


def resampled_metrics(true_class: np.ndarray, proba: np.ndarray, w: np.ndarray, counts: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Weighted detractor AUC and log loss of every bootstrap resample, given as row counts (resamples, rows):
    the definitions of metrics.py (detractor_auc, multiclass_log_loss) with the weights w * counts, written on
    tie-group sums so hundreds of resamples cost milliseconds instead of the seconds of hundreds of validated
    calls (a test keeps them equal)."""
    is_det, p_det = (true_class == 0).astype(float), proba[:, 0]
    loss = log_losses(proba, true_class)
    groups = np.unique(p_det, return_inverse=True)[1].ravel()  # tied scores share a group, in ascending order
    v = counts * w[None, :]
    total = v.sum(axis=1)
    out = {"log_loss": v @ loss / total, "detractor_auc": np.empty(len(v))}
    for b, vb in enumerate(v):
        pos = np.bincount(groups, vb * is_det, groups.max() + 1)
        neg = np.bincount(groups, vb * (1 - is_det), groups.max() + 1)
        pairs = pos.sum() * neg.sum()
        out["detractor_auc"][b] = pos @ (np.cumsum(neg) - 0.5 * neg) / pairs if pairs > 0 else np.nan
    return out


def bootstrap_intervals(true_class: np.ndarray, proba: np.ndarray, w: np.ndarray, seed: int,
                        level: float = INTERVAL_LEVEL, n_resamples: int = N_RESAMPLES) -> dict[str, dict[str, Any]]:
    """{metric: {low, high, level, method}} of the weighted detractor AUC and log loss. Not of the ECE: an
    absolute error is biased upwards in every resample, so its percentile interval misses the figure itself."""
    rng = np.random.default_rng(seed)
    n = len(true_class)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_resamples)])
    tail = 100 * (1 - level) / 2
    out = {}
    for name, values in resampled_metrics(np.asarray(true_class), proba, w, counts).items():
        values = values[np.isfinite(values)]  # a resample with one class has no AUC
        low, high = np.percentile(values, [tail, 100 - tail]) if len(values) else (np.nan, np.nan)
        out[name] = {"low": float(low), "high": float(high), "level": level, "method": INTERVAL_METHOD}
    return out
