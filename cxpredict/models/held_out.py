"""Selection-honest quality: the NPS model's reported metrics from predictions that no choice saw.

Why: the candidates, the decision offsets and the calibration are all chosen on the respondents' out-of-fold
(OOF) predictions. Reporting the metrics of those same predictions rewards the luckiest of several candidates (a
winner's curse that a few hundred answers make visible: the detractor AUC reported can exceed what the silent
customers get by 0.03-0.05). The cheapest honest scheme re-uses the OOF predictions the selection already has:
for every fold k of the same cross-validation, the candidate and its decision offsets are chosen again on the
rows outside k only, and the rows of k are scored by that choice's OOF predictions (trees trained without k,
stage 2, the link and calibrator, fitted on the other folds). So no row's reported prediction was picked,
calibrated or thresholded using its own answer; no booster is refitted, and the cost is K extra selections on
arrays (a few per cent of the fit), not K extra cross-validations.
What remains shared: the other folds' OOF predictions come from trees that were trained on rows of k, so a
choice for k is not independent of k's answers through those trees (second order; full nested cross-validation
would remove it at K times the fit time).

The detractor AUC is the mean over folds of the AUC within each fold (`fold_mean_auc`): folds may be scored by
different candidates, whose probabilities rank on different scales, and an AUC of the pooled folds would lose
what one final model never loses (0.03-0.04 on a few hundred answers). The additive metrics (log loss, the
confusion-matrix ones, calibration) are computed over all held-out rows. The signal check uses the same fold
mean with DeLong's standard errors (`fold_mean_auc_interval`).

The interval (detractor AUC and log loss): a percentile bootstrap over respondents, resampled within their
folds, of the weighted metric with the held-out predictions fixed (`bootstrap_intervals`): it measures how much
the figure would move with another sample of respondents of the same size, not the variation of the fitted
model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm

from cxpredict.codes import code_labels
from cxpredict.config import CLASSES
from cxpredict.metrics import auc_interval, detractor_auc, reliability_table
from cxpredict.models.calibration import EPS

INTERVAL_LEVEL = 0.90
N_RESAMPLES = 500
SIGNAL_LEVEL = 0.90  # the interval of the held-out detractor AUC that must exclude 0.5
INTERVAL_METHOD = (f"percentile bootstrap over respondents within their folds ({N_RESAMPLES} resamples) of the "
                   "weighted metric, held-out predictions fixed")


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


def fold_mean_auc(is_positive: np.ndarray, score: np.ndarray, folds: np.ndarray, w: np.ndarray | None = None
                  ) -> float:
    """Mean over folds of the (weighted) ROC AUC within each fold: ranks are compared only between rows scored by
    the same models, since pooling folds scored by different candidates (or fold models) costs AUC that the
    final model does not lose (folds with one class are left out)."""
    values = [detractor_auc(is_positive[folds == k], score[folds == k], None if w is None else w[folds == k])
              for k in np.unique(folds)]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def fold_mean_auc_interval(is_positive: np.ndarray, score: np.ndarray, folds: np.ndarray, level: float) -> dict:
    """`fold_mean_auc` (unweighted) with DeLong's standard error: the folds' AUCs are independent given their
    models, so the variance of their mean is the sum of their DeLong variances over the squared fold count."""
    per = [auc_interval(is_positive[folds == k], score[folds == k], level) for k in np.unique(folds)]
    per = [f for f in per if np.isfinite(f["auc"])]
    if not per:
        return auc_interval(np.zeros(2), np.zeros(2), level)  # NaN throughout, in auc_interval's shape
    auc = float(np.mean([f["auc"] for f in per]))
    se = float(np.sqrt(sum(f["se"] ** 2 for f in per)) / len(per))
    z = float(norm.ppf(0.5 + level / 2))
    return {"auc": auc, "se": se, "low": auc - z * se, "high": auc + z * se, "level": level}


def _weighted_aucs(is_det: np.ndarray, p_det: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The weighted ROC AUC for every row of weights v (resamples, rows), ties counted half: the positive and
    negative weight of every tie group for all resamples at once (one sparse product each)."""
    groups = np.unique(p_det, return_inverse=True)[1].ravel()  # tied scores share a group, in ascending order
    member = sparse.csr_matrix((np.ones(len(groups)), (np.arange(len(groups)), groups)),
                               shape=(len(groups), groups.max() + 1 if len(groups) else 0))
    pos = np.asarray((member.T @ (v * is_det).T).T)
    neg = np.asarray((member.T @ (v * (1 - is_det)).T).T)
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.einsum("bg,bg->b", pos, np.cumsum(neg, axis=1) - 0.5 * neg) / pairs
    return np.where(pairs > 0, out, np.nan)


def resampled_metrics(true_class: np.ndarray, proba: np.ndarray, w: np.ndarray, counts: np.ndarray,
                      folds: np.ndarray) -> dict[str, np.ndarray]:
    """The fold-mean weighted detractor AUC and the weighted log loss of every bootstrap resample, given as row
    counts (resamples, rows): the definitions of fold_mean_auc and metrics.multiclass_log_loss with the weights
    w * counts, written on tie-group sums so hundreds of resamples cost milliseconds instead of the seconds of
    hundreds of validated calls (a test keeps them equal)."""
    is_det = (true_class == 0).astype(float)
    v = counts * w[None, :]
    per_fold = np.stack([_weighted_aucs(is_det[folds == k], proba[folds == k, 0], v[:, folds == k])
                         for k in np.unique(folds)])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample of a fold with one class: NaN, left out
        auc = np.nanmean(per_fold, axis=0)
    return {"log_loss": v @ log_losses(proba, true_class) / v.sum(axis=1), "detractor_auc": auc}


def bootstrap_intervals(true_class: np.ndarray, proba: np.ndarray, w: np.ndarray, folds: np.ndarray, seed: int,
                        level: float = INTERVAL_LEVEL, n_resamples: int = N_RESAMPLES) -> dict[str, dict[str, Any]]:
    """{metric: {low, high, level, method}} of the weighted detractor AUC (fold mean) and log loss, resampling
    respondents within their folds. Not of the ECE: an absolute error is biased upwards in every resample, so
    its percentile interval misses the figure itself."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_resamples, len(true_class)))
    for k in np.unique(folds):
        rows = np.flatnonzero(folds == k)
        drawn = rng.integers(0, len(rows), (n_resamples, len(rows)))
        drawn += np.arange(n_resamples)[:, None] * len(rows)  # each resample's draws counted in its own block
        counts[:, rows] = np.bincount(drawn.ravel(), minlength=n_resamples * len(rows)).reshape(n_resamples, -1)
    tail = 100 * (1 - level) / 2
    out = {}
    for name, values in resampled_metrics(np.asarray(true_class), proba, w, counts, folds).items():
        values = values[np.isfinite(values)]
        low, high = np.percentile(values, [tail, 100 - tail]) if len(values) else (np.nan, np.nan)
        out[name] = {"low": float(low), "high": float(high), "level": level, "method": INTERVAL_METHOD}
    return out


def held_out_report(held: dict[str, Any], true_class: np.ndarray, w: np.ndarray, index: pd.Index) -> dict[str, Any]:
    """What a fitted model keeps of its held-out predictions: their frame (`held_out_`), the reliability tables
    (respondents, and weighted to the population by `w`) and the signal check: no signal when the interval of
    their fold-mean detractor AUC does not exclude 0.5 (NaN, one class only, counts as no signal)."""
    proba, is_detractor = held["proba"], true_class == 0
    frame = pd.DataFrame(proba, index=index, columns=[f"p_{c}" for c in CLASSES])
    frame.insert(0, "predicted_score", held["predicted_score"])
    frame["predicted_class"] = code_labels(held["predicted_class"], CLASSES)
    frame["fold"] = held["folds"]
    reliability = {
        "respondents": reliability_table(is_detractor, proba[:, 0]).to_dict(orient="records"),
        "weighted_population": reliability_table(is_detractor, proba[:, 0], sample_weight=w).to_dict(orient="records"),
    }
    signal = fold_mean_auc_interval(is_detractor, proba[:, 0], held["folds"], SIGNAL_LEVEL)
    signal["n_respondents"] = len(true_class)
    return {"frame": frame, "reliability": reliability, "signal": signal, "no_signal": not signal["low"] > 0.5}
