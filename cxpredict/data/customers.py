"""Read, validate and fuse the survey, behaviour and outcome tables into one row per customer.

Every problem with the inputs becomes a typed error that names the file, the column, the first offending rows
(1-based file lines for CSV, header = line 1) and the fix, so a user can repair the data without reading code.
`validate_inputs` collects every problem at once; `load_customers` stops at the first (checks.py: the checks;
labels.py: the survey and outcomes tables; this module: behaviour tables and their fusion).
Customer IDs are trimmed and matched as text; unmatched ones come with their cause (see ids.py).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxpredict.codes import increasing, same_text
from cxpredict.config import BehaviourTable, Config
from cxpredict.data.checks import NUMERIC_AGGS, DataReport, Problems, dedupe, mixed_types, read_keyed, timestamps
from cxpredict.data.config_checks import as_of_problem, name_problems, text_feature_prefixes
from cxpredict.data.database_source import DatabaseTables, database_tables
from cxpredict.data.duckdb_events import DuckDBEngine, EventScan, engine_for
from cxpredict.data.feature_table import read_feature_table
from cxpredict.data.events import aggregate_events, aggregation_name, window_end
from cxpredict.data.ids import KEY, isin, why_unmatched
from cxpredict.data.labels import NO_SURVEY, read_outcomes, read_survey
from cxpredict.data.tables import unread_bytes_warning
from cxpredict.data.text import text_columns_of, validate_texts
from cxpredict.errors import ConfigError, CxError, InputError


MIN_RESPONDENTS = 50  # fewer matched answers cannot train the NPS model with cross-validated thresholds


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


def _read_events(cfg: Config, table: BehaviourTable, key: str, path: Path, problems: Problems,
                 report: DataReport, engine: DuckDBEngine | None, remote: dict | None = None
                 ) -> pd.DataFrame | EventScan:
    """The events in pandas, or checked where they lie when DuckDB aggregates them (data.engine) or when they
    stay in their database (`remote`: data.source, database_source.py)."""
    what = f"events table {table.name!r}"
    names = [aggregation_name(table, a) for a in table.aggregations]
    for agg in table.aggregations:
        if agg.column is None and agg.agg != "count":
            raise ConfigError(f"{what}: aggregation {agg.agg!r} needs a 'column' (only 'count' works without one)")
    if len(set(names)) < len(names):
        raise ConfigError(f"{what}: aggregations produce repeated feature names {names}; give them distinct 'name's")
    if remote and path in remote:
        return remote[path].scan(engine, table, key, cfg.data.read, what, report.warn, problems.add)
    if engine is not None:
        scan = engine.scan(table, key, path, cfg.data.read, what, report.warn, problems.add)
        if scan is not None:
            return scan
    value_cols = list(dict.fromkeys(a.column for a in table.aggregations if a.column))
    frame = read_keyed(path, cfg.data.read, key, [table.timestamp, *value_cols], what, report.warn)
    mixed = mixed_types(frame, path, cfg.data.read, value_cols, problems)
    for agg in table.aggregations:
        if agg.agg in NUMERIC_AGGS and agg.column not in mixed and not pd.api.types.is_numeric_dtype(frame[agg.column]):
            problems.add(InputError(f"{path}: column {agg.column!r} is text, but aggregation {agg.agg!r} of "
                                    f"{what} needs numbers. Use 'count'/'nunique' or fix the column."))
    frame[table.timestamp] = timestamps(frame[table.timestamp], path, table.timestamp, problems)
    return frame.dropna(subset=[table.timestamp])


def _as_key(values: pd.Series) -> pd.Series:
    """Join values as text; whole floats (ints that gained NaN in a join) lose their '.0'."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        present = values.dropna()
        if (present == np.floor(present)).all():
            return values.astype("Int64").astype("str")
    return values.astype("str")


# --------------------------------------------------------------------------------------------- assembly
def _read_behaviour(cfg: Config, problems: Problems, report: DataReport, engine: DuckDBEngine | None = None,
                    remote: dict | None = None) -> dict[str, pd.DataFrame | EventScan]:
    """Read and check every behaviour table on its own, so one broken table does not hide another's problems."""
    loaded: dict[str, pd.DataFrame] = {}
    for table in cfg.data.behaviour:
        path = cfg.data_path(table.path)
        key = table.key or (table.join_on if table.kind == "lookup" else cfg.data.key)  # a lookup's own key
        what = f"{table.kind} table {table.name!r}"
        errors_before = len(problems.errors)
        try:
            if table.kind == "events":
                frame = _read_events(cfg, table, key, path, problems, report, engine, remote)
            else:
                frame = read_keyed(path, cfg.data.read, key, table.columns, what, report.warn)
                frame = frame.drop(columns=[c for c in text_columns_of(cfg, table.name) if c in frame.columns])
                mixed_types(frame, path, cfg.data.read, [c for c in frame.columns if c != KEY], problems)
                fix = ("Remove the duplicates, or declare it 'kind: events' with aggregations."
                       if table.kind == "customer" else "A lookup needs one row per key value.")
                frame = dedupe(frame, path, key, what, problems, fix)
            report.record(table.name, path, frame, key, kind=table.kind)
            if len(problems.errors) == errors_before:  # a table with problems is not fused: avoids follow-on noise
                loaded[table.name] = frame
        except CxError as e:
            problems.add(e)
    return loaded


def _population(cfg: Config, loaded: dict[str, pd.DataFrame | EventScan]) -> tuple[pd.Index, dict[str, np.ndarray]]:
    """Customers = union of the customer tables' IDs in order of first appearance (event tables if none), and
    for each customer table the population position of each of its rows. One factorisation of all the IDs:
    a drop_duplicates and then a reindex per table hashed a million text IDs four times over."""
    kinds = {t.name: t.kind for t in cfg.data.behaviour}
    names = [n for n in loaded if kinds[n] == "customer"] or [n for n in loaded if kinds[n] == "events"]
    ids = [loaded[n].ids() if isinstance(loaded[n], EventScan) else loaded[n][KEY] for n in names]
    if not ids:
        return pd.Index([], dtype="str", name=KEY), {}
    if increasing(ids[0]) and all(same_text(i, ids[0]) for i in ids[1:]):  # one sorted ID list in every table
        return pd.Index(pd.array(ids[0], dtype="str"), name=KEY), {n: np.arange(len(ids[0])) for n in names}
    codes, uniques = pd.factorize(pd.concat(ids, ignore_index=True).astype("str"), use_na_sentinel=False)
    ends = np.cumsum([len(i) for i in ids])
    return (pd.Index(np.asarray(uniques, dtype=object), dtype="str", name=KEY),
            {n: codes[end - len(i):end] for n, i, end in zip(names, ids, ends)})


def _aligned(part: pd.DataFrame, rows_at: np.ndarray, population: pd.Index) -> tuple[pd.DataFrame, int]:
    """A customer table (unique keys; `rows_at`: each row's population position) reordered to the population,
    and how many customers it lacks (their columns empty, as a reindex would leave them)."""
    if len(rows_at) == len(population) and np.array_equal(rows_at, np.arange(len(rows_at))):  # in order already
        return part.drop(columns=KEY).set_axis(population), 0
    where = np.full(len(population), -1, dtype=np.int64)
    where[rows_at] = np.arange(len(rows_at))
    absent = int((where < 0).sum())
    if absent:
        return part.set_index(KEY).reindex(population), absent
    return part.drop(columns=KEY).iloc[where].set_axis(population), 0


def _fuse(cfg: Config, loaded: dict[str, pd.DataFrame | EventScan], problems: Problems,
          report: DataReport) -> pd.DataFrame:
    population, rows_at = _population(cfg, loaded)
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
            part, absent = _aligned(part, rows_at[table.name], population)
            if absent:
                report.warn(f"customer table {table.name!r} lacks {absent} of the {len(population)} customers found "
                            "in the customer tables; their columns from this table are empty")
            frame = _merge_columns(frame, part, table.name, report)
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


def _build(cfg: Config, problems: Problems, report: DataReport | None = None) -> CustomerData | None:
    report = DataReport() if report is None else report
    try:
        with database_tables(cfg) as tables:  # data.source: the tables come from a database (database_source.py)
            try:
                return _assemble(tables.cfg, problems, report, tables)
            finally:
                tables.relabel_report(report, problems.errors)
    except CxError as e:  # the database or one of its tables cannot be read: nothing more can be checked
        problems.add(e)  # fail-fast: raised again
        return None


def _assemble(cfg: Config, problems: Problems, report: DataReport, tables: DatabaseTables) -> CustomerData | None:
    survey = outcome = None
    try:
        survey = read_survey(cfg, problems, report) if cfg.data.survey is not None else NO_SURVEY
    except CxError as e:
        problems.add(e)
    with engine_for(cfg) as engine:  # DuckDB (data.engine) aggregates the event tables where they lie
        loaded = {} if cfg.data.features else _read_behaviour(cfg, problems, report, engine, tables.remote)
        if cfg.data.outcomes is not None:
            try:
                outcome = read_outcomes(cfg, problems, report)
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


def unmatched_survey(data: CustomerData, cfg: Config) -> list[InputError]:
    """Answers whose IDs match no customer at all: a wrong key column or ID format, never a real survey (validate
    and train alike say so naming both files; a few unmatched answers stay a warning)."""
    report = data.report
    if cfg.data.survey is None or report.n_respondents or not report.orphan_respondents:
        return []
    kinds = {t.name: t.kind for t in cfg.data.behaviour}
    customers = [t["path"] for n, t in report.tables.items() if kinds.get(n) == "customer"] or \
        [t["path"] for n, t in report.tables.items() if kinds.get(n) == "events"]
    key = cfg.data.survey.key or cfg.data.key
    return [InputError(
        f"{report.tables['survey']['path']}: none of its {report.orphan_respondents} answers has a customer ID "
        f"(column {key!r}) found in {', '.join(dict.fromkeys(customers))}: answer IDs look like "
        f"{report.orphan_examples[:3]}, customer IDs like {[str(i) for i in data.frame.index[:3]]}"
        f"{why_unmatched(report.orphan_examples, data.frame.index)}. Point data.survey.key at the survey's "
        "customer ID column, or export both files with the same IDs.")]


def training_problems(data: CustomerData, cfg: Config) -> list[InputError]:
    """What keeps the matched answers from training an NPS model: none match a customer, too few, or all in one
    class (nothing to check without a survey table: the NPS stages are skipped)."""
    if cfg.data.survey is None:
        return []
    if unmatched := unmatched_survey(data, cfg):
        return unmatched
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
    data = _build(cfg, Problems(fail_fast=True))
    if data is None:  # fail-fast raises before this; a None here would be a bug, so say so loudly
        raise InputError("the input tables could not be assembled; run `cxpredict validate CONFIG` for details")
    return data


def load_survey(cfg: Config) -> tuple[pd.DataFrame, DataReport]:
    """The survey answers alone (float `score` and, when configured, `reasons` per customer_id), checked like in
    `load_customers`: for scoring a wide population table (data.population) without joining the behaviour tables."""
    report = DataReport()
    with database_tables(cfg, only={"survey"}) as tables:
        try:
            survey = read_survey(tables.cfg, Problems(fail_fast=True), report) if cfg.data.survey is not None \
                else NO_SURVEY
        finally:
            tables.relabel_report(report, [])
    report.n_respondents = len(survey)
    return survey, report


def validate_inputs(cfg: Config, report: DataReport | None = None) -> list[CxError]:
    """Every input problem at once (each table checked independently), for `cxpredict validate`; `report`
    receives the warnings training would log (repaired values such as inf, unmatched IDs)."""
    problems, report = Problems(fail_fast=False), DataReport() if report is None else report
    data = _build(cfg, problems, report)
    if not problems.errors and cfg.data.source is None:  # undecodable bytes in columns nobody reads: a note
        paths = dict.fromkeys(t["path"] for t in report.tables.values())
        report.warnings += [w for path in paths if (w := unread_bytes_warning(path, cfg.data.read))]
    names = [*name_problems(cfg, data.frame.columns, text_feature_prefixes(cfg)), *unmatched_survey(data, cfg)] \
        if data is not None else []
    return problems.errors + names + validate_texts(cfg)  # declared text columns (text.columns), each on its own
