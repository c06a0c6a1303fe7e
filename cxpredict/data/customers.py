"""Read, validate and fuse the survey, behaviour and outcome tables into one row per customer.

Every problem with the inputs becomes a typed error that names the file, the column, the first offending rows
(1-based file lines for CSV, header = line 1) and the fix, so a user can repair the data without reading code.
`validate_inputs` collects every problem at once; `load_customers` stops at the first.
Customer IDs are trimmed and matched as text; unmatched ones come with their cause (see ids.py).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cxpredict.config import BehaviourTable, Config, ReadOptions
from cxpredict.data.duckdb_events import DuckDBEngine, EventScan, engine_for
from cxpredict.data.feature_table import read_feature_table
from cxpredict.data.events import aggregate_events, aggregation_name, window_end
from cxpredict.data.ids import KEY, clean_ids, isin, why_unmatched
from cxpredict.data.tables import (
    fingerprint_file,
    read_table,
    require_columns,
    rows_text,
    unread_bytes_warning,
)
from cxpredict.data.config_checks import as_of_problem, name_problems, text_feature_prefixes
from cxpredict.data.text import text_columns_of, validate_texts
from cxpredict.errors import ConfigError, CxError, InputError

MIN_RESPONDENTS = 50  # fewer matched answers cannot train the NPS model with cross-validated thresholds
MIXED_NUMERIC_SHARE = 0.5  # a text column where more than this share of values are numbers "mixes types"
LABEL_WORDS = {"1": 1.0, "0": 0.0, "yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0, "y": 1.0, "n": 0.0}
NUMERIC_AGGS = ("sum", "mean", "max", "min")


@dataclass
class DataReport:
    n_customers: int = 0
    n_respondents: int = 0  # customers in `frame` with a valid score (orphans and blank answers excluded)
    orphan_respondents: int = 0  # survey answers whose customer is absent from behaviour data (reported, not fatal)
    orphan_examples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tables: dict[str, dict] = field(default_factory=dict)  # name -> {"path", "kind", "rows", "columns", "fingerprint"}
    origin: dict[str, str] = field(default_factory=dict)  # behaviour column -> the table it came from

    def warn(self, message: str) -> None:
        """Collected, not logged here: the caller (pipeline, CLI) shows them once, at its own verbosity."""
        self.warnings.append(message)


@dataclass
class CustomerData:
    frame: pd.DataFrame  # index "customer_id" (str); behaviour columns only, never survey/outcome columns
    score: pd.Series  # float64 aligned to frame.index, NaN for silent customers
    reasons: pd.Series | None  # ';'-separated reason codes, NA if none / silent
    outcome: pd.Series | None  # float64 0/1 churn label aligned to frame.index, NaN unknown
    report: DataReport

    @property
    def is_respondent(self) -> np.ndarray:
        return self.score.notna().to_numpy()


# --------------------------------------------------------------------------------------------- messages
def _examples(path: Path, values: pd.Series) -> str:
    """'rows 4, 9 (...), values '11', 'x'' for a Series of bad values indexed by 0-based row position."""
    shown = ", ".join(repr(str(v)) for v in values.iloc[:5])
    return f"{rows_text(path, values.index)}, values {shown}"


# --------------------------------------------------------------------------------------------- checks
class _Problems:
    """Error sink: raises at once for load_customers, collects everything for validate_inputs."""

    def __init__(self, fail_fast: bool):
        self.fail_fast = fail_fast
        self.errors: list[CxError] = []

    def add(self, error: CxError) -> None:
        if self.fail_fast:
            raise error
        self.errors.append(error)


def _read_keyed(path: Path, read: ReadOptions, key: str, wanted: list[str] | None, what: str,
                report: DataReport) -> pd.DataFrame:
    """Read key (+ wanted columns), key as trimmed text renamed to customer_id; empty IDs are an error."""
    columns = None if wanted is None else [key, *wanted]
    frame = read_table(path, read, columns, {key: "string"}, what=what, warn=report.warn)
    if columns is None:
        require_columns(path, list(frame.columns), [key], what)
    frame = frame.rename(columns={key: KEY})
    frame[KEY] = clean_ids(frame[KEY], path, key, what, report.warn)
    return frame


def _dedupe(frame: pd.DataFrame, path: Path, key: str, what: str, problems: _Problems, fix: str,
            id_col: str = KEY) -> pd.DataFrame:
    """Duplicate keys are a problem; the first row per key is kept so validation can go on."""
    ids = frame[id_col].to_numpy()
    dup = frame[id_col].duplicated(keep=False).to_numpy()
    if not dup.any():
        return frame
    repeated = list(dict.fromkeys(ids[dup]))
    shown = "; ".join(f"{i!r} at {rows_text(path, frame.index[ids == i])}" for i in repeated[:5])
    problems.add(InputError(
        f"{path}: column {key!r} must identify one row per key ({what}), but {len(repeated)} IDs repeat: "
        f"{shown}{' ...' if len(repeated) > 5 else ''}. {fix}"))
    return frame.drop_duplicates(id_col, keep="first")


def _mixed_types(frame: pd.DataFrame, path: Path, read: ReadOptions, columns: Iterable[str],
                 problems: _Problems) -> set[str]:
    """Flag text columns that are mostly numbers: a stray word turned a numeric column into text."""
    flagged = set()
    for col in columns:
        if not pd.api.types.is_string_dtype(frame[col]):
            continue
        values = frame[col].dropna()
        sample = values.iloc[:: max(1, len(values) // 2000)]
        if sample.empty or pd.to_numeric(sample, errors="coerce").notna().mean() <= MIXED_NUMERIC_SHARE / 2:
            continue
        parsed = pd.to_numeric(values, errors="coerce")
        share = parsed.notna().mean()
        if MIXED_NUMERIC_SHARE < share < 1:
            flagged.add(col)
            bad = values[parsed.isna()]
            problems.add(InputError(
                f"{path}: column {col!r} mixes numbers and text: {share:.0%} of its values are numbers but "
                f"{len(bad)} are not, at {_examples(path, bad)}. Fix those values, add them to data.read.na_values "
                f"(now {read.na_values}) if they mean 'missing', or leave the column out of the table's 'columns'."))
    return flagged


def _timestamps(values: pd.Series, path: Path, column: str, problems: _Problems,
                allow_empty: bool = False) -> pd.Series:
    """Parse a timestamp column to naive UTC datetimes; unparseable values (and empty ones, unless an empty cell
    means 'no event', as for churned_at of customers who stayed) are an error."""
    raw = values
    if not pd.api.types.is_datetime64_any_dtype(values):
        values = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")  # as DuckDB: any ISO form
    if getattr(values.dtype, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = values.isna() & (raw.notna() if allow_empty else True)
    if bad.any():
        problems.add(InputError(
            f"{path}: column {column!r} has empty or unreadable timestamps at {_examples(path, raw[bad])}. "
            "Use ISO dates like 2024-06-30 or 2024-06-30T14:05:00, or remove those rows."))
    return values


# --------------------------------------------------------------------------------------------- tables
def _merge_columns(frame: pd.DataFrame, new: pd.DataFrame, table: str, report: DataReport) -> pd.DataFrame:
    """Add columns; a name already taken (e.g. 'Count' in several tables) becomes '<table>_<name>'."""
    taken = set(frame.columns) | {KEY}
    clash = [c for c in new.columns if c in taken]
    if clash:
        report.warn(f"table {table!r}: columns {clash} also exist in earlier tables; renamed to "
                    f"{[f'{table}_{c}' for c in clash]}")
        new = new.rename(columns={c: f"{table}_{c}" for c in clash})
    report.origin.update({str(c): table for c in new.columns})
    return pd.concat([frame, new], axis=1)


def _read_events(cfg: Config, table: BehaviourTable, key: str, path: Path, problems: _Problems,
                 report: DataReport, engine: DuckDBEngine | None) -> pd.DataFrame | EventScan:
    """The events in pandas, or checked where they lie when DuckDB aggregates them (data.engine)."""
    what = f"events table {table.name!r}"
    names = [aggregation_name(table, a) for a in table.aggregations]
    for agg in table.aggregations:
        if agg.column is None and agg.agg != "count":
            raise ConfigError(f"{what}: aggregation {agg.agg!r} needs a 'column' (only 'count' works without one)")
    if len(set(names)) < len(names):
        raise ConfigError(f"{what}: aggregations produce repeated feature names {names}; give them distinct 'name's")
    if engine is not None:
        scan = engine.scan(table, key, path, cfg.data.read, what, report.warn, problems.add)
        if scan is not None:
            return scan
    value_cols = list(dict.fromkeys(a.column for a in table.aggregations if a.column))
    frame = _read_keyed(path, cfg.data.read, key, [table.timestamp, *value_cols], what, report)
    mixed = _mixed_types(frame, path, cfg.data.read, value_cols, problems)
    for agg in table.aggregations:
        if agg.agg in NUMERIC_AGGS and agg.column not in mixed and not pd.api.types.is_numeric_dtype(frame[agg.column]):
            problems.add(InputError(f"{path}: column {agg.column!r} is text, but aggregation {agg.agg!r} of "
                                    f"{what} needs numbers. Use 'count'/'nunique' or fix the column."))
    frame[table.timestamp] = _timestamps(frame[table.timestamp], path, table.timestamp, problems)
    return frame.dropna(subset=[table.timestamp])


def _as_key(values: pd.Series) -> pd.Series:
    """Join values as text; whole floats (ints that gained NaN in a join) lose their '.0'."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        present = values.dropna()
        if (present == np.floor(present)).all():
            return values.astype("Int64").astype("str")
    return values.astype("str")


# a config without data.survey (churn-only): nobody answered, every customer is silent
NO_SURVEY = pd.DataFrame({"score": pd.Series([], dtype="float64")}, index=pd.Index([], dtype="str", name=KEY))


def _survey(cfg: Config, problems: _Problems, report: DataReport) -> pd.DataFrame:
    sv, scale = cfg.data.survey, cfg.scale
    path, key = cfg.data_path(sv.path), sv.key or cfg.data.key
    what = "survey table, data.survey"
    frame = _read_keyed(path, cfg.data.read, key, [c for c in (sv.score, sv.reasons, sv.answered_at) if c], what,
                        report)
    _record(report, "survey", path, frame, key)
    raw = frame[sv.score]
    numeric = raw if pd.api.types.is_numeric_dtype(raw) else pd.to_numeric(raw, errors="coerce")
    numeric = numeric.astype("float64")
    blank = raw.isna()
    bad = ~blank & (numeric.isna() | (numeric != np.round(numeric)) | (numeric < scale.min) | (numeric > scale.max))
    if bad.any():
        problems.add(InputError(
            f"{path}: column {sv.score!r} (data.survey.score) must hold whole numbers from {scale.min} to "
            f"{scale.max} (the configured scale); {int(bad.sum())} values do not, at "
            f"{_examples(path, raw[bad])}. Fix those answers, "
            "or set scale.min/scale.max and the cut points to the survey's real scale."))
    if blank.any():
        report.warn(f"{path}: {int(blank.sum())} survey rows have no {sv.score!r} answer "
                    f"({rows_text(path, frame.index[blank])}); they count as silent customers")
    if sv.answered_at:
        _timestamps(frame[sv.answered_at], path, sv.answered_at, problems)
    frame = frame.assign(score=numeric)[~(bad | blank).to_numpy()]
    frame = _dedupe(frame, path, key, what, problems, "Keep one answer per customer (e.g. the latest).")
    out = pd.DataFrame({"score": frame["score"].to_numpy()}, index=pd.Index(frame[KEY], name=KEY))
    if sv.reasons:
        out["reasons"] = pd.Series([_reason_codes(v) for v in frame[sv.reasons]], index=out.index, dtype="str")
    return out


def _reason_codes(text) -> str | None:
    """'price ; ;network' -> 'price;network'; empty -> missing."""
    if not isinstance(text, str):
        return None
    return ";".join(code.strip() for code in text.split(";") if code.strip()) or None


def _outcomes(cfg: Config, problems: _Problems, report: DataReport) -> pd.Series:
    oc = cfg.data.outcomes
    path, key = cfg.data_path(oc.path), oc.key or cfg.data.key
    what = "outcomes table, data.outcomes"
    frame = _read_keyed(path, cfg.data.read, key, [c for c in (oc.label, oc.churned_at) if c], what, report)
    _record(report, "outcomes", path, frame, key)
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
            f"{int(bad.sum())} values are not, at {_examples(path, raw[bad])}. "
            "Map the column to 0/1 or point data.outcomes.label at the right column."))
    if oc.churned_at:
        _timestamps(frame[oc.churned_at], path, oc.churned_at, problems, allow_empty=True)
    frame = frame.assign(label=label.where(~bad))
    frame = _dedupe(frame, path, key, what, problems, "Keep one outcome per customer.")
    return pd.Series(frame["label"].to_numpy(), index=pd.Index(frame[KEY], name=KEY), name="outcome")


def _record(report: DataReport, name: str, path: Path, frame: pd.DataFrame, key: str, **extra) -> None:
    while name in report.tables:
        name = f"{name}_"
    columns = [key if c == KEY else str(c) for c in frame.columns]
    report.tables[name] = {"path": str(path), "rows": int(len(frame)), "columns": columns,
                           "fingerprint": fingerprint_file(path), **extra}


# --------------------------------------------------------------------------------------------- assembly
def _read_behaviour(cfg: Config, problems: _Problems, report: DataReport,
                    engine: DuckDBEngine | None = None) -> dict[str, pd.DataFrame | EventScan]:
    """Read and check every behaviour table on its own, so one broken table does not hide another's problems."""
    loaded: dict[str, pd.DataFrame] = {}
    for table in cfg.data.behaviour:
        path = cfg.data_path(table.path)
        key = table.key or (table.join_on if table.kind == "lookup" else cfg.data.key)  # a lookup's own key
        what = f"{table.kind} table {table.name!r}"
        errors_before = len(problems.errors)
        try:
            if table.kind == "events":
                frame = _read_events(cfg, table, key, path, problems, report, engine)
            else:
                frame = _read_keyed(path, cfg.data.read, key, table.columns, what, report)
                frame = frame.drop(columns=[c for c in text_columns_of(cfg, table.name) if c in frame.columns])
                _mixed_types(frame, path, cfg.data.read, [c for c in frame.columns if c != KEY], problems)
                fix = ("Remove the duplicates, or declare it 'kind: events' with aggregations."
                       if table.kind == "customer" else "A lookup needs one row per key value.")
                frame = _dedupe(frame, path, key, what, problems, fix)
            _record(report, table.name, path, frame, key, kind=table.kind)
            if len(problems.errors) == errors_before:  # a table with problems is not fused: avoids follow-on noise
                loaded[table.name] = frame
        except CxError as e:
            problems.add(e)
    return loaded


def _population(cfg: Config, loaded: dict[str, pd.DataFrame | EventScan]) -> pd.Index:
    """Customers = union of the customer tables' IDs in order of first appearance (event tables if none)."""
    kinds = {t.name: t.kind for t in cfg.data.behaviour}
    sources = [f for n, f in loaded.items() if kinds[n] == "customer"] or \
              [f for n, f in loaded.items() if kinds[n] == "events"]
    ids = pd.concat([f.ids() if isinstance(f, EventScan) else f[KEY] for f in sources]) if sources else \
        pd.Series([], dtype="str")
    return pd.Index(ids.drop_duplicates().to_numpy(), dtype="str", name=KEY)


def _fuse(cfg: Config, loaded: dict[str, pd.DataFrame | EventScan], problems: _Problems,
          report: DataReport) -> pd.DataFrame:
    population = _population(cfg, loaded)
    frame = pd.DataFrame(index=population)
    events = {t.name: loaded[t.name] for t in cfg.data.behaviour if t.kind == "events" and t.name in loaded}
    stamp = {t.name: t.timestamp for t in cfg.data.behaviour}
    latest = {  # the last event of each table: the default as_of, and the check of a given one
        name: f.latest() if isinstance(f, EventScan) else f[stamp[name]].max() if len(f) else None
        for name, f in events.items()}
    as_of = (window_end(cfg, latest) if events else None) or pd.Timestamp.max  # max: only when every event row was bad
    if problem := as_of_problem(cfg, latest, as_of):  # an as_of long after the data: empty windows (force_as_of)
        problems.add(problem)
    complete = True  # False once a table failed to load: its columns cannot be looked up by later lookups
    for table in cfg.data.behaviour:
        if table.name not in loaded:
            complete = False
            continue
        part = loaded[table.name]
        if table.kind == "customer":
            part = part.set_index(KEY)
            absent = int((~isin(population, part.index)).sum())
            if absent:
                report.warn(f"customer table {table.name!r} lacks {absent} of the {len(population)} customers found "
                            "in the customer tables; their columns from this table are empty")
            frame = _merge_columns(frame, part.reindex(population), table.name, report)
        elif table.kind == "events":
            report.tables[table.name]["as_of"] = str(as_of)
            aggregate = part.aggregate if isinstance(part, EventScan) else \
                lambda *args: aggregate_events(table, part, *args)
            frame = _merge_columns(frame, aggregate(as_of, population, report.warn), table.name, report)
        else:
            if table.join_on not in frame.columns:
                if not complete:
                    continue
                close = difflib.get_close_matches(table.join_on, [str(c) for c in frame.columns], n=1)
                problems.add(InputError(
                    f"{cfg.data_path(table.path)}: lookup table {table.name!r} joins on {table.join_on!r}, which is "
                    f"not a column of the tables listed before it (columns: {list(frame.columns)[:40]})"
                    f"{f'; did you mean {close[0]!r}?' if close else ''}. Fix 'join_on' or the table order."))
                continue
            looked = part.set_index(KEY).reindex(_as_key(frame[table.join_on]).to_numpy())
            looked.index = population
            unmatched = int((frame[table.join_on].notna() & looked.isna().all(axis=1).to_numpy()).sum())
            if unmatched and len(looked.columns):
                report.warn(f"lookup table {table.name!r}: {unmatched} customers have a {table.join_on!r} "
                            "value that is not in the lookup; their columns from it are empty")
            frame = _merge_columns(frame, looked, table.name, report)
    return frame


def _drop_label_columns(cfg: Config, frame: pd.DataFrame, report: DataReport) -> pd.DataFrame:
    """Survey and outcome columns never become behaviour columns, even if a behaviour table reads the same file."""
    sv, oc = cfg.data.survey, cfg.data.outcomes
    labels = ({sv.score, sv.reasons, sv.answered_at} if sv else set()) | ({oc.label, oc.churned_at} if oc else set())
    label_paths = {cfg.data_path(t.path) for t in (sv, oc) if t is not None}
    for table in cfg.data.behaviour:
        if cfg.data_path(table.path) in label_paths:
            report.warn(f"behaviour table {table.name!r} reads the survey/outcomes file; list its leak columns "
                        "in features.exclude")
    leaked = [c for c in frame.columns if c in labels]
    if leaked:
        report.warn(f"survey/outcome columns {leaked} found in behaviour tables were dropped from the features")
    return frame.drop(columns=leaked)


def _build(cfg: Config, problems: _Problems, report: DataReport | None = None) -> CustomerData | None:
    report = DataReport() if report is None else report
    survey = outcome = None
    try:
        survey = _survey(cfg, problems, report) if cfg.data.survey is not None else NO_SURVEY
    except CxError as e:
        problems.add(e)
    with engine_for(cfg) as engine:  # DuckDB (data.engine) aggregates the event tables where they lie
        loaded = {} if cfg.data.features else _read_behaviour(cfg, problems, report, engine)
        if cfg.data.outcomes is not None:
            try:
                outcome = _outcomes(cfg, problems, report)
            except CxError as e:
                problems.add(e)
        try:
            frame = read_feature_table(cfg, report) if cfg.data.features else \
                _drop_label_columns(cfg, _fuse(cfg, loaded, problems, report), report)
        except CxError as e:
            problems.add(e)
            return None
    if survey is None or problems.errors:
        return None
    orphans = survey.index[~isin(survey.index, frame.index)]
    if len(orphans):
        report.orphan_respondents, report.orphan_examples = len(orphans), [str(i) for i in orphans[:5]]
        report.warn(f"{report.tables['survey']['path']}: {len(orphans)} survey answers belong to customers absent "
                    f"from the behaviour data (e.g. {report.orphan_examples}); they are left out (no behaviour to "
                    "learn from or to score)"
                    + why_unmatched(orphans, frame.index))
    score = survey["score"].reindex(frame.index).astype("float64")
    reasons = survey["reasons"].reindex(frame.index) if "reasons" in survey else None
    if outcome is not None:
        absent = outcome.index[~isin(outcome.index, frame.index)]
        if len(absent):
            report.warn(f"{report.tables['outcomes']['path']}: {len(absent)} outcomes belong to customers absent "
                        f"from the behaviour data; ignored{why_unmatched(absent, frame.index)}")
        outcome = outcome.reindex(frame.index).astype("float64")
    report.n_customers, report.n_respondents = len(frame), int(score.notna().sum())
    return CustomerData(frame=frame, score=score, reasons=reasons, outcome=outcome, report=report)


def training_problems(data: CustomerData, cfg: Config) -> list[InputError]:
    """What keeps the matched answers from training an NPS model: too few, or all in one class (nothing to
    check without a survey table: the NPS stages are skipped)."""
    if cfg.data.survey is None:
        return []
    survey = data.report.tables.get("survey", {}).get("path", cfg.data.survey.path)
    column, scale = cfg.data.survey.score, cfg.scale
    score = data.score.dropna().to_numpy()
    orphans = f" ({data.report.orphan_respondents} more belong to customers absent from the behaviour data)" \
        if data.report.orphan_respondents else ""
    if len(score) < MIN_RESPONDENTS:
        return [InputError(f"{survey}: only {len(score)} answers in column {column!r} (data.survey.score) belong to "
                           f"customers of the behaviour data{orphans}; at least {MIN_RESPONDENTS} are needed to "
                           "train. Add answers, or make the survey IDs match the behaviour tables' IDs.")]
    classes = np.unique(np.where(score <= scale.detractor_max, 0, np.where(score >= scale.promoter_min, 2, 1)))
    if len(classes) < 2:
        name = ("detractors", "passives", "promoters")[int(classes[0])]
        return [InputError(f"{survey}: all {len(score)} answers in column {column!r} (data.survey.score) are "
                           f"{name} under the scale {scale.min}-{scale.max} (detractor <= {scale.detractor_max}, "
                           f"promoter >= {scale.promoter_min}); the NPS model needs answers in at least two "
                           "classes. Check scale.* against the survey's real scale, or add answers.")]
    return []


def require_trainable(data: CustomerData, cfg: Config) -> None:
    """Raise the first of `training_problems` (exit code 2 naming the survey file)."""
    for problem in training_problems(data, cfg):
        raise problem


def load_customers(cfg: Config) -> CustomerData:
    """Read, check and fuse every configured table; raises the first InputError/ConfigError found."""
    data = _build(cfg, _Problems(fail_fast=True))
    if data is None:  # fail-fast raises before this; a None here would be a bug, so say so loudly
        raise InputError("the input tables could not be assembled; run `cxpredict validate CONFIG` for details")
    return data


def load_survey(cfg: Config) -> tuple[pd.DataFrame, DataReport]:
    """The survey answers alone (float `score` and, when configured, `reasons` per customer_id), checked like in
    `load_customers`: for scoring a wide population table (data.population) without joining the behaviour tables."""
    report = DataReport()
    survey = _survey(cfg, _Problems(fail_fast=True), report) if cfg.data.survey is not None else NO_SURVEY
    report.n_respondents = len(survey)
    return survey, report


def validate_inputs(cfg: Config, report: DataReport | None = None) -> list[CxError]:
    """Every input problem at once (each table checked independently), for `cxpredict validate`; `report`
    receives the warnings training would log (repaired values such as inf, unmatched IDs)."""
    problems, report = _Problems(fail_fast=False), DataReport() if report is None else report
    data = _build(cfg, problems, report)
    if not problems.errors:  # bytes the encoding cannot decode in columns nobody reads: a note, not an error
        paths = dict.fromkeys(t["path"] for t in report.tables.values())
        report.warnings += [w for path in paths if (w := unread_bytes_warning(path, cfg.data.read))]
    names = name_problems(cfg, data.frame.columns, text_feature_prefixes(cfg)) if data is not None else []
    return problems.errors + names + validate_texts(cfg)  # declared text columns (text.columns), each on its own
