"""The survey's vocabulary every layer shares: the answer scale and its three classes, and the stages that need
survey answers. A module of its own (not the config package) so a metric or a model can name a class without
the config schema.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class Scale(BaseModel):
    """Survey scale and its class cut points. NPS 0-10 by default; CSAT 1-5 is min=1, max=5, cuts 3 and 5. Also the
    config's `scale` section: strict like every section (cxpredict/config/base.py), written out here because the config
    package imports this module."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    min: int = 0
    max: int = 10
    detractor_max: int = 6
    promoter_min: int = 9

    @model_validator(mode="after")
    def _cuts_inside(self) -> Scale:
        if not self.min < self.max:
            raise ValueError(f"scale.min ({self.min}) must be below scale.max ({self.max})")
        if not self.min <= self.detractor_max < self.promoter_min <= self.max:
            raise ValueError(
                "need scale.min <= detractor_max < promoter_min <= scale.max, got "
                f"min={self.min} detractor_max={self.detractor_max} promoter_min={self.promoter_min} max={self.max}"
            )
        return self

    @property
    def n_points(self) -> int:
        return self.max - self.min + 1

    @property
    def points(self) -> list[int]:
        return list(range(self.min, self.max + 1))


CLASSES = ("detractor", "passive", "promoter")
# what needs survey answers: text features (learned from the answers), who answers, the NPS model, the population
# estimate, its drivers and the stated-reason model
SURVEY_STAGES = ("text", "response", "nps", "population", "drivers", "reasons")
