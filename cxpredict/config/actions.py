"""The actions layer's settings (`strategy`): the playbook, value bands and randomised control groups.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cxpredict.config.base import PathText, Strict, check_bands


class HoldoutConfig(Strict):
    """Randomised control groups at scoring time (see actions/holdout.py): the share of each rule's customers kept
    out of the action, drawn from a hash of customer ID and campaign ID, so reruns and other tools agree."""

    share: float = Field(default=0.10, ge=0, lt=1)  # 0 turns control groups off
    min_per_rule: int = Field(default=30, ge=0)  # small rules get at least this many controls (if they have them)
    campaign_id: str | None = None  # default: <config name>-<data.as_of or today>; `score --campaign-id` wins


class StrategyConfig(Strict):
    playbook: PathText | None = None  # path to a playbook YAML
    holdout: HoldoutConfig = Field(default_factory=HoldoutConfig)
    class_source: Literal["predicted", "observed"] = "observed"  # respondents: their own answer or the prediction
    value_bands: list[float] = Field(default_factory=list)  # empty: no value band
    # quantile: value_bands are quantiles (e.g. [0.5, 0.8]) turned into cuts on the training customers' values;
    # fixed: value_bands are the value cut points themselves (currency units)
    value_band_mode: Literal["quantile", "fixed"] = "quantile"
    value_band_labels: list[str] | None = None

    @model_validator(mode="after")
    def _bands_ordered(self) -> StrategyConfig:
        check_bands("strategy.value_bands", self.value_bands, self.value_band_labels,
                     unit_interval=self.value_band_mode == "quantile")
        return self
