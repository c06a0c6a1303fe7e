"""The population NPS of every customer from the surveyed few: one result (`PopulationNps`, saved as
population.json) composed from arrays.

    population_nps(observed classes, cross-fitted class probabilities, propensities, ...)   arrays in, result out
    nps_arrays(fitted NpsClassifier, X, scores)        the arrays a fitted NPS model gives (used by training)
    estimate_population_nps(fitted NpsClassifier, X, scores, ...)    the two together (the Python API)

The estimators and their derivation: estimation/estimators.py; the answer-dependent-response sensitivity:
estimation/sensitivity.py; segments: estimation/segments.py; the result's plain words: estimation/wording.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from cxpredict.config import PopulationConfig, ResponseConfig
from cxpredict.errors import ConfigError, InputError
from cxpredict.estimation.estimators import (
    channel_weights,
    class_contribution,
    effective_sample_size,
    group_estimates,
    nps_contribution,
    residual_variance_fit,
)
from cxpredict.estimation.segments import segment_rows
from cxpredict.estimation.sensitivity import sensitivity_curve
from cxpredict.estimation.wording import ASSUMPTION, METHODS, result_notes
from cxpredict.metrics import score_to_class

# keyword defaults: the config's `population` section and `response.trim_quantile`, written once there
DEFAULTS = PopulationConfig()
TRIM_QUANTILE = ResponseConfig().trim_quantile
PROBA_COLUMNS = ["p_detractor", "p_passive", "p_promoter"]
PROBE_ROWS = 2_000  # silent customers predicted by every fold model to measure the one-fold draw's variance


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


def population_nps(observed_class: np.ndarray, proba_cross_fitted: np.ndarray, propensity: np.ndarray | None,
                   proba_full: np.ndarray | None = None, *, level: float = DEFAULTS.interval,
                   trim_quantile: float = TRIM_QUANTILE, interval_method: str = DEFAULTS.interval_method,
                   n_bootstrap: int = DEFAULTS.bootstrap, seed: int = 0,
                   segments: pd.DataFrame | None = None, no_signal: bool = False,
                   signal: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
                   answered_round: np.ndarray | None = None, design_probability: np.ndarray | None = None,
                   draw_variance: np.ndarray | None = None) -> PopulationNps:
    """The population NPS of every row from arrays (the estimators: estimation/estimators.py).

    observed_class: 0/1/2 (detractor/passive/promoter) for respondents, -1 for silent customers.
    proba_cross_fitted: (n, 3) class probabilities for every row, cross-fitted (respondents: out-of-fold).
    propensity: cross-fitted P(respond) for every row (None: the response rate for everyone, no correction); with
    invitations, P(answering the usual survey) (channel 0).
    proba_full: the final model's probabilities (the scored file's), for the model-only estimate (default:
    the cross-fitted ones). no_signal: the NPS model's ranking is no better than chance, so the headline is the
    Hajek estimate (the model's predictions are not trusted to carry the silent customers' NPS).
    answered_round, design_probability: the survey design (SURVEY DESIGN in estimation/estimators.py; None: no
    invitations). draw_variance: per row, the variance of its cross-fitted contribution from drawing one fold
    model for it (`nps_arrays`; None: none drawn), added to the model-based estimates' variance.
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
    drawn = np.zeros(n) if draw_variance is None else np.asarray(draw_variance, dtype=float)

    def estimate(mask: np.ndarray) -> dict[str, dict]:
        return group_estimates(d[mask], m_cross[mask], m_full[mask], [(t, r[mask], v[mask]) for t, r, v in channels],
                               responded[mask], level, interval_method, n_bootstrap, seed, second[mask], drawn[mask])

    overall = estimate(np.ones(n, dtype=bool))
    method = "hajek" if no_signal else "aipw"
    head = overall[method]
    ess = effective_sample_size(channels, n_resp)
    return PopulationNps(
        residual_variance=residual_variance_fit(d[responded], m_cross[responded], second[responded]),
        estimate=head["estimate"], low=head["low"], high=head["high"], se=head["se"], level=level, method=method,
        method_text=METHODS[method], estimators=overall, n_customers=n, n_respondents=n_resp,
        effective_sample_size=ess, interval_method=interval_method, no_signal=no_signal, signal=signal,
        notes=result_notes(no_signal, ess, n_resp),
        segments=segment_rows(segments, responded, m_full, method, estimate),
        sensitivity=sensitivity_curve(head, proba_cross_fitted[~responded], n) if n_resp < n else None,
        response=response, channels=overall[method].get("channels", []),
    )


class NpsArrays(NamedTuple):
    """What `population_nps` needs from a fitted NPS model, every row of X."""

    observed: np.ndarray  # class 0/1/2 of respondents, -1 silent
    cross_fitted: np.ndarray  # (n, 3): respondents out-of-fold, silent from the fold models
    full: np.ndarray  # (n, 3): the final model's
    draw_variance: np.ndarray | None  # per row: variance of its contribution from the fold drawn for it (or None)


def nps_arrays(nps: Any, X: pd.DataFrame, y_observed, proba_full: np.ndarray | None = None,
               fold_mean_max_silent: int | None = DEFAULTS.fold_mean_max_silent, seed: int = 0) -> NpsArrays:
    """The arrays `population_nps` needs, from a fitted NpsClassifier.

    y_observed: survey scores aligned with X, NaN for silent customers; the classifier must have been fitted on
    exactly the respondents of X, in order (its out-of-fold predictions are theirs). Silent customers get the
    mean of the fold models (cross_fitted_proba), or the final model's probabilities without fold models.
    Above `fold_mean_max_silent` silent customers (None: never), each gets ONE fold model drawn uniformly at
    random instead (`silent_draws`): prediction costs one pass instead of one per fold, the estimate keeps its
    expectation (the mean of the fold models) and `draw_variance` carries the draw's variance into the interval.
    proba_full: the final model's probabilities of X when already predicted (else predicted here).
    """
    s = np.asarray(y_observed, dtype=float)
    responded = ~np.isnan(s)
    oof = nps.oof_[PROBA_COLUMNS].to_numpy()
    if len(oof) != responded.sum():
        raise InputError(f"estimate_population_nps: the NPS model was fitted on {len(oof)} rows but y_observed has "
                         f"{int(responded.sum())} answers; fit it on exactly the respondents of X")
    cross = np.zeros((len(s), 3))
    cross[responded] = oof
    full = nps.predict_frame(X)[PROBA_COLUMNS].to_numpy() if proba_full is None else np.asarray(proba_full, float)
    draw_variance = None
    silent = ~responded
    if silent.any() and getattr(nps, "fold_models_", None):
        if fold_mean_max_silent is not None and silent.sum() > fold_mean_max_silent:
            cross[silent], draw_variance = silent_draws(nps, X[silent], silent, seed)
        else:
            cross[silent] = nps.cross_fitted_proba(X[silent])
    elif silent.any():
        cross[silent] = full[silent]
    observed = np.full(len(s), -1)
    observed[responded] = score_to_class(s[responded], nps.scale_)
    return NpsArrays(observed, cross, full, draw_variance)


def silent_draws(nps: Any, X_silent: pd.DataFrame, silent: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities of the silent rows, each from one fold model drawn uniformly at random; every row's draw
    variance, 0 for respondents).

    Why: the mean of K fold models costs K predictions of every silent customer, most of training's population
    step with hundreds of thousands of them. With independent uniform draws a row's expected contribution is the
    fold mean's, so the estimate keeps its expectation, and its variance grows by the sum over the silent of
    Var_k m_k(x) / N^2 (tiny: the fold models differ little). That variance is measured on PROBE_ROWS random
    silent customers predicted by every fold model, and each silent row carries its mean."""
    rng = np.random.default_rng([seed, 2024])
    n_folds = len(next(m for m in nps.fold_models_ if m is not None))
    proba = nps.cross_fitted_proba(X_silent, folds=rng.integers(0, n_folds, len(X_silent)))
    probe = X_silent.iloc[np.sort(rng.choice(len(X_silent), min(PROBE_ROWS, len(X_silent)), replace=False))]
    per_fold = np.stack([nps_contribution(nps.cross_fitted_proba(probe, folds=np.full(len(probe), k)))
                         for k in range(n_folds)])
    draw_variance = np.zeros(len(silent))
    draw_variance[silent] = float(per_fold.var(axis=0).mean())
    return proba, draw_variance


def estimate_population_nps(nps: Any, X: pd.DataFrame, y_observed, propensity=None, *,
                            level: float = DEFAULTS.interval, interval_method: str = DEFAULTS.interval_method,
                            n_bootstrap: int = DEFAULTS.bootstrap, seed: int = 0,
                            segments: pd.DataFrame | None = None, response: dict[str, Any] | None = None,
                            answered_round: np.ndarray | None = None, design_probability: np.ndarray | None = None
                            ) -> PopulationNps:
    """The population NPS of every row of X from a fitted NpsClassifier (the Python API; see `nps_arrays` for
    what the model must be fitted on). propensity: cross-fitted P(respond) of every row (e.g.
    ResponsePropensity.propensity_); None: no response correction. The rest: see `population_nps`.
    """
    observed, cross, full, draw_variance = nps_arrays(nps, X, y_observed, seed=seed)
    return population_nps(observed, cross, None if propensity is None else np.asarray(propensity, dtype=float),
                          full, draw_variance=draw_variance, level=level, interval_method=interval_method, n_bootstrap=n_bootstrap, seed=seed,
                          segments=segments, no_signal=bool(getattr(nps, "no_signal_", False)),
                          signal=getattr(nps, "signal_", None), response=response, answered_round=answered_round,
                          design_probability=design_probability)
