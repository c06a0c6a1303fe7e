"""The workflows' own settings: batch scoring and when its data counts as drifted (`scoring`), Optuna tuning
(`tuning`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cxpredict.config.base import PathText, Strict


class DriftConfig(Strict):
    """When scoring data counts as drifted (manifest.json `drift`; exit code 3 with --fail-on-drift)."""

    psi_threshold: float = Field(default=0.25, gt=0)  # PSI of a feature or a model output above this
    out_of_range_share: float = Field(default=0.05, ge=0, le=1)  # share of a feature's values far out of range
    unseen_share: float = Field(default=0.05, ge=0, le=1)  # share of a category feature's values unseen in training
    respondent_mix_gap: float = Field(default=0.10, gt=0, le=1)  # |observed - predicted| class share, respondents
    min_respondents: int = Field(default=100, ge=1)  # fewer scored respondents: the mix is reported, not judged


class ScoringConfig(Strict):
    batch_size: int = Field(default=100_000, ge=1)
    drift: DriftConfig = Field(default_factory=DriftConfig)


class TuningConfig(Strict):
    nps_metric: Literal["log_loss", "qwk", "macro_f1", "detractor_auc"] = "log_loss"
    churn_metric: Literal["auc", "log_loss"] = "auc"
    storage: PathText = ".cxpredict/optuna.sqlite3"  # relative to the config file; a rerun resumes the study
    study_name: str | None = None  # default: <name>-<model>-<hash of the data, features and metric>
    cv_folds: int | None = Field(default=None, ge=2)  # None: the NPS model's own nps.cv_folds (churn: 5 folds)
    formulations: list[Literal["multiclass", "regression", "ordinal"]] = Field(
        default_factory=lambda: ["multiclass", "regression", "ordinal"], min_length=1)
    startup_trials: int = Field(default=8, ge=1)  # random trials before TPE
    n_jobs: int = Field(default=1, ge=1)  # LightGBM threads per fit while tuning: small folds run faster on one
