"""Campaign results in, validated like every other table, and joined to the assignment log `score` wrote.

The results contract (column names from `campaign.results`): key, campaign_id, group (treated / control),
strategy or rule, optional `contacted` (0/1: the action was delivered), outcomes `churned` (0/1), `converted`
(0/1), `revenue` (>= 0) and optional `new_score` (on the survey scale). At least one outcome must be present.
Bad values are an InputError (exit 2) naming the file, the column, the rows and the fix, before anything is
written. Rows that do not line up with the log (unknown customers or campaigns, a group or strategy other than
the one assigned, control customers who were contacted anyway) are not errors: they are counted, named in the report, and the log's assignment wins,
because the randomised assignment, not what the results say happened, is what makes the comparison fair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxpredict.codes import as_text, increasing, same_text
from cxpredict.config import CampaignResultsTable, Config, ReadOptions, Scale
from cxpredict.data.tables import read_table, rows_text, table_columns
from cxpredict.errors import InputError

OUTCOMES = ("churned", "converted", "revenue", "new_score")
BINARY = ("contacted", "churned", "converted")
GROUPS = ("treated", "control")
LOG_REQUIRED = ("customer_id", "campaign_id", "rule", "strategy", "action", "group")
MAX_NAMED = 5  # examples named per mismatch kind


@dataclass
class CampaignData:
    """Assigned customers with their outcomes: one row per (customer, campaign) of the log that has results."""

    frame: pd.DataFrame  # log columns + contacted (NaN if absent) + outcomes; `treated` bool
    outcomes: list[str]
    has_contacted: bool
    mismatches: dict[str, Any] = field(default_factory=dict)  # kind -> {"count": n, "examples": [...]}
    sources: dict[str, str] = field(default_factory=dict)


def _bad(path: Path, column: str, mask: np.ndarray, what: str, fix: str) -> InputError:
    return InputError(f"{path}: column '{column}' {what} in {int(mask.sum())} row(s), {rows_text(path, np.flatnonzero(mask))}. "
                      f"{fix}")


def _binary(frame: pd.DataFrame, col: str, name: str, path: Path, optional: bool) -> np.ndarray:
    s = frame[col]
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):  # no text to parse: check the values
        values = s.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isin(values, (0.0, 1.0)) & (~np.isnan(values) if optional else True)
        if not bad.any():
            return values
    text = s.astype("str").str.strip().str.lower()
    mapped = text.map({"1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0, "true": 1.0, "false": 0.0, "yes": 1.0,
                       "no": 0.0})
    bad = mapped.isna() & (s.notna() if optional else True)
    if bad.any():
        raise _bad(path, col, bad.to_numpy(), f"({name}) is not 0/1" + ("" if optional else " or is empty"),
                   f"Write 1 or 0 (e.g. {text[bad].head(3).tolist()} are not){'; leave it empty if unknown' if optional else ''}.")
    return mapped.to_numpy(dtype=float)


def _numeric(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna()
    if bad.any():
        raise _bad(path, col, bad.to_numpy(), "is not a number",
                   f"Use plain numbers with '.' decimals (e.g. {frame[col][bad].astype('str').head(3).tolist()}).")
    return values.to_numpy(dtype=float)


def read_results(path: str | Path, spec: CampaignResultsTable, key: str, read: ReadOptions,
                 scale: Scale) -> tuple[pd.DataFrame, list[str], bool]:
    """Read and validate a results file; returns (frame in contract names, outcomes present, has `contacted`)."""
    path = Path(path)
    names = table_columns(path, read) if path.exists() else []
    key_col = spec.key or key
    wanted = {"customer_id": key_col, "campaign_id": spec.campaign_id, "group": spec.group}
    arm = {"strategy": spec.strategy, "rule": spec.rule}
    optional = {"contacted": spec.contacted, **{o: getattr(spec, o) for o in OUTCOMES}}
    if names and not any(c in names for c in arm.values()):
        raise InputError(f"{path}: needs the column '{spec.strategy}' (strategy) or '{spec.rule}' (rule) to say "
                         f"which arm each customer was in; columns in the file: {names[:30]}. Set "
                         "campaign.results.strategy / .rule to your column names.")
    present = [k for k, c in optional.items() if c in names]
    outcomes = [o for o in OUTCOMES if o in present]
    if names and not outcomes:
        raise InputError(f"{path}: no outcome column; expected at least one of "
                         f"{[getattr(spec, o) for o in OUTCOMES]} (campaign.results). Columns in the file: {names[:30]}.")
    cols = [*wanted.values(), *[c for c in arm.values() if c in names], *[optional[k] for k in present]]
    raw = read_table(path, read, columns=cols, column_types={key_col: "string", spec.campaign_id: "string"},
                     what="campaign results (campaign.results)")
    out = pd.DataFrame({k: raw[c].astype("str") for k, c in wanted.items()})
    for k, c in arm.items():
        if c in names:
            out[k] = raw[c].astype("str")
    for k, c in wanted.items():
        empty = out[k].isna() | (out[k].str.strip() == "")
        if empty.any():
            raise _bad(path, c, empty.to_numpy(), "is empty", "Every result row needs its customer, campaign and group.")
    group = out["group"].str.strip().str.lower()
    bad = ~group.isin(GROUPS)
    if bad.any():
        raise _bad(path, spec.group, bad.to_numpy(), "is not 'treated' or 'control'",
                   f"Use the groups of the assignment log (found e.g. {out['group'][bad].head(3).tolist()}).")
    out["group"] = group
    # customers in rising order cannot repeat a pair: one comparison per row instead of hashing every pair
    dupes = None if increasing(out["customer_id"]) else out.duplicated(["customer_id", "campaign_id"], keep=False)
    if dupes is not None and dupes.any():
        raise _bad(path, key_col, dupes.to_numpy(), f"repeats a (customer, {spec.campaign_id}) pair",
                   "Keep one result row per customer and campaign.")
    for k in present:
        c = optional[k]
        if k in BINARY:
            out[k] = _binary(raw, c, k, path, optional=True)
        else:
            out[k] = _numeric(raw, c, path)
    if "revenue" in present and (neg := out["revenue"].to_numpy() < 0).any():
        raise _bad(path, spec.revenue, neg, "is negative", "Revenue in the horizon is 0 or more; refunds belong elsewhere.")
    if "new_score" in present:
        s = out["new_score"].to_numpy()
        off = ~np.isnan(s) & ((s < scale.min) | (s > scale.max) | (s != np.round(s)))
        if off.any():
            raise _bad(path, spec.new_score, off, f"is not a whole number from {scale.min} to {scale.max}",
                       "Use the survey scale of the config (scale.min / scale.max), empty where nobody answered.")
    return out, outcomes, "contacted" in present


def read_assignments(path: str | Path, read: ReadOptions) -> pd.DataFrame:
    """The assignment log written by `score` (assignments.csv / .parquet), checked for its required columns."""
    path = Path(path)
    log = read_table(path, read, column_types={"customer_id": "string", "campaign_id": "string"},
                     what="assignment log (written by `cxpredict score`)")
    missing = [c for c in LOG_REQUIRED if c not in log.columns]
    if missing:
        raise InputError(f"{path}: not an assignment log (missing {missing}); pass the assignments file that "
                         "`cxpredict score` wrote beside the scored file")
    for c in ("customer_id", "campaign_id", "rule", "strategy", "action", "group"):
        log[c] = as_text(log[c])
    bad = ~log["group"].isin(GROUPS)
    if bad.any():
        raise _bad(path, "group", bad.to_numpy(), "is not 'treated' or 'control'", "Use the log `score` wrote, unedited.")
    return log


def _examples(values: pd.Series) -> list[str]:
    return values.astype("str").head(MAX_NAMED).tolist()


def join_results(log: pd.DataFrame, results: pd.DataFrame, outcomes: list[str], has_contacted: bool,
                 sources: dict[str, str] | None = None) -> CampaignData:
    """Inner join on (customer, campaign); every kind of mismatch counted with examples. The log's group wins."""
    keys = ["customer_id", "campaign_id"]
    mismatches: dict[str, Any] = {}

    def note(kind: str, rows: pd.DataFrame) -> None:
        if len(rows):
            mismatches[kind] = {"count": int(len(rows)), "examples": _examples(rows["customer_id"])}

    if same_text(log["customer_id"], results["customer_id"]) and increasing(log["customer_id"]) \
            and same_text(log["campaign_id"], results["campaign_id"]):
        # the results are the log's rows in its order, sorted by customer (the usual export): the outer merge's
        # rows, in its key order, without hashing a million IDs
        extra = results.drop(columns=keys)
        extra = extra.rename(columns={c: f"{c}_result" for c in extra.columns if c in log.columns})
        both = pd.concat([log.reset_index(drop=True), extra.reset_index(drop=True)], axis=1)
    else:
        merged = log.merge(results, on=keys, how="outer", suffixes=("", "_result"), indicator=True)
        only_results = merged[merged["_merge"] == "right_only"]
        known_campaigns = set(log["campaign_id"].unique())
        note("unknown_campaign", only_results[~only_results["campaign_id"].isin(known_campaigns)])
        note("unknown_customer", only_results[only_results["campaign_id"].isin(known_campaigns)])
        note("no_results", merged[merged["_merge"] == "left_only"])
        both = merged[merged["_merge"] == "both"].drop(columns="_merge").reset_index(drop=True)
    note("group_differs", both[both["group"] != both["group_result"]])
    for arm in ("strategy", "rule"):
        if f"{arm}_result" in both.columns:
            note(f"{arm}_differs", both[both[arm] != both[f"{arm}_result"]])
    if both.empty:
        sources = sources or {}
        results_name, log_name = sources.get("results", "the results"), sources.get("assignments", "the log")
        result_campaigns, log_campaigns = (sorted(set(t["campaign_id"].astype("str"))) for t in (results, log))
        if not set(result_campaigns) & set(log_campaigns):
            why = (f"{results_name} holds campaign(s) {result_campaigns[:5]}, the assignment log {log_name} holds "
                   f"{log_campaigns[:5]}: pass the log `score --campaign-id` wrote for this campaign")
        else:
            why = (f"the campaigns match but no customer does ({_examples(results['customer_id'])} in "
                   f"{results_name}, {_examples(log['customer_id'])} in {log_name}): the log is probably another "
                   "day's; pass the log of the scoring run that assigned these customers")
        raise InputError(f"no result row matches the assignment log on (customer, campaign_id): {why}; "
                         f"mismatches: { {k: v['count'] for k, v in mismatches.items()} }")
    frame = both.drop(columns=[c for c in both.columns if c.endswith("_result")])
    frame["treated"] = frame["group"].to_numpy() == "treated"
    if has_contacted:  # contamination: the comparison stays fair (assignment wins), but people should know
        note("control_contacted", frame[~frame["treated"] & (frame["contacted"] == 1)])
    if not has_contacted:
        frame["contacted"] = np.nan
    return CampaignData(frame=frame, outcomes=outcomes, has_contacted=has_contacted, mismatches=mismatches,
                        sources=sources or {})


MISMATCH_TEXT = {
    "unknown_campaign": "result rows name a campaign the assignment log does not hold; they are left out",
    "unknown_customer": "result rows name customers the assignment log did not assign; they are left out",
    "no_results": "assigned customers have no result row; they are left out",
    "group_differs": "result rows report another group than the log assigned; the log's group is used",
    "strategy_differs": "result rows report another strategy than the log assigned; the log's is used",
    "rule_differs": "result rows report another rule than the log assigned; the log's is used",
    "control_contacted": "control customers were contacted anyway; they stay in the control group",
    "no_features": "assigned customers are not in the config's customer data; they are left out of the uplift "
                   "models",
}


def mismatch_warnings(camp: CampaignData) -> list[str]:
    """One warning line per kind of mismatch, naming the files, the count and examples (learn logs them)."""
    where = f"{camp.sources.get('results', 'results')} vs {camp.sources.get('assignments', 'assignment log')}"
    return [f"{where}: {m['count']} {MISMATCH_TEXT.get(kind, kind)} (e.g. {m['examples']})"
            for kind, m in camp.mismatches.items()]


def load_campaign(cfg: Config, results_path: str | Path, assignments_path: str | Path) -> CampaignData:
    """Read, validate and join a results file and its assignment log (InputError, exit 2, on bad values)."""
    results, outcomes, has_contacted = read_results(results_path, cfg.campaign.results, cfg.data.key, cfg.data.read,
                                                    cfg.scale)
    if cfg.campaign.outcome not in outcomes:
        raise InputError(f"{results_path}: campaign.outcome is '{cfg.campaign.outcome}' but the file has no "
                         f"'{getattr(cfg.campaign.results, cfg.campaign.outcome)}' column; add it or set "
                         f"campaign.outcome to one of {outcomes}")
    log = read_assignments(assignments_path, cfg.data.read)
    return join_results(log, results, outcomes, has_contacted,
                        {"results": str(results_path), "assignments": str(assignments_path)})
