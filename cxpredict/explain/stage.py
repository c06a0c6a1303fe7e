"""The drivers stage under the stage protocol (cxpredict/stages.py): driver_1..k with their impacts, and the
stated reasons (models/stages.py: ReasonStage) of the same rows, for one batch.

Built from the fitted NPS model (the explainer's tree arrays, explain/drivers.py) and holds no per-batch
state, so every batch, thread or pyfunc call may share it. What sums over a run (the KDA tables and the
reason/driver theme agreement) goes into a `DriverTotals` that only the run creates (`counting(totals)`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxpredict.config import DriversConfig
from cxpredict.data.features import FeatureManifest
from cxpredict.explain.drivers import DriverExplainer, DriverTotals, explain, kda_sample
from cxpredict.models.reasons import ReasonClassifier, theme_agreement
from cxpredict.models.stages import ReasonStage
from cxpredict.stages import Batch, Training


@dataclasses.dataclass
class DriverStage:
    """Drivers and stated reasons of one batch.

    `rows` (set by the workflow that orders the stages, from the actions stage: `drivers.rows`) picks the rows
    of a batch that get drivers and reasons (None: all); `totals` is the run's accumulator (None: no KDA)."""

    explainer: DriverExplainer
    reasons: ReasonStage | None
    cfg: DriversConfig
    rows: Callable[[pd.DataFrame], np.ndarray | None] | None = None
    totals: DriverTotals | None = None
    name = "drivers"

    @classmethod
    def create(cls, nps_model: Any, reasons: ReasonClassifier | ReasonStage | None, cfg: DriversConfig,
               manifest: FeatureManifest | None = None) -> DriverStage | None:
        """None when drivers are disabled; ConfigError when a group names a feature the model lacks."""
        if not cfg.enabled:
            return None
        if isinstance(reasons, ReasonClassifier):
            reasons = ReasonStage(reasons)
        return cls(DriverExplainer.from_nps(nps_model, cfg, manifest), reasons, cfg)

    @classmethod
    def fit(cls, training: Training, settings: DriversConfig) -> DriverStage | None:
        """Nothing to learn beyond the fitted NPS stage (the explainer reads its trees); the reasons stage, if
        fitted, gives the reason columns. Records the training population's key-driver tables (reports["kda"])
        and their summary (metrics["drivers"]), from a uniform sample of `kda_rows` customers when there are
        more (explain/drivers.py: kda_sample). None without drivers or without an NPS stage."""
        nps = training.fitted.get("nps")
        stage = cls.create(nps.model, training.fitted.get("reasons"), settings, training.manifest) if nps else None
        if stage is not None:
            frame, X, scored = training.customers.frame, training.features, training.scored
            rows = kda_sample(len(X), settings.kda_rows, training.seed)
            totals = stage.new_totals(None if rows is None else (len(rows), len(X)))
            if rows is not None:
                frame, X, scored = frame.iloc[rows], X.iloc[rows], scored.iloc[rows]
            stage.counting(totals).transform(Batch(frame, X, scored))
            training.reports["kda"] = totals.tables()  # DataFrames: people.write_kda_reports(reports["kda"], folder)
            training.metrics["drivers"] = totals.summary()
        return stage

    @classmethod
    def load(cls, bundle_dir: Path, settings: DriversConfig, upstream: dict[str, Any]) -> DriverStage | None:
        """From the stages loaded before it (`upstream`: nps, reasons) and the bundle's feature manifest;
        None without an NPS model (drivers explain it)."""
        nps = upstream.get("nps")
        if nps is None:
            return None
        reasons = upstream.get("reasons") or ReasonStage.load(bundle_dir)
        return cls.create(nps.model, reasons, settings, upstream.get("manifest"))

    def save(self, bundle_dir: Path) -> None:
        """The drivers stage owns no file (the explainer is rebuilt from the NPS model); its reasons do."""
        if self.reasons is not None:
            self.reasons.save(bundle_dir)

    def counting(self, totals: DriverTotals | None) -> DriverStage:
        """This stage adding every batch to a run's `totals`."""
        return dataclasses.replace(self, totals=totals)

    def new_totals(self, sample: tuple[int, int] | None = None) -> DriverTotals:
        """A fresh accumulator for one run's KDA tables and theme agreement; `sample`: (rows explained, of
        customers) when the run explains a uniform sample."""
        return DriverTotals(self.explainer.groups, self.cfg, sample)

    def needs(self) -> tuple[str, ...]:
        return ("p_detractor", "predicted_class")

    def adds(self) -> tuple[str, ...]:
        k = range(1, self.cfg.top_k + 1)
        own = (*(f"driver_{i}" for i in k), *(f"driver_{i}_impact" for i in k))
        return (*own, *(self.reasons.adds() if self.reasons is not None else ()))

    def transform(self, batch: Batch) -> pd.DataFrame:
        rows = self.rows(batch.scored) if self.rows is not None else None
        if rows is None:
            return self.columns(batch.features, batch.scored, batch.frame)
        part = self.columns(batch.features[rows], batch.scored[rows], batch.frame[rows])
        return part.reindex(batch.features.index)

    def columns(self, X: pd.DataFrame, predictions: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
        """driver_1..k, driver_i_impact (configured subset) and reason_1..k, reason_i_prob (every row given)."""
        totals = self.totals
        out = explain(self.explainer, X, predictions, self.cfg, totals.kda if totals is not None else None, customers)
        if self.reasons is not None and self.reasons.fitted:
            top = self.reasons.model.top_reasons(X)
            if totals is not None:
                agreeing, compared = theme_agreement(top["reason_1"], out["driver_1"],
                                                     self.explainer.groups.theme_of(), self.cfg.reason_themes)
                totals.agreeing, totals.compared = totals.agreeing + agreeing, totals.compared + compared
            out = pd.concat([out, top], axis=1)
        return out
