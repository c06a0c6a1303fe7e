"""Population NPS from the surveyed few: a doubly-robust (AIPW) estimate with an influence-function interval.

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

ASSUMPTION (in every result): response depends on observed behaviour only (missing at random). If the answer
itself drives response, no estimate from behaviour can see it: `sensitivity` shows how far the NPS would move
if silent customers' odds of being a detractor were Gamma times those of respondents who look alike.

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

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from cxpredict.errors import ConfigError, InputError
from cxpredict.metrics import calibration_slope

MIN_PROPENSITY = 1e-4
MIN_CHANNEL_RESPONDENTS = 10  # fewer respondents of a channel in a group: that channel is left out of the group
MAX_NUMERIC_SEGMENT_LEVELS = 20  # numeric segment columns with more distinct values are cut into quintiles
SENSITIVITY_GAMMAS = (0.5, 0.67, 0.8, 0.9, 1.0, 1.11, 1.25, 1.5, 2.0)
TIPPING_RANGE = (0.05, 20.0)  # Gamma searched for tipping points
TIPPING_SHIFT = 5.0  # points: "where the estimate moves by 5 points"

ASSUMPTION = (
    "Response is assumed to depend only on observed behaviour (missing at random given the features): among "
    "customers who look alike in the data, respondents are assumed to feel like silent customers."
)
NOT_CORRECTABLE = (
    "If the answer itself drives who responds (e.g. unhappy customers answer more often than their behaviour "
    "predicts), this bias cannot be detected or corrected from behaviour alone; the sensitivity curve shows how "
    "far such a bias would move the estimate."
)
METHODS = {
    "aipw": "doubly robust (AIPW): observed answers + cross-fitted predictions for the silent + the "
            "propensity-weighted mean of respondents' residuals; influence-function interval",
    "hajek": "propensity-weighted respondent NPS (Hajek): observed answers + the silent customers' NPS estimated "
             "by respondents weighted with (1 - e) / e; used as the headline when the model finds no signal",
}


# --------------------------------------------------------------------------------------------- result
@dataclass
class PopulationNps:
    """The population NPS (points, -100..100) with its interval, beside the other estimators, per segment."""

    estimate: float  # the headline: AIPW, or Hajek when the NPS model has no signal
    low: float | None
    high: float | None
    se: float | None
    level: float
    method: str  # "aipw" or "hajek"
    method_text: str
    estimators: dict[str, dict[str, float | None]]  # aipw, hajek, model_only, naive: estimate/low/high/se
    n_customers: int
    n_respondents: int
    effective_sample_size: float  # of the respondents under the silent-targeted weights
    interval_method: str
    no_signal: bool = False
    signal: dict[str, Any] | None = None  # the NPS model's cross-validated detractor AUC and its interval
    assumption: str = ASSUMPTION
    notes: list[str] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    sensitivity: dict[str, Any] | None = None
    response: dict[str, Any] | None = None  # the response model's summary (who answers)
    channels: list[dict[str, Any]] = field(default_factory=list)  # per channel (0 usual survey, t invitations)
    # respondents' squared cross-fitted residuals against the model's Var(d | x): intercept and slope (design.py)
    residual_variance: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def model_only(self) -> float:
        return self.estimators["model_only"]["estimate"]

    @property
    def hajek(self) -> float:
        return self.estimators["hajek"]["estimate"]

    @property
    def naive(self) -> float:
        return self.estimators["naive"]["estimate"]


# --------------------------------------------------------------------------------------------- core
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


def _interval(estimate: float, se: float | None, level: float) -> tuple[float | None, float | None]:
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


def _naive(d: np.ndarray, responded: np.ndarray, level: float) -> dict[str, float | None]:
    x = d[responded]
    est = float(100 * x.mean())
    se = float(100 * x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else None
    low, high = _interval(est, se, level)
    return {"estimate": est, "low": low, "high": high, "se": se}


def channel_weights(responded: np.ndarray, answered_round: np.ndarray | None, propensity: np.ndarray,
                    design_probability: np.ndarray | None, trim_quantile: float) -> list[tuple[int, np.ndarray,
                                                                                                np.ndarray]]:
    """(channel, its `responded` mask, its odds weights v) of every channel (see SURVEY DESIGN in the module doc).

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


def combined_estimate(d, m, tau2, channels, interval_method="influence", n_bootstrap=200, seed=0
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


def _estimators(d, m_cross, m_full, channels, responded, level, interval_method, n_bootstrap, seed, second
                ) -> dict[str, dict]:
    """aipw, hajek, model_only and naive for one group of customers (aipw and hajek carry their channels).
    second: E[d^2 | x] = P(promoter) + P(detractor) under the model, so E[(d - m)^2 | x] = second - m^2."""
    out = {}
    for name, m in (("aipw", m_cross), ("hajek", np.zeros_like(m_cross))):
        tau2 = np.clip(second - m ** 2, 0.0, None)
        est, se, rows = combined_estimate(d, m, tau2, channels, interval_method, n_bootstrap, seed)
        low, high = _interval(est, se, level)
        out[name] = {"estimate": est, "low": low, "high": high, "se": se}
        if len(rows) > 1:
            out[name]["channels"] = rows
    n = len(m_full)
    out["model_only"] = {"estimate": float(100 * (d[responded].sum() + m_full[~responded].sum()) / n),
                         "low": None, "high": None, "se": None}
    out["naive"] = _naive(d, responded, level)
    return out


# --------------------------------------------------------------------------------------------- sensitivity
def tilt_detractor_odds(proba: np.ndarray, gamma: float) -> np.ndarray:
    """Class probabilities with the detractor odds multiplied by `gamma`, the other classes scaled to match."""
    proba = np.asarray(proba, dtype=float)
    p_det = proba[:, 0]
    new_det = gamma * p_det / (gamma * p_det + 1 - p_det)
    rest = np.where(1 - p_det > 1e-12, (1 - new_det) / np.maximum(1 - p_det, 1e-12), 0.0)
    return np.column_stack([new_det, proba[:, 1] * rest, proba[:, 2] * rest])


def sensitivity_curve(base: dict[str, float | None], proba_silent: np.ndarray, n_customers: int,
                      gammas=SENSITIVITY_GAMMAS) -> dict[str, Any]:
    """The headline under answer-dependent response: silent customers' detractor odds x Gamma (Gamma = 1: MAR).

    The shift is the change of the silent customers' predicted NPS; the interval keeps its half-width. Tipping
    points: the Gamma at which the interval first includes 0 (or leaves it), and at which the estimate has
    moved by TIPPING_SHIFT points either way (None when not reached within TIPPING_RANGE)."""
    base_sum = nps_contribution(proba_silent).sum()

    def shift(gamma: float) -> float:
        return float(100 * (nps_contribution(tilt_detractor_odds(proba_silent, gamma)).sum() - base_sum) / n_customers)

    est, low, high = base["estimate"], base["low"], base["high"]
    half = None if low is None else (high - low) / 2
    rows = [{"gamma": g, "estimate": est + shift(g),
             "low": None if half is None else est + shift(g) - half,
             "high": None if half is None else est + shift(g) + half} for g in gammas]

    def solve(target: float, lo: float, hi: float) -> float | None:
        """Gamma in [lo, hi] (log scale) where est + shift(gamma) == target; shift decreases with gamma."""
        f_lo, f_hi = est + shift(lo) - target, est + shift(hi) - target
        if f_lo * f_hi > 0:
            return None
        a, b = np.log(lo), np.log(hi)
        for _ in range(60):
            mid = (a + b) / 2
            if (est + shift(np.exp(mid)) - target) * f_lo > 0:
                a = mid
            else:
                b = mid
        return float(np.exp((a + b) / 2))

    tips: dict[str, float | None] = {
        "down_5_points": solve(est - TIPPING_SHIFT, 1.0, TIPPING_RANGE[1]),
        "up_5_points": solve(est + TIPPING_SHIFT, TIPPING_RANGE[0], 1.0),
        "interval_reaches_zero": None,
    }
    if half is not None:
        if low > 0:  # positive NPS: how many more detractors among the silent until zero is plausible
            tips["interval_reaches_zero"] = solve(half, 1.0, TIPPING_RANGE[1])
        elif high < 0:
            tips["interval_reaches_zero"] = solve(-half, TIPPING_RANGE[0], 1.0)
        else:
            tips["interval_reaches_zero"] = 1.0  # already includes zero under MAR
    return {
        "curve": rows, "tipping_points": tips, "tipping_range": list(TIPPING_RANGE),
        "meaning": ("Gamma: how many times higher silent customers' odds of being a detractor are than those of "
                    "respondents who look alike in the data (1 = missing at random, the estimate's assumption)."),
    }


# --------------------------------------------------------------------------------------------- segments
def segment_labels(column: pd.Series) -> np.ndarray:
    """Text labels per customer; numeric columns with many values are cut into quintiles."""
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > MAX_NUMERIC_SEGMENT_LEVELS:
        column = pd.qcut(column, 5, duplicates="drop")
    return column.astype("str").where(column.notna(), "missing").to_numpy(dtype=object)


def segment_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame | None:
    """The configured segment columns of the behaviour frame (None when none are configured)."""
    if not columns:
        return None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"population.segments names columns not in the behaviour data: {missing}; "
                          f"available columns include {list(frame.columns)[:10]}")
    return frame[columns]


# --------------------------------------------------------------------------------------------- entry point
MIN_RESIDUAL_FIT = 30  # respondents needed to fit the residual variance


def residual_variance_fit(d: np.ndarray, m: np.ndarray, second: np.ndarray) -> dict[str, float] | None:
    """Least squares of the respondents' squared cross-fitted residuals (d - m)^2 on the model's own
    Var(d | x) = second - m^2 (slope clipped at 0): how far the model's uncertainty is to be trusted."""
    if len(d) < MIN_RESIDUAL_FIT:
        return None
    r2, tau2 = (d - m) ** 2, np.clip(second - m ** 2, 0.0, None)
    slope = calibration_slope(r2, tau2)
    return {"intercept": float(r2.mean() - slope * tau2.mean()), "slope": slope, "n_respondents": int(len(d))}


def population_nps(observed_class: np.ndarray, proba_cross_fitted: np.ndarray, propensity: np.ndarray | None,
                   proba_full: np.ndarray | None = None, *, level: float = 0.90, trim_quantile: float = 0.99,
                   interval_method: str = "influence", n_bootstrap: int = 200, seed: int = 0,
                   segments: pd.DataFrame | None = None, no_signal: bool = False,
                   signal: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
                   answered_round: np.ndarray | None = None, design_probability: np.ndarray | None = None
                   ) -> PopulationNps:
    """The population NPS of every row from arrays (see the module doc).

    observed_class: 0/1/2 (detractor/passive/promoter) for respondents, -1 for silent customers.
    proba_cross_fitted: (n, 3) class probabilities for every row, cross-fitted (respondents: out-of-fold).
    propensity: cross-fitted P(respond) for every row (None: the response rate for everyone, no correction); with
    invitations, P(answering the usual survey) (channel 0).
    proba_full: the final model's probabilities (the scored file's), for the model-only estimate (default:
    the cross-fitted ones). no_signal: the NPS model's ranking is no better than chance, so the headline is the
    Hajek estimate (the model's predictions are not trusted to carry the silent customers' NPS).
    answered_round, design_probability: the survey design (SURVEY DESIGN in the module doc; None: no invitations).
    """
    if interval_method not in ("influence", "bootstrap"):
        raise ConfigError(f"population.interval_method must be 'influence' or 'bootstrap', got {interval_method!r}")
    cls = np.asarray(observed_class)
    responded = cls >= 0
    n, n_resp = len(cls), int(responded.sum())
    if n_resp == 0:
        raise InputError("population NPS: no respondents; nothing to estimate from")
    proba_cross_fitted = np.asarray(proba_cross_fitted, dtype=float)
    proba_full = proba_cross_fitted if proba_full is None else np.asarray(proba_full, dtype=float)
    e = np.full(n, n_resp / n) if propensity is None else np.asarray(propensity, dtype=float)
    channels = channel_weights(responded, answered_round, e, design_probability, trim_quantile)
    d = class_contribution(cls)
    m_cross, m_full = nps_contribution(proba_cross_fitted), nps_contribution(proba_full)

    second = proba_cross_fitted[:, 0] + proba_cross_fitted[:, 2]
    overall = _estimators(d, m_cross, m_full, channels, responded, level, interval_method, n_bootstrap, seed,
                          second)
    method = "hajek" if no_signal else "aipw"
    head = overall[method]
    # effective sample size: of each channel's new respondents under its weights, added over the channels
    ess = float(sum(w.sum() ** 2 / (w ** 2).sum() for w in (v[v > 0] for _, _, v in channels) if len(w))) \
        or float(n_resp)

    seg_rows = []
    for column in (segments.columns if segments is not None else []):
        labels = segment_labels(segments[column])
        for value in np.unique(labels):
            mask = labels == value
            row: dict[str, Any] = {"column": column, "level": str(value), "n_customers": int(mask.sum()),
                                   "n_respondents": int((mask & responded).sum())}
            if row["n_respondents"] == 0:
                row.update({"estimate": float(100 * m_full[mask].mean()), "low": None, "high": None,
                            "method": "model_only", "note": "no respondents in this segment: model-only, no interval"})
            else:
                est = _estimators(d[mask], m_cross[mask], m_full[mask],
                                  [(t, r[mask], v[mask]) for t, r, v in channels], responded[mask], level,
                                  interval_method, n_bootstrap, seed, second[mask])
                row.update({**est[method], "method": method, "estimators": est})
            seg_rows.append(row)

    notes = [ASSUMPTION, NOT_CORRECTABLE]
    if no_signal:
        notes.append("No signal: the NPS model ranks detractors no better than chance on held-out respondents, so "
                     "the headline is the propensity-weighted (Hajek) estimate and per-customer classes are "
                     "unreliable.")
    if ess < 0.2 * n_resp:
        notes.append(f"The weights are uneven: the {n_resp} respondents count like {ess:.0f} equally weighted "
                     "ones (effective sample size), so the interval is wide.")
    return PopulationNps(
        residual_variance=residual_variance_fit(d[responded], m_cross[responded], second[responded]),
        estimate=head["estimate"], low=head["low"], high=head["high"], se=head["se"], level=level, method=method,
        method_text=METHODS[method], estimators=overall, n_customers=n, n_respondents=n_resp,
        effective_sample_size=ess, interval_method=interval_method, no_signal=no_signal, signal=signal,
        notes=notes, segments=seg_rows,
        sensitivity=sensitivity_curve(head, proba_cross_fitted[~responded], n) if n_resp < n else None,
        response=response, channels=overall[method].get("channels", []),
    )


def estimate_population_nps(nps: Any, X: pd.DataFrame, y_observed, propensity=None, *, level: float = 0.90,
                            interval_method: str = "influence", n_bootstrap: int = 200, seed: int = 0,
                            segments: pd.DataFrame | None = None, response: dict[str, Any] | None = None,
                            answered_round: np.ndarray | None = None, design_probability: np.ndarray | None = None
                            ) -> PopulationNps:
    """The population NPS of every row of X from a fitted NpsClassifier (DESIGN.md's API).

    y_observed: survey scores aligned with X, NaN for silent customers; the classifier must have been fitted on
    exactly the respondents of X, in order (its out-of-fold predictions are theirs). propensity: cross-fitted
    P(respond) of every row (e.g. ResponsePropensity.propensity_); None: no response correction.
    answered_round, design_probability: invitation rounds, see `population_nps`.
    """
    from cxpredict.metrics import score_to_class

    s = np.asarray(y_observed, dtype=float)
    responded = ~np.isnan(s)
    oof = nps.oof_[["p_detractor", "p_passive", "p_promoter"]].to_numpy()
    if len(oof) != responded.sum():
        raise InputError(f"estimate_population_nps: the NPS model was fitted on {len(oof)} rows but y_observed has "
                         f"{int(responded.sum())} answers; fit it on exactly the respondents of X")
    cross = np.zeros((len(s), 3))
    cross[responded] = oof
    full = nps.predict_frame(X)[["p_detractor", "p_passive", "p_promoter"]].to_numpy()
    if (~responded).any():
        cross[~responded] = nps.cross_fitted_proba(X[~responded]) if getattr(nps, "fold_models_", None) \
            else full[~responded]
    observed = np.full(len(s), -1)
    observed[responded] = score_to_class(s[responded], nps.scale_)
    return population_nps(observed, cross, None if propensity is None else np.asarray(propensity, dtype=float),
                          full, level=level, interval_method=interval_method, n_bootstrap=n_bootstrap, seed=seed,
                          segments=segments, no_signal=bool(getattr(nps, "no_signal_", False)),
                          signal=getattr(nps, "signal_", None), response=response, answered_round=answered_round,
                          design_probability=design_probability)
