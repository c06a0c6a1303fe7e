"""The data layer's settings: the input tables (`data`), how text files are read, the DuckDB engine's limits, and
which columns become features (`features`).
"""

from __future__ import annotations

import codecs
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cxpredict.config.base import COMMON_ENCODINGS, IsoDate, PathName, PathText, Strict, check_unique


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
    # a feature table written by `cxpredict features` (Parquet, its manifest beside it): train and score read the
    # behaviour features from it instead of building them, after checking its manifest against this config
    features: PathText | None = None
    # invitation logs of `cxpredict survey-plan` (one file or a list, e.g. one per round): who was invited with
    # which inclusion probability; training then learns who answers an invitation and weights by the design
    invitations: PathText | list[PathText] | None = None
    as_of: IsoDate | None = None  # reference date for event windows (ISO); default: latest event timestamp
    # true: accept an as_of later than the last event by more than the shortest event window (an error otherwise:
    # every customer's window would be empty and due dates would count from a day the data does not describe)
    force_as_of: bool = False
    read: ReadOptions = Field(default_factory=ReadOptions)
    # who aggregates event tables: duckdb straight from the files (events never held in memory), pandas
    # (in memory: the reference the parity tests compare against), or spark (the active SparkSession's cluster, or
    # local mode: data/spark_events.py)
    engine: Literal["duckdb", "pandas", "spark"] = "duckdb"
    duckdb: DuckDBSettings = Field(default_factory=DuckDBSettings)
    # where the tables live when not in files: a DuckDB database file, a postgresql:// URL without a password
    # (credentials from PGPASSWORD / PGPASSFILE), or `spark` (the tables and views of the active SparkSession,
    # with engine: spark); every table's `path` is then a table name or `query: SELECT ...`
    source: str | None = None

    @field_validator("source")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        """A password never sits in a config (nor, through it, in a manifest, a log or MLflow); the message does
        not repeat the URL."""
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(value.strip()) if value and "://" in value else None
        if parts is not None and (parts.password is not None or "password" in parse_qs(parts.query)):
            raise ValueError("the URL holds a password; remove it: the password comes from the environment "
                             "(PGPASSWORD, or a password file named by PGPASSFILE, default ~/.pgpass)")
        return value

    @model_validator(mode="after")
    def _spark_source_on_spark(self) -> DataConfig:
        """A Spark session's tables are aggregated by Spark, where they live (not fetched to another engine)."""
        if self.source is not None and self.source.strip().lower() == "spark" and self.engine != "spark":
            raise ValueError(f"data.source: spark reads the active SparkSession's tables, which Spark aggregates; "
                             f"set data.engine: spark (it is {self.engine!r})")
        return self

    @field_validator("behaviour")
    @classmethod
    def _unique_names(cls, tables: list[BehaviourTable]) -> list[BehaviourTable]:
        check_unique("behaviour table names", [t.name for t in tables])
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


class FeaturesConfig(Strict):
    """Which behaviour columns become model features: `include` (None = all) minus `exclude`."""

    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    categorical: list[str] | None = None  # None: every text column
    max_categories: int = 200  # rarer levels fold into "other"
    min_category_count: int = 5
