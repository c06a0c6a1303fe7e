"""The model stages under the stage protocol (cxpredict/stages.py): NPS, churn, stated reasons, uplift.

Each wraps its estimator (models/nps.py, churn.py, reasons.py, uplift.py, which stay plain scikit-learn style
estimators) with what a stage adds: its own settings section, the columns it needs and adds, the batch it
transforms, and its sub-folder of the bundle (`name/`, written by the estimator's own save: JSON plus LightGBM
text, the bundle format is unchanged). A stage compiles its estimator's boosters once when it is built
(`LgbmClassifier.compile`: models/forest.py predicts every batch, LightGBM stays the reference).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from cxpredict.config import CLASSES, ChurnConfig, DriversConfig
from cxpredict.models.churn import ChurnClassifier, churn_columns, cross_fit_nps_features, with_nps_features
from cxpredict.models.nps import NpsClassifier
from cxpredict.models.reasons import ReasonClassifier, reason_matrix
from cxpredict.models.uplift import UpliftModels
from cxpredict.models.value import ImputedValues, valued
from cxpredict.stages import Batch, Training

log = logging.getLogger(__name__)

NPS_COLUMNS = ("predicted_score", *(f"p_{c}" for c in CLASSES), "predicted_class", "class_reliable")


def _from_folder(stage: Any, bundle_dir: Path, estimator: Any) -> Any:
    """`stage` around its estimator loaded from the bundle's `stage.name/` folder; None when the bundle has none."""
    folder = Path(bundle_dir) / stage.name
    return stage(estimator.load(folder)) if folder.is_dir() else None


@dataclass
class NpsStage:
    """The NPS class distribution of every customer (`NpsClassifier.predict_frame`). Training fits it together
    with the response weights and the population estimate (workflows/train.py: SurveyStage)."""

    model: NpsClassifier
    name = "nps"

    def __post_init__(self) -> None:
        self.model.compile()

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
        return _from_folder(cls, bundle_dir, NpsClassifier)


@dataclass
class ChurnStage:
    """churn_prob, value and value_at_risk per customer; `value` alone without a churn model (survey-only).

    `settings` at scoring are the scoring config's: how value is computed and the risk bands are business rules."""

    model: ChurnClassifier | None
    settings: ChurnConfig
    name = "churn"

    def __post_init__(self) -> None:
        if self.model is not None:
            self.model.compile()

    @classmethod
    def fit(cls, training: Training, settings: ChurnConfig) -> ChurnStage:
        """A churn model on every customer with a known outcome; no model when churn is disabled or no outcome
        is known. With an NPS stage fitted and `use_nps_features`, the NPS probabilities are features,
        cross-fitted for respondents (models/churn.py: cross_fit_nps_features; refits weighted by the
        respondents' NPS weights). Warns when a default value stands in for customers without one."""
        customers, X = training.customers, training.features
        _, imputed = valued(customers.frame, settings.value)
        placeholders = ImputedValues()
        placeholders.add(customers.frame.index, imputed)
        if placeholders.warning(settings.value):
            log.warning(placeholders.warning(settings.value))
        outcome = customers.outcome
        if not settings.enabled or outcome is None or outcome.notna().sum() == 0:
            return cls(None, settings)
        known = outcome.notna().to_numpy()
        X_churn = X
        nps = training.fitted.get("nps")
        if settings.use_nps_features and nps is not None:
            respondents = customers.is_respondent
            X_churn = with_nps_features(X, cross_fit_nps_features(
                nps.model, X, respondents, make_nps_model=lambda: clone(nps.model),
                score=customers.score.to_numpy()[respondents], sample_weight=training.weights,
                folds=settings.nps_feature_folds, seed=training.seed, predictions=training.scored,
            ))
        model = ChurnClassifier.from_config(settings, training.seed).fit(X_churn[known], outcome.to_numpy()[known])
        training.metrics["churn"] = model.metrics_
        return cls(model, settings)

    def values(self, frame: pd.DataFrame) -> np.ndarray:
        """Each customer's value (churn.value), a default where a customer has none."""
        return valued(frame, self.settings.value)[0]

    def needs(self) -> tuple[str, ...]:
        return NPS_COLUMNS[1:4] if self.model is not None and self.model.uses_nps_features_ else ()

    def adds(self) -> tuple[str, ...]:
        if self.model is None:
            return ("value", "value_imputed")
        return ("churn_prob", "value", "value_imputed", "value_at_risk")

    def transform(self, batch: Batch) -> pd.DataFrame:
        nps = batch.scored if "p_detractor" in batch.scored.columns else None
        return churn_columns(self.model, batch.features, nps, batch.frame, self.settings.value)

    def save(self, bundle_dir: Path) -> None:
        if self.model is not None:
            self.model.save(Path(bundle_dir) / self.name)

    @classmethod
    def load(cls, bundle_dir: Path, settings: ChurnConfig, upstream: dict[str, Any] | None = None) -> ChurnStage:
        folder = Path(bundle_dir) / cls.name
        return cls(ChurnClassifier.load(folder) if folder.is_dir() else None, settings)


@dataclass
class ReasonStage:
    """reason_1..k and reason_i_prob: the stated reasons a customer most likely has (models/reasons.py)."""

    model: ReasonClassifier
    name = "reasons"

    def __post_init__(self) -> None:
        self.model.compile()

    @classmethod
    def fit(cls, training: Training, settings: DriversConfig) -> ReasonStage | None:
        """On the respondents' stated reasons, weighted by their population weights; None without drivers,
        without stated reasons or without an NPS stage (reasons go beside the drivers of the NPS model)."""
        customers = training.customers
        if not settings.enabled or customers.reasons is None or "nps" not in training.fitted:
            return None
        answered = customers.is_respondent
        model = ReasonClassifier.from_config(settings, training.seed).fit(
            training.features[answered], reason_matrix(customers.reasons[answered]), sample_weight=training.weights)
        training.metrics["reasons"] = model.metrics_
        return cls(model)

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
        return _from_folder(cls, bundle_dir, ReasonClassifier)


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
        return _from_folder(cls, bundle_dir, UpliftModels)
