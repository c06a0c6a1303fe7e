"""The stage protocol: the one shape of every step that is fitted at training and adds columns when scoring.

NPS, churn, reasons and uplift (models/stages.py), text (workflows/text.py), drivers (explain/stage.py) and
actions (actions/strategy.py) each implement `Stage`. A workflow only puts stages in order and does the I/O:
`train` fits them in order through `Training.fit_stages`, each by `fit(training, settings)`
(workflows/train.py:fitting_order), and
`run_stages` is the one sequence that `cxpredict score`, the MLflow pyfunc model, Spark and the Python
`Pipeline` all run over a batch (workflows/score.py:score_frame).

The protocol is structural (`typing.Protocol`): a stage does not import this module to be one, so a stage of
any layer fits it, and this base module imports no layer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from cxpredict.errors import ConfigError


@dataclass
class Batch:
    """One batch of customers as the stages see it (index = customer id, in the same order in all three).

    frame: the raw customer columns (the user's names); features: the model matrix built from them by the
    bundle's feature manifest; scored: the columns the earlier stages added (and the survey answers)."""

    frame: pd.DataFrame
    features: pd.DataFrame
    scored: pd.DataFrame


@dataclass
class Training:
    """What a stage is fitted on besides its own settings section, and what the run records while it fits.

    The workflow that orders the stages builds it once; each stage's `fit(training, settings)` reads the
    customers, the feature matrix and the stages fitted before it, and writes what it learned about the data
    into `metrics` (metrics.json) and `reports`."""

    customers: Any  # data.customers.CustomerData: the joined customer tables, answers, outcomes, stated reasons
    features: pd.DataFrame | None  # the model matrix of every customer (None for a stage fitted before it)
    manifest: Any  # data.features.FeatureManifest that built `features`
    seed: int
    absent: dict[str, str] = field(default_factory=dict)  # stages the data does not allow, with why
    invitations: Any = None  # data.invitations.Invitations: the survey-design rounds, if any
    texts: Any = None  # data.text.TextData: the declared text columns, read by the workflow
    previous_texts: Any = None  # (path, TextModels) of an earlier bundle, whose topic names a retrain keeps
    fitted: dict[str, Any] = field(default_factory=dict)  # the stages fitted so far, by name
    weights: np.ndarray | None = None  # the respondents' population weights, set by the NPS stage's fit
    scored: pd.DataFrame | None = None  # the fitted stages' columns for every customer (the workflow's run_stages)
    metrics: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, Any] = field(default_factory=dict)

    def fit_stages(self, order: Iterable[tuple[Any, Any]], timer: Any = None) -> None:
        """Fit each stage of `order` ((stage class, its own settings section), in order) on this training; the
        fitted ones join `fitted`. `timer`: a provenance.Timer that times each stage by its name."""
        for stage, settings in order:
            with timer(stage.name) if timer is not None else contextlib.nullcontext():
                fitted = stage.fit(self, settings)
            if fitted is not None:
                self.fitted[fitted.name] = fitted

    def score_fitted(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Every fitted stage's columns for every customer (`frame` and `features`), as scoring adds them; a stage
        whose columns its fit already left in `scored` (the NPS stage's predictions) is not predicted again."""
        done = self.scored if self.scored is not None else pd.DataFrame(index=self.features.index)
        todo = [s for s in self.fitted.values() if not set(s.adds()) <= set(done.columns)]
        return run_stages(todo, Batch(frame, self.features, done))


@runtime_checkable
class Stage(Protocol):
    """A step fitted on training data that adds columns to each scored batch.

    - `fit(training, settings)` (a classmethod) learns from a `Training` and the stage's OWN settings section
      (e.g. `ChurnConfig`), never the whole config; it returns None when the stage has nothing to learn from.
    - `transform` is a pure function of one batch: it returns only the `adds()` columns (index of the batch),
      reading only the `needs()` columns of `batch.scored` plus the batch's frame and features. Run-wide
      accumulations (key-driver totals, the capacity queue) stay with the workflow that owns the run.
    - `save(bundle_dir)` writes what the stage owns into the bundle folder as JSON plus native model files
      (LightGBM text), never a pickle; `load(bundle_dir, settings, upstream)` reads it back with the scoring
      config's section (business rules may change without retraining) and the stages loaded before it.
    """

    name: str  # its bundle sub-folder (if it saves one) and its place in `needs`/`adds` error messages

    def needs(self) -> tuple[str, ...]:
        """Columns of `batch.scored` it reads (added by earlier stages)."""
        ...

    def adds(self) -> tuple[str, ...]:
        """Columns it returns from `transform`, in order."""
        ...

    def transform(self, batch: Batch) -> pd.DataFrame:
        ...

    def save(self, bundle_dir: Path) -> None:
        ...

    # Stages that `train` fits also have `fit(training: Training, settings) -> Stage | None` (a classmethod, so
    # not checked by isinstance): the uplift stage is fitted by `learn` and the text stage before the features.


def drops(stage: Stage, columns: Iterable[str]) -> tuple[str, ...]:
    """Of `columns`, the intermediates a stage consumes and removes from the batch (its optional
    `consumes(columns)`: the actions stage takes uplift_<strategy> out of the scored file)."""
    consumes = getattr(stage, "consumes", None)
    return tuple(consumes(list(columns))) if consumes is not None else ()


def check_order(stages: Iterable[Stage], available: Iterable[str] = ()) -> None:
    """ConfigError when a stage needs a column no earlier stage adds (nor `available` holds)."""
    have = set(available)
    for stage in stages:
        missing = [c for c in stage.needs() if c not in have]
        if missing:
            raise ConfigError(f"stage '{stage.name}' needs column(s) {missing} that no earlier stage adds; "
                              f"earlier stages add {sorted(have)}")
        have |= set(stage.adds())
        have -= set(drops(stage, have))


def run_stages(stages: Iterable[Stage], batch: Batch) -> pd.DataFrame:
    """The one scoring sequence: each stage in order adds its columns to `batch.scored` (a column a stage adds
    again replaces the earlier one, moved to the end); returns the scored columns."""
    for stage in stages:
        added = stage.transform(batch)
        scored = batch.scored
        gone = [c for c in (*added.columns, *drops(stage, scored.columns)) if c in scored.columns]
        batch.scored = pd.concat([scored.drop(columns=gone) if gone else scored, added], axis=1)
    return batch.scored


def stage_named(stages: Iterable[Stage], name: str) -> Any:
    """The stage called `name` in an order, or None."""
    return next((s for s in stages if s.name == name), None)
