"""Learning from campaign results (`campaign`, read by `cxpredict learn`): the results file's columns, effects,
uplift models and which answers join the next round.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cxpredict.config.base import Strict
from cxpredict.config.models import LgbmParams


class CampaignResultsTable(Strict):
    """Column names of a campaign results file (`learn --results`); optional columns may be absent."""

    key: str | None = None  # defaults to data.key
    campaign_id: str = "campaign_id"
    group: str = "group"  # treated / control
    strategy: str = "strategy"  # or `rule`: either identifies the arm (the assignment log has both)
    rule: str = "rule"
    contacted: str = "contacted"  # 0/1: the action was actually delivered (optional)
    churned: str = "churned"  # 0/1 within the horizon
    converted: str = "converted"  # 0/1
    revenue: str = "revenue"  # currency units in the horizon
    new_score: str = "new_score"  # a survey answer collected during the campaign (optional)


class CampaignConfig(Strict):
    """Learning from campaign results (`cxpredict learn`): effects, uplift models, retirement, reviewed playbook."""

    results: CampaignResultsTable = Field(default_factory=CampaignResultsTable)
    assignments: str | None = None  # assignment log from `score` (default: `learn --assignments`)
    outcome: Literal["churned", "converted", "revenue"] = "churned"  # what the uplift models and decisions use
    segment_by: str = "segment"  # assignment-log column for strategy x segment effects (segment, risk_band, ...)
    interval: float = Field(default=0.90, gt=0, lt=1)
    power: float = Field(default=0.80, gt=0, lt=1)  # for the minimum detectable effect and the sample needed
    # the smallest benefit worth the action, in outcome units (churned: 0.01 = one churn fewer per 100 treated)
    min_effect: float = Field(default=0.01, ge=0)
    min_cell: int = Field(default=200, ge=10)  # treated + control customers before a segment gets its own verdict
    # additive (stump) boosting: a pseudo-outcome is mostly noise, so the effect model must stay simple
    uplift_params: LgbmParams = Field(default_factory=lambda: LgbmParams(
        n_estimators=100, learning_rate=0.05, num_leaves=2, min_child_samples=1000))
    uplift_folds: int = Field(default=3, ge=2)
    uplift_max_rows: int = Field(default=100_000, ge=1_000)  # per strategy; larger arms are subsampled for fitting
    # rows per outcome model (mu0, mu1) of the DR-learner, at most uplift_max_rows: the pseudo-outcome is unbiased
    # whatever the outcome models, so their rows buy only variance
    uplift_outcome_rows: int = Field(default=50_000, ge=1_000)
    # survey answers collected during the campaign that join the next training round (see docs: MAR)
    feed_answers: Literal["none", "control", "all"] = "none"
