"""The explain layer's settings (`drivers`): driver groups, per-customer drivers and the stated-reason model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cxpredict.config.base import Strict
from cxpredict.config.models import LgbmParams


class DriverGroup(Strict):
    name: str
    features: list[str] = Field(min_length=1)
    actionable: bool = True
    theme: str | None = None  # stated-reason theme this driver maps to


class DriversConfig(Strict):
    """Per-customer drivers (exact TreeSHAP of the detractor score, summed per group) and the stated-reason model.

    Features in no group form an implicit, non-actionable "Other" group. `method: approx` uses path (Saabas)
    attributions: much faster, top-3 agreement with exact measured in cxpredict/drivers.py's docstring."""

    enabled: bool = True
    groups: list[DriverGroup] = Field(default_factory=list)  # none: one per events table / other column
    # groups or features that are actionable although their name reads as demographic or tenure (Age, tenure...)
    actionable: list[str] = Field(default_factory=list)
    top_k: int = Field(default=3, ge=1)
    min_impact: float = Field(default=0.01, ge=0)  # in probability of detraction; smaller pushes: empty driver
    subset: Literal["all", "detractor_passive", "detractor"] = "detractor_passive"  # by predicted class
    method: Literal["exact", "approx"] = "exact"
    # whose drivers and reasons scoring computes: every row, or (the playbook) only rows whose action depends on
    # them or that get an action ("actioned": strategy not no-action; "work_orders": a work order); others: empty
    rows: Literal["all", "actioned", "work_orders"] = "all"
    chunk_size: int = Field(default=50_000, ge=1)
    # training's key-driver tables from a uniform sample of this many customers when there are more (None: all)
    kda_rows: int | None = Field(default=50_000, ge=1_000)
    n_jobs: int | None = Field(default=None, ge=1)  # attribution kernel threads; None: the run's budget
    segments: list[str] = Field(default_factory=list)  # customer columns for the segment KDA report
    reason_themes: dict[str, str] = Field(default_factory=dict)  # reason code -> theme
    reasons_top_k: int = Field(default=2, ge=1)  # reason_1..k columns
    reason_min_prob: float = Field(default=0.05, ge=0, le=1)  # less likely reasons are left empty
    reason_min_count: int = Field(default=20, ge=1)  # codes stated by fewer respondents get no model
    reason_params: LgbmParams = Field(
        default_factory=lambda: LgbmParams(n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=20))
