"""The files people read: the scored file, front-line work orders, the segment summary (io/segment_summary.py), the
key-driver tables and `columns.csv` (the column dictionary of this run's files).

Marketing and front-line teams consume these, not the model, so they are made for a spreadsheet:
- CSV, xlsx or Parquet in the style of io/sheets.py (dialect, rounding per column kind, number formats).
- Work orders hold only the customers to contact in this run (`to_contact` in the scored file), with a due date
  (as-of + SLA) and the respondent's own stated reasons; customers past an action's capacity go to
  `work_orders_deferred`, and with `outputs.files_per_team` every owner team also gets its own file.
Every file is written atomically (outputs.write_table / StagedOutputs).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxpredict.actions.playbook import Playbook
from cxpredict.codes import label_codes
from cxpredict.columns import Column, describe, scored_column_order
from cxpredict.io.outputs import StagedOutputs
from cxpredict.io.segment_summary import SegmentSummary
from cxpredict.io.sheets import SHEETS, PeopleStyle, read_table
from cxpredict.io.spool import SortedSpool


# --------------------------------------------------------------------------------------------- the scored file
def scored_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of the scored file, in documented order (segment_class is derivable from `segment`)."""
    return scored_column_order([c for c in frame.columns if c != "segment_class"])


def _work_order_rules(playbook: Playbook | None) -> list[str]:
    return [r.name for r in playbook.rules if r.raises_work_order] if playbook is not None else []


def _raises_work_order(frame: pd.DataFrame, playbook: Playbook | None) -> np.ndarray:
    """Whether each row's rule raises a work order."""
    return label_codes(frame["rule"], _work_order_rules(playbook)) >= 0


def finish_scored(scored: pd.DataFrame, playbook: Playbook | None, style: PeopleStyle) -> pd.DataFrame:
    """The scored batch as people get it: as-of and scoring dates, the `to_contact` filter column, documented
    column order. Call after capacity is settled (`deferred` final)."""
    out = scored.copy(deep=False)  # copy-on-write (pandas 3): new columns never reach the caller's frame
    out["as_of"] = pd.Timestamp(style.day)
    out["scored_on"] = pd.Timestamp(style.scored_on)
    if playbook is not None and "rule" in out.columns:
        raises = _raises_work_order(out, playbook)
        deferred = out["deferred"].fillna(False).astype(bool).to_numpy() if "deferred" in out.columns else False
        control = out["group"].astype("str").eq("control").to_numpy() if "group" in out.columns else False
        out["to_contact"] = raises & ~deferred & ~control  # control customers are the measurement: never contacted
    return out[scored_columns(out)]


# --------------------------------------------------------------------------------------------- work orders
def _text(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="str")
    return frame[col].astype("str").where(frame[col].notna())


def _percent(x: pd.Series) -> pd.Series:
    return (x.astype(float) * 100).round().astype("Int64").astype("str") + "%"


def _labelled(codes: pd.Series, style: PeopleStyle, sep: str = ";") -> pd.Series:
    """'network;billing' -> 'Network, Billing' through the configured labels (missing stays missing)."""
    def one(text):
        if not isinstance(text, str) or not text:
            return None
        return ", ".join(style.label(code.strip()) for code in text.split(sep) if code.strip())
    return _per_value(codes, one)


def _per_value(values: pd.Series, fn) -> pd.Series:
    """`fn` of every value as text ("str" dtype), called once per distinct value (a few codes or driver names
    repeat over every row); missing values get fn(None)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([fn(v) for v in uniques] + [fn(None)], dtype=object)
    return pd.Series(pd.array(mapped[codes], dtype="str"), index=values.index)


def _money(values: pd.Series, style: PeopleStyle) -> pd.Series:
    """`style.money` of every value ("unknown" when not finite), formatted once per whole amount and currency over
    the run: money is shown without decimals, so the amount rounded half-even (as the format rounds) is all the text
    depends on, and amounts repeat from batch to batch."""
    whole = np.rint(values.to_numpy(dtype=float))
    whole[~np.isfinite(whole)] = np.nan
    codes, uniques = pd.factorize(whole.view(np.int64))  # the bits: -0.0 ("-0") stays apart from 0.0
    texts = [_money_text(style.currency, bits) for bits in uniques.tolist()]
    return pd.Series(pd.array(np.asarray(texts, dtype=object)[codes], dtype="str"), index=values.index)


@functools.lru_cache(maxsize=1 << 16)
def _money_text(currency: str | None, bits: int) -> str:
    """PeopleStyle.money of the float with these bits (the style's currency is all money reads of it)."""
    value = float(np.int64(bits).view(np.float64))
    return PeopleStyle(currency=currency).money(value) if np.isfinite(value) else "unknown"


def _join(*parts: pd.Series | str) -> pd.Series:
    """The parts (text columns and constants) concatenated per row in one pass; missing if any part is (as `+`)."""
    index = next(p.index for p in parts if isinstance(p, pd.Series))
    text = pa.large_string()
    arrays = [pa.array(p.array).cast(text) if isinstance(p, pd.Series) else pa.scalar(p, text) for p in parts]
    return pd.Series(pd.array(pc.binary_join_element_wise(*arrays, pa.scalar("", text)), dtype="str"), index=index)


def reason_in_words(frame: pd.DataFrame, style: PeopleStyle | None = None) -> pd.Series:
    """One sentence per customer for the front line: why this customer is on the list. Respondents are quoted
    (their score and their own stated reasons); silent customers get the prediction and the likely reason."""
    style = style or PeopleStyle()
    observed = _text(frame, "observed_score")
    if "observed_score" in frame.columns and pd.api.types.is_numeric_dtype(frame["observed_score"]):
        score = frame["observed_score"]
        whole = score.dropna().eq(score.dropna().round()).all()
        observed = (score.round().astype("Int64") if whole else score).astype("str").where(score.notna())
    said = _join("answered ", observed, " on the survey (", _text(frame, "observed_class"), ")")
    stated = _labelled(_text(frame, "stated_reasons"), style)
    said = said.where(stated.isna(), _join(said, ", saying: ", stated))
    predicted = _join("predicted ", _text(frame, "predicted_class"), " (", _percent(frame["p_detractor"]),
                      " chance of detractor)") if "p_detractor" in frame.columns \
        else _join("predicted ", _text(frame, "predicted_class"))
    likely = _labelled(_text(frame, "reason_1"), style)
    predicted = predicted.where(likely.isna(), _join(predicted, "; likely reason: ", likely))
    words = said.where(observed.notna(), predicted)
    if "predicted_class" not in frame.columns:  # churn-only: no survey, no prediction of it; the risk speaks
        words = pd.Series("", index=frame.index, dtype="str")
    tail = []  # churn risk and value at risk, appended in one pass
    if "churn_prob" in frame.columns:
        tail += ["; churn risk ", _text(frame, "risk_band").fillna("unknown"), " (", _percent(frame["churn_prob"]), ")"]
    if "value_at_risk" in frame.columns:
        tail += ["; value at risk ", _money(frame["value_at_risk"], style)]
    words = _join(words, *tail) if tail else words
    drivers = top_drivers(frame, style)
    unlisted = drivers.isna() | (drivers == "")
    if not unlisted.all():  # without driver columns (drivers.enabled false) nothing to append
        words = words.where(unlisted, _join(words, "; main drivers: ", drivers))
    words = words.str.removeprefix("; ")
    return words.str.slice(0, 1).str.upper() + words.str.slice(1)


def top_drivers(frame: pd.DataFrame, style: PeopleStyle | None = None) -> pd.Series:
    style = style or PeopleStyle()
    cols = sorted((c for c in frame.columns if re.fullmatch(r"driver_\d+", c)), key=lambda c: int(c[7:]))
    if not cols:
        return pd.Series("", index=frame.index, dtype="str")
    parts = [_per_value(_text(frame, c), lambda v: style.label(v) if isinstance(v, str) and v else "") for c in cols]
    joined = parts[0]
    for p in parts[1:]:
        joined = joined.where(p == "", joined + ", " + p)
    return joined.str.strip(", ")


WORK_ORDER_COLUMNS = ["customer_id", "due_at", "priority", "owner_team", "action", "channel", "sla_hours", "reason",
                      "stated_reasons", "top_drivers", "value", "churn_prob", "value_at_risk", "strategy", "segment",
                      "rule"]
_ORDER = ["deferred", "due_at", "priority"]


def due_at(day: dt.date, sla_hours: pd.Series) -> pd.Series:
    """End of the as-of day (the data covers all of it) plus the SLA; no SLA: no due date."""
    start = pd.Timestamp(day) + pd.Timedelta(days=1)
    return start + pd.to_timedelta(pd.to_numeric(sla_hours, errors="coerce"), unit="h")


def work_orders(scored: pd.DataFrame, playbook: Playbook, style: PeopleStyle | None = None) -> pd.DataFrame:
    """Front-line alerts: customers whose rule raises a work order; in capacity first (earliest due, then highest
    priority), deferred last. `deferred` is kept so callers can split the file."""
    style = style or PeopleStyle()
    rows = scored[_raises_work_order(scored, playbook)]
    if "group" in rows.columns:  # control customers are the measurement: nobody may act on them
        rows = rows[rows["group"].astype("str") != "control"]
    if "customer_id" not in rows.columns:
        rows = rows.reset_index()
    out = pd.DataFrame({"customer_id": rows["customer_id"].astype("str")}, index=rows.index)
    for col in [*WORK_ORDER_COLUMNS[1:], "deferred"]:
        if col == "reason":
            out[col] = reason_in_words(rows, style)
        elif col == "top_drivers":
            out[col] = top_drivers(rows, style)
        elif col == "due_at":
            out[col] = due_at(style.day, rows["sla_hours"]) if "sla_hours" in rows.columns else pd.NaT
        elif col == "stated_reasons" and col in rows.columns:
            out[col] = _labelled(_text(rows, col), style)
        elif col in rows.columns:
            out[col] = rows[col]
    if "deferred" not in out.columns:
        out["deferred"] = False
    return sort_orders(out)


def sort_orders(orders: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in _ORDER if c in orders.columns]
    return orders.sort_values(keys, ascending=[c != "priority" for c in keys], kind="stable",
                              na_position="last").reset_index(drop=True)


# --------------------------------------------------------------------------------------------- column dictionary
def column_dictionary(files: Mapping[str, list[str]], style: PeopleStyle | None = None) -> pd.DataFrame:
    """`columns.csv`: every column of every people file of the run with its header, kind and meaning."""
    style = style or PeopleStyle()
    rows = []
    for file, names in files.items():
        for name in names:
            c: Column = describe(str(name))
            rows.append({"file": file, "column": c.name, "header": style.labels.get(c.name, c.header),
                         "kind": c.kind, "meaning": c.meaning})
    return pd.DataFrame(rows, columns=["file", "column", "header", "kind", "meaning"])


# --------------------------------------------------------------------------------------------- writing
ORDERS_CHUNK = 200_000  # work orders written at a time (csv, parquet: a row group each)


class PeopleOutputs:
    """Work orders and the segment summary, gathered batch by batch while the scored file streams out.

    With `spool` (a scratch folder) the work orders wait on disk, only their sort keys in memory (io/spool.py),
    and are written in sorted chunks: memory flat in the rows, the same files."""

    def __init__(self, playbook: Playbook | None, style: PeopleStyle | None = None,
                 spool: str | Path | None = None) -> None:
        self.playbook = playbook
        self.style = style or PeopleStyle()
        self.summary = SegmentSummary()
        self.scored_columns: list[str] = []
        self.orders = SortedSpool(_ORDER, spool, prefix="orders", columns=[*WORK_ORDER_COLUMNS, "deferred"])
        self._controls: dict[str, int] = {}  # per team: control customers within capacity (they use a place)
        self._sorted: tuple[int, pd.DataFrame] | None = None  # (batches added, their sorted keys)

    def add(self, batch: pd.DataFrame) -> PeopleOutputs:
        self.summary.add(batch)
        if not self.scored_columns:
            self.scored_columns = scored_columns(finish_scored(batch.head(0), self.playbook, self.style))
        if self.playbook is not None:
            orders = work_orders(batch, self.playbook, self.style)
            self.orders.add(orders, team=orders["owner_team"].astype("str") if "owner_team" in orders.columns
                            else pd.Series(pd.NA, index=orders.index, dtype="str"))
            if {"group", "rule", "owner_team"} <= set(batch.columns):
                held = _raises_work_order(batch, self.playbook) & \
                    batch["group"].astype("str").eq("control") & ~batch["deferred"].fillna(False).astype(bool)
                for team, n in batch.loc[held, "owner_team"].astype("str").value_counts().items():
                    self._controls[team] = self._controls.get(team, 0) + int(n)
        return self

    def _order_keys(self) -> pd.DataFrame:
        """Every work order's keys and team, in the files' order (sort_orders over all batches), sorted once for
        the files and the queue unless batches came in between."""
        if self._sorted is None or self._sorted[0] != len(self.orders):
            keys = self.orders.keys()
            self._sorted = (len(self.orders), sort_orders(keys) if keys is not None
                            else pd.DataFrame(columns=["deferred", "team", "part", "row"]))
        return self._sorted[1]

    def _write_orders(self, keys: pd.DataFrame, keep: list[str], path: Path, sheet: str,
                      staged: StagedOutputs | None) -> Path:
        """One work-order file, in chunks (xlsx whole: a sheet holds ~1M rows anyway)."""
        if self.style.fmt == "xlsx":
            return self.style.write(self.orders.gather(keys)[keep], path, sheet, staged)
        with self.style.writer(path, staged) as writer:
            for lo in range(0, max(len(keys), 1), ORDERS_CHUNK):
                writer.write(self.orders.gather(keys.iloc[lo:lo + ORDERS_CHUNK])[keep])
        return Path(path)

    def queue(self) -> dict[str, dict[str, int | None]]:
        """Work orders per owner team against the team's capacity (the sum of its actions' capacities per run;
        None: some action of the team has no limit), for manifest.json and the report's summary. `control`: the
        team's control-group customers within capacity; capacity is settled before groups (actions/holdout.py),
        so they take places a team does not fill: to_contact + control + deferred, not to_contact alone, meets
        capacity when anyone is deferred."""
        if self.playbook is None:
            return {}
        keys = self._order_keys()
        capacity: dict[str, dict[str, int | None]] = {}
        for rule in self.playbook.rules:
            if rule.raises_work_order:
                capacity.setdefault(str(rule.owner_team or "unassigned"), {})[rule.action] = rule.capacity
        out = {}
        for team, actions in capacity.items():
            mine = keys[keys["team"].astype("str") == team] if len(keys) else keys
            deferred = int(mine["deferred"].fillna(False).astype(bool).sum()) if len(mine) else 0
            limits = list(actions.values())
            out[team] = {"to_contact": len(mine) - deferred, "control": self._controls.get(team, 0),
                         "deferred": deferred,
                         "capacity": None if any(c is None for c in limits) else int(sum(limits))}
        return out

    def write(self, out_dir: str | Path, staged: StagedOutputs | None = None,
              also: Mapping[str, list[str]] | None = None) -> dict[str, Path]:
        """Write the files and return their final paths. With `staged` (scoring) they are written to its temporary
        paths and appear together with the scored file and manifest.json on `staged.commit()`. `also`: the columns
        of other files of the run (e.g. kda_what_if) that columns.csv documents too."""
        out_dir, style = Path(out_dir), self.style
        summary = self.summary.table()
        paths = {"segment_summary": style.write(summary, style.path(out_dir, "segment_summary"),
                                                SHEETS["segment_summary"], staged)}
        files = {"scored": self.scored_columns, "segment_summary": list(summary.columns)}
        if self.playbook is not None:
            keys = self._order_keys()
            keep = [c for c in WORK_ORDER_COLUMNS if c in self.orders.gather(keys.iloc[:0]).columns]
            deferred = keys["deferred"].fillna(False).astype(bool).to_numpy()
            for name, part in (("work_orders", keys[~deferred]), ("work_orders_deferred", keys[deferred])):
                paths[name] = self._write_orders(part, keep, style.path(out_dir, name), SHEETS[name], staged)
            files["work_orders"] = keep
            if style.files_per_team:
                for team, part in keys[~deferred].groupby(keys["team"].astype("str")[~deferred]):
                    name = f"work_orders_{_safe_name(team)}"
                    paths[name] = self._write_orders(part, keep, out_dir / "work_orders_by_team" /
                                                     f"{_safe_name(team)}.{style.fmt}", team[:31], staged)
        paths["columns"] = style.as_csv().write(column_dictionary({**files, **(also or {})}, style),
                                                out_dir / "columns.csv",
                                                staged=staged)
        return paths


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "team"


def write_people_outputs(scored: pd.DataFrame, playbook: Playbook | None, out_dir: str | Path,
                         style: PeopleStyle | None = None) -> dict[str, Path]:
    """scored, work_orders(_deferred), segment_summary and columns.csv, each written atomically (outside a
    scoring run: a frame already scored and acted on)."""
    style = style or PeopleStyle()
    frame = scored if "customer_id" in scored.columns else scored.reset_index()
    paths = {"scored": style.write(finish_scored(frame, playbook, style), style.path(out_dir, "scored"),
                                   SHEETS["scored"])}
    return {**paths, **PeopleOutputs(playbook, style).add(frame).write(out_dir)}


def load_scored(path: str | Path) -> pd.DataFrame:
    """Read a scored CSV/Parquet back (for `playbook check`), keeping text cells as text."""
    return read_table(path)


# --------------------------------------------------------------------------------------------- key drivers
def rank_drivers(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The ONE driver ranking (report chart, summary, kda_global.csv): by how much the population's detractor
    share would fall if the driver's push were removed (kda_what_if's `change_points`, a model-based what-if),
    largest first; drivers absent from the what-if table keep the order of mean |attribution| after them."""
    out = tables["kda_global"].drop(columns=["rank", "detractor_points_if_fixed"], errors="ignore")
    what_if = tables.get("kda_what_if")
    change = pd.Series(dtype=float) if what_if is None or "change_points" not in what_if.columns else \
        what_if.set_index(what_if["driver"].astype("str"))["change_points"]
    out["detractor_points_if_fixed"] = out["driver"].astype("str").map(change).astype(float)
    out["_tie"] = -out["mean_abs_attribution"] if "mean_abs_attribution" in out.columns else 0.0
    out = out.sort_values(["detractor_points_if_fixed", "_tie"], kind="stable", na_position="last")
    out = out.drop(columns="_tie").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def write_kda_reports(tables: dict[str, pd.DataFrame], directory: str | Path,
                      staged: StagedOutputs | None = None, style: PeopleStyle | None = None) -> dict[str, Path]:
    """Write each KDA table as `<name>.csv` in `directory`, atomically (kda_global as the caller ranked it with
    `rank_drivers`, once: its columns also go into columns.csv); with `staged` (scoring) to its temporary paths,
    published with the other outputs on `staged.commit()`."""
    csv_style = (style or PeopleStyle()).as_csv()
    return {name: csv_style.write(frame, Path(directory) / f"{name}.csv", staged=staged)
            for name, frame in tables.items()}
