"""Respondent-bias correction: who answers the survey, weights that undo it, and the population NPS with an interval.

ASSUMPTION (written into every result): response depends only on observed behaviour. Among customers who look
alike in the behaviour data, those who answered feel like those who did not (missing at random given the
features). Under it, (1) inverse-propensity weights make respondents represent the population, and (2) a model
of the answer given behaviour, calibrated with those weights, predicts the silent customers without bias.
If the answer itself drives response (unhappy customers answer more than their behaviour predicts), neither the
weights nor the model can see it: that bias cannot be detected or corrected from behaviour alone.

What is here:
- `ResponsePropensity`: LightGBM P(respondent | behaviour) on ALL customers, cross-fitted (each customer's propensity
  comes from a model that never saw that customer), the respondent-vs-silent AUC, the features that differ most
  (standardised mean differences before and after weighting, and model importance), and a low-overlap warning.
- Weights: stabilised, trimmed inverse-propensity weights for respondents, aimed at the silent customers
  ((1-e)/e, the population the NPS model is applied to) or at all customers (1/e); capped at the configured
  quantile, then rescaled to mean 1.
- `estimate_population_nps`: NPS of all customers = respondents' observed answers + silent customers' predicted
  class probabilities, next to the naive respondent NPS and the inverse-propensity weighted (Hajek) respondent
  NPS, per segment too. The interval is a normal interval whose standard error combines
  (a) model uncertainty: a bootstrap over respondents that REFITS the NPS model's class-deciding boosters (a
      cheap copy: at most `population.bootstrap_max_rounds` rounds with the learning rate scaled up to match, the
      fitted calibrator, binned data reused) and re-scores a random subsample of silent customers (the shift of a
      subsample mean estimates the shift of the full mean). Because calibration in the large ties the estimate's
      level to the respondents' weighted cross-fitted residuals, their linearised standard error is computed too,
      and the overall interval uses the larger of the two (on 200k synthetic customers at 3% response the
      bootstrap came out ~20% below the linearisation, and intervals using it alone covered 3 of 5 seeds);
  (b) the multinomial noise of the silent customers' own answers around their probabilities (sum of
      p_pro + p_det - (p_pro - p_det)^2), which a refit alone misses.
  The response model is held fixed inside the bootstrap; a full refit of every stage per replicate would cost
  ~100 trainings on 2 cores. Segment intervals use (a) bootstrap + (b).
- `fit_nps_stage`: response model -> weights -> NPS model -> predictions -> population estimate, the one call
  the pipeline and the benchmarks share.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from cxpredict.config import PopulationConfig
from cxpredict.errors import ConfigError
from cxpredict.metrics import nps_from_classes, score_to_class
from cxpredict.models.nps import NpsClassifier
from cxpredict.models.response import ASSUMPTION, NOT_CORRECTABLE, ResponsePropensity

MIN_SEGMENT_SAMPLE = 200  # silent customers per segment level re-scored in each bootstrap replicate
MAX_NUMERIC_SEGMENT_LEVELS = 20  # numeric segment columns with more distinct values are cut into quintiles


# --------------------------------------------------------------------------------------------- population NPS
@dataclass
class PopulationNps:
    """Population NPS estimate (points) with its interval, the naive and weighted respondent NPS, per segment."""

    estimate: float
    low: float | None
    high: float | None
    level: float
    naive_respondent_nps: float
    ipw_respondent_nps: float
    ipw_low: float | None
    ipw_high: float | None
    n_customers: int
    n_respondents: int
    se_model: float | None  # the larger of the two below (points)
    se_model_bootstrap: float | None
    se_model_linearized: float
    se_answer_noise: float
    bootstrap: int
    method: str
    assumption: str = ASSUMPTION
    notes: list[str] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    response: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


METHOD = (
    "estimate = (sum of respondents' observed promoter-minus-detractor + sum over silent customers of "
    "P(promoter) - P(detractor)) / all customers; interval = estimate +/- z * sqrt(se_model^2 + se_answer_noise^2), "
    "se_model = the larger of a bootstrap over respondents refitting the NPS model's class-deciding boosters and "
    "the linearised (weighted residual-mean) standard error; se_answer_noise from the silent customers' own "
    "answers varying around their probabilities"
)


def segment_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame | None:
    """The configured segment columns of the behaviour frame (None when none are configured)."""
    if not columns:
        return None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"population.segments names columns not in the behaviour data: {missing}; "
                          f"available columns include {list(frame.columns)[:10]}")
    return frame[columns]


def _segment_labels(column: pd.Series) -> pd.Series:
    """Text labels per customer; numeric columns with many values are cut into quintiles."""
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > MAX_NUMERIC_SEGMENT_LEVELS:
        column = pd.qcut(column, 5, duplicates="drop")
    return column.astype("str").where(column.notna(), "missing")


def _hajek(diff: np.ndarray, w: np.ndarray) -> float:
    return float(100 * np.sum(w * diff) / np.sum(w)) if len(diff) else float("nan")


def _interval(estimate: float, se: float | None, level: float) -> tuple[float | None, float | None]:
    if se is None:
        return None, None
    z = float(norm.ppf(0.5 + level / 2))
    return estimate - z * se, estimate + z * se


def _linearized_se(model: NpsClassifier, obs_diff: np.ndarray, train_weights: np.ndarray, silent_share: float) -> float:
    """Cross-check of the bootstrap: the weighted residual-mean (regression-estimator) standard error in points,
    from the respondents' cross-fitted residuals; calibration in the large ties the estimate's level to them."""
    oof = model.oof_
    residual = obs_diff - (oof["p_promoter"] - oof["p_detractor"]).to_numpy()
    w = np.asarray(train_weights, dtype=float)
    centred = residual - np.average(residual, weights=w)
    return float(100 * silent_share * np.sqrt(np.sum(w**2 * centred**2)) / w.sum())


def estimate_population_nps(model: NpsClassifier, X: pd.DataFrame, score, predictions: pd.DataFrame,
                            train_weights: np.ndarray, population_weights: np.ndarray | None,
                            cfg: PopulationConfig, seed: int = 0, segments: pd.DataFrame | None = None,
                            response: ResponsePropensity | None = None) -> PopulationNps:
    """Population NPS from observed + predicted answers with a refit-bootstrap interval (see module doc).

    score: one value per row of X, NaN for silent customers. predictions: `model.predict_frame(X)`.
    train_weights / population_weights: respondents' NPS-training weights and 1/e weights (None: unweighted).
    """
    bootstrap, level = cfg.bootstrap, cfg.interval
    s = np.asarray(score, dtype=float)
    resp = ~np.isnan(s)
    n, n_resp = len(s), int(resp.sum())
    cls = score_to_class(s[resp], model.scale_)
    obs_diff = np.zeros(n)
    obs_diff[resp] = (cls == 2).astype(float) - (cls == 0)
    pred_diff = (predictions["p_promoter"] - predictions["p_detractor"]).to_numpy()
    pred_var = (predictions["p_promoter"] + predictions["p_detractor"]).to_numpy() - pred_diff**2
    contribution = np.where(resp, obs_diff, pred_diff)
    silent = np.flatnonzero(~resp)
    pop_w = np.ones(n_resp) if population_weights is None else np.asarray(population_weights, dtype=float)

    rng = np.random.default_rng(seed)
    labels = {c: _segment_labels(segments[c]).to_numpy() for c in (segments.columns if segments is not None else [])}
    base = np.sort(rng.choice(silent, min(len(silent), cfg.bootstrap_sample), replace=False))
    extra = []
    for values in labels.values():  # make sure every segment level has silent customers to re-score
        for level_value in np.unique(values[silent]):
            members = silent[values[silent] == level_value]
            missing = min(len(members), MIN_SEGMENT_SAMPLE) - np.isin(members, base).sum()
            if missing > 0:
                extra.append(rng.choice(np.setdiff1d(members, base), missing, replace=False))
    evaluated = np.union1d(base, np.concatenate(extra)) if extra else base
    in_base = np.isin(evaluated, base)

    shifts = np.empty((0, len(evaluated)))
    if bootstrap > 0 and len(silent):
        resp_rows = np.flatnonzero(resp)
        draws = (rng.multinomial(n_resp, np.full(n_resp, 1 / n_resp)) * np.asarray(train_weights, dtype=float)
                 for _ in range(bootstrap))
        replicates = model.refit_class_probabilities(X.iloc[resp_rows], s[resp_rows].astype(int), draws,
                                                     X.iloc[evaluated], cfg.bootstrap_max_rounds)
        shifts = np.array([p[:, 2] - p[:, 0] for p in replicates])
    boot_ipw = np.array([
        _hajek(obs_diff[resp][idx], pop_w[idx]) for idx in
        (rng.integers(0, n_resp, n_resp) for _ in range(max(bootstrap, 0)))
    ])

    def summarise(mask: np.ndarray, se_floor: float | None = None) -> dict[str, Any]:
        n_g, s_g = int(mask.sum()), mask & ~resp
        estimate = float(100 * contribution[mask].sum() / n_g)
        take = s_g[evaluated] & (in_base if mask.all() else True)
        se_boot = None
        if len(shifts) > 1 and take.any():
            se_boot = float(100 * np.std(shifts[:, take].mean(axis=1), ddof=1) * s_g.sum() / n_g)
        elif not s_g.any():
            se_boot = 0.0
        candidates = [v for v in (se_boot, se_floor) if v is not None]
        se_model = max(candidates) if candidates else None
        se_noise = float(100 * np.sqrt(pred_var[s_g].sum()) / n_g)
        se = None if se_model is None else float(np.hypot(se_model, se_noise))
        low, high = _interval(estimate, se, level)
        r_g = mask[resp]
        return {"estimate": estimate, "low": low, "high": high, "se_model": se_model, "se_model_bootstrap": se_boot,
                "se_answer_noise": se_noise,
                "naive_respondent_nps": nps_from_classes(cls[r_g]) if r_g.any() else float("nan"),
                "ipw_respondent_nps": _hajek(obs_diff[resp][r_g], pop_w[r_g]),
                "n_customers": n_g, "n_respondents": int(r_g.sum())}

    se_linearized = _linearized_se(model, obs_diff[resp], train_weights, len(silent) / n)
    overall = summarise(np.ones(n, dtype=bool), se_linearized)
    segment_rows = []
    for column, values in labels.items():
        for level_value in np.unique(values):
            segment_rows.append({"column": column, "level": str(level_value), **summarise(values == level_value)})
    ipw_low, ipw_high = (None, None) if len(boot_ipw) < 2 else _interval(
        overall["ipw_respondent_nps"], float(np.std(boot_ipw, ddof=1)), level)
    notes = [ASSUMPTION, NOT_CORRECTABLE]
    if response is not None and response.overlap_warning_:
        notes.append(response.overlap_warning_)
    if bootstrap == 0:
        notes.append("population.bootstrap = 0: the overall interval uses the linearised standard error only; "
                     "segments have no interval")
    return PopulationNps(
        estimate=overall["estimate"], low=overall["low"], high=overall["high"], level=level,
        naive_respondent_nps=overall["naive_respondent_nps"], ipw_respondent_nps=overall["ipw_respondent_nps"],
        ipw_low=ipw_low, ipw_high=ipw_high, n_customers=n, n_respondents=n_resp, se_model=overall["se_model"],
        se_model_bootstrap=overall["se_model_bootstrap"], se_model_linearized=se_linearized,
        se_answer_noise=overall["se_answer_noise"], bootstrap=bootstrap, method=METHOD, notes=notes,
        segments=segment_rows, response=None if response is None else response.summary(),
    )
