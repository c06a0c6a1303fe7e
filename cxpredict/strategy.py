"""From predictions to actions: segments, the playbook applied to every customer, capacity, and people's files.

Why this shape:
- Segments combine the NPS class (the respondent's own answer or the prediction, `strategy.class_source`),
  a churn-risk band and an optional value band into one readable label, e.g. `detractor/high-risk/high-value`.
  Quantile value bands are turned into fixed value cuts once, on the training customers (`Segmenter.fit`),
  so a customer's band never depends on which batch it was scored in.
- The playbook (see playbook.py) runs vectorised: one boolean mask per rule, then the first matching rule per
  row; labels are categorical codes, so 1M customers take well under a second.
- Capacity is a whole-population decision: within each action the highest priorities are served, the rest
  keep their action with `deferred=True`, so nobody is dropped silently.
- People read CSV in Excel: every output goes through outputs.write_table (UTF-8 BOM, formula injection
  neutralised in text columns, atomic rename). COLUMN_DOCS documents the scored file for the README and report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import CLASSES, ChurnConfig, StrategyConfig
from .errors import ConfigError
from .outputs import write_table
from .playbook import Playbook, first_match, rule_masks, validate_columns, with_virtual_columns

# --------------------------------------------------------------------------------------------- column dictionary
COLUMN_DOCS: dict[str, str] = {
    "customer_id": "Customer key, as in the input data.",
    "is_respondent": "True when the customer answered the survey.",
    "observed_score": "The customer's own survey score (empty for silent customers).",
    "observed_class": "detractor / passive / promoter from the observed score (empty for silent customers).",
    "predicted_score": "Expected survey score predicted from behaviour (also for respondents).",
    "p_detractor": "Predicted probability that the customer is a detractor.",
    "p_passive": "Predicted probability that the customer is a passive.",
    "p_promoter": "Predicted probability that the customer is a promoter.",
    "predicted_class": "Predicted class (thresholds tuned, not simply the largest probability).",
    "driver_1": "Strongest driver of dissatisfaction for this customer (a driver group or feature).",
    "driver_2": "Second driver.",
    "driver_3": "Third driver.",
    "driver_1_impact": "How much driver_1 raises the probability of being a detractor (0.05 = 5 points).",
    "driver_2_impact": "Same for driver_2.",
    "driver_3_impact": "Same for driver_3.",
    "reason_1": "Most likely stated reason (reason code) for dissatisfaction.",
    "reason_2": "Second most likely stated reason.",
    "reason_1_prob": "Probability of reason_1.",
    "reason_2_prob": "Probability of reason_2.",
    "churn_prob": "Calibrated probability of churning within the churn horizon (churn.horizon_days).",
    "value": "Customer value: revenue column x churn.value.months (a simple, undiscounted CLV proxy).",
    "value_at_risk": "churn_prob x value: the value expected to be lost if nobody acts.",
    "risk_band": "Churn-risk band from churn.risk_bands (default low < 0.2 <= medium < 0.5 <= high).",
    "value_band": "Value band from strategy.value_bands (empty when value bands are not configured).",
    "segment": "class/risk/value, e.g. detractor/high-risk/high-value; class per strategy.class_source.",
    "strategy": "retention, win-back, activation, conversion, upsell, referral or no-action.",
    "action": "The suggested action, in words.",
    "channel": "Channel for the action (phone, email, app, ...).",
    "owner_team": "Team that owns the action.",
    "sla_hours": "Hours within which the action should happen (empty: no SLA).",
    "priority": "Who comes first within an action: value at risk by default (higher is more urgent).",
    "deferred": "True when the action's daily capacity is used up by higher-priority customers.",
    "rule": "Name of the playbook rule that chose the action (for audit).",
}


def columns_markdown() -> str:
    """The column dictionary as a Markdown table, for the README and the HTML report."""
    lines = ["| column | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in COLUMN_DOCS.items()]
    return "\n".join(lines) + "\n"


def scored_column_order(columns: list[str]) -> list[str]:
    """Documented columns in documented order (drivers/reasons beyond the third grouped), then any others."""
    def rank(col: str) -> tuple[int, str]:
        if col in COLUMN_DOCS:
            return list(COLUMN_DOCS).index(col), ""
        for prefix in ("driver_", "reason_"):
            if col.startswith(prefix):
                return list(COLUMN_DOCS).index(f"{prefix}1_{'impact' if prefix == 'driver_' else 'prob'}"), col
        return len(COLUMN_DOCS), col
    return sorted(columns, key=rank)


# --------------------------------------------------------------------------------------------- segments
_DEFAULT_LABELS = {1: ["low", "high"], 2: ["low", "medium", "high"], 3: ["low", "medium", "high", "very-high"],
                   4: ["very-low", "low", "medium", "high", "very-high"]}


def band_labels(cuts: list[float], labels: list[str] | None) -> list[str]:
    return list(labels) if labels is not None else list(_DEFAULT_LABELS.get(len(cuts), []))


def _bands(values: np.ndarray, cuts: list[float], labels: list[str]) -> pd.Categorical:
    codes = np.searchsorted(np.asarray(cuts, dtype=float), values, side="right").astype(np.int8)
    codes[np.isnan(values)] = -1
    return pd.Categorical.from_codes(codes, categories=labels)


@dataclass
class Segmenter:
    """Band cut points and labels, fixed at training time and saved beside the model (segments.json)."""

    class_source: str = "observed"
    risk_cuts: list[float] = field(default_factory=lambda: [0.2, 0.5])
    risk_labels: list[str] = field(default_factory=lambda: ["low", "medium", "high"])
    value_cuts: list[float] = field(default_factory=list)  # currency units (quantiles already resolved)
    value_labels: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, churn: ChurnConfig, strategy: StrategyConfig, values: np.ndarray | None = None) -> Segmenter:
        """Resolve configured bands; quantile value bands become value cuts on `values` (training customers)."""
        value_cuts = list(strategy.value_bands)
        if value_cuts and strategy.value_band_mode == "quantile":
            if values is None or not np.isfinite(values).any():
                raise ConfigError("strategy.value_bands in quantile mode need customer values (churn.value) to fit")
            value_cuts = np.unique(np.nanquantile(values, value_cuts)).tolist()
            if len(value_cuts) < len(strategy.value_bands):
                raise ConfigError(
                    f"strategy.value_bands quantiles {strategy.value_bands} give tied value cuts {value_cuts}: "
                    "customer values are too uniform; use fewer bands or value_band_mode: fixed"
                )
        return cls(
            class_source=strategy.class_source,
            risk_cuts=list(churn.risk_bands),
            risk_labels=band_labels(churn.risk_bands, churn.risk_band_labels),
            value_cuts=value_cuts,
            value_labels=band_labels(strategy.value_bands, strategy.value_band_labels) if value_cuts else [],
        )

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Segmenter:
        return cls(**json.loads(text))

    def assign(self, scored: pd.DataFrame) -> pd.DataFrame:
        """segment_class, risk_band, value_band and segment for every row (categoricals, vectorised)."""
        if "predicted_class" not in scored.columns:
            raise ConfigError("segments need the 'predicted_class' column of the NPS model")
        cls_text = scored["predicted_class"]
        if self.class_source == "observed" and "observed_class" in scored.columns:
            cls_text = scored["observed_class"].where(scored["observed_class"].notna(), cls_text)
        klass = pd.Categorical(cls_text, categories=list(CLASSES))
        churn = scored["churn_prob"].to_numpy(dtype=float) if "churn_prob" in scored.columns \
            else np.full(len(scored), np.nan)
        risk = _bands(churn, self.risk_cuts, self.risk_labels)
        parts = [(klass.codes, [*CLASSES, "unknown"]),
                 (risk.codes, [f"{x}-risk" for x in [*self.risk_labels, "unknown"]])]
        out = {"segment_class": klass, "risk_band": risk}
        if self.value_cuts:
            value = _bands(scored["value"].to_numpy(dtype=float), self.value_cuts, self.value_labels)
            parts.append((value.codes, [f"{x}-value" for x in [*self.value_labels, "unknown"]]))
            out["value_band"] = value
        else:
            out["value_band"] = pd.Categorical.from_codes(np.full(len(scored), -1, np.int8), categories=["none"])
        out["segment"] = _combine(parts)
        return pd.DataFrame(out, index=scored.index)


def _combine(parts: list[tuple[np.ndarray, list[str]]]) -> pd.Categorical:
    """Join categorical parts with '/' through integer codes (no per-row string work); code -1 -> last label."""
    code = np.zeros(len(parts[0][0]), dtype=np.int64)
    names = [""]
    for codes, labels in parts:
        c = np.where(codes < 0, len(labels) - 1, codes)
        code = code * len(labels) + c
        names = [f"{n}/{lab}" if n else lab for n in names for lab in labels]
    used = np.unique(code)
    return pd.Categorical.from_codes(np.searchsorted(used, code), categories=[names[i] for i in used])


# --------------------------------------------------------------------------------------------- applying the playbook
def priority_scores(scored: pd.DataFrame, playbook: Playbook, rule_idx: np.ndarray) -> np.ndarray:
    """Priority per row: the playbook's method (value at risk by default), per-rule `priority_by` overrides."""
    spec = playbook.priority
    needed = "value" if spec.method == "expected_uplift" else spec.method
    if needed not in scored.columns:
        raise ConfigError(f"playbook '{playbook.name}': priority method '{spec.method}' needs the column "
                          f"'{needed}', which the scored data lacks (is the churn model enabled?)")
    if spec.method == "expected_uplift":
        strategies = np.asarray([r.strategy for r in playbook.rules])[rule_idx]
        segments = scored["segment"].astype("str").to_numpy() if "segment" in scored.columns else None
        uplift = np.full(len(scored), spec.default_uplift)
        for key, u in sorted(spec.uplift.items(), key=lambda kv: "|" in kv[0]):  # specific keys override
            strat, _, seg = key.partition("|")
            hit = strategies == strat
            if seg:
                hit &= segments == seg if segments is not None else False
            uplift[hit] = u
        priority = uplift * scored["value"].to_numpy(dtype=float)
    else:
        priority = scored[spec.method].to_numpy(dtype=float).copy()
    for i, rule in enumerate(playbook.rules):
        if rule.priority_by:
            rows = rule_idx == i
            priority[rows] = scored[rule.priority_by].to_numpy(dtype=float)[rows]
    return priority


def defer_over_capacity(action_codes: np.ndarray, priority: np.ndarray, capacity: dict[int, int]) -> np.ndarray:
    """True for rows beyond their action's capacity: served in priority order (ties: earlier row first)."""
    deferred = np.zeros(len(action_codes), dtype=bool)
    order_key = np.nan_to_num(np.asarray(priority, dtype=float), nan=-np.inf)
    for code, cap in capacity.items():
        rows = np.flatnonzero(action_codes == code)
        if len(rows) > cap:
            ranked = rows[np.lexsort((rows, -order_key[rows]))]
            deferred[ranked[cap:]] = True
    return deferred


def _labels(values: list[Any], rule_idx: np.ndarray) -> pd.Categorical:
    cats = list(dict.fromkeys(values))
    lookup = np.asarray([cats.index(v) for v in values])
    return pd.Categorical.from_codes(lookup[rule_idx], categories=cats)


def apply_playbook(scored: pd.DataFrame, playbook: Playbook, capacity: bool = True) -> pd.DataFrame:
    """Playbook columns for every row: strategy, action, channel, owner_team, sla_hours, priority, deferred, rule.

    `scored` needs the columns the rules name plus the priority inputs. Capacity is applied over the rows
    given, so pass the whole population (or call `defer_over_capacity` once on all rows when streaming).
    """
    frame = with_virtual_columns(scored)
    validate_columns(playbook, frame.columns, source=f"playbook '{playbook.name}'")
    idx = first_match(rule_masks(playbook, frame))
    rules = playbook.rules
    out = pd.DataFrame({
        "strategy": _labels([r.strategy for r in rules], idx),
        "action": _labels([r.action for r in rules], idx),
        "channel": _labels([r.channel for r in rules], idx),
        "owner_team": _labels([r.owner_team for r in rules], idx),
        "sla_hours": np.asarray([np.nan if r.sla_hours is None else r.sla_hours for r in rules])[idx],
        "priority": priority_scores(frame, playbook, idx),
    }, index=scored.index)
    caps = playbook.capacities()
    if capacity and caps:
        action_codes = out["action"].cat.codes.to_numpy()
        cats = list(out["action"].cat.categories)
        out["deferred"] = defer_over_capacity(
            action_codes, out["priority"].to_numpy(), {cats.index(a): c for a, c in caps.items() if a in cats}
        )
    else:
        out["deferred"] = np.zeros(len(out), dtype=bool)
    out["rule"] = _labels([r.name for r in rules], idx)
    return out


def segment_and_act(scored: pd.DataFrame, segmenter: Segmenter, playbook: Playbook) -> pd.DataFrame:
    """scored + segment columns + playbook columns (the last two steps of scoring)."""
    seg = segmenter.assign(scored)
    base = scored.drop(columns=[c for c in seg.columns if c in scored.columns])
    frame = pd.concat([base, seg], axis=1)
    return pd.concat([frame, apply_playbook(frame, playbook)], axis=1)


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
            "segment": scored["segment"].astype("str"), "strategy": scored["strategy"].astype("str"),
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


def write_people_outputs(scored: pd.DataFrame, playbook: Playbook, out_dir: str | Path,
                         fmt: str = "csv") -> dict[str, Path]:
    """scored, work_orders and segment_summary files (CSV for Excel by default), each written atomically."""
    out_dir = Path(out_dir)
    frame = scored if "customer_id" in scored.columns else scored.reset_index()
    columns = [c for c in frame.columns if c != "segment_class"]  # derivable from `segment`
    return {
        "scored": write_table(frame[scored_column_order(columns)], out_dir / f"scored.{fmt}"),
        "work_orders": write_table(work_orders(frame, playbook), out_dir / f"work_orders.{fmt}"),
        "segment_summary": write_table(segment_summary(frame), out_dir / f"segment_summary.{fmt}"),
    }


def load_scored(path: str | Path) -> pd.DataFrame:
    """Read a scored CSV/Parquet back (for `playbook check`), keeping text cells as text."""
    from .outputs import CSV_ENCODING

    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, encoding=CSV_ENCODING, keep_default_na=False, na_values=[""], low_memory=False)
