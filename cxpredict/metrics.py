"""Metrics for NPS imputation: score error, ordinal agreement, class decisions, ranking, calibration, NPS.

Every function takes an optional `sample_weight`, because the customers we score are not the customers who
answered: inverse-propensity weights turn a respondent-based figure into an estimate for the population.
Scores, class decisions and log loss are scikit-learn's (with the three NPS classes always as labels); what
scikit-learn lacks lives here: NPS from classes or probabilities, lift, weighted reliability tables and ECE,
standardised differences.
Classes are coded 0 = detractor, 1 = passive, 2 = promoter (the order of `config.CLASSES`) unless noted.
All figures must be computed on customers the model never trained on (hold-outs playing the silent ones, or
cross-fitted out-of-fold predictions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_recall_fscore_support,
    roc_auc_score,
)

from cxpredict.config import CLASSES, Scale

N_CLASSES = len(CLASSES)
LABELS = list(range(N_CLASSES))


def _weights(sample_weight, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"sample_weight has shape {w.shape}, expected ({n},)")
    return w


# --------------------------------------------------------------------------------------------- classes and NPS
def score_to_class(score, scale: Scale) -> np.ndarray:
    """Class index per score: 0 detractor (<= detractor_max), 2 promoter (>= promoter_min), 1 passive; -1 if NaN."""
    s = np.asarray(score, dtype=float)
    out = np.where(s <= scale.detractor_max, 0, np.where(s >= scale.promoter_min, 2, 1))
    return np.where(np.isnan(s), -1, out).astype(int)


def class_index(labels) -> np.ndarray:
    """Class names ('detractor', ...) or indices -> indices 0/1/2."""
    arr = np.asarray(labels)
    if np.issubdtype(arr.dtype, np.number):
        return arr.astype(int)
    lookup = {name: i for i, name in enumerate(CLASSES)}
    return np.array([lookup[str(v)] for v in arr], dtype=int)


def nps_from_classes(classes, sample_weight=None) -> float:
    """NPS in points (-100..100): % promoters minus % detractors."""
    c = class_index(classes)
    w = _weights(sample_weight, len(c))
    return float(100.0 * (w[c == 2].sum() - w[c == 0].sum()) / w.sum())


def nps_from_scores(score, scale: Scale, sample_weight=None) -> float:
    return nps_from_classes(score_to_class(score, scale), sample_weight)


def nps_from_probabilities(p_detractor, p_promoter, sample_weight=None) -> float:
    """Expected NPS of customers whose class is uncertain: mean of P(promoter) - P(detractor), in points."""
    diff = np.asarray(p_promoter, dtype=float) - np.asarray(p_detractor, dtype=float)
    return float(100.0 * np.average(diff, weights=_weights(sample_weight, len(diff))))


def population_nps_error(estimate: float, truth: float) -> float:
    """Absolute error in NPS points."""
    return float(abs(estimate - truth))


def interval_coverage(lows: Sequence[float], highs: Sequence[float], truths: Sequence[float] | float) -> float:
    """Share of intervals [low, high] that contain their truth (coverage of simulated intervals)."""
    lo, hi = np.asarray(lows, dtype=float), np.asarray(highs, dtype=float)
    t = np.broadcast_to(np.asarray(truths, dtype=float), lo.shape)
    return float(np.mean((lo <= t) & (t <= hi)))


# --------------------------------------------------------------------------------------------- score and order
def score_mae(y_true, y_pred, sample_weight=None) -> float:
    return float(mean_absolute_error(y_true, y_pred, sample_weight=sample_weight))


def quadratic_weighted_kappa(y_true, y_pred, sample_weight=None, labels=None) -> float:
    """Cohen's kappa with quadratic disagreement weights: rewards near misses on an ordered scale."""
    labels = LABELS if labels is None else labels
    return float(cohen_kappa_score(y_true, y_pred, labels=labels, weights="quadratic", sample_weight=sample_weight))


# --------------------------------------------------------------------------------------------- class decisions
def confusion(y_true, y_pred, sample_weight=None) -> np.ndarray:
    """Weighted confusion matrix of the three classes, rows = truth, columns = prediction."""
    return confusion_matrix(y_true, y_pred, labels=LABELS, sample_weight=sample_weight).astype(float)


def macro_f1(y_true, y_pred, sample_weight=None) -> float:
    """Mean F1 of the three classes (a class never true nor predicted counts as 0)."""
    return float(f1_score(y_true, y_pred, labels=LABELS, average="macro", sample_weight=sample_weight,
                          zero_division=0.0))


def per_class_precision_recall(y_true, y_pred, sample_weight=None) -> dict[str, dict[str, float]]:
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=LABELS,
                                                               sample_weight=sample_weight, zero_division=0.0)
    return {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i])}
        for i, name in enumerate(CLASSES)
    }


def multiclass_log_loss(y_true, proba: np.ndarray, sample_weight=None) -> float:
    """Mean negative log-likelihood of the true class; proba has one column per class."""
    return float(log_loss(y_true, proba, labels=LABELS, sample_weight=sample_weight))


# --------------------------------------------------------------------------------------------- ranking
def detractor_auc(is_detractor, p_detractor, sample_weight=None) -> float:
    """ROC AUC of detractor vs rest; NaN when only one class is present."""
    y = np.asarray(is_detractor).astype(int)
    if y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, p_detractor, sample_weight=sample_weight))


def lift_at_k(is_positive, score, k: float = 0.1, sample_weight=None) -> float:
    """Positive rate among the top-k share ranked by `score`, over the overall rate (1 = no better than random)."""
    if not 0 < k <= 1:
        raise ValueError(f"k must be a share in (0, 1], got {k}")
    y = np.asarray(is_positive, dtype=float)
    w = _weights(sample_weight, len(y))
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    cum_w = np.cumsum(w[order])
    top = order[: int(np.searchsorted(cum_w, k * cum_w[-1]) + 1)]
    base = np.average(y, weights=w)
    return float(np.average(y[top], weights=w[top]) / base) if base > 0 else float("nan")


# --------------------------------------------------------------------------------------------- calibration
def _bin_ids(p: np.ndarray, n_bins: int, strategy: str, w: np.ndarray) -> np.ndarray:
    if strategy == "uniform":
        return np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    if strategy == "quantile":
        order = np.argsort(p, kind="stable")
        cum = np.cumsum(w[order]) / w.sum()
        ids = np.empty(len(p), dtype=int)
        ids[order] = np.minimum((cum * n_bins - 1e-9).astype(int), n_bins - 1)
        return ids
    raise ValueError(f"binning strategy must be 'uniform' or 'quantile', got {strategy!r}")


def reliability_table(y, p, n_bins: int = 10, strategy: str = "uniform", sample_weight=None) -> pd.DataFrame:
    """Per bin: weight, mean predicted probability and observed rate (the data of a reliability diagram)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    w = _weights(sample_weight, len(y))
    ids = _bin_ids(p, n_bins, strategy, w)
    weight = np.bincount(ids, weights=w, minlength=n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_p = np.bincount(ids, weights=w * p, minlength=n_bins) / weight
        rate = np.bincount(ids, weights=w * y, minlength=n_bins) / weight
    table = pd.DataFrame({"bin": np.arange(n_bins), "weight": weight, "mean_predicted": mean_p, "observed_rate": rate})
    return table[table["weight"] > 0].reset_index(drop=True)


def calibration_slope(y, p) -> float:
    """Least-squares slope of outcomes y on predictions p, clipped at 0 (0 also when p does not vary): 1 for
    calibrated predictions, below 1 for predictions that spread wider than what they predict."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    spread = np.var(p) if len(p) > 1 else 0.0
    return max(0.0, float(np.cov(y, p, bias=True)[0, 1] / spread)) if spread > 0 else 0.0


def expected_calibration_error(y, p, n_bins: int = 10, strategy: str = "uniform", sample_weight=None) -> float:
    """ECE = sum over bins of (bin weight share) * |observed rate - mean predicted probability|.

    Default binning: 10 equal-width bins on [0, 1] ("uniform"); "quantile" gives equal-weight bins.
    """
    table = reliability_table(y, p, n_bins, strategy, sample_weight)
    share = table["weight"] / table["weight"].sum()
    return float((share * (table["observed_rate"] - table["mean_predicted"]).abs()).sum())


# --------------------------------------------------------------------------------------------- balance
def standardized_differences(X: pd.DataFrame, group: np.ndarray, weights: np.ndarray | None = None) -> pd.DataFrame:
    """Standardised mean difference (group - rest) per numeric feature and per category level.

    `weights` (one per row of X) reweights both sides, e.g. respondents by their IPW weight, others by 1.
    Denominator: sqrt of the mean of the two unweighted variances, so before/after values are comparable.
    """
    group = np.asarray(group, dtype=bool)
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=float)
    rows = []
    for col in X.columns:
        s = X[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            columns = {f"{col}={level}": (codes == i).astype(float) for i, level in enumerate(s.cat.categories)}
        else:
            columns = {col: s.to_numpy(dtype=float, na_value=np.nan)}
        for name, v in columns.items():
            ok = ~np.isnan(v)
            a, b = ok & group, ok & ~group
            if a.sum() < 2 or b.sum() < 2:
                continue
            sd = np.sqrt((v[a].var() + v[b].var()) / 2)
            if sd <= 0:
                continue
            mean_a, mean_b = np.average(v[a], weights=w[a]), np.average(v[b], weights=w[b])
            rows.append({"feature": name, "group_mean": float(mean_a), "rest_mean": float(mean_b),
                         "smd": float((mean_a - mean_b) / sd)})
    table = pd.DataFrame(rows, columns=["feature", "group_mean", "rest_mean", "smd"])
    return table.reindex(table["smd"].abs().sort_values(ascending=False).index).reset_index(drop=True)


# --------------------------------------------------------------------------------------------- bundles
def nps_metrics(true_class, proba: np.ndarray, predicted_class, sample_weight=None, true_score=None,
                predicted_score=None) -> dict[str, float]:
    """The standard set reported for imputed NPS (proba columns: detractor, passive, promoter).

    Keys: log_loss, detractor_auc, lift_at_10, ece_detractor, qwk, macro_f1, <class>_precision/<class>_recall,
    and score_mae when scores are given.
    """
    y = class_index(true_class)
    pred = class_index(predicted_class)
    proba = np.asarray(proba, dtype=float)
    is_det = (y == 0).astype(int)
    out = {
        "log_loss": multiclass_log_loss(y, proba, sample_weight),
        "detractor_auc": detractor_auc(is_det, proba[:, 0], sample_weight),
        "lift_at_10": lift_at_k(is_det, proba[:, 0], 0.1, sample_weight),
        "ece_detractor": expected_calibration_error(is_det, proba[:, 0], sample_weight=sample_weight),
        "qwk": quadratic_weighted_kappa(y, pred, sample_weight),
        "macro_f1": macro_f1(y, pred, sample_weight),
    }
    for name, values in per_class_precision_recall(y, pred, sample_weight).items():
        out[f"{name}_precision"] = values["precision"]
        out[f"{name}_recall"] = values["recall"]
    if true_score is not None and predicted_score is not None:
        out["score_mae"] = score_mae(true_score, predicted_score, sample_weight)
    return out


def auc_interval(is_positive, score, level: float = 0.90) -> dict[str, float]:
    """ROC AUC with DeLong's standard error and a normal interval (unweighted; NaN without both classes).

    DeLong et al. (1988): the AUC is a two-sample U-statistic whose variance follows from the structural
    components V10 (per positive: share of negatives ranked below) and V01 (per negative), via midranks.
    """
    from scipy.stats import norm, rankdata

    y = np.asarray(is_positive).astype(bool)
    s = np.asarray(score, dtype=float)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        return {"auc": float("nan"), "se": float("nan"), "low": float("nan"), "high": float("nan"), "level": level}
    ranks = rankdata(s)
    v10 = (ranks[y] - rankdata(s[y])) / n
    v01 = 1.0 - (ranks[~y] - rankdata(s[~y])) / m
    auc = float(v10.mean())
    se = float(np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n))
    z = float(norm.ppf(0.5 + level / 2))
    return {"auc": auc, "se": se, "low": auc - z * se, "high": auc + z * se, "level": level}
