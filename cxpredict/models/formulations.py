"""The NPS model's formulations: what each booster learns, and how raw outputs become calibrated probabilities.

Every booster's raw output increases with dissatisfaction (the drivers explain it, see NpsClassifier.
detractor_booster):
- "multiclass": one softmax model over detractor / passive / promoter (a two-point scale has no passives: one
  binary model of P(detractor));
- "regression": one model of `scale.max - score`; a proportional-odds link with learned cut points
  (calibration.fit_cutpoints) turns it into a full score distribution;
- "ordinal": K-1 binary models of P(score <= k), sorted per row (calibration.cumulative_to_distribution).
Stage 2 (`stage2_fit` / `stage2_apply`) is fitted on out-of-fold raw outputs: the link, then the vector-scaling
calibrator of the class probabilities; the point distribution follows the calibration.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit, softmax

from cxpredict import threads
from cxpredict.config import Scale
from cxpredict.metrics import score_to_class
from cxpredict.models.calibration import (
    apply_cutpoints,
    apply_vector_scaling,
    class_probabilities,
    cumulative_to_distribution,
    fit_cutpoints,
    fit_vector_scaling,
    present_classes,
    rescale_within_classes,
)

FORMULATIONS = ("multiclass", "regression", "ordinal")
AUTO_FORMULATIONS = ("multiclass", "regression")  # formulation="auto" (ordinal costs K-1 boosters: only on request)


def targets(formulation: str, score: np.ndarray, scale: Scale) -> list[tuple[np.ndarray, dict]]:
    """(label, LightGBM objective) per booster of a formulation."""
    cls = score_to_class(score, scale)
    if formulation == "multiclass":
        if not present_classes(scale)[1]:  # two classes: one binary model of P(detractor)
            return [((cls == 0).astype(float), {"objective": "binary"})]
        return [(cls, {"objective": "multiclass", "num_class": 3})]
    if formulation == "regression":
        return [((scale.max - score).astype(float), {"objective": "regression"})]
    return [((score <= k).astype(float), {"objective": "binary"}) for k in scale.points[:-1]]


def join_raw(formulation: str, raw_parts: list[np.ndarray]) -> np.ndarray:
    """The boosters' raw outputs as the formulation's one raw array (ordinal: one column per threshold)."""
    return raw_parts[0] if formulation != "ordinal" else np.column_stack(raw_parts)


def boosters_per_round(formulation: str, scale: Scale) -> int:
    """Trees a boosting round adds: 3 for a three-class softmax, else one per booster."""
    return 3 if formulation == "multiclass" and present_classes(scale)[1] else 1


def constant_logit(label: np.ndarray, w: np.ndarray | None, objective: dict, min_child: int) -> float | None:
    """A cumulative threshold with (almost) no rows on one side gets a constant smoothed logit, not a model."""
    if objective["objective"] != "binary":
        return None
    minority = min(int(label.sum()), int(len(label) - label.sum()))
    if minority >= max(10, min_child):
        return None
    w = np.ones(len(label)) if w is None else w
    rate = (np.sum(w * label) + 0.5) / (np.sum(w) + 1.0)
    return float(logit(rate))


def stage2_base(formulation: str, raw: np.ndarray, link: dict | None, scale: Scale
                ) -> tuple[np.ndarray | None, np.ndarray]:
    """Raw booster outputs -> (point distribution or None for multiclass, class probabilities), uncalibrated."""
    if formulation == "multiclass":
        if raw.ndim == 1:  # two classes (a two-point scale): one binary booster of P(detractor)
            p_det = expit(raw)
            return None, np.column_stack([p_det, np.zeros(len(raw)), 1 - p_det])
        return None, softmax(raw, axis=1)
    dist = apply_cutpoints(raw, link) if formulation == "regression" else cumulative_to_distribution(expit(raw))
    return dist, class_probabilities(dist, scale)


@threads.serial_blas_calls
def stage2_fit(formulation: str, raw: np.ndarray, score: np.ndarray, w: np.ndarray, scale: Scale,
               calibrate: bool = True) -> tuple[dict | None, dict | None]:
    """(cut points of the regression formulation or None, vector-scaling calibrator or None)."""
    link = fit_cutpoints(raw, score, w, scale) if formulation == "regression" else None
    _, proba = stage2_base(formulation, raw, link, scale)
    calibrator = fit_vector_scaling(proba, score_to_class(score, scale), w, present_classes(scale)) \
        if calibrate else None
    return link, calibrator


def stage2_apply(formulation: str, raw: np.ndarray, link: dict | None, calibrator: dict | None, scale: Scale
                 ) -> tuple[np.ndarray | None, np.ndarray]:
    """(point distribution or None, calibrated class probabilities); the distribution follows the calibration."""
    dist, proba = stage2_base(formulation, raw, link, scale)
    calibrated = apply_vector_scaling(proba, calibrator)
    if dist is not None:
        dist = rescale_within_classes(dist, proba, calibrated, scale)
    return dist, calibrated
