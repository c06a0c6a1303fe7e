"""The population NPS per segment: which customers form a segment (configured columns, numeric ones cut into
quintiles) and each segment's row of estimates (the same estimators as the whole, on the segment's customers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cxpredict.errors import ConfigError

MAX_NUMERIC_SEGMENT_LEVELS = 20  # numeric segment columns with more distinct values are cut into quintiles


def segment_labels(column: pd.Series) -> np.ndarray:
    """Text labels per customer; numeric columns with many values are cut into quintiles."""
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > MAX_NUMERIC_SEGMENT_LEVELS:
        column = pd.qcut(column, 5, duplicates="drop")
    return column.astype("str").where(column.notna(), "missing").to_numpy(dtype=object)


def segment_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame | None:
    """The configured segment columns of the behaviour frame (None when none are configured)."""
    if not columns:
        return None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"population.segments names columns not in the behaviour data: {missing}; "
                          f"available columns include {list(frame.columns)[:10]}")
    return frame[columns]


def segment_rows(segments: pd.DataFrame | None, responded: np.ndarray, m_full: np.ndarray, method: str,
                 estimate: Callable[[np.ndarray], dict[str, dict]]) -> list[dict[str, Any]]:
    """One row per level of every segment column. estimate(mask): every estimator on the customers of `mask`
    (estimators.group_estimates); `method` names the headline. A segment without respondents gets the model-only
    estimate (the final model's mean contribution, m_full) and no interval."""
    rows = []
    for column in (segments.columns if segments is not None else []):
        codes, levels = pd.factorize(segment_labels(segments[column]), sort=True)  # levels in np.unique's order
        for i, value in enumerate(levels):
            mask = codes == i
            row: dict[str, Any] = {"column": column, "level": str(value), "n_customers": int(mask.sum()),
                                   "n_respondents": int((mask & responded).sum())}
            if row["n_respondents"] == 0:
                row.update({"estimate": float(100 * m_full[mask].mean()), "low": None, "high": None,
                            "method": "model_only", "note": "no respondents in this segment: model-only, no interval"})
            else:
                est = estimate(mask)
                row.update({**est[method], "method": method, "estimators": est})
            rows.append(row)
    return rows
