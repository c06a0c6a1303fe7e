"""Is today's population still the one the model learned from? Drift measured while scoring, batch by batch.

Why this shape:
- The bundle carries the training population's profile (`profile_training`, drift.json): per feature the share
  of customers in each PSI bin (numeric: training deciles + missing; categorical: levels + "unknown" + missing;
  see FeatureManifest.bin_counts), the distribution of the model's outputs (PROFILED_OUTPUTS: predicted_score,
  p_detractor and churn_prob when churn is trained) in training deciles, and the class mixes. Scoring only adds
  counts per batch (`DriftMonitor.add`), so one pass suffices and memory does not grow with rows.
- Population stability index PSI = sum((a - e) * ln(a / e)) over bins, with scoring shares a and training
  shares e (both floored at 1e-4 so that an empty bin stays finite). Usual reading: < 0.1 stable, 0.1-0.25
  moderate, above 0.25 drifted; the threshold is `scoring.drift.psi_threshold`.
- Respondent mix: among the scored customers who answered the survey, the observed share of each class against
  the mean predicted probability for the same customers. A gap means the relation between behaviour and answers
  moved (or the survey did), which feature PSI cannot see. It is judged only from `min_respondents` answers on,
  and not at all when the survey is the one the model was trained on (in-sample, not a drift signal).
- `status` is "drift" when any check passes its threshold; with --fail-on-drift the CLI exits with code 3.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from cxpredict.config import CLASSES, DriftConfig, Scale
from cxpredict.data.features import FeatureManifest, numeric_bin_counts
from cxpredict.metrics import score_to_class

PROFILE_VERSION = 1
PROFILE_FILE = "drift.json"
PROFILED_OUTPUTS = ("predicted_score", "p_detractor", "churn_prob")  # scored columns whose distribution is tracked
MODERATE_PSI = 0.10
SHARE_FLOOR = 1e-4
N_OUTPUT_BINS = 10


def _shares(counts) -> list[float]:
    counts = np.asarray(counts, dtype="float64")
    total = counts.sum()
    return (counts / total).round(6).tolist() if total else [0.0] * len(counts)


def psi(counts, expected_shares) -> float | None:
    """Population stability index of observed `counts` against `expected_shares` (None without rows)."""
    counts = np.asarray(counts, dtype="float64")
    if counts.sum() == 0 or len(counts) != len(expected_shares):
        return None
    a = np.maximum(counts / counts.sum(), SHARE_FLOOR)
    e = np.maximum(np.asarray(expected_shares, dtype="float64"), SHARE_FLOOR)
    return round(float(np.sum((a - e) * np.log(a / e))), 4)


def _class_shares(labels) -> dict[str, float]:
    labels = pd.Series(labels, dtype="str").dropna()
    counts = labels.value_counts()
    n = int(counts.sum())
    return {c: round(float(counts.get(c, 0)) / n, 6) if n else 0.0 for c in CLASSES}


def profile_training(manifest: FeatureManifest, X: pd.DataFrame, predictions: pd.DataFrame,
                     observed_score: np.ndarray | None = None, scale: Scale | None = None) -> dict[str, Any]:
    """The training population's profile stored in the bundle (drift.json).

    `X` is the training model matrix (every customer, not just respondents), `predictions` the model outputs for
    the same rows (any PROFILED_OUTPUTS columns present, plus predicted_class), `observed_score` the survey
    scores (NaN for silent customers) on `scale`.
    """
    features = {col: {"shares": _shares(c)} for col, c in manifest.bin_counts(X).items()}
    observed_class = None
    if observed_score is not None and scale is not None:
        score = np.asarray(observed_score, dtype="float64")
        answered = ~np.isnan(score)
        observed_class = np.asarray(CLASSES)[score_to_class(score[answered], scale)]
    outputs = {}
    for col in PROFILED_OUTPUTS:
        if col in predictions.columns:
            values = predictions[col].to_numpy(dtype="float64")
            present = values[~np.isnan(values)]
            edges = np.unique(np.quantile(present, np.linspace(0, 1, N_OUTPUT_BINS + 1)[1:-1])).tolist() \
                if len(present) else []
            outputs[col] = {"edges": edges, "shares": _shares(numeric_bin_counts(values, edges))}
    profile = {
        "version": PROFILE_VERSION,
        "rows": len(X),
        "features": features,
        "outputs": outputs,
        "predicted_class_shares": _class_shares(predictions["predicted_class"])
        if "predicted_class" in predictions.columns else None,
        "respondent_class_shares": _class_shares(observed_class) if observed_class is not None else None,
    }
    return profile


class DriftMonitor:
    """Accumulates, batch by batch, what scoring sees; `report()` turns it into the manifest's drift section."""

    def __init__(self, profile: dict[str, Any] | None, cfg: DriftConfig):
        self.profile, self.cfg = profile, cfg
        self.rows = 0
        self.unseen: Counter[str] = Counter()
        self.out_of_range: Counter[str] = Counter()
        features = (profile or {}).get("features", {})
        outputs = (profile or {}).get("outputs", {})
        self.feature_counts = {col: np.zeros(len(p["shares"]), dtype=np.int64) for col, p in features.items()}
        self.output_counts = {col: np.zeros(len(p["shares"]), dtype=np.int64) for col, p in outputs.items()}
        self.respondents = 0
        self.observed = np.zeros(len(CLASSES), dtype=np.int64)
        self.predicted = np.zeros(len(CLASSES), dtype=np.float64)

    def add(self, stats: dict[str, Any], scored: pd.DataFrame) -> None:
        """`stats`: FeatureManifest.transform_with_stats of the batch; `scored`: the batch's score_frame output."""
        self.rows += len(scored)
        self.unseen.update(stats.get("unseen_categories", {}))
        self.out_of_range.update(stats.get("out_of_range", {}))
        for col, counts in stats.get("bin_counts", {}).items():
            if col in self.feature_counts and len(counts) == len(self.feature_counts[col]):
                self.feature_counts[col] += np.asarray(counts, dtype=np.int64)
        for col, acc in self.output_counts.items():
            if col in scored.columns:
                acc += np.asarray(numeric_bin_counts(scored[col].to_numpy(dtype="float64"),
                                                     self.profile["outputs"][col]["edges"]), dtype=np.int64)
        if "is_respondent" in scored.columns:
            mask = scored["is_respondent"].to_numpy(dtype=bool)
            if mask.any():
                self.respondents += int(mask.sum())
                observed = pd.Categorical(scored["observed_class"].to_numpy()[mask], categories=list(CLASSES))
                self.observed += np.bincount(observed.codes[observed.codes >= 0], minlength=len(CLASSES))
                self.predicted += scored.loc[mask, [f"p_{c}" for c in CLASSES]].to_numpy(dtype="float64").sum(axis=0)

    # ------------------------------------------------------------------ report
    def _psi_table(self, counts: dict[str, np.ndarray], section: str) -> dict[str, float | None]:
        expected = self.profile[section] if self.profile else {}
        values = {col: psi(c, expected[col]["shares"]) for col, c in counts.items()}
        return dict(sorted(values.items(), key=lambda kv: -(kv[1] or 0.0)))

    def _respondent_mix(self, in_sample: bool) -> dict[str, Any]:
        n = self.respondents
        mix: dict[str, Any] = {"respondents": n, "judged": False}
        if n == 0:
            mix["note"] = "no scored customer has a survey answer"
            return mix
        observed = self.observed / max(int(self.observed.sum()), 1)
        predicted = self.predicted / n
        gaps = observed - predicted
        mix.update({
            "observed_shares": dict(zip(CLASSES, observed.round(4).tolist())),
            "predicted_shares": dict(zip(CLASSES, predicted.round(4).tolist())),
            "gaps": dict(zip(CLASSES, gaps.round(4).tolist())),
            "max_gap": round(float(np.abs(gaps).max()), 4),
            "training_respondent_shares": (self.profile or {}).get("respondent_class_shares"),
        })
        if in_sample:
            mix["note"] = "the survey table is the one the model was trained on: in-sample fit, not a drift signal"
        elif n < self.cfg.min_respondents:
            mix["note"] = f"fewer than scoring.drift.min_respondents={self.cfg.min_respondents} answers: not judged"
        else:
            mix["judged"] = True
        return mix

    def report(self, in_sample_survey: bool = False) -> dict[str, Any]:
        """The drift section of manifest.json: checks, thresholds, status ('ok' or 'drift') and the reasons."""
        cfg, rows = self.cfg, max(self.rows, 1)
        feature_psi = self._psi_table(self.feature_counts, "features")
        output_psi = self._psi_table(self.output_counts, "outputs")
        out_of_range = {c: {"rows": n, "share": round(n / rows, 6)} for c, n in sorted(self.out_of_range.items())}
        unseen = {c: {"rows": n, "share": round(n / rows, 6)} for c, n in sorted(self.unseen.items())}
        mix = self._respondent_mix(in_sample_survey)
        reasons = [f"PSI of feature {c!r} is {v:.3f} > {cfg.psi_threshold}"
                   for c, v in feature_psi.items() if v is not None and v > cfg.psi_threshold]
        reasons += [f"PSI of model output {c!r} is {v:.3f} > {cfg.psi_threshold}"
                    for c, v in output_psi.items() if v is not None and v > cfg.psi_threshold]
        reasons += [f"{v['share']:.1%} of {c!r} values lie far outside the training range "
                    f"(> scoring.drift.out_of_range_share {cfg.out_of_range_share:.1%})"
                    for c, v in out_of_range.items() if v["share"] > cfg.out_of_range_share]
        reasons += [f"{v['share']:.1%} of {c!r} values are categories unseen in training "
                    f"(> scoring.drift.unseen_share {cfg.unseen_share:.1%})"
                    for c, v in unseen.items() if v["share"] > cfg.unseen_share]
        if mix["judged"] and mix["max_gap"] > cfg.respondent_mix_gap:
            worst = max(mix["gaps"], key=lambda c: abs(mix["gaps"][c]))
            reasons.append(f"among {mix['respondents']} respondents the {worst} share is "
                           f"{mix['observed_shares'][worst]:.1%} observed vs {mix['predicted_shares'][worst]:.1%} "
                           f"predicted (gap > scoring.drift.respondent_mix_gap {cfg.respondent_mix_gap})")
        notes = [] if self.profile else ["the bundle has no training profile (drift.json): PSI not computed; "
                                         "retrain with this cxpredict version"]
        notes += [f"moderate shift (PSI {v:.3f}) in {c!r}" for c, v in {**feature_psi, **output_psi}.items()
                  if v is not None and MODERATE_PSI < v <= cfg.psi_threshold]
        return {
            "status": "drift" if reasons else "ok",
            "reasons": reasons,
            "notes": notes,
            "thresholds": cfg.model_dump(),
            "rows": self.rows,
            "training_rows": (self.profile or {}).get("rows"),
            "psi_outputs": output_psi,
            "psi_features": feature_psi,
            "out_of_range": out_of_range,
            "unseen_categories": unseen,
            "respondent_mix": mix,
        }
