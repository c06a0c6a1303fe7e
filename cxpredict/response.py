"""Respondent-bias correction: who answers the survey, weights that undo it, and the population NPS with an interval.

ASSUMPTION (written into every result): response depends only on observed behaviour. Among customers who look
alike in the behaviour data, those who answered feel like those who did not (missing at random given the
features). Under it, (1) inverse-propensity weights make respondents represent the population, and (2) a model
of the answer given behaviour, calibrated with those weights, predicts the silent customers without bias.
If the answer itself drives response (unhappy customers answer more than their behaviour predicts), neither the
weights nor the model can see it: that bias cannot be detected or corrected from behaviour alone.

What is here:
- `ResponseModel`: LightGBM P(respondent | behaviour) on ALL customers, cross-fitted (each customer's propensity
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

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from .components import read_component_meta
from .config import Config, PopulationConfig, ResponseConfig
from .errors import ConfigError, InputError
from .lgbm import cross_fit, fold_ids, lgbm_params, train_booster
from .metrics import nps_from_classes, score_to_class, standardized_differences
from .nps import NpsModel

FORMAT_VERSION = 1
MIN_PROPENSITY = 1e-4
TOP_DIFFERENCES = 10
MIN_SEGMENT_SAMPLE = 200  # silent customers per segment level re-scored in each bootstrap replicate
MAX_NUMERIC_SEGMENT_LEVELS = 20  # numeric segment columns with more distinct values are cut into quintiles

ASSUMPTION = (
    "Response is assumed to depend only on observed behaviour (missing at random given the features): among "
    "customers who look alike in the data, respondents are assumed to feel like silent customers."
)
NOT_CORRECTABLE = (
    "If the answer itself drives who responds (e.g. unhappy customers answer more often than their behaviour "
    "predicts), this bias cannot be detected or corrected from behaviour alone; the estimate and its interval "
    "would then be off by an unknown amount."
)


# --------------------------------------------------------------------------------------------- response model
class ResponseModel:
    """Cross-fitted response propensity. `fit` returns self; learned attributes end in `_`."""

    def __init__(self, cfg: ResponseConfig, seed: int = 0):
        self.cfg = cfg
        self.seed = seed

    def fit(self, X: pd.DataFrame, is_respondent) -> ResponseModel:
        r = np.asarray(is_respondent, dtype=bool)
        if len(r) != len(X):
            raise InputError(f"response model: {len(X)} customers but {len(r)} respondent flags")
        if r.sum() < self.cfg.cv_folds or (~r).sum() < self.cfg.cv_folds:
            raise InputError(f"response model: need at least {self.cfg.cv_folds} respondents and silent customers, "
                             f"got {int(r.sum())} and {int((~r).sum())}")
        self.feature_names_ = list(X.columns)
        self.response_rate_ = float(r.mean())
        y = r.astype(float)
        sampled, w = self._training_sample(r)
        params = lgbm_params(self.cfg.params, self.seed, objective="binary")
        folds = np.full(len(r), -1)
        folds[sampled] = fold_ids(r[sampled], self.cfg.cv_folds, self.seed)
        raw, self.rounds_ = cross_fit(X, y, w, params, self.cfg.params.n_estimators, folds, r,
                                      self.cfg.early_stopping_rounds, self.seed)
        self.propensity_ = pd.Series(np.clip(1 / (1 + np.exp(-raw)), MIN_PROPENSITY, 1 - MIN_PROPENSITY),
                                     index=X.index, name="propensity")
        self.booster_ = train_booster(X[sampled], y[sampled], w[sampled], params, self.rounds_)
        self.is_respondent_ = r
        self.auc_ = float(roc_auc_score(r, self.propensity_.to_numpy()))
        gain = self.booster_.feature_importance("gain")
        share = gain / gain.sum() if gain.sum() > 0 else gain
        self.importance_ = sorted(({"feature": f, "gain_share": float(g)} for f, g in zip(self.feature_names_, share)),
                                  key=lambda d: -d["gain_share"])[:TOP_DIFFERENCES]
        self.differences_ = self._differences(X)
        self.overlap_warning_ = None
        if self.auc_ > self.cfg.overlap_auc_warning:
            self.overlap_warning_ = (
                f"Respondents and silent customers are easy to tell apart (AUC {self.auc_:.2f} > "
                f"{self.cfg.overlap_auc_warning}): little overlap, so some silent customers have no look-alike "
                "respondents; weights are extreme and predictions for them extrapolate. Treat the estimate with care.")
        return self

    def _training_sample(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows the propensity models train on, and their weights.

        Above `max_rows` customers each group (respondents, silent) is subsampled at random (the smaller group
        keeps all its rows up to half of `max_rows`) and weighted by its inverse sampling rate, so probabilities
        stay calibrated for everyone while training costs stay bounded. Customers left out are scored by every
        fold model.
        """
        w = np.ones(len(r))
        if len(r) <= self.cfg.max_rows:
            return np.ones(len(r), dtype=bool), w
        rng = np.random.default_rng(self.seed)
        n_resp = min(int(r.sum()), max(self.cfg.max_rows // 2, self.cfg.max_rows - int((~r).sum())))
        sampled = np.zeros(len(r), dtype=bool)
        for group, n_keep in ((r, n_resp), (~r, min(int((~r).sum()), self.cfg.max_rows - n_resp))):
            members = np.flatnonzero(group)
            sampled[rng.choice(members, n_keep, replace=False)] = True
            w[members] = len(members) / n_keep
        return sampled, w

    def _differences(self, X: pd.DataFrame) -> list[dict[str, Any]]:
        """Top differences respondent vs comparison group, before and after weighting respondents."""
        r = self.is_respondent_
        before = standardized_differences(X, r).head(TOP_DIFFERENCES)
        w_all = np.ones(len(r))
        w_all[r] = self.weights().to_numpy()
        if self.cfg.weight_target == "silent":
            after = standardized_differences(X, r, w_all)
        else:  # weighted respondents against every customer: stack the two groups
            both = pd.concat([X[r], X], axis=0)
            flag = np.r_[np.ones(r.sum(), bool), np.zeros(len(X), bool)]
            after = standardized_differences(both, flag, np.r_[w_all[r], np.ones(len(X))])
        after_smd = dict(zip(after["feature"], after["smd"]))
        return [{"feature": row.feature, "respondent_mean": row.group_mean, "silent_mean": row.rest_mean,
                 "smd": row.smd, "smd_after_weighting": after_smd.get(row.feature)} for row in before.itertuples()]

    def weights(self, target: str | None = None) -> pd.Series:
        """Stabilised, trimmed inverse-propensity weights of the respondents (index = their ids), mean 1.

        target "silent": (1-e)/e (respondents stand for the silent customers); "population": 1/e (for all).
        """
        target = target or self.cfg.weight_target
        e = self.propensity_.to_numpy()[self.is_respondent_]
        raw = (1 - e) / e if target == "silent" else 1 / e
        cap = np.quantile(raw, self.cfg.trim_quantile)
        w = np.minimum(raw, cap)
        return pd.Series(w / w.mean(), index=self.propensity_.index[self.is_respondent_], name=f"weight_{target}")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Response propensity of new customers from the model fitted on all customers."""
        return np.clip(self.booster_.predict(X[self.feature_names_]), MIN_PROPENSITY, 1 - MIN_PROPENSITY)

    def summary(self) -> dict[str, Any]:
        if not hasattr(self, "propensity_"):  # loaded from a bundle: the summary saved at training time
            return self.summary_
        w = self.weights()
        e = self.propensity_.to_numpy()
        return {
            "assumption": ASSUMPTION,
            "respondent_vs_silent_auc": self.auc_,
            "overlap_warning": self.overlap_warning_,
            "response_rate": self.response_rate_,
            "weight_target": self.cfg.weight_target,
            "trim_quantile": self.cfg.trim_quantile,
            "effective_sample_size": float(w.sum() ** 2 / (w**2).sum()),
            "n_respondents": int(self.is_respondent_.sum()),
            "max_weight": float(w.max()),
            "propensity_quantiles": {q: float(np.quantile(e, float(q))) for q in ("0.01", "0.5", "0.99")},
            "top_differences": self.differences_,
            "top_importance": self.importance_,
        }

    def save(self, directory: Path) -> None:
        """response.txt (LightGBM text) + response.json; per-customer propensities are not stored."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(directory / "response.txt"))
        meta = {"format_version": FORMAT_VERSION, "config": self.cfg.model_dump(mode="json"), "seed": self.seed,
                "feature_names": self.feature_names_, "rounds": self.rounds_, "summary": self.summary()}
        (directory / "response.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> ResponseModel:
        directory = Path(directory)
        meta = read_component_meta(directory / "response.json", "response model", FORMAT_VERSION)
        model = cls(ResponseConfig(**meta["config"]), meta["seed"])
        model.booster_ = lgb.Booster(model_file=str(directory / "response.txt"))
        model.feature_names_, model.rounds_ = meta["feature_names"], meta["rounds"]
        model.summary_ = meta["summary"]
        model.auc_ = meta["summary"]["respondent_vs_silent_auc"]
        model.overlap_warning_ = meta["summary"]["overlap_warning"]
        return model


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


def _linearized_se(model: NpsModel, obs_diff: np.ndarray, train_weights: np.ndarray, silent_share: float) -> float:
    """Cross-check of the bootstrap: the weighted residual-mean (regression-estimator) standard error in points,
    from the respondents' cross-fitted residuals; calibration in the large ties the estimate's level to them."""
    oof = model.oof_
    residual = obs_diff - (oof["p_promoter"] - oof["p_detractor"]).to_numpy()
    w = np.asarray(train_weights, dtype=float)
    centred = residual - np.average(residual, weights=w)
    return float(100 * silent_share * np.sqrt(np.sum(w**2 * centred**2)) / w.sum())


def estimate_population_nps(model: NpsModel, X: pd.DataFrame, score, predictions: pd.DataFrame,
                            train_weights: np.ndarray, population_weights: np.ndarray | None,
                            cfg: PopulationConfig, seed: int = 0, segments: pd.DataFrame | None = None,
                            response: ResponseModel | None = None) -> PopulationNps:
    """Population NPS from observed + predicted answers with a refit-bootstrap interval (see module doc).

    score: one value per row of X, NaN for silent customers. predictions: `model.predict(X)`.
    train_weights / population_weights: respondents' NPS-training weights and 1/e weights (None: unweighted).
    """
    bootstrap, level = cfg.bootstrap, cfg.interval
    s = np.asarray(score, dtype=float)
    resp = ~np.isnan(s)
    n, n_resp = len(s), int(resp.sum())
    cls = score_to_class(s[resp], model.scale)
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


# --------------------------------------------------------------------------------------------- the stage
@dataclass
class NpsStage:
    response: ResponseModel | None
    weights: np.ndarray  # respondents' NPS-training weights, in the order of the respondents in X
    nps: NpsModel
    predictions: pd.DataFrame  # every customer
    population: PopulationNps
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step


def fit_nps_stage(X: pd.DataFrame, score, cfg: Config, segments: pd.DataFrame | None = None) -> NpsStage:
    """Response model -> weights -> NPS model on respondents -> predictions for all -> population NPS.

    X: model matrix of every customer; score: aligned with X, NaN for silent customers; segments: raw columns
    (aligned with X) to report segment NPS for, e.g. `data.frame[cfg.population.segments]`.
    """
    s = np.asarray(score, dtype=float)
    resp = ~np.isnan(s)
    response = None
    weights = np.ones(int(resp.sum()))
    population_weights = None
    clock = [time.perf_counter()]
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        clock.append(time.perf_counter())
        timings[name] = clock[-1] - clock[-2]

    if cfg.response.enabled:
        response = ResponseModel(cfg.response, cfg.seed).fit(X, resp)
        weights = response.weights().to_numpy()
        population_weights = response.weights("population").to_numpy()
    lap("response")
    nps = NpsModel(cfg.scale, cfg.nps, cfg.seed).fit(X[resp], s[resp], sample_weight=weights)
    lap("nps_fit")
    predictions = nps.predict(X)
    lap("nps_predict")
    population = estimate_population_nps(nps, X, s, predictions, weights, population_weights, cfg.population,
                                         cfg.seed, segments, response)
    lap("population")
    return NpsStage(response=response, weights=weights, nps=nps, predictions=predictions, population=population,
                    timings=timings)
