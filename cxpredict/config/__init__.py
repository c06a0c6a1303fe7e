"""Pydantic models for every YAML config, and their loading. Unknown keys are rejected so a typo never silently
does nothing.

The package, bottom to top: `base` (the strict base model and the value checks), one module of sections per
layer that reads them (`data`, `models`, `estimation`, `explain`, `actions`, `text`, `campaign`, `io`,
`workflows`), `schema` (the top-level `Config` composing the sections) and `loading` (YAML, `key=value`
overrides, did-you-mean messages). Every section sits in this base package, not beside its layer, because the
data layer reads the whole `Config`. The names below are the package's API: import them from `cxpredict.config`.
"""

from cxpredict.config.actions import HoldoutConfig, StrategyConfig
from cxpredict.config.base import (
    COMMON_ENCODINGS,
    MAX_NAME_BYTES,
    IsoDate,
    PathName,
    PathText,
    Strict,
    check_bands,
    check_number,
    check_path_name,
    check_path_text,
    check_unique,
)
from cxpredict.config.campaign import CampaignConfig, CampaignResultsTable
from cxpredict.config.data import (
    Aggregation,
    BehaviourTable,
    DataConfig,
    DuckDBSettings,
    FeaturesConfig,
    OutcomesTable,
    ReadOptions,
    SurveyTable,
)
from cxpredict.config.estimation import PopulationConfig, SurveyDesignConfig
from cxpredict.config.explain import DriverGroup, DriversConfig
from cxpredict.config.io import CsvOptions, OutputsConfig, TrackingConfig
from cxpredict.config.loading import (
    DEFAULT_PLAYBOOK,
    DEMO_CONFIG,
    RESOURCES,
    apply_overrides,
    config_from_dict,
    demo_config,
    format_validation_error,
    known_keys,
    load_config,
    read_yaml,
)
from cxpredict.config.models import (
    PLAIN_LGBM,
    RESPONSE_PARAM_DEFAULTS,
    ChurnConfig,
    LgbmParams,
    NpsContestConfig,
    NpsModelConfig,
    ResponseConfig,
    ThresholdConfig,
    ValueConfig,
)
from cxpredict.config.schema import Config
from cxpredict.config.text import TextColumn, TextConfig, TopicLabel
from cxpredict.config.workflows import DriftConfig, ScoringConfig, TuningConfig
from cxpredict.domain import CLASSES, SURVEY_STAGES, Scale

__all__ = [
    "CLASSES", "COMMON_ENCODINGS", "DEFAULT_PLAYBOOK", "DEMO_CONFIG", "MAX_NAME_BYTES", "PLAIN_LGBM", "RESOURCES",
    "RESPONSE_PARAM_DEFAULTS", "SURVEY_STAGES", "Aggregation", "BehaviourTable", "CampaignConfig",
    "CampaignResultsTable", "ChurnConfig", "Config", "CsvOptions", "DataConfig", "DriftConfig", "DriverGroup",
    "DriversConfig", "DuckDBSettings", "FeaturesConfig", "HoldoutConfig", "IsoDate", "LgbmParams", "NpsContestConfig", "NpsModelConfig",
    "OutcomesTable", "OutputsConfig", "PathName", "PathText", "PopulationConfig", "ReadOptions", "ResponseConfig",
    "Scale", "ScoringConfig", "Strict", "StrategyConfig", "SurveyDesignConfig", "SurveyTable", "TextColumn",
    "TextConfig", "ThresholdConfig", "TopicLabel", "TrackingConfig", "TuningConfig", "ValueConfig",
    "apply_overrides", "check_bands", "check_number", "check_path_name", "check_path_text", "check_unique",
    "config_from_dict", "demo_config", "format_validation_error", "known_keys", "load_config", "read_yaml",
]
