"""Population NPS estimators on arrays: doubly robust (AIPW) with an influence-function interval, propensity-
weighted (Hajek), model-only and naive, the survey-design channels, and the residual-variance line.

Inputs are arrays over every customer (observed contributions d, cross-fitted predictions m, odds weights v, a
`responded` mask), never a fitted model; estimation/population.py composes them into the saved result.

The estimand is the NPS of every customer in the data (respondents and silent), as if all had answered.
With d = +1 promoter, 0 passive, -1 detractor, m(x) = P(promoter | x) - P(detractor | x) from the NPS model and
e(x) = P(respond | x) from the response model, both CROSS-FITTED (no customer's own answer or response shaped
the prediction used for it):

    estimate = ( sum over respondents of d  +  sum over silent customers of m
                 + N_silent * weighted mean over respondents of (d - m), weights v = (1 - e) / e ) / N

The first two terms are the model-based estimate ("model only"); the third is the augmentation: respondents'
residuals, weighted to look like the silent customers, correct whatever bias the model has on the silent.
It is consistent when EITHER the response model is right (the weighted residual mean is the silent customers'
mean residual) OR the NPS model is right (residuals average zero under any weights): doubly robust. With m = 0
it is the propensity-weighted (Hajek) estimate, so both come from one function.

Interval (normal, `level`): the design-based variance of the estimate treating response as independent
Bernoulli(e) draws and the cross-fitted m and e as fixed,
    var = sum over respondents of (1 - e) / e^2 * (r - r_bar)^2 / N^2,  r = d - m,
the influence function of the estimator. It includes the silent customers' own answers varying around m (the
residual variance), so no separate "answer noise" term is needed. `interval_method: bootstrap` resamples
customers instead (nuisances fixed) as a cross-check.

SURVEY DESIGN (invitation rounds of `cxpredict survey-plan`; the planner: estimation/design.py). Answers come
through channels. Channel 0, the usual survey: everyone is in it (inclusion probability 1) and answers with e(x),
as above. Channel t >= 1, invitation round t: a customer still silent when the round was planned (the set E_t)
was invited with a KNOWN probability pi_t (Poisson: independent Bernoulli draws) and answers an invitation with
q(x), learned among the invited (invited at random given x, they are a fair sample for it); so p = pi_t * q(x).
With K_t the customers known before round t and R_t the round's respondents, the round's estimate is the
augmented estimator with K_t carried exactly (v = 0) and R_t standing for the still-silent, v = (1 - p) / p,
untrimmed (pi is known; the probe share keeps it away from 0):
    estimate_t = ( sum over K_t and R_t of d  +  sum over the still silent of m
                   + N_silent * weighted mean over R_t of (d - m) ) / N.
Given the past and the answers, only the round's draws are random: estimate_t is unbiased whatever m (if q is
right), with the formula above as its variance over R_t (the Horvitz-Thompson variance, sum over E_t of
(1 - p) / p * (d - m)^2 / N^2, estimated on R_t; exact for Poisson draws). Each round's error has mean zero
given the earlier ones (a martingale difference), so the channel estimates are uncorrelated and combine as
    estimate = sum lambda_t estimate_t,   var = sum lambda_t^2 var_t,   sum lambda_t = 1,
with lambda_t proportional to 1 / (the variance the model EXPECTS: the formula with (d - m)^2 replaced by
E[(d - m)^2 | x] = P(promoter) + P(detractor) - m^2). Weights from the residuals themselves would follow their
noise and undercover; any weights fixed by who answered keep the estimate unbiased. No invitations: channel 0
alone, the estimate above (one code path). A channel with fewer than MIN_CHANNEL_RESPONDENTS respondents in a
group (segment) is left out of it. An invited customer's answer counts for the latest round that invited them
(being re-invited means still silent then); answers of customers never invited are channel 0, also those that
came after a plan was drawn (an approximation: they were eligible for its round).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

from cxpredict.errors import InputError
from cxpredict.metrics import calibration_slope

MIN_PROPENSITY = 1e-4
MIN_CHANNEL_RESPONDENTS = 10  # fewer respondents of a channel in a group: that channel is left out of the group
MIN_RESIDUAL_FIT = 30  # respondents needed to fit the residual variance


def nps_contribution(proba: np.ndarray) -> np.ndarray:
    """P(promoter) - P(detractor) per row of (n, 3) class probabilities (detractor, passive, promoter)."""
    proba = np.asarray(proba, dtype=float)
    return proba[:, 2] - proba[:, 0]


def class_contribution(classes: np.ndarray) -> np.ndarray:
    """+1 promoter, 0 passive, -1 detractor from class codes 0/1/2."""
    classes = np.asarray(classes)
    return (classes == 2).astype(float) - (classes == 0)


def silent_weights(propensity: np.ndarray, trim_quantile: float = 1.0) -> np.ndarray:
    """Odds weights (1 - e) / e that make respondents stand for the silent customers, capped at a quantile."""
    e = np.clip(np.asarray(propensity, dtype=float), MIN_PROPENSITY, 1 - MIN_PROPENSITY)
    v = (1 - e) / e
    if trim_quantile < 1 and len(v):
        v = np.minimum(v, np.quantile(v, trim_quantile))
    return v


def interval(estimate: float, se: float | None, level: float) -> tuple[float | None, float | None]:
    if se is None or not np.isfinite(se):
        return None, None
    z = float(norm.ppf(0.5 + level / 2))
    return estimate - z * se, estimate + z * se


def augmented_estimate(d: np.ndarray, m: np.ndarray, v: np.ndarray, responded: np.ndarray) -> tuple[float, float]:
    """(estimate, standard error) in points of the silent-targeted augmented estimator (see the module doc).

    d: observed contributions (read on respondents only); m: cross-fitted predicted contributions of every row
    (zeros give the Hajek estimate); v: odds weights of every row (read on respondents only).
    """
    n = len(m)
    r_idx = np.flatnonzero(responded)
    n_silent = n - len(r_idx)
    if len(r_idx) == 0:
        raise InputError("population NPS: no respondents in this group; nothing to estimate from")
    resid = d[r_idx] - m[r_idx]
    w = v[r_idx]
    total_w = w.sum()
    r_bar = float(np.sum(w * resid) / total_w) if total_w > 0 else 0.0
    silent = ~responded
    total = d[r_idx].sum() + m[silent].sum() + n_silent * r_bar
    # influence function with v scaled so that the weights of the respondents add up to the silent count
    scale = n_silent / total_w if total_w > 0 else 0.0
    w_scaled = w * scale
    var = np.sum(w_scaled * (1 + w_scaled) * (resid - r_bar) ** 2)
    return float(100 * total / n), float(100 * np.sqrt(var) / n)


def bootstrap_se(d: np.ndarray, m: np.ndarray, v: np.ndarray, responded: np.ndarray, n_bootstrap: int,
                 seed: int) -> float:
    """Standard error (points) of `augmented_estimate` from resampling customers with the nuisances fixed."""
    rng = np.random.default_rng(seed)
    n = len(m)
    values = []
    for _ in range(n_bootstrap):
        take = rng.integers(0, n, n)
        if responded[take].any():
            values.append(augmented_estimate(d[take], m[take], v[take], responded[take])[0])
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def naive_estimate(d: np.ndarray, responded: np.ndarray, level: float) -> dict[str, float | None]:
    x = d[responded]
    est = float(100 * x.mean())
    se = float(100 * x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else None
    low, high = interval(est, se, level)
    return {"estimate": est, "low": low, "high": high, "se": se}


def channel_weights(responded: np.ndarray, answered_round: np.ndarray | None, propensity: np.ndarray,
                    design_probability: np.ndarray | None, trim_quantile: float) -> list[tuple[int, np.ndarray,
                                                                                                np.ndarray]]:
    """(channel, its `responded` mask, its odds weights v) of every channel (see SURVEY DESIGN above).

    answered_round: per customer, 0 answered the usual survey, t answered invitation round t, -1 silent (None:
    every respondent is channel 0). design_probability: pi_t * q(x) of the invitation respondents."""
    rounds = np.where(responded, 0, -1) if answered_round is None else np.asarray(answered_round)
    out = []
    for t in np.unique(rounds[rounds >= 0]):
        new = rounds == t
        v = np.zeros(len(rounds))
        if t == 0:
            v[new] = silent_weights(propensity[new], trim_quantile)
            out.append((0, new, v))
            continue
        p = np.clip(np.asarray(design_probability, dtype=float)[new], MIN_PROPENSITY, 1.0)
        v[new] = (1 - p) / p
        out.append((int(t), new | ((rounds >= 0) & (rounds < t)), v))
    return out


def expected_variance(tau2: np.ndarray, v: np.ndarray, responded: np.ndarray) -> float:
    """The influence-function variance (points^2) with the squared residuals replaced by their expectation under
    the model, tau2 = E[(d - m)^2 | x]: it depends on who answered, not on what they answered."""
    r_idx = np.flatnonzero(responded)
    w = v[r_idx]
    total_w = w.sum()
    if total_w <= 0:
        return float("nan")
    w_scaled = w * (len(v) - len(r_idx)) / total_w
    return float(1e4 * np.sum(w_scaled * (1 + w_scaled) * tau2[r_idx]) / len(v) ** 2)


def combined_estimate(d, m, tau2, channels, interval_method, n_bootstrap, seed
                      ) -> tuple[float, float, list[dict[str, Any]]]:
    """(estimate, se, per-channel rows): the channels' augmented estimates combined with weights proportional to
    1 / expected_variance (the module doc's inverse-variance weights, with the variance the model expects, so a
    weight never follows the noise of the residuals it weights); se from their design-based variances."""
    rows = []
    for t, responded, v in channels:
        n_new = int((responded & (v > 0)).sum()) if t else int(responded.sum())
        if n_new == 0:
            continue
        est, se = augmented_estimate(d, m, v, responded)
        if interval_method == "bootstrap":
            se = bootstrap_se(d, m, v, responded, n_bootstrap, seed)
        rows.append({"channel": t, "n_respondents": n_new, "estimate": est, "se": se,
                     "expected_variance": expected_variance(tau2, v, responded)})
    usable = [r for r in rows if r["n_respondents"] >= MIN_CHANNEL_RESPONDENTS and r["se"] and np.isfinite(r["se"])
              and r["expected_variance"] > 0]
    if len(usable) < 2:  # one usable channel (or too few answers everywhere: the channel with the most)
        best = usable[0] if usable else max(rows, key=lambda r: r["n_respondents"])
        for r in rows:
            r["weight"] = float(r is best)
        return best["estimate"], best["se"], rows
    lam = np.array([1 / r["expected_variance"] for r in usable])
    lam = lam / lam.sum()
    for r in rows:
        r["weight"] = float(lam[usable.index(r)]) if r in usable else 0.0
    est = float(np.sum(lam * [r["estimate"] for r in usable]))
    return est, float(np.sqrt(np.sum(lam ** 2 * [r["se"] ** 2 for r in usable]))), rows


def group_estimates(d, m_cross, m_full, channels, responded, level, interval_method, n_bootstrap, seed, second,
                    draw_variance=None) -> dict[str, dict]:
    """aipw, hajek, model_only and naive for one group of customers (aipw and hajek carry their channels).
    second: E[d^2 | x] = P(promoter) + P(detractor) under the model, so E[(d - m)^2 | x] = second - m^2.
    draw_variance: per row, the variance of m_cross from the fold model drawn for it (estimation/population.py,
    silent_draws); its sum / N^2 adds to the aipw variance (the draws are independent of the answers)."""
    out = {}
    drawn = 0.0 if draw_variance is None else 1e4 * float(np.sum(draw_variance)) / len(m_cross) ** 2
    for name, m in (("aipw", m_cross), ("hajek", np.zeros_like(m_cross))):
        tau2 = np.clip(second - m ** 2, 0.0, None)
        est, se, rows = combined_estimate(d, m, tau2, channels, interval_method, n_bootstrap, seed)
        if name == "aipw" and drawn > 0:
            se = float(np.sqrt(se ** 2 + drawn))
        low, high = interval(est, se, level)
        out[name] = {"estimate": est, "low": low, "high": high, "se": se}
        if len(rows) > 1:
            out[name]["channels"] = rows
    n = len(m_full)
    out["model_only"] = {"estimate": float(100 * (d[responded].sum() + m_full[~responded].sum()) / n),
                         "low": None, "high": None, "se": None}
    out["naive"] = naive_estimate(d, responded, level)
    return out


def effective_sample_size(channels: list[tuple[int, np.ndarray, np.ndarray]], n_respondents: int) -> float:
    """Of each channel's new respondents under its weights, added over the channels (the respondent count when no
    respondent carries a weight)."""
    return float(sum(w.sum() ** 2 / (w ** 2).sum() for w in (v[v > 0] for _, _, v in channels) if len(w))) \
        or float(n_respondents)


def residual_variance_fit(d: np.ndarray, m: np.ndarray, second: np.ndarray) -> dict[str, float] | None:
    """Least squares of the respondents' squared cross-fitted residuals (d - m)^2 on the model's own
    Var(d | x) = second - m^2 (slope clipped at 0): how far the model's uncertainty is to be trusted."""
    if len(d) < MIN_RESIDUAL_FIT:
        return None
    r2, tau2 = (d - m) ** 2, np.clip(second - m ** 2, 0.0, None)
    slope = calibration_slope(r2, tau2)
    return {"intercept": float(r2.mean() - slope * tau2.mean()), "slope": slope, "n_respondents": int(len(d))}
