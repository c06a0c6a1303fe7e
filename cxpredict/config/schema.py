"""The top-level config: run-wide keys (name, seed, threads) and one field per section, each section's class
in the module of the layer that reads it. Paths in a config resolve against the config file's folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import Field

from cxpredict.config.actions import StrategyConfig
from cxpredict.config.base import PathName, Strict
from cxpredict.config.campaign import CampaignConfig
from cxpredict.config.data import DataConfig, FeaturesConfig
from cxpredict.config.estimation import PopulationConfig, SurveyDesignConfig
from cxpredict.config.explain import DriversConfig
from cxpredict.config.io import OutputsConfig, TrackingConfig
from cxpredict.config.models import ChurnConfig, NpsModelConfig, ResponseConfig
from cxpredict.config.text import TextConfig
from cxpredict.config.workflows import ScoringConfig, TuningConfig
from cxpredict.domain import SURVEY_STAGES, Scale


class Config(Strict):
    name: PathName = "cxpredict"  # names outputs/<name>/
    seed: int = 42
    # threads of the whole run; None: the cores this process may use. CXPREDICT_THREADS overrides it (threads.py)
    n_jobs: int | None = Field(default=None, ge=1)
    data: DataConfig
    scale: Scale = Field(default_factory=Scale)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    nps: NpsModelConfig = Field(default_factory=NpsModelConfig)
    response: ResponseConfig = Field(default_factory=ResponseConfig)
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    survey_design: SurveyDesignConfig = Field(default_factory=SurveyDesignConfig)
    drivers: DriversConfig = Field(default_factory=DriversConfig)
    churn: ChurnConfig = Field(default_factory=ChurnConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    campaign: CampaignConfig = Field(default_factory=CampaignConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    text: TextConfig = Field(default_factory=TextConfig)

    # set by load_config, not by users
    base_dir: Path = Field(default=Path("."), exclude=True)

    def absent_stages(self) -> dict[str, str]:
        """The stages this config cannot train, each with why (stage -> reason): `train` skips them, the bundle
        records them, the playbook may not name their columns, the report says why their sections are absent."""
        absent = {}
        if self.data.survey is None:
            absent |= dict.fromkeys(SURVEY_STAGES, "no survey table (data.survey)")
        if self.data.outcomes is None:
            absent["churn"] = "no outcomes table (data.outcomes)"
        elif not self.churn.enabled:
            absent["churn"] = "churn.enabled is false"
        return absent

    def resolve(self, path: str | Path) -> Path:
        """Resolve a path from the config against the config file's folder (absolute paths pass through)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def resolved_strategy(self) -> StrategyConfig:
        """The `strategy` section with its playbook path resolved against the config file's folder: what the
        actions stage is fitted and loaded with (it never sees the whole config)."""
        playbook = self.strategy.playbook
        return self.strategy.model_copy(update={"playbook": str(self.resolve(playbook))}) if playbook else self.strategy

    def data_path(self, path: str | Path) -> Path:
        """Resolve a data file path against `data.dir`."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.resolve(self.data.dir) / p

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"base_dir"})

    def fingerprint(self) -> str:
        """Stable hash of the effective config, recorded with every run."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
