"""The estimation layer's settings: the population NPS and its interval (`population`), whom a survey round
invites (`survey_design`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from cxpredict.config.base import Strict


class PopulationConfig(Strict):
    """Population NPS (doubly robust, see cxpredict/estimation/population.py) and its interval."""

    interval: float = Field(default=0.90, gt=0, lt=1)
    interval_method: Literal["influence", "bootstrap"] = "influence"
    bootstrap: int = Field(default=200, ge=20)  # replicates with interval_method: bootstrap
    segments: list[str] = Field(default_factory=list)
    # up to this many silent customers each gets the mean of the NPS model's fold models; above, one fold model
    # drawn at random per customer (predicted once, not once per fold), the extra variance in the interval
    fold_mean_max_silent: int | None = Field(default=50_000, ge=0)


class SurveyDesignConfig(Strict):
    """Whom `cxpredict survey-plan` invites (see cxpredict/estimation/design.py)."""

    probe_share: float = Field(default=0.2, ge=0, le=1)  # of the budget, spread uniformly over silent customers
    # the expected share of invited customers who answer, until an invitation log has taught the model who does
    first_round_response: float = Field(default=0.2, gt=0, le=1)
    segment_targets: dict[str, float] = Field(default_factory=dict)  # column -> half-width (points), e.g. region: 3
    # fewer invited answers or non-answers than this: the answer chance of the invited is their rate, no model
    min_invited_for_model: int = Field(default=50, ge=5)
    # a model-based plan must promise at least this narrowing of the round's interval against inviting at random;
    # below it the round is a uniform random draw (why: cxpredict/estimation/design.py)
    min_design_gain: float = Field(default=0.05, ge=0, lt=1)

    @field_validator("segment_targets")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not v > 0}
        if bad:
            raise ValueError(f"half-widths must be positive numbers of NPS points, got {bad}")
        return value
