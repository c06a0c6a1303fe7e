"""Stage 2 of the NPS model: from raw booster outputs to calibrated score distributions and class decisions.

Everything here is fitted on cross-fitted out-of-fold predictions, weighted with the response weights, and is a
handful of numbers stored as JSON:
- `fit_cutpoints`: the proportional-odds link of the regression formulation, P(score <= k) = sigmoid(theta_k +
  beta * z), with ordered cut points theta (theta_0 + cumulative exp(gaps)) learned by weighted likelihood;
- `cumulative_to_distribution`: K-1 cumulative probabilities -> K point probabilities after per-row sorting
  (monotone rearrangement), so P(score > k) never increases with k;
- `fit_vector_scaling`: the calibrator softmax(a * log p + b) of the three class probabilities (weighted log loss),
  so probabilities match frequencies in the weighted population, not among respondents;
- `tune_offsets`: per-class log-probability offsets for the class decision (macro-F1 or recall targets).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_softmax, logit, softmax

from cxpredict.config import CLASSES, Scale, ThresholdConfig
from cxpredict.metrics import score_to_class

EPS = 1e-9


def classes_of_points(scale: Scale) -> np.ndarray:
    return score_to_class(np.array(scale.points), scale)


def class_probabilities(dist: np.ndarray, scale: Scale) -> np.ndarray:
    """Per-point distribution (n, K) -> class probabilities (n, 3)."""
    member = np.eye(3)[classes_of_points(scale)]  # (K, 3)
    return dist @ member


def point_shares(score: np.ndarray, w: np.ndarray, scale: Scale) -> np.ndarray:
    """Weighted share of every scale point within its class among the answers (uniform inside a class nobody
    gave): how a formulation without a score distribution (multiclass) spreads a class probability over points."""
    cls = classes_of_points(scale)
    mass = np.array([w[score == k].sum() for k in scale.points], dtype=float)
    class_mass, width = np.bincount(cls, weights=mass, minlength=3), np.bincount(cls, minlength=3)
    return np.where(class_mass[cls] > 0, mass / np.maximum(class_mass[cls], EPS), 1.0 / np.maximum(width[cls], 1))


def point_probabilities(dist: np.ndarray | None, proba: np.ndarray, shares: np.ndarray, scale: Scale) -> np.ndarray:
    """Probability of every scale point (n, K): the formulation's distribution, else the class probabilities
    spread by `point_shares`."""
    return dist if dist is not None else proba[:, classes_of_points(scale)] * shares[None, :]


def cumulative_to_distribution(cdf_inner: np.ndarray) -> np.ndarray:
    """K-1 cumulative probabilities P(score <= k) -> K point probabilities, after per-row sorting."""
    cdf = np.clip(cdf_inner, 0.0, 1.0)
    if not np.all(cdf[:, 1:] >= cdf[:, :-1]):  # the regression link's rows come sorted: no sort (a third of it)
        cdf = np.sort(cdf, axis=1)
    dist = np.empty((len(cdf), cdf.shape[1] + 1))
    dist[:, 0] = cdf[:, 0]  # the differences of 0, cdf, 1 (np.diff's subtractions, without the stacked copy)
    np.subtract(cdf[:, 1:], cdf[:, :-1], out=dist[:, 1:-1])
    np.subtract(1.0, cdf[:, -1], out=dist[:, -1])
    return dist


def fit_cutpoints(z: np.ndarray, score: np.ndarray, w: np.ndarray, scale: Scale) -> dict[str, Any]:
    """Proportional-odds link P(score <= k) = sigmoid(theta_k + beta * z_std) by weighted maximum likelihood.

    theta is parametrised as theta_0 + cumulative exp(d) so the cut points stay ordered; a small ridge on d
    keeps unobserved scale points finite.
    """
    mean, sd = float(np.average(z, weights=w)), float(np.sqrt(np.cov(z, aweights=w)) + EPS)
    zs = (z - mean) / sd
    y = np.asarray(score, dtype=int) - scale.min
    n_cut = scale.n_points - 1
    ridge = 1e-3 * w.sum() / len(w)
    prior = np.clip(np.cumsum(np.bincount(y, weights=w, minlength=scale.n_points))[:-1] / w.sum(), 0.01, 0.99)
    theta0 = logit(prior)
    x0 = np.concatenate([[theta0[0]], np.log(np.maximum(np.diff(theta0), 0.05)), [1.0]])

    rows_upper, rows_lower = y, np.maximum(y - 1, 0)
    has_lower = y > 0

    def nll(params: np.ndarray) -> tuple[float, np.ndarray]:
        # only the two cumulative probabilities around each answer enter: O(rows), not O(rows x points)
        d = params[1:n_cut]
        theta = params[0] + np.concatenate([[0.0], np.cumsum(np.exp(d))])
        beta = params[-1]
        bz = beta * zs
        upper = np.where(y < n_cut, expit(theta[np.minimum(y, n_cut - 1)] + bz), 1.0)  # F(y), 1 at the top
        lower = np.where(has_lower, expit(theta[rows_lower] + bz), 0.0)  # F(y - 1), 0 at the bottom
        p = np.maximum(upper - lower, 1e-12)
        loss = -np.sum(w * np.log(p)) + ridge * np.sum(d**2)
        # gradient with respect to theta_k (k = 0..K-2) and beta
        g_upper = np.where(y < n_cut, -w * upper * (1 - upper) / p, 0.0)
        g_lower = np.where(has_lower, w * lower * (1 - lower) / p, 0.0)
        g_theta = np.bincount(rows_upper, weights=g_upper, minlength=n_cut + 1)[:n_cut]
        g_theta += np.bincount(rows_lower, weights=g_lower, minlength=n_cut)[:n_cut]
        g_beta = np.sum((g_upper + g_lower) * zs)
        g_d = np.exp(d) * np.cumsum(g_theta[::-1])[::-1][1:] + 2 * ridge * d
        return loss, np.concatenate([[g_theta.sum()], g_d, [g_beta]])

    res = minimize(nll, x0, jac=True, method="L-BFGS-B")
    return {"theta0": float(res.x[0]), "log_gaps": res.x[1:n_cut].tolist(), "beta": float(res.x[-1]),
            "z_mean": mean, "z_sd": sd}


def apply_cutpoints(z: np.ndarray, link: dict[str, Any]) -> np.ndarray:
    theta = link["theta0"] + np.concatenate([[0.0], np.cumsum(np.exp(link["log_gaps"]))])
    zs = (np.asarray(z, dtype=float) - link["z_mean"]) / link["z_sd"]
    return cumulative_to_distribution(expit(theta[None, :] + link["beta"] * zs[:, None]))


def present_classes(scale: Scale) -> np.ndarray:
    """Which of detractor / passive / promoter the scale can produce (a two-point scale has no passives)."""
    return np.isin(np.arange(3), classes_of_points(scale))


def fit_vector_scaling(proba: np.ndarray, y: np.ndarray, w: np.ndarray, present: np.ndarray | None = None
                       ) -> dict[str, list]:
    """Calibrator softmax(a * log p + b) over the classes the scale has, by weighted log loss, lightly pulled
    towards the identity. An absent class (passives of a two-point scale) keeps probability 0."""
    present = np.ones(3, dtype=bool) if present is None else np.asarray(present, dtype=bool)
    k = int(present.sum())
    logp = np.log(np.clip(proba[:, present], EPS, 1.0))
    onehot = np.eye(3)[y][:, present]
    ridge = 1e-2 * w.sum() / len(w)

    def nll(params: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = params[:k], params[k:]
        z = a * logp + b
        logq = log_softmax(z, axis=1)
        loss = -np.sum(w[:, None] * onehot * logq) + ridge * (np.sum((a - 1) ** 2) + np.sum(b**2))
        resid = w[:, None] * (np.exp(logq) - onehot)
        grad = np.concatenate([(resid * logp).sum(0) + 2 * ridge * (a - 1), resid.sum(0) + 2 * ridge * b])
        return loss, grad

    res = minimize(nll, np.concatenate([np.ones(k), np.zeros(k)]), jac=True, method="L-BFGS-B",
                   bounds=[(0.05, 20.0)] * k + [(None, None)] * k)
    return {"a": res.x[:k].tolist(), "b": res.x[k:].tolist(), "present": present.tolist()}


def apply_vector_scaling(proba: np.ndarray, calibrator: dict[str, list] | None) -> np.ndarray:
    if calibrator is None:
        return proba
    present = np.asarray(calibrator.get("present", [True, True, True]), dtype=bool)
    z = np.asarray(calibrator["a"]) * np.log(np.clip(proba[:, present], EPS, 1.0)) + np.asarray(calibrator["b"])
    out = np.zeros_like(proba, dtype=float)
    out[:, present] = softmax(z, axis=1)
    return out


def rescale_within_classes(dist: np.ndarray, before: np.ndarray, after: np.ndarray, scale: Scale) -> np.ndarray:
    """Make the point distribution sum to the calibrated class probabilities (uniform inside an empty class)."""
    cls = classes_of_points(scale)
    width = np.bincount(cls, minlength=3)
    class_p = before[:, cls]
    share = np.divide(dist, class_p, out=np.tile(1.0 / width[cls], (len(dist), 1)), where=class_p > EPS)
    return np.multiply(share, after[:, cls], out=share)


OFFSET_GRID = np.linspace(-3.0, 3.0, 61)


@numba.njit(cache=True, inline="always")
def _at_most(base: float, grid: np.ndarray, bound: float) -> int:
    """How many grid points g satisfy base + g <= bound, with the floating-point sums the decision compares (so
    ties resolve as in argmax; the sums rise with g, so a binary search on them)."""
    lo, hi = 0, len(grid)
    while lo < hi:
        mid = (lo + hi) // 2
        if base + grid[mid] <= bound:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True)
def _offset_weights(logp: np.ndarray, y: np.ndarray, w: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """weight[d, y, low class, threshold] for the detractor offset grid[d]: a row is its low class (detractor if
    log p_det + offset >= log p_pas, else passive) for the promoter offsets below its threshold, promoter from
    it on. Rows are added in order, as np.bincount adds them."""
    n_grid = len(grid)
    out = np.zeros((n_grid, 3, 2, n_grid + 1))
    for r in range(len(y)):
        passive_until = _at_most(logp[r, 2], grid, logp[r, 1])  # independent of the detractor offset
        for d in range(n_grid):
            s0 = logp[r, 0] + grid[d]
            if s0 >= logp[r, 1]:
                out[d, y[r], 0, _at_most(logp[r, 2], grid, s0)] += w[r]
            else:
                out[d, y[r], 1, passive_until] += w[r]
    return out


def tune_offsets(proba: np.ndarray, y: np.ndarray, w: np.ndarray, cfg: ThresholdConfig) -> np.ndarray:
    """Per-class log-probability offsets (passive fixed at 0) maximising weighted macro-F1, optionally subject
    to per-class recall targets; when no offsets meet the targets the smallest total shortfall wins, and among
    equals the offsets closest to plain argmax. Decision rule: argmax(log p + offsets).

    Why it is fast (a 61 x 61 grid of offsets on tens of thousands of answers): for a detractor offset, every row
    is one class (detractor if log p_det + t >= log p_pas, else passive) up to a promoter offset and promoter
    above it, so the confusion matrices of all promoter offsets are cumulative sums of per-threshold weights,
    O(rows) per detractor offset instead of O(rows x grid), all detractor offsets in one compiled pass over the
    rows (`_offset_weights`). Ties go to the lower class index, as argmax does."""
    if cfg.objective == "argmax":
        return np.zeros(3)
    logp = np.log(np.clip(proba, EPS, 1.0))
    grid = OFFSET_GRID
    targets = np.array([cfg.recall_targets.get(c, 0.0) for c in CLASSES]) if cfg.objective == "recall_targets" \
        else np.zeros(3)
    y, w = np.asarray(y), np.asarray(w, dtype=float)
    true_w = np.bincount(y, weights=w, minlength=3)
    n_grid = len(grid)
    weights = _offset_weights(logp, y.astype(np.int64), w, grid)
    best_key, best = None, np.zeros(3)
    for t_det, weight in zip(grid, weights):
        below = np.cumsum(weight, axis=2)[:, :, :n_grid]  # threshold <= j: promoter at offset j
        above = weight.sum(axis=2, keepdims=True) - below  # threshold > j: the low class
        cm = np.stack([above[:, 0], above[:, 1], below.sum(axis=1)], axis=2)  # (y, j, predicted)
        cm = cm.transpose(1, 0, 2)  # (j, true, predicted)
        tp, pred_w = np.diagonal(cm, axis1=1, axis2=2), cm.sum(axis=1)
        precision = np.divide(tp, pred_w, out=np.zeros_like(tp), where=pred_w > 0)
        recall = np.divide(tp, true_w, out=np.zeros_like(tp), where=true_w > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                       where=precision + recall > 0)
        keys = (-np.round(np.clip(targets - recall, 0, None).sum(axis=1), 9), np.round(f1.mean(axis=1), 9),
                -abs(t_det) - np.abs(grid))
        j = np.lexsort(tuple(-k for k in keys[::-1]))[0]  # the best key; the first promoter offset among equals
        key = tuple(float(k[j]) for k in keys)
        if best_key is None or key > best_key:
            best_key, best = key, np.array([t_det, 0.0, grid[j]])
    return best
