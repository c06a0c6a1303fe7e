"""The models layer's settings: LightGBM parameters, the NPS model (`nps`), who answers (`response`) and churn
(`churn`). The estimators in cxpredict/models take their keyword defaults from these classes, so a default is
written once.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from cxpredict.config.base import Strict, check_bands


class LgbmParams(Strict):
    """LightGBM parameters we expose; extra LightGBM parameters go in `extra`."""

    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20
    subsample: float = 1.0
    subsample_freq: int = 0
    colsample_bytree: float = 1.0
    reg_lambda: float = 0.0
    reg_alpha: float = 0.0
    max_depth: int = -1
    n_jobs: int | None = Field(default=None, ge=1)  # None: the run's thread budget (cxpredict/threads.py)
    extra: dict[str, Any] = Field(default_factory=dict)


class ThresholdConfig(Strict):
    """How class decisions are made from probabilities: tuned, not argmax."""

    objective: Literal["macro_f1", "recall_targets", "argmax"] = "macro_f1"
    recall_targets: dict[Literal["detractor", "passive", "promoter"], float] = Field(default_factory=dict)


PLAIN_LGBM = {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20}


class NpsContestConfig(Strict):
    """How the NPS candidate contest stays cheap with many answers (cxpredict/models/candidates.py, _contest)."""

    # above this many answers the candidates compete on a stratified sample of this size and only the kept one
    # is cross-fitted on all answers; null: always on all answers
    screen_rows: int | None = Field(default=5_000, ge=1_000)
    # the sample is cross-fitted on this many folds (at most nps.cv_folds): fewer boosters per candidate
    screen_folds: int = Field(default=3, ge=2)


class NpsModelConfig(Strict):
    """The NPS model (see cxpredict/models/nps.py). `params` and `formulation` describe the configured model
    (defaults: plain LightGBM, multiclass); with `candidates: auto` it competes with a small built-in set and
    the cross-validated selection keeps one; `candidates: configured` keeps it alone."""

    formulation: Literal["multiclass", "regression", "ordinal", "auto"] = "multiclass"
    params: LgbmParams = Field(default_factory=lambda: LgbmParams(**PLAIN_LGBM))
    candidates: Literal["auto", "configured"] = "auto"
    cv_folds: int = Field(default=5, ge=2)
    early_stopping_rounds: int | None = None  # of the configured model; the built-in candidates use fixed rounds
    thresholds: ThresholdConfig = Field(default_factory=ThresholdConfig)
    calibrate: bool = True
    # the candidates compete on this cross-validated, response-weighted metric of the respondents
    selection_metric: Literal["log_loss", "qwk", "macro_f1", "detractor_auc"] = "log_loss"
    # one_se: the simplest candidate within one paired standard error of the best log loss; best: the best
    selection_rule: Literal["one_se", "best"] = "one_se"
    contest: NpsContestConfig = Field(default_factory=NpsContestConfig)


RESPONSE_PARAM_DEFAULTS = {"n_estimators": 200, "learning_rate": 0.03, "num_leaves": 7, "min_child_samples": 100}


class ResponseConfig(Strict):
    """Respondent-bias correction by inverse response propensity (assumes response depends on behaviour)."""

    enabled: bool = True
    params: LgbmParams = Field(default_factory=lambda: LgbmParams(**RESPONSE_PARAM_DEFAULTS))
    trim_quantile: float = Field(default=0.99, gt=0.5, le=1.0)  # weights capped at this quantile
    overlap_auc_warning: float = 0.85
    cv_folds: int = Field(default=5, ge=2)  # propensities are cross-fitted: no customer scored by its own model
    # off by default: log-loss early stopping shrinks weak-signal propensities toward the mean response rate, so the
    # weights under-correct (telco-mnar15: weighted respondent NPS 2.4-3.2 points off with it, 1.2 without)
    early_stopping_rounds: int | None = None
    # the population the NPS model's probabilities must match: the silent customers it is applied to (weights
    # (1-e)/e) or all customers (weights 1/e)
    weight_target: Literal["silent", "population"] = "silent"
    # above max(this, 2 x respondents) customers the propensity model trains on every respondent plus a random
    # subsample of the silent weighted by its inverse sampling rate (cost grows with answers, not population)
    max_rows: int = Field(default=60_000, ge=1_000)


class ValueConfig(Strict):
    column: str | None = None  # e.g. monthly revenue
    months: float = 12.0  # value = column * months (a simple CLV proxy)
    default: float = 1.0


class ChurnConfig(Strict):
    enabled: bool = True
    horizon_days: int = 90
    params: LgbmParams = Field(default_factory=LgbmParams)
    use_nps_features: bool = True
    calibration_share: float = Field(default=0.2, gt=0, lt=1)
    value: ValueConfig = Field(default_factory=ValueConfig)
    risk_bands: list[float] = Field(default_factory=lambda: [0.2, 0.5])  # cut points: low < 0.2 <= medium < 0.5 <= high
    # band names, one more than cut points; default low/medium/high (see strategy.band_labels)
    risk_band_labels: list[str] | None = None
    calibration: Literal["platt", "isotonic"] = "platt"  # fitted on the hold-out of calibration_share
    measure_nps_lift: bool = True  # also fit a model without the NPS features and report the AUC lift
    nps_feature_folds: int = Field(default=5, ge=2)  # cross-fitting folds for respondents' NPS features
    # above this many training customers the booster trains on a case-control subsample with inverse-rate weights
    max_rows: int = Field(default=100_000, ge=1_000)

    @model_validator(mode="after")
    def _bands_ordered(self) -> ChurnConfig:
        check_bands("churn.risk_bands", self.risk_bands, self.risk_band_labels, unit_interval=True)
        return self
