"""Pydantic models for every YAML config. Unknown keys are rejected so a typo never silently does nothing.

A config is loaded once, at the edge (CLI or script), with `load_config(path, overrides)`; the rest of the
package receives the validated `Config` object. Relative paths resolve against the config file's folder, so a
scheduler can run from any working directory.

Every value that reaches a library or the file system is checked here, so a bad one is exit code 2 naming its
key and the allowed values, never a traceback deep inside pyarrow or pathlib: names that become parts of file
names (`PathName`), path strings (`PathText`), text encodings, CSV delimiter and quote characters, and dates
(`--set data.as_of=2027-06-30` and an unquoted YAML date are dates, not strings).
"""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from cxpredict.errors import ConfigError, did_you_mean

# shipped with the package (pyproject package-data): the demo config and the default playbook
RESOURCES = Path(__file__).resolve().parent / "resources"
DEMO_CONFIG = RESOURCES / "demo.yaml"
DEFAULT_PLAYBOOK = RESOURCES / "playbook.yaml"


class Strict(BaseModel):
    """Base for all config sections: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------------------------- edge checks
MAX_NAME_BYTES = 128


def check_path_name(value: str) -> str:
    """A name that becomes part of a file or folder name (config `name`, table, playbook and rule names): one
    plain path component, so `name: ../../elsewhere` can never move an output out of its folder."""
    if not value.strip():
        raise ValueError("must not be empty")
    if "/" in value or "\\" in value:
        raise ValueError(f"{value!r} becomes part of a file name, so it must not contain '/' or '\\' "
                         "(no paths, no absolute paths); use e.g. letters, digits, '-' and '_'")
    if value.startswith("."):
        raise ValueError(f"{value!r} becomes part of a file name, so it must not start with '.' (no '..', no "
                         "hidden names)")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{value!r} holds control characters; use printable text")
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"is {len(value.encode('utf-8'))} bytes long; at most {MAX_NAME_BYTES} fit in a file name")
    return value


def check_path_text(value: str) -> str:
    """A path string from the config: not empty, no NUL byte (which the operating system cannot take)."""
    if not value.strip():
        raise ValueError("must not be empty; give a file or folder path")
    if "\0" in value:
        raise ValueError(f"{value!r} holds a NUL byte, which no file path can contain")
    return value


def _iso_date(value: Any) -> Any:
    """Dates as YAML and `--set` parse them (2027-06-30 unquoted is a date) or ISO text, kept as ISO text."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, str):
        try:
            dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date; use e.g. 2027-06-30 or 2027-06-30T23:00:00") from None
        return value.strip()
    raise ValueError(f"{value!r} is not a date; use e.g. 2027-06-30 or 2027-06-30T23:00:00")


def check_number(option: str, value: float | int | None, example: str, **limits: float) -> float | int | None:
    """A number handed over on the command line or in the Python API, through the same pydantic checks as the
    config's numbers (`limits`: gt, ge, lt, le), and finite: exit 2 naming the option, the value and an example
    (`--budget nan` must not slip past a `budget > 0` test, which NaN fails silently). None stays None."""
    if value is None:
        return None
    kind = int if isinstance(value, int) and not isinstance(value, bool) else float
    try:
        return TypeAdapter(Annotated[kind, Field(allow_inf_nan=False, **limits)]).validate_python(value)
    except ValidationError as e:
        msg = e.errors()[0]["msg"].replace("Input should be", "must be")
        raise ConfigError(f"{option} {value}: {msg}; e.g. {option} {example}") from None


PathName = Annotated[str, AfterValidator(check_path_name)]
PathText = Annotated[str, AfterValidator(check_path_text)]
IsoDate = Annotated[str, BeforeValidator(_iso_date)]
COMMON_ENCODINGS = "utf-8, utf-8-sig, utf-16, utf-16-le, utf-16-be, utf-32, latin-1, cp1252, iso-8859-15"


# --------------------------------------------------------------------------------------------- scale
class Scale(Strict):
    """Survey scale and its class cut points. NPS 0-10 by default; CSAT 1-5 is min=1, max=5, cuts 3 and 5."""

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


# --------------------------------------------------------------------------------------------- data
class ReadOptions(Strict):
    """How text files are parsed. The defaults keep a literal 'None' category as text (see telco traps).
    A file that starts with a byte-order mark is read in the encoding the mark names, whatever `encoding` says."""

    encoding: str = "utf-8"
    delimiter: str = ","
    quote_char: str = '"'  # "" turns quoting off
    na_values: list[str] = Field(default_factory=lambda: [""])

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            info = codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; use a text encoding such as {COMMON_ENCODINGS}") from None
        if not getattr(info, "_is_text_encoding", True):
            raise ValueError(f"{value!r} is not a text encoding; use one such as {COMMON_ENCODINGS}")
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in "\r\n\"":
            raise ValueError(f"must be one character other than a line break or '\"', got {value!r}; e.g. ',' "
                             "';' '|' or a tab")
        return value

    @field_validator("na_values", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        """`na_values: [NA, -999]`: YAML makes -999 a number; a marker for missing is compared as text."""
        if isinstance(value, list):
            return [str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in value]
        return value

    @model_validator(mode="after")
    def _quote_differs(self) -> ReadOptions:
        if len(self.quote_char) > 1 or self.quote_char in ("\r", "\n") or (
                self.quote_char and self.quote_char == self.delimiter):
            raise ValueError(f"data.read.quote_char must be one character (not a line break, not the delimiter "
                             f"{self.delimiter!r}) or '' for no quoting, got {self.quote_char!r}")
        return self


class SurveyTable(Strict):
    path: PathText
    key: str | None = None  # defaults to data.key
    score: str = "score"
    reasons: str | None = None  # ';'-separated reason codes
    answered_at: str | None = None


class Aggregation(Strict):
    """One windowed feature from an event table: `agg` of `column` over the last `window_days` days."""

    column: str | None = None  # None with agg=count
    agg: Literal["count", "sum", "mean", "max", "min", "nunique"] = "count"
    window_days: int | None = None  # None: all history
    name: str | None = None  # default: {table}_{column}_{agg}_{window}d


class BehaviourTable(Strict):
    name: PathName
    path: PathText
    key: str | None = None  # defaults to data.key
    kind: Literal["customer", "events", "lookup"] = "customer"
    columns: list[str] | None = None  # None: all columns
    # events: aggregated per customer over windows ending at data.as_of
    timestamp: str | None = None
    aggregations: list[Aggregation] = Field(default_factory=list)
    # lookup: joined on a column already present (e.g. population by zip code through location)
    join_on: str | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> BehaviourTable:
        if self.kind == "events" and (not self.timestamp or not self.aggregations):
            raise ValueError(f"events table '{self.name}' needs 'timestamp' and at least one aggregation")
        if self.kind == "lookup" and not self.join_on:
            raise ValueError(f"lookup table '{self.name}' needs 'join_on' (a column of an earlier table)")
        return self


class OutcomesTable(Strict):
    path: PathText
    key: str | None = None
    label: str = "churned"
    churned_at: str | None = None


class DuckDBSettings(Strict):
    """DuckDB's limits for building features from event tables (data.engine: duckdb): past `memory_limit` it
    spills to a fresh folder under `temp_directory` (relative to the config file), removed when the run ends."""

    memory_limit: str | None = None  # e.g. "4GB"; None: DuckDB's default (80% of the machine's memory)
    temp_directory: PathText | None = None  # None: the system's temp folder


class DataConfig(Strict):
    """The input tables. A survey table (the NPS stages) or an outcomes table (churn) may be left out, not both:
    a churn-only or survey-only config trains and scores the stages its tables allow (Config.absent_stages)."""

    dir: PathText = "."
    key: str = "customer_id"
    survey: SurveyTable | None = None
    behaviour: list[BehaviourTable] = Field(min_length=1)
    outcomes: OutcomesTable | None = None
    population: PathText | None = None  # optional wide table (CSV, Parquet, or a folder of Parquet) to stream
    # invitation logs of `cxpredict survey-plan` (one file or a list, e.g. one per round): who was invited with
    # which inclusion probability; training then learns who answers an invitation and weights by the design
    invitations: PathText | list[PathText] | None = None
    as_of: IsoDate | None = None  # reference date for event windows (ISO); default: latest event timestamp
    # true: accept an as_of later than the last event by more than the shortest event window (an error otherwise:
    # every customer's window would be empty and due dates would count from a day the data does not describe)
    force_as_of: bool = False
    read: ReadOptions = Field(default_factory=ReadOptions)
    # who aggregates event tables: duckdb straight from the files (events never held in memory), or pandas
    # (in memory: the reference the parity tests compare against)
    engine: Literal["duckdb", "pandas"] = "duckdb"
    duckdb: DuckDBSettings = Field(default_factory=DuckDBSettings)

    @field_validator("behaviour")
    @classmethod
    def _unique_names(cls, tables: list[BehaviourTable]) -> list[BehaviourTable]:
        names = [t.name for t in tables]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"behaviour table names must be unique, repeated: {dupes}")
        return tables

    @model_validator(mode="after")
    def _something_to_learn(self) -> DataConfig:
        if self.survey is None and self.outcomes is None:
            raise ValueError("data needs a survey table (data.survey: the NPS model), an outcomes table "
                             "(data.outcomes: the churn model), or both; neither is set")
        if self.survey is None and self.invitations:
            raise ValueError("data.invitations records who was invited to the survey, so it needs data.survey; "
                             "add the survey table or remove data.invitations")
        return self


# --------------------------------------------------------------------------------------------- features
class FeaturesConfig(Strict):
    """Which behaviour columns become model features: `include` (None = all) minus `exclude`."""

    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    categorical: list[str] | None = None  # None: every text column
    max_categories: int = 200  # rarer levels fold into "other"
    min_category_count: int = 5


# --------------------------------------------------------------------------------------------- models
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

    @model_validator(mode="before")
    @classmethod
    def _params_keep_plain_defaults(cls, data: Any) -> Any:
        """`nps.params.n_jobs=1` must not reset the other plain defaults to the generic LgbmParams ones."""
        if isinstance(data, dict) and isinstance(data.get("params"), dict):
            data = {**data, "params": {**PLAIN_LGBM, **data["params"]}}
        return data


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

    @model_validator(mode="before")
    @classmethod
    def _params_keep_response_defaults(cls, data: Any) -> Any:
        """`response.params.n_jobs=1` must not silently reset the other response defaults to generic ones."""
        if isinstance(data, dict) and isinstance(data.get("params"), dict):
            data = {**data, "params": {**RESPONSE_PARAM_DEFAULTS, **data["params"]}}
        return data


class PopulationConfig(Strict):
    """Population NPS (doubly robust, see cxpredict/estimation/population.py) and its interval."""

    interval: float = Field(default=0.90, gt=0, lt=1)
    interval_method: Literal["influence", "bootstrap"] = "influence"
    bootstrap: int = Field(default=200, ge=20)  # replicates with interval_method: bootstrap
    segments: list[str] = Field(default_factory=list)


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
    n_jobs: int | None = Field(default=None, ge=1)  # attribution kernel threads; None: the run's budget
    segments: list[str] = Field(default_factory=list)  # customer columns for the segment KDA report
    reason_themes: dict[str, str] = Field(default_factory=dict)  # reason code -> theme
    reasons_top_k: int = Field(default=2, ge=1)  # reason_1..k columns
    reason_min_prob: float = Field(default=0.05, ge=0, le=1)  # less likely reasons are left empty
    reason_min_count: int = Field(default=20, ge=1)  # codes stated by fewer respondents get no model
    reason_params: LgbmParams = Field(
        default_factory=lambda: LgbmParams(n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=20))


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
    max_rows: int = Field(default=200_000, ge=1_000)

    @model_validator(mode="after")
    def _bands_ordered(self) -> ChurnConfig:
        _check_bands("churn.risk_bands", self.risk_bands, self.risk_band_labels, unit_interval=True)
        return self


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
        _check_bands("strategy.value_bands", self.value_bands, self.value_band_labels,
                     unit_interval=self.value_band_mode == "quantile")
        return self


def _check_bands(name: str, cuts: list[float], labels: list[str] | None, unit_interval: bool) -> None:
    """Cut points strictly increasing (inside (0, 1) for probabilities/quantiles); labels one more than cuts."""
    if any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise ValueError(f"{name} must be strictly increasing, got {cuts}")
    if unit_interval and any(not 0 < c < 1 for c in cuts):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {cuts}")
    if labels is not None and len(labels) != len(cuts) + 1:
        raise ValueError(f"{name}: need {len(cuts) + 1} labels for {len(cuts)} cut points, got {labels}")
    if labels is None and len(cuts) > 4:
        raise ValueError(f"{name}: more than 4 cut points need explicit labels ({name.split('.')[0]}..._labels)")


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
    # survey answers collected during the campaign that join the next training round (see docs: MAR)
    feed_answers: Literal["none", "control", "all"] = "none"


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


class TrackingConfig(Strict):
    enabled: bool = True
    uri: str | None = None  # default: MLFLOW_TRACKING_URI, else sqlite under the project
    experiment: str = "cxpredict"
    registered_model: str = "cxpredict-nps"


class CsvOptions(Strict):
    """CSV dialect of the people files. Excel and LibreOffice in a European locale (German, French, ...) read
    '1.5' as text; there write `delimiter: ";"` and `decimal: ","`."""

    delimiter: str = ","
    decimal: Literal[".", ","] = "."

    @model_validator(mode="after")
    def _distinct(self) -> CsvOptions:
        if len(self.delimiter) != 1 or self.delimiter in ('"', "\n", "\r"):
            raise ValueError(f"outputs.csv.delimiter must be one character such as ',' ';' or a tab, got "
                             f"{self.delimiter!r}")
        if self.delimiter == self.decimal:
            raise ValueError("outputs.csv.delimiter and outputs.csv.decimal must differ; with decimal ',' use "
                             "delimiter ';'")
        return self


class OutputsConfig(Strict):
    """The files and the report people read: format, CSV dialect, currency, business labels."""

    format: Literal["csv", "xlsx", "parquet"] | None = None  # None: from the extension of `score --out`
    csv: CsvOptions = Field(default_factory=CsvOptions)
    currency: str | None = None  # shown with money, e.g. EUR, USD, "€" (None: plain numbers)
    # feature, driver group, reason code or column -> the words people know ("tickets_count_30d": "Support
    # tickets, last 30 days"); anything not listed is prettified (tickets_count_30d -> "Tickets count 30d")
    labels: dict[str, str] = Field(default_factory=dict)
    files_per_team: bool = False  # also work_orders/<owner_team>.<format>, one file per team


# --------------------------------------------------------------------------------------------- text
class TextColumn(Strict):
    """A free-text column anywhere: the survey's comment (`table: survey`), a column of a table of data.behaviour
    (a customer table: one text per customer; an events table: texts over its windows), or a table of its own
    (`path`; with `timestamp` its texts are counted over text.windows, without one all of them count)."""

    table: str  # "survey", a table of data.behaviour, or a name for the table at `path`
    column: str
    language: Literal["en", "zh", "auto"] = "auto"  # auto: per text, by its share of CJK characters
    path: PathText | None = None  # a text-only table (one or many texts per customer), not in data.behaviour
    key: str | None = None  # with path: its customer ID column (default data.key)
    timestamp: str | None = None  # with path: when each text was written (windows); none: every text counts

    @model_validator(mode="after")
    def _own_table(self) -> TextColumn:
        if self.path is None and (self.key or self.timestamp):
            raise ValueError(f"text.columns {self.table}.{self.column}: 'key' and 'timestamp' describe a table of "
                             "its own; give its 'path' too, or leave them out for a table of data.behaviour")
        return self


class TopicLabel(Strict):
    """A business name for the learned topics whose top terms include these words (any language)."""

    name: str  # e.g. "billing": drivers read "Complaints about billing"
    terms: list[str] = Field(min_length=1)
    theme: str | None = None  # stated-reason theme (drivers.reason_themes values, DriverGroup.theme)


class TextConfig(Strict):
    """Free text as evidence: topics (TF-IDF + NMF per language), a dissatisfaction score learned from the
    respondents' own answers, stated reasons from comments, and windowed per-customer features of event texts."""

    enabled: bool = True  # false: declared text columns are ignored (the demo's default)
    columns: list[TextColumn] = Field(default_factory=list)
    n_topics: int = Field(default=8, ge=2, le=100)  # per language
    topics: list[TopicLabel] = Field(default_factory=list)
    windows: list[int] = Field(default_factory=lambda: [90], min_length=1)  # days before data.as_of
    min_df: int = Field(default=3, ge=1)  # terms in fewer texts are ignored
    max_features: int = Field(default=20_000, ge=10)  # vocabulary size per language
    max_chars: int = Field(default=2_000, ge=20)  # longer texts are cut (counted in the warnings)
    complaint_min: float = Field(default=0.5, ge=0, le=1)  # a text with P(detractor) >= this is a complaint
    cv_folds: int = Field(default=5, ge=2)  # respondents' own texts are scored by models that never saw them
    examples: int = Field(default=3, ge=0, le=20)  # example texts kept per topic (report)
    reason_min_count: int = Field(default=20, ge=1)  # comments stating a code; fewer: no comment model for it
    # the bundle whose topic names a retrain keeps (topics matched by their words); None: the bundle train replaces
    previous_bundle: PathText | None = None

    @model_validator(mode="after")
    def _distinct(self) -> TextConfig:
        sources = [(c.table, c.column) for c in self.columns]
        if len(set(sources)) < len(sources):
            raise ValueError(f"text.columns repeats a (table, column) pair: {sources}")
        names = [t.name for t in self.topics]
        if len(set(names)) < len(names):
            raise ValueError(f"text.topics names must be unique, got {names}")
        if any(w < 1 for w in self.windows) or len(set(self.windows)) < len(self.windows):
            raise ValueError(f"text.windows must be distinct whole days >= 1, got {self.windows}")
        return self

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.columns)


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


# --------------------------------------------------------------------------------------------- loading
def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value, e.g. nps.params.num_leaves=31")
    dotted, raw = text.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        return keys, yaml.safe_load(raw) if raw.strip() else None
    except ValueError:  # YAML took it for a date but it is none (2026-13-45): the schema explains it as text
        return keys, raw.strip()
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{text}': the value is not valid YAML ({e}); quote text, e.g. "
                          f"{dotted}='\"{raw}\"'") from None


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply dotted `key.sub=value` overrides (values parsed as YAML) to a raw config dict; a number picks an
    item of a list (`data.behaviour.0.path=...`)."""
    for text in overrides or []:
        keys, value = _parse_override(text)
        node: Any = raw
        for depth, k in enumerate(keys):
            last = depth == len(keys) - 1
            where = ".".join(keys[:depth]) or "the top level"
            if isinstance(node, list):
                if not (k.isdigit() and int(k) < len(node)):
                    raise ConfigError(f"override '{text}': {where} is a list of {len(node)} item(s); use an index "
                                      f"from 0 to {len(node) - 1} instead of '{k}'")
                k = int(k)
            elif not isinstance(node, dict):
                raise ConfigError(f"override '{text}': {where} is a value, not a section")
            if last:
                node[k] = value
            else:
                if isinstance(node, dict) and not isinstance(node.get(k, {}), (dict, list)):
                    raise ConfigError(f"override '{text}': '{k}' is not a section")
                node = node.setdefault(k, {}) if isinstance(node, dict) else node[k]
    return raw


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The config section class inside a field's annotation (X, X | None, list[X], dict[str, X], Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _section_model(arg)
        if found is not None:
            return found
    return None


def known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The valid keys of the section at `loc` (a pydantic error location; list indexes skipped), [] if unknown."""
    node: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = node.model_fields.get(part) if node is not None else None
        node = _section_model(field.annotation) if field is not None else None
    return [f.alias or name for name, f in node.model_fields.items() if not f.exclude] if node is not None else []


def _key_hint(model: type[BaseModel], loc: tuple) -> str:
    """' (did you mean 'x'?); valid keys here: ...' for an unknown key at `loc`; a key of a sub-section counts too
    (nps.num_leafs -> 'params.num_leaves')."""
    keys = known_keys(model, loc[:-1])
    if not keys:
        return " (check the spelling; cxpredict/config.py lists every valid key)"
    hint = did_you_mean(loc[-1], keys)
    if not hint:
        deeper = {sub: f"{k}.{sub}" for k in keys for sub in known_keys(model, (*loc[:-1], k))}
        close = difflib.get_close_matches(str(loc[-1]), list(deeper), n=1)
        hint = f" (did you mean '{deeper[close[0]]}'?)" if close else ""
    return f"{hint}; valid keys here: {', '.join(keys)}"


def format_validation_error(path: Path, err: ValidationError, model: type[BaseModel] | None = None) -> str:
    """A pydantic error as the message of a ConfigError: the file, then one line per bad key (configs, playbooks);
    an unknown key gets the closest valid key of its section (`model`: the file's schema, default Config)."""
    lines = [f"{path}: invalid config ({err.error_count()} problem{'s' if err.error_count() > 1 else ''})"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key" + _key_hint(model or Config, e["loc"])
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)


def read_yaml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A YAML mapping from `path`; `what` names the file in errors (e.g. "playbook (strategy.playbook)")."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.y*ml"))[:5]
        raise ConfigError(f"{what} {path} is a folder, not a YAML file; pass the file itself"
                          + (f", e.g. {path / found[0]} (YAML files there: {found})" if found else ""))
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path.absolute()}; check the path (relative paths start from the "
                          "current folder on the command line, from the config's folder inside a config)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError) as e:  # ValueError: date 2026-13-45
        raise ConfigError(f"{path}: not valid UTF-8 YAML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what}: {e.strerror}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping, got {type(raw).__name__}")
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a config file. Raises ConfigError naming the file and every bad key."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), overrides)
    return config_from_dict(raw, base_dir=path.resolve().parent, source=path)


def demo_config(data_dir: str | Path = "data/demo", overrides: list[str] | None = None) -> Config:
    """The packaged demo config, reading its tables from `data_dir` (relative to the working folder), where
    `cxpredict demo` writes them; the playbook is the packaged one."""
    cfg = load_config(DEMO_CONFIG, overrides)
    cfg.data.dir = str(Path(data_dir).expanduser().resolve())
    return cfg


def config_from_dict(raw: dict[str, Any], base_dir: str | Path = ".", source: str | Path = "<dict>") -> Config:
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(Path(source), e)) from None
    cfg.base_dir = Path(base_dir).resolve()
    return cfg
