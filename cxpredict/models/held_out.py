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

import numba
import numpy as np
import pandas as pd
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


@numba.njit(cache=True, nogil=True)
def _fold_sums(counts: np.ndarray, order: np.ndarray, starts: np.ndarray, is_det: np.ndarray, w: np.ndarray,
               losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each resample (a row of counts: how often each of the fold's rows was drawn), with weights counts x w:
    the fold's detractor AUC (ties counted half; NaN with one class), and the sums of weighted log losses and of
    weights. One pass over the rows in score order (`order`, tie groups starting at `starts`)."""
    n_resamples = counts.shape[0]
    auc, loss, weight = np.empty(n_resamples), np.zeros(n_resamples), np.zeros(n_resamples)
    for b in range(n_resamples):
        below, pairs, positive = 0.0, 0.0, 0.0  # negative weight under the group, weighted pairs ranked right
        for g in range(len(starts) - 1):
            pos, neg = 0.0, 0.0
            for i in range(starts[g], starts[g + 1]):
                r = order[i]
                v = counts[b, r] * w[r]
                if is_det[r]:
                    pos += v
                else:
                    neg += v
                loss[b] += v * losses[r]
                weight[b] += v
            pairs += pos * (below + 0.5 * neg)
            below += neg
            positive += pos
        auc[b] = pairs / (positive * below) if positive * below > 0 else np.nan
    return auc, loss, weight


def _tie_groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows in ascending score order, the start of each group of tied scores in that order, plus the end)."""
    order = np.argsort(score, kind="stable")
    ranked = score[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]]) if len(score) else np.zeros(0, dtype=np.int64)
    return order, np.r_[starts, len(score)].astype(np.int64)


class _Resampled:
    """Sums of the resampled metrics over folds, fold by fold: only one fold's counts exist at a time."""

    def __init__(self, true_class: np.ndarray, proba: np.ndarray, w: np.ndarray, n_resamples: int) -> None:
        self.is_det, self.p_det = np.asarray(true_class) == 0, proba[:, 0]
        self.losses, self.w = log_losses(proba, np.asarray(true_class)), np.asarray(w, dtype=np.float64)
        self.aucs: list[np.ndarray] = []
        self.loss, self.weight = np.zeros(n_resamples), np.zeros(n_resamples)

    def add(self, rows: np.ndarray, counts: np.ndarray) -> None:
        """One fold: its rows and their counts (resamples, rows)."""
        order, starts = _tie_groups(self.p_det[rows])
        auc, loss, weight = _fold_sums(np.ascontiguousarray(counts), order, starts, self.is_det[rows],
                                       self.w[rows], self.losses[rows])
        self.aucs.append(auc)
        self.loss += loss
        self.weight += weight

    def metrics(self) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample of a fold with one class: NaN, left out
            auc = np.nanmean(np.stack(self.aucs), axis=0)
        return {"log_loss": self.loss / self.weight, "detractor_auc": auc}


def resampled_metrics(true_class: np.ndarray, proba: np.ndarray, w: np.ndarray, counts: np.ndarray,
                      folds: np.ndarray) -> dict[str, np.ndarray]:
    """The fold-mean weighted detractor AUC and the weighted log loss of every bootstrap resample, given as row
    counts (resamples, rows): the definitions of fold_mean_auc and metrics.multiclass_log_loss with the weights
    w * counts, computed in one compiled pass per fold and resample so hundreds of resamples cost milliseconds
    instead of the seconds of hundreds of validated calls (a test keeps them equal)."""
    out = _Resampled(true_class, proba, w, len(counts))
    for k in np.unique(folds):
        rows = np.flatnonzero(folds == k)
        out.add(rows, counts[:, rows])
    return out.metrics()


def bootstrap_intervals(true_class: np.ndarray, proba: np.ndarray, w: np.ndarray, folds: np.ndarray, seed: int,
                        level: float = INTERVAL_LEVEL, n_resamples: int = N_RESAMPLES) -> dict[str, dict[str, Any]]:
    """{metric: {low, high, level, method}} of the weighted detractor AUC (fold mean) and log loss, resampling
    respondents within their folds. Not of the ECE: an absolute error is biased upwards in every resample, so
    its percentile interval misses the figure itself."""
    rng = np.random.default_rng(seed)
    resampled = _Resampled(true_class, proba, w, n_resamples)
    for k in np.unique(folds):
        rows = np.flatnonzero(folds == k)
        drawn = rng.integers(0, len(rows), (n_resamples, len(rows)))
        drawn += np.arange(n_resamples)[:, None] * len(rows)  # each resample's draws counted in its own block
        resampled.add(rows, np.bincount(drawn.ravel(), minlength=n_resamples * len(rows)).reshape(n_resamples, -1))
    tail = 100 * (1 - level) / 2
    out = {}
    for name, values in resampled.metrics().items():
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
