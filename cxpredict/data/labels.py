"""The label tables: survey answers (whole numbers on the configured scale, one per customer, reason codes
cleaned) and churn outcomes (0/1, yes/no, true/false), read and checked like every input table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxpredict.config import Config
from cxpredict.data.checks import DataReport, Problems, dedupe, examples, read_keyed, timestamps
from cxpredict.data.ids import KEY
from cxpredict.data.tables import rows_text
from cxpredict.errors import InputError


LABEL_WORDS = {"1": 1.0, "0": 0.0, "yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0, "y": 1.0, "n": 0.0}
# a config without data.survey (churn-only): nobody answered, every customer is silent
NO_SURVEY = pd.DataFrame({"score": pd.Series([], dtype="float64")}, index=pd.Index([], dtype="str", name=KEY))


def read_survey(cfg: Config, problems: Problems, report: DataReport) -> pd.DataFrame:
    """Valid answers as float `score` (and `reasons`) per customer_id; blank answers count as silent."""
    sv, scale = cfg.data.survey, cfg.scale
    path, key = cfg.data_path(sv.path), sv.key or cfg.data.key
    what = "survey table, data.survey"
    frame = read_keyed(path, cfg.data.read, key, [c for c in (sv.score, sv.reasons, sv.answered_at) if c], what,
                       report.warn)
    report.record("survey", path, frame, key)
    raw = frame[sv.score]
    numeric = raw if pd.api.types.is_numeric_dtype(raw) else pd.to_numeric(raw, errors="coerce")
    numeric = numeric.astype("float64")
    blank = raw.isna()
    bad = ~blank & (numeric.isna() | (numeric != np.round(numeric)) | (numeric < scale.min) | (numeric > scale.max))
    if bad.any():
        problems.add(InputError(
            f"{path}: column {sv.score!r} (data.survey.score) must hold whole numbers from {scale.min} to "
            f"{scale.max} (the configured scale); {int(bad.sum())} values do not, at "
            f"{examples(path, raw[bad])}. Fix those answers, "
            "or set scale.min/scale.max and the cut points to the survey's real scale."))
    if blank.any():
        report.warn(f"{path}: {int(blank.sum())} survey rows have no {sv.score!r} answer "
                    f"({rows_text(path, frame.index[blank])}); they count as silent customers")
    if sv.answered_at:
        timestamps(frame[sv.answered_at], path, sv.answered_at, problems)
    frame = frame.assign(score=numeric)[~(bad | blank).to_numpy()]
    frame = dedupe(frame, path, key, what, problems, "Keep one answer per customer (e.g. the latest).")
    out = pd.DataFrame({"score": frame["score"].to_numpy()}, index=pd.Index(frame[KEY], name=KEY))
    if sv.reasons:
        out["reasons"] = pd.Series([reason_codes(v) for v in frame[sv.reasons]], index=out.index, dtype="str")
    return out


def reason_codes(text) -> str | None:
    """'price ; ;network' -> 'price;network'; empty -> missing."""
    if not isinstance(text, str):
        return None
    return ";".join(code.strip() for code in text.split(";") if code.strip()) or None


def read_outcomes(cfg: Config, problems: Problems, report: DataReport) -> pd.Series:
    """The 0/1 churn label per customer_id (NaN: unknown)."""
    oc = cfg.data.outcomes
    path, key = cfg.data_path(oc.path), oc.key or cfg.data.key
    what = "outcomes table, data.outcomes"
    frame = read_keyed(path, cfg.data.read, key, [c for c in (oc.label, oc.churned_at) if c], what, report.warn)
    report.record("outcomes", path, frame, key)
    raw = frame[oc.label]
    if pd.api.types.is_numeric_dtype(raw):
        label = raw.astype("float64")
        label = label.where(label.isin([0.0, 1.0]) | label.isna(), np.inf)
    else:
        label = raw.astype("str").str.strip().str.lower().map(LABEL_WORDS).astype("float64")
        label = label.where(label.notna() | raw.isna(), np.inf)
    bad = np.isinf(label)
    if bad.any():
        problems.add(InputError(
            f"{path}: column {oc.label!r} (data.outcomes.label) must be 0/1 (or yes/no, true/false); "
            f"{int(bad.sum())} values are not, at {examples(path, raw[bad])}. "
            "Map the column to 0/1 or point data.outcomes.label at the right column."))
    if oc.churned_at:
        timestamps(frame[oc.churned_at], path, oc.churned_at, problems, allow_empty=True)
    frame = frame.assign(label=label.where(~bad))
    frame = dedupe(frame, path, key, what, problems, "Keep one outcome per customer.")
    return pd.Series(frame["label"].to_numpy(), index=pd.Index(frame[KEY], name=KEY), name="outcome")
