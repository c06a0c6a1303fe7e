"""The NPS model's built-in candidates and the rule that keeps one (cxpredict/models/nps.py fits them).

Why these: on development data no benchmark uses (scripts/dev_nps_candidates.py, experiments/nps_candidates/),
plain LightGBM (the configured default) overfits a few hundred answers, while shallow or smooth ensembles overfit
less and a larger one wins only with many thousands of answers and strong non-linear signal; the set spans that
range at a bounded cost (fixed rounds, no early stopping, so the cross-validated losses are honest).

The rule: among the candidates whose response-weighted out-of-fold log loss is within one standard error of the
best one's, PAIRED (the standard error of the per-respondent loss differences, so the noise common to all
candidates cancels), keep the simplest, the one with the fewest leaves in its ensemble. With another selection
metric, or `selection_rule: best`, the best value wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

LOWER_IS_BETTER = {"log_loss"}


@dataclass(frozen=True)
class Candidate:
    """One model the selection may keep: a formulation and the LightGBM keywords it sets (the rest shared).

    min_child_samples "auto": a fiftieth of the training rows, kept within [5, 40], so a leaf never needs more
    rows than a few hundred respondents can give nor fits single answers of thousands."""

    name: str
    formulation: str
    params: dict[str, Any] = field(default_factory=dict)

    def resolved(self, n_rows: int) -> dict[str, Any]:
        params = dict(self.params)
        if params.get("min_child_samples") == "auto":
            params["min_child_samples"] = int(np.clip(n_rows / 50, 5, 40))
        return params


_SHALLOW = {"n_estimators": 600, "learning_rate": 0.02, "num_leaves": 3, "min_child_samples": "auto",
            "colsample_bytree": 0.8, "reg_lambda": 5.0}
_SMOOTH = {"n_estimators": 400, "learning_rate": 0.03, "num_leaves": 7, "min_child_samples": "auto",
           "colsample_bytree": 0.8, "reg_lambda": 1.0}
_LARGE = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
          "colsample_bytree": 0.8}
CANDIDATES = (
    Candidate("shallow-regression", "regression", _SHALLOW),
    Candidate("shallow-multiclass", "multiclass", _SHALLOW),
    Candidate("smooth-regression", "regression", _SMOOTH),
    Candidate("smooth-multiclass", "multiclass", _SMOOTH),
    Candidate("large-multiclass", "multiclass", _LARGE),
)


def select(table: list[dict[str, Any]], losses: list[np.ndarray], w: np.ndarray, metric: str, rule: str
           ) -> tuple[int, list[dict[str, Any]]]:
    """(index kept, table with loss_minus_best / se_of_difference / chosen) from one row per candidate holding
    `complexity` and the candidate's cross-validated `metric`; `losses` are the per-respondent log losses."""
    values = np.array([row[metric] for row in table], dtype=float)
    values = np.where(np.isfinite(values), values, np.inf if metric in LOWER_IS_BETTER else -np.inf)
    best = int(np.argmin(values if metric in LOWER_IS_BETTER else -values))
    chosen = best
    if rule == "one_se" and metric == "log_loss":
        within = []
        for i, loss in enumerate(losses):
            diff = loss - losses[best]
            mean = float(np.average(diff, weights=w))
            se = float(np.sqrt(np.sum(w**2 * (diff - mean) ** 2)) / w.sum())
            table[i].update({"loss_minus_best": mean, "se_of_difference": se})
            if mean <= se:
                within.append(i)
        chosen = min(within, key=lambda i: (table[i]["complexity"], i))
    for i, row in enumerate(table):
        row["chosen"] = i == chosen
    return chosen, table
