"""The model stages under the stage protocol (cxpredict/stages.py): NPS, churn, stated reasons, uplift.

Each wraps its estimator (models/nps.py, churn.py, reasons.py, uplift.py, which stay plain scikit-learn style
estimators) with what a stage adds: its own settings section, the columns it needs and adds, the batch it
transforms, and its sub-folder of the bundle (`name/`, written by the estimator's own save: JSON plus LightGBM
text, the bundle format is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from cxpredict.config import CLASSES, ChurnConfig, DriversConfig, NpsModelConfig, Scale, ValueConfig
from cxpredict.models.churn import ChurnClassifier, churn_columns, cross_fit_nps_features, with_nps_features
from cxpredict.models.nps import NpsClassifier
from cxpredict.models.reasons import ReasonClassifier
from cxpredict.models.uplift import UpliftModels
from cxpredict.stages import Batch

NPS_COLUMNS = ("predicted_score", *(f"p_{c}" for c in CLASSES), "predicted_class", "class_reliable")


@dataclass
class NpsStage:
    """The NPS class distribution of every customer (`NpsClassifier.predict_frame`)."""

    model: NpsClassifier
    name = "nps"

    @classmethod
    def fit(cls, X: pd.DataFrame, score: np.ndarray, settings: NpsModelConfig, scale: Scale, seed: int,
            population_weight: np.ndarray | None = None) -> NpsStage:
        """Fitted on the respondents (rows of X whose score is not NaN); `population_weight` are their response
        weights (workflows/train.py: the response step), which calibrate the model and choose among candidates."""
        answered = ~np.isnan(score)
        return cls(NpsClassifier.from_config(settings, scale, seed).fit(X[answered], score[answered],
                                                                        population_weight=population_weight))

    def needs(self) -> tuple[str, ...]:
        return ()

    def adds(self) -> tuple[str, ...]:
        points = () if self.model.formulation_ == "multiclass" else tuple(
            f"p_score_{k}" for k in self.model.scale_.points)
        return (*NPS_COLUMNS, *points)

    def transform(self, batch: Batch) -> pd.DataFrame:
        return self.model.predict_frame(batch.features)

    def save(self, bundle_dir: Path) -> None:
        self.model.save(Path(bundle_dir) / self.name)

    @classmethod
    def load(cls, bundle_dir: Path, settings: Any = None, upstream: dict[str, Any] | None = None) -> NpsStage | None:
        folder = Path(bundle_dir) / cls.name
        return cls(NpsClassifier.load(folder)) if folder.is_dir() else None


@dataclass
class ChurnStage:
    """churn_prob, value and value_at_risk per customer; `value` alone without a churn model (survey-only).

    `value` (how a customer's value is computed) is a business rule: it comes from the scoring config."""

    model: ChurnClassifier | None
    value: ValueConfig
    name = "churn"

    @classmethod
    def fit(cls, customers: Any, X: pd.DataFrame, settings: ChurnConfig, seed: int, nps: NpsStage | None = None,
            nps_weight: np.ndarray | None = None) -> ChurnStage:
        """A churn model on every customer with a known outcome (`customers`: data.customers.CustomerData); no
        model when churn is disabled or no outcome is known. With an NPS stage and `use_nps_features`, the NPS
        probabilities are features, cross-fitted for respondents (models/churn.py: cross_fit_nps_features);
        `nps_weight` are the respondents' NPS weights, used only when NPS models must be refitted."""
        outcome = customers.outcome
        if not settings.enabled or outcome is None or outcome.notna().sum() == 0:
            return cls(None, settings.value)
        known = outcome.notna().to_numpy()
        X_churn = X
        if settings.use_nps_features and nps is not None:
            respondents = customers.is_respondent
            X_churn = with_nps_features(X, cross_fit_nps_features(
                nps.model, X, respondents, make_nps_model=lambda: clone(nps.model),
                score=customers.score.to_numpy()[respondents], sample_weight=nps_weight,
                folds=settings.nps_feature_folds, seed=seed,
            ))
        model = ChurnClassifier.from_config(settings, seed).fit(X_churn[known], outcome.to_numpy()[known])
        return cls(model, settings.value)

    def needs(self) -> tuple[str, ...]:
        return NPS_COLUMNS[1:4] if self.model is not None and self.model.uses_nps_features_ else ()

    def adds(self) -> tuple[str, ...]:
        if self.model is None:
            return ("value", "value_imputed")
        return ("churn_prob", "value", "value_imputed", "value_at_risk")

    def transform(self, batch: Batch) -> pd.DataFrame:
        nps = batch.scored if "p_detractor" in batch.scored.columns else None
        return churn_columns(self.model, batch.features, nps, batch.frame, self.value)

    def save(self, bundle_dir: Path) -> None:
        if self.model is not None:
            self.model.save(Path(bundle_dir) / self.name)

    @classmethod
    def load(cls, bundle_dir: Path, settings: ChurnConfig, upstream: dict[str, Any] | None = None) -> ChurnStage:
        folder = Path(bundle_dir) / cls.name
        return cls(ChurnClassifier.load(folder) if folder.is_dir() else None, settings.value)


@dataclass
class ReasonStage:
    """reason_1..k and reason_i_prob: the stated reasons a customer most likely has (models/reasons.py)."""

    model: ReasonClassifier
    name = "reasons"

    @classmethod
    def fit(cls, X: pd.DataFrame, reasons: pd.DataFrame, settings: DriversConfig, seed: int,
            sample_weight: np.ndarray | None = None) -> ReasonStage:
        """On the respondents: X and their stated reasons (data.customers: one 0/1 column per code)."""
        return cls(ReasonClassifier.from_config(settings, seed).fit(X, reasons, sample_weight=sample_weight))

    @property
    def fitted(self) -> bool:
        """False when no code was stated often enough for a model (the stage adds nothing and is not saved)."""
        return bool(len(self.model.classes_))

    def needs(self) -> tuple[str, ...]:
        return ()

    def adds(self) -> tuple[str, ...]:
        if not self.fitted:
            return ()
        k = range(1, self.model.top_k + 1)
        return (*(f"reason_{i}" for i in k), *(f"reason_{i}_prob" for i in k))

    def transform(self, batch: Batch) -> pd.DataFrame:
        if not self.fitted:
            return pd.DataFrame(index=batch.features.index)
        return self.model.top_reasons(batch.features)

    def save(self, bundle_dir: Path) -> None:
        if self.fitted:
            self.model.save(Path(bundle_dir) / self.name)

    @classmethod
    def load(cls, bundle_dir: Path, settings: Any = None, upstream: dict[str, Any] | None = None
             ) -> ReasonStage | None:
        folder = Path(bundle_dir) / cls.name
        return cls(ReasonClassifier.load(folder)) if folder.is_dir() else None


@dataclass
class UpliftStage:
    """uplift_<strategy> per customer (added by `cxpredict learn`), read by the playbook's expected_uplift
    priority and consumed by the actions stage."""

    model: UpliftModels
    name = "uplift"

    def needs(self) -> tuple[str, ...]:
        return ()

    def adds(self) -> tuple[str, ...]:
        return tuple(f"uplift_{s}" for s in self.model.models)

    def transform(self, batch: Batch) -> pd.DataFrame:
        return self.model.columns(batch.features, batch.scored)

    def save(self, bundle_dir: Path) -> None:
        self.model.save(Path(bundle_dir) / self.name)

    @classmethod
    def load(cls, bundle_dir: Path, settings: Any = None, upstream: dict[str, Any] | None = None
             ) -> UpliftStage | None:
        folder = Path(bundle_dir) / cls.name
        return cls(UpliftModels.load(folder)) if folder.is_dir() else None
