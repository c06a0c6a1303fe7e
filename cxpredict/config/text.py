"""Free text's settings (`text`): which columns hold text, topics and their business names, windows and limits.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cxpredict.config.base import PathText, Strict, check_unique


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
    # embeddings: TF-IDF plus wordllama's static word embeddings for English texts (offline, weights in the
    # package; +0.010 and +0.016 mean detractor AUC over TF-IDF alone on three real English review sets, two seeds,
    # experiments/text_real); tfidf: words only (faster; Chinese is always words only)
    method: Literal["tfidf", "embeddings"] = "embeddings"
    n_topics: int = Field(default=8, ge=2, le=100)  # per language
    topics: list[TopicLabel] = Field(default_factory=list)
    windows: list[int] = Field(default_factory=lambda: [90], min_length=1)  # days before data.as_of
    min_df: int = Field(default=3, ge=1)  # terms in fewer texts are ignored
    max_features: int = Field(default=20_000, ge=10)  # vocabulary size per language
    max_chars: int = Field(default=2_000, ge=20)  # longer texts are cut (counted in the warnings)
    # a text with P(detractor) >= this is a complaint; None: the level at which the share of respondents' texts read
    # as complaints equals their share written by detractors (a fixed 0.5 flagged none when few answered)
    complaint_min: float | None = Field(default=None, ge=0, le=1)
    cv_folds: int = Field(default=5, ge=2)  # respondents' own texts are scored by models that never saw them
    examples: int = Field(default=3, ge=0, le=20)  # example texts kept per topic (report)
    reason_min_count: int = Field(default=20, ge=1)  # comments stating a code; fewer: no comment model for it
    # the bundle whose topic names a retrain keeps (topics matched by their words); None: the bundle train replaces
    previous_bundle: PathText | None = None

    @model_validator(mode="after")
    def _distinct(self) -> TextConfig:
        check_unique("text.columns (table, column) pairs", [f"{c.table}.{c.column}" for c in self.columns])
        check_unique("text.topics names", [t.name for t in self.topics])
        if any(w < 1 for w in self.windows) or len(set(self.windows)) < len(self.windows):
            raise ValueError(f"text.windows must be distinct whole days >= 1, got {self.windows}")
        return self

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.columns)
