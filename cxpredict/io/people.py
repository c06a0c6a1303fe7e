"""The files people read: the scored file's column dictionary, front-line work orders, the segment summary.

Marketing and front-line teams consume these, not the model, so every file is plain CSV for Excel by default:
UTF-8 with BOM, text cells that a spreadsheet would run as a formula neutralised with a leading apostrophe
(numbers untouched), written atomically (outputs.write_table). COLUMN_DOCS is the one description of the
scored columns, used for the README section and the HTML report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxpredict.actions.playbook import Playbook
from cxpredict.columns import scored_column_order
from cxpredict.io.outputs import CSV_ENCODING, StagedOutputs, write_csv, write_table


# --------------------------------------------------------------------------------------------- people outputs
def _text(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="str")
    return frame[col].astype("str").where(frame[col].notna())


def _percent(x: pd.Series) -> pd.Series:
    return (x.astype(float) * 100).round().astype("Int64").astype("str") + "%"


def reason_in_words(frame: pd.DataFrame) -> pd.Series:
    """One sentence per customer for the front line: why this customer is on the list."""
    observed = _text(frame, "observed_score")
    if "observed_score" in frame.columns and pd.api.types.is_numeric_dtype(frame["observed_score"]):
        score = frame["observed_score"]
        whole = score.dropna().eq(score.dropna().round()).all()
        observed = (score.round().astype("Int64") if whole else score).astype("str").where(score.notna())
    said = "answered " + observed + " on the survey (" + _text(frame, "observed_class") + ")"
    predicted = "predicted " + _text(frame, "predicted_class") + " (" + _percent(frame["p_detractor"]) \
        + " chance of detractor)" if "p_detractor" in frame.columns else "predicted " + _text(frame, "predicted_class")
    words = said.where(observed.notna(), predicted)
    if "churn_prob" in frame.columns:
        words = words + "; churn risk " + _text(frame, "risk_band").fillna("unknown") + " (" \
            + _percent(frame["churn_prob"]) + ")"
    if "value_at_risk" in frame.columns:
        words = words + "; value at risk " + frame["value_at_risk"].round(0).astype("Int64").astype("str")
    reason = _text(frame, "reason_1")
    words = words.where(reason.isna(), words + "; likely stated reason: " + reason)
    drivers = top_drivers(frame)
    words = words.where(drivers.isna() | (drivers == ""), words + "; main drivers: " + drivers)
    return words.str.slice(0, 1).str.upper() + words.str.slice(1)


def top_drivers(frame: pd.DataFrame) -> pd.Series:
    cols = sorted(c for c in frame.columns if c.startswith("driver_") and not c.endswith("_impact"))
    if not cols:
        return pd.Series("", index=frame.index, dtype="str")
    parts = [_text(frame, c).fillna("") for c in cols]
    joined = parts[0]
    for p in parts[1:]:
        joined = joined.where(p == "", joined + ", " + p)
    return joined.str.strip(", ")


WORK_ORDER_COLUMNS = ["customer_id", "priority", "deferred", "sla_hours", "action", "channel", "owner_team",
                      "reason", "top_drivers", "strategy", "segment", "churn_prob", "value_at_risk", "rule"]


def work_orders(scored: pd.DataFrame, playbook: Playbook) -> pd.DataFrame:
    """Front-line alerts: customers whose rule raises a work order, served first, highest priority first."""
    flagged = [r.name for r in playbook.rules if r.raises_work_order]
    rows = scored[scored["rule"].astype("str").isin(flagged)]
    if "group" in rows.columns:  # control customers are the measurement: nobody may act on them
        rows = rows[rows["group"].astype("str") != "control"]
    if "customer_id" not in rows.columns:
        rows = rows.reset_index()
    out = pd.DataFrame({"customer_id": rows["customer_id"].astype("str")}, index=rows.index)
    for col in WORK_ORDER_COLUMNS[1:]:
        if col == "reason":
            out[col] = reason_in_words(rows)
        elif col == "top_drivers":
            out[col] = top_drivers(rows)
        elif col in rows.columns:
            out[col] = rows[col]
    out = out.sort_values(["deferred", "priority"], ascending=[True, False], kind="stable")
    return out.reset_index(drop=True).round({"priority": 2, "churn_prob": 3, "value_at_risk": 2})


class SegmentSummary:
    """Counts, mean churn, value at risk and predicted NPS per segment and strategy; `add` batch by batch."""

    SUMS = ("churn_prob", "value_at_risk", "p_promoter", "p_detractor")

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(self, scored: pd.DataFrame) -> SegmentSummary:
        f = pd.DataFrame({
            "segment": _text(scored, "segment").fillna(""), "strategy": _text(scored, "strategy").fillna(""),
            "customers": 1,
            "respondents": scored["is_respondent"].astype(int) if "is_respondent" in scored.columns else 0,
            "deferred": scored["deferred"].astype(int) if "deferred" in scored.columns else 0,
        })
        for col in self.SUMS:
            f[col] = scored[col].to_numpy(dtype=float) if col in scored.columns else np.nan
        self._parts.append(f.groupby(["segment", "strategy"], sort=False).sum(min_count=1))
        return self

    def table(self) -> pd.DataFrame:
        cols = ["segment", "strategy", "customers", "share", "respondents", "mean_churn_prob", "value_at_risk",
                "mean_value_at_risk", "predicted_nps", "deferred"]
        if not self._parts:
            return pd.DataFrame(columns=cols)
        s = pd.concat(self._parts).groupby(level=[0, 1]).sum(min_count=1).reset_index()
        n = s["customers"].astype(float)
        s["share"] = n / n.sum()
        s["mean_churn_prob"] = s["churn_prob"] / n
        s["mean_value_at_risk"] = s["value_at_risk"] / n
        s["predicted_nps"] = 100 * (s["p_promoter"] - s["p_detractor"]) / n
        s = s[cols].sort_values("value_at_risk", ascending=False, na_position="last").reset_index(drop=True)
        return s.round({"share": 4, "mean_churn_prob": 4, "value_at_risk": 2, "mean_value_at_risk": 2,
                        "predicted_nps": 1})


def segment_summary(scored: pd.DataFrame) -> pd.DataFrame:
    return SegmentSummary().add(scored).table()


def scored_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of the scored file, in documented order (segment_class is derivable from `segment`)."""
    return scored_column_order([c for c in frame.columns if c != "segment_class"])


class PeopleOutputs:
    """Work orders and the segment summary, gathered batch by batch while the scored file streams out."""

    def __init__(self, playbook: Playbook | None) -> None:
        self.playbook = playbook
        self.summary = SegmentSummary()
        self._orders: list[pd.DataFrame] = []

    def add(self, batch: pd.DataFrame) -> PeopleOutputs:
        self.summary.add(batch)
        if self.playbook is not None:
            self._orders.append(work_orders(batch, self.playbook))
        return self

    def write(self, out_dir: str | Path, fmt: str = "csv", staged: StagedOutputs | None = None) -> dict[str, Path]:
        """Write the files and return their final paths. With `staged` (scoring) they are written to its temporary
        paths and appear together with the scored file and manifest.json on `staged.commit()`."""
        out_dir = Path(out_dir)

        def put(frame: pd.DataFrame, name: str) -> Path:
            final = out_dir / f"{name}.{fmt}"
            write_table(frame, staged.path(final) if staged is not None else final)
            return final

        paths = {"segment_summary": put(self.summary.table(), "segment_summary")}
        if self.playbook is not None:
            orders = pd.concat(self._orders, ignore_index=True) if self._orders else \
                pd.DataFrame(columns=WORK_ORDER_COLUMNS)
            orders = orders.sort_values(["deferred", "priority"], ascending=[True, False], kind="stable")
            paths["work_orders"] = put(orders.reset_index(drop=True), "work_orders")
        return paths


def write_people_outputs(scored: pd.DataFrame, playbook: Playbook | None, out_dir: str | Path,
                         fmt: str = "csv") -> dict[str, Path]:
    """scored, work_orders and segment_summary files (CSV for Excel by default), each written atomically."""
    frame = scored if "customer_id" in scored.columns else scored.reset_index()
    paths = {"scored": write_table(frame[scored_columns(frame)], Path(out_dir) / f"scored.{fmt}")}
    return {**paths, **PeopleOutputs(playbook).add(frame).write(out_dir, fmt)}


def load_scored(path: str | Path) -> pd.DataFrame:
    """Read a scored CSV/Parquet back (for `playbook check`), keeping text cells as text."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, encoding=CSV_ENCODING, keep_default_na=False, na_values=[""], low_memory=False)


def write_kda_reports(tables: dict[str, pd.DataFrame], directory: str | Path,
                      staged: StagedOutputs | None = None) -> dict[str, Path]:
    """Write each KDA table as `<name>.csv` in `directory` (Excel-friendly CSV), atomically; with `staged`
    (scoring) to its temporary paths, published with the other outputs on `staged.commit()`."""
    paths = {}
    for name, frame in tables.items():
        paths[name] = Path(directory) / f"{name}.csv"
        write_csv(frame, staged.path(paths[name]) if staged is not None else paths[name])
    return paths
