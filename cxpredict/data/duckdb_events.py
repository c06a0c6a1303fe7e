"""Event tables aggregated by DuckDB straight from their CSV, Parquet file or folder of Parquet parts
(data.engine: duckdb): the events never load into pandas, only the per-customer feature table comes back, so
memory follows the number of customers, not of events, and DuckDB spills past `data.duckdb.memory_limit`.

The checks and repairs are the pandas reader's (customers.py, tables.py): the header through the same reader,
IDs trimmed (a warning) and never empty, timestamps parsed to naive UTC and never unreadable, numbers infinite or
beyond 1e15 read as missing (numbers.py), text columns mostly of numbers and numeric aggregations of text refused.
A CSV in an encoding other than UTF-8 and Latin-1 goes through the pandas path (`scan` returns None). The plan
is event_plan.py; with data.as_of set, one scan of the events both checks and aggregates them.
"""

from __future__ import annotations

import codecs
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from cxpredict import threads as thread_policy
from cxpredict.config import BehaviourTable, Config, DuckDBSettings, ReadOptions
from cxpredict.data import event_plan as plan
from cxpredict.data.checks import MIXED_NUMERIC_SHARE, NUMERIC_AGGS
from cxpredict.data.duckdb_sql import cleaned as _cleaned
from cxpredict.data.duckdb_sql import duckdb_errors as _read_errors
from cxpredict.data.duckdb_sql import extreme as _extreme
from cxpredict.data.duckdb_sql import interrupts as _signals
from cxpredict.data.duckdb_sql import literal as _s
from cxpredict.data.duckdb_sql import memory_bytes as _bytes
from cxpredict.data.duckdb_sql import out_of_memory as _out_of_memory
from cxpredict.data.duckdb_sql import quote as _q
from cxpredict.data.duckdb_sql import QUIET
from cxpredict.data.duckdb_sql import trimmed as _trimmed
from cxpredict.data.event_scan import EventScan, Warn
from cxpredict.data.events import window_end
from cxpredict.data.ids import KEY
from cxpredict.data.numbers import ExtremeCounts
from cxpredict.data.tables import (
    check_source,
    effective_read,
    parquet_parts,
    require_columns,
    rows_text,
    table_columns,
    table_kind,
)
from cxpredict.errors import ConfigError, CxError, InputError

NATIVE_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "latin-1": "latin-1", "iso8859-1": "latin-1"}
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
           "HUGEINT", "FLOAT", "DOUBLE")


RAW_ID = "_raw_id"  # the checks' view of the events: the ID before trimming (cheap to bucket by)
# customers one pass of the per-customer aggregation holds at most (DuckDBEngine.per_customer), and the memory a
# customer takes per thread in it (thread-local hash tables, partitions, the combined table); measured in
# experiments/warehouse_data (2M customers in one pass stay within a 2 GB limit at 2 threads)
PASS_CUSTOMERS, MIN_PASS_CUSTOMERS, PASS_BYTES_PER_CUSTOMER = 2_000_000, 100_000, 500


def _rows(path: Path, first: list[int], count: int) -> str:
    """'rows 3, 7 (file lines, header = line 1)' and how many more there are."""
    return rows_text(path, first) + (f", and {count - len(first)} more" if count > len(first) else "")


class DuckDBEngine:
    """One DuckDB connection for a run: threads, memory limit and a spill folder that is removed on exit."""

    carried: tuple[str, ...] = ()  # raw columns the cleaned events keep (spark_events: the source's row order)

    def __init__(self, con: duckdb.DuckDBPyConnection, as_of: pd.Timestamp | None = None,
                 settings: DuckDBSettings | None = None):
        self.con, self.as_of = con, as_of  # as_of known before the scan (data.as_of): checks and features in one
        self.settings = settings or DuckDBSettings()
        self._n, self._passes = 0, {}

    def run(self, sql: str) -> list[tuple]:
        """Execute and fetch every row (DuckDB 2 refuses new work while a result is unfinished)."""
        with _signals(), _out_of_memory(self.con, self.settings.memory_limit):
            return self.con.execute(sql).fetchall()

    def arrow(self, sql: str) -> pa.Table:
        with _signals(), _out_of_memory(self.con, self.settings.memory_limit):
            return self.con.sql(sql).to_arrow_table()

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def per_customer(self, name: str, events: str, sql_of: Callable[[str], str], bucket: str = plan.ID) -> int:
        """Create table `name` = `sql_of(view)` (the plan's GROUP BY customer over cleaned events) from `events`, in
        `passes` over disjoint hash buckets of column `bucket` (the ID, or one equal wherever the IDs are); returns
        the passes. Why: a hash aggregate whose groups far outnumber its thread-local tables reduces almost nothing
        before it partitions, so its memory grows with the events (10M customers, 500M events: out of memory at
        5 GB in one pass); a pass holds a bounded number of customers, each with all its events."""
        passes = self.passes(events)
        for part in range(passes):
            source = events
            if passes > 1:
                source = self.name(f"{events}_part")
                self.run(f"CREATE TEMP VIEW {_q(source)} AS SELECT * FROM {_q(events)} "
                         f"WHERE hash({_q(bucket)}) % {passes} = {part}")
            self.run((f"CREATE TEMP TABLE {_q(name)} AS " if part == 0 else f"INSERT INTO {_q(name)} ")
                     + sql_of(source))
            if passes > 1:
                self.run(f"DROP VIEW {_q(source)}")
        return passes

    def passes(self, events: str) -> int:
        """Passes over `events` that keep each pass's customers within `pass_customers`: 1 when the table has no
        more rows than that (its row count is free for Parquet), else its approximate distinct IDs (HyperLogLog,
        one scan of the ID column, ~2% error) divided by it."""
        if events not in self._passes:
            most = self.pass_customers()
            customers = 0
            if self.run(f"SELECT count(*) FROM {_q(events)}")[0][0] > most:
                customers = self.run(f"SELECT approx_count_distinct({plan.ID}) FROM {_q(events)}")[0][0]
            self._passes[events] = max(1, math.ceil(customers / most))
        return self._passes[events]

    def pass_customers(self) -> int:
        """Customers one aggregation pass may hold: PASS_CUSTOMERS, fewer under a memory limit that gives each
        thread less than PASS_BYTES_PER_CUSTOMER per customer."""
        limit = self.run("SELECT current_setting('memory_limit'), current_setting('threads')")[0]
        budget = _bytes(limit[0]) // (PASS_BYTES_PER_CUSTOMER * int(limit[1]))
        return int(max(MIN_PASS_CUSTOMERS, min(PASS_CUSTOMERS, budget)))

    def scan(self, table: BehaviourTable, key: str, path: Path, read: ReadOptions, what: str,
             warn: Warn, problem: Callable[[CxError], None]) -> EventScan | None:
        """Check an events table where it lies and return its cleaned view, or None when DuckDB cannot read the
        file's encoding (the caller reads it with pandas)."""
        opened = open_events(table, key, path, read, what, warn)
        if opened is None:
            return None
        _, _, kind, encoding, read = opened
        if kind == "csv":
            types = "{" + ", ".join(f"{_s(c)}: 'VARCHAR'" for c in (key, table.timestamp)) + "}"
            source = (f"read_csv({_s(str(path))}, header = true, delim = {_s(read.delimiter)}, "
                      f"quote = {_s(read.quote_char)}, escape = {_s(read.quote_char)}, "
                      f"nullstr = [{', '.join(_s(v) for v in read.na_values)}], encoding = {_s(encoding)}, "
                      f"types = {types})")
        else:
            files = [str(p) for p in parquet_parts(path)] if kind == "folder" else [str(path)]
            if not files:
                raise InputError(f"{path}: the folder holds no .parquet files. Point the config at a CSV, a Parquet "
                                 "file or a folder of Parquet files.")
            source = f"read_parquet([{', '.join(_s(f) for f in files)}], hive_partitioning = {kind == 'folder'})"
        return self.scan_relation(source, table, key, path, read, what, warn, problem)

    def scan_relation(self, source: str, table: BehaviourTable, key: str, path: Path, read: ReadOptions, what: str,
                      warn: Warn, problem: Callable[[CxError], None]) -> EventScan:
        """Check the events of `source` (SQL of a relation: a file reader, a database table whose columns the
        caller checked) where they lie."""
        raw = self.name("raw")
        with _read_errors(path, read):
            self.run(f"CREATE TEMP VIEW {_q(raw)} AS SELECT * FROM {source}")
            types = dict(self.run(f"SELECT column_name, column_type FROM (DESCRIBE {_q(raw)})"))
            values = list(dict.fromkeys(a.column for a in table.aggregations if a.column))
            return _Checker(self, table, key, path, read, raw, types, values, what).check(warn, problem)


def open_events(table: BehaviourTable, key: str, path: Path, read: ReadOptions, what: str,
                warn: Warn) -> tuple[list[str], list[str], str, str, ReadOptions] | None:
    """What an engine checks before it scans an events file (it exists, it has the columns), and how it reads it:
    (value columns, header, kind, encoding, read options), or None for a CSV in an encoding other than UTF-8 or
    Latin-1 (the pandas reader takes it)."""
    check_source(path, what)
    values = list(dict.fromkeys(a.column for a in table.aggregations if a.column))
    header = table_columns(path, read)
    require_columns(path, header, [key, table.timestamp, *values], what)
    kind = table_kind(path)
    encoding = NATIVE_ENCODINGS.get(codecs.lookup(effective_read(path, read).encoding).name)
    if kind == "csv" and encoding is None:
        return None
    return values, header, kind, encoding, effective_read(path, read, warn)


@contextmanager
def duckdb_engine(settings: DuckDBSettings, base_dir: Path, threads: int | None = None,
                  as_of: pd.Timestamp | None = None) -> Iterator[DuckDBEngine]:
    """A connection with `threads` (default: the run's budget, cxpredict/threads.py), the configured memory limit
    and a fresh spill folder under the configured temp directory, removed on every exit (errors, Ctrl-C);
    `as_of`: the windows' end when the config fixes it, so one scan of the events checks and aggregates them."""
    threads = thread_policy.count(threads)
    parent = None
    if settings.temp_directory:
        parent = Path(settings.temp_directory).expanduser()
        parent = parent if parent.is_absolute() else base_dir / parent
    try:
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        spill = tempfile.mkdtemp(prefix="cxpredict-duckdb-", dir=parent)
    except OSError as e:
        raise ConfigError(f"data.duckdb.temp_directory: cannot make a spill folder in {parent or 'the temp folder'} "
                          f"({e.strerror}). Point it at a writable folder with free space.") from None
    con = None
    try:
        try:
            con = duckdb.connect(config={"threads": threads, "temp_directory": spill, **(
                {"memory_limit": settings.memory_limit} if settings.memory_limit else {})})
        except duckdb.Error as e:
            raise ConfigError(f"data.duckdb.memory_limit {settings.memory_limit!r} is not a memory size ({e}). "
                              "Use e.g. 4GB, 500MB or 50%.") from None
        con.execute("SET TimeZone = 'UTC'").fetchall()  # a naive timestamp is UTC, as in the pandas path
        con.execute(QUIET).fetchall()
        yield DuckDBEngine(con, as_of, settings)
    finally:
        if con is not None:
            con.close()
        shutil.rmtree(spill, ignore_errors=True)


def engine_for(cfg: Config, threads: int | None = None):
    """The engine data.engine names (DuckDB, or Spark: spark_events.py) when the config has event tables, else
    (pandas) a context yielding None."""
    if cfg.data.features or not any(t.kind == "events" for t in cfg.data.behaviour):  # nothing to aggregate
        return _no_engine()
    if cfg.data.engine == "duckdb":
        return duckdb_engine(cfg.data.duckdb, cfg.base_dir, threads, window_end(cfg, {}))
    if cfg.data.engine == "spark":
        from cxpredict.data.spark_events import spark_engine  # pyspark only when asked for

        return spark_engine(threads)
    return _no_engine()


@contextmanager
def _no_engine() -> Iterator[None]:
    yield None


@dataclass
class _Checker:
    engine: DuckDBEngine
    table: BehaviourTable
    key: str
    path: Path
    read: ReadOptions
    raw: str
    types: dict[str, str]
    values: list[str]
    what: str

    def _key(self) -> str:
        """The ID as text, as the pandas reader makes it: whole numbers without a decimal point."""
        col, kind = _q(self.key), self.types[self.key].split("(")[0]
        if kind in ("FLOAT", "DOUBLE", "DECIMAL"):
            whole = f"{col} = floor({col}) AND abs({col}) < 1e18"
            return f"(CASE WHEN {whole} THEN CAST(CAST({col} AS BIGINT) AS VARCHAR) ELSE CAST({col} AS VARCHAR) END)"
        return col if kind == "VARCHAR" else f"CAST({col} AS VARCHAR)"

    def _timestamp(self) -> str:
        col, kind = _q(self.table.timestamp), self.types[self.table.timestamp]
        if kind.startswith("TIMESTAMP WITH TIME ZONE"):
            return f"CAST({col} AS TIMESTAMP)"  # the session's time zone is UTC
        if kind.startswith(("TIMESTAMP", "DATE")):
            return f"CAST({col} AS TIMESTAMP)"
        return f"CAST(TRY_CAST(CAST({col} AS VARCHAR) AS TIMESTAMPTZ) AS TIMESTAMP)"

    def _value(self, column: str, as_numbers: bool) -> tuple[str, str]:
        """(SQL expression, kind) of a value column as the pandas reader types it: kind 'float', 'int' or 'text';
        booleans count as integers, decimals and text columns whose every value is a number ('inf' too) as floats."""
        col, kind = _q(column), self.types[column].split("(")[0]
        if kind == "BOOLEAN":
            return f"CAST({col} AS INTEGER)", "int"
        if kind in ("FLOAT", "DOUBLE", "DECIMAL"):
            return f"CAST({col} AS DOUBLE)", "float"
        if kind in NUMERIC:
            return col, "int"
        if kind == "VARCHAR" and as_numbers:
            return f"TRY_CAST({col} AS DOUBLE)", "float"
        return col, "text"

    def check(self, warn: Warn, problem: Callable[[CxError], None]) -> EventScan:
        key, ts = self._key(), self._timestamp()
        trimmed = _trimmed(key)
        text = [c for c in self.values if self.types[c] == "VARCHAR"]
        stats = ["count(*) FILTER (WHERE _k IS NULL OR _k = '')", f"count(*) FILTER (WHERE _k <> {key})",
                 f"count(*) FILTER (WHERE ({ts}) IS NULL)", "count(*)", f"max({ts})"]
        stats += [f"count({_q(c)}), count(TRY_CAST({_q(c)} AS DOUBLE))" for c in text]
        stats += [f"count(*) FILTER (WHERE {_extreme(value)})" if kind != "text" else "0"
                  for value, kind in (self._value(c, True) for c in self.values)]
        as_of = getattr(self.engine, "as_of", None)  # None: not known yet, or an engine without it (Spark)
        prepared, sums = self._checked_features(trimmed, ts, as_of) if as_of is not None and not text else (None, [])
        got = self.engine.run(f"SELECT {', '.join(sums)} FROM {_q(prepared)}" if prepared else
                              f"SELECT {', '.join(stats)} FROM (SELECT {trimmed} AS _k, * FROM {_q(self.raw)})")[0]
        empty, padded, bad_ts, n_rows, latest = got[:5]
        counts = dict(zip(text, zip(got[5:5 + 2 * len(text):2], got[6:5 + 2 * len(text):2])))
        if not n_rows:
            raise InputError(f"{self.path}: no data rows (only a header). Export the table again with its rows.")
        if empty:
            first, _ = self._first_values(key, f"{trimmed} IS NULL OR {trimmed} = ''")
            raise InputError(f"{self.path}: column {self.key!r} (the customer ID, {self.what}) is empty at "
                             f"{_rows(self.path, first, empty)}. Fill in or remove those rows.")
        values = {c: self._value(c, c in counts and counts[c][0] == counts[c][1]) for c in self.values}
        extreme = {c: n for (c, (_, kind)), n in zip(values.items(), got[5 + 2 * len(text):]) if kind != "text"}
        self._warn_extremes({c: (values[c][0], n) for c, n in extreme.items()}, warn)
        if padded:
            first, shown = self._first_values(key, f"{trimmed} <> {key}")
            warn(f"{self.path}: column {self.key!r} ({self.what}): leading/trailing spaces removed from {padded} of "
                 f"{n_rows} IDs ({_rows(self.path, first, padded)}, e.g. {', '.join(repr(v) for v in shown[:3])}) "
                 "so they match the other tables; trim them in the export to silence this")
        self._check_values(values, counts, problem)
        if bad_ts:
            first, shown = self._first_values(_q(self.table.timestamp), f"({ts}) IS NULL")
            problem(InputError(
                f"{self.path}: column {self.table.timestamp!r} has empty or unreadable timestamps at "
                f"{_rows(self.path, first, bad_ts)}, values {', '.join(repr(str(v)) for v in shown)}. Use ISO dates "
                "like 2024-06-30 or 2024-06-30T14:05:00, or remove those rows."))
        scan = self._view(trimmed if padded else key, ts, values, int(n_rows))  # trimming costs: only if needed
        scan.known_latest = None if latest is None else pd.Timestamp(latest)
        if prepared:  # customers whose every event has an unreadable timestamp have no events
            self.engine.run(f"DELETE FROM {_q(prepared)} WHERE {plan.ROWS} = 0")
            scan.prepared = (prepared, as_of)
        return scan

    def _checked_features(self, trimmed: str, ts: str, as_of: pd.Timestamp) -> tuple[str, list[str]]:
        """One scan of the events for both the checks and the features: a table of the per-customer features
        (event_plan.per_customer_sql over the trimmed IDs) with each check's flagged rows counted per customer,
        and the sums over it that give `check`'s statistics. Only when as_of is known before the scan and no value
        column is text (whether it is read as numbers depends on a check of the whole column)."""
        values = {c: self._value(c, False) for c in self.values}
        # per customer, the rows each check flags; empty IDs (their own group) and unreadable timestamps (not
        # counted in ROWS) follow from the counts, so only padded IDs and extreme numbers take a column each
        flags = [f"_k <> {self._key()}", *(_extreme(value) for value, kind in values.values() if kind != "text")]
        view, name = self.engine.name("checked"), self.engine.name("per_customer")
        columns = [f"_k AS {plan.ID}", f"{self._key()} AS {RAW_ID}", f"{ts} AS {plan.TS}",
                   *(f"{_cleaned(v, kind)} AS {plan.value_name(i)}" for i, (v, kind) in enumerate(values.values())),
                   *(f"({flag}) AS _c{i}" for i, flag in enumerate(flags))]
        self.engine.run(f"CREATE TEMP VIEW {_q(view)} AS SELECT {', '.join(columns)} "
                        f"FROM (SELECT {trimmed} AS _k, * FROM {_q(self.raw)})")
        aggs = self.table.aggregations
        extra = [*(f"count(*) FILTER (WHERE _c{i}) AS _c{i}" for i in range(len(flags))),
                 "count(*) AS _all", f"max({plan.TS}) AS _latest"]
        sql_of = lambda source: plan.per_customer_sql(  # noqa: E731
            aggs, [plan.value_name(self.values.index(a.column)) if a.column else None for a in aggs],
            [values[a.column][1] == "float" if a.column else False for a in aggs], as_of, source, extra=extra)
        with _read_errors(self.path, self.read):  # buckets of the untrimmed IDs: no trimming before the filter
            if self.engine.per_customer(name, view, sql_of, RAW_ID) > 1 and \
                    self.engine.run(f"SELECT count(*) FROM {_q(name)} WHERE _c0 > 0")[0][0]:
                self.engine.run(f"DROP TABLE {_q(name)}")  # padded IDs: their events may span buckets
                self.engine.per_customer(name, view, sql_of)
        numeric = iter(range(1, len(flags)))
        return name, [f"sum(_all) FILTER (WHERE {plan.ID} IS NULL OR {plan.ID} = '')", "sum(_c0)",
                      f"sum(_all - {plan.ROWS})", "sum(_all)", "max(_latest)",
                      *(f"sum(_c{next(numeric)})" if kind != "text" else "0" for _, kind in values.values())]

    def _first_values(self, column: str, condition: str) -> tuple[list[int], list]:
        rows = self.engine.run(
            f"SELECT _row, {column} FROM (SELECT row_number() OVER () - 1 AS _row, * FROM {_q(self.raw)}) "
            f"WHERE {condition} ORDER BY _row LIMIT 5")
        return [int(r) for r, _ in rows], [v for _, v in rows]

    def _warn_extremes(self, extreme: dict[str, tuple[str, int]], warn: Warn) -> None:
        """The reader's one warning for numbers read as missing (numbers.py), columns in the configured order."""
        counts = ExtremeCounts()
        for column, (value, n) in extreme.items():
            if n:
                first, _ = self._first_values(_q(column), _extreme(value))
                counts.add(column, np.asarray(first))
                counts.counts[column] = int(n)
        message = counts.message(str(self.path), lambda rows, n: rows_text(self.path, rows)
                                 + (" ..." if n > len(rows) else ""))
        if message:
            warn(message)

    def _check_values(self, values: dict[str, tuple[str, str]], counts: dict[str, tuple[int, int]],
                      problem: Callable[[CxError], None]) -> None:
        """Refuse text columns that are mostly numbers, and numeric aggregations of text."""
        mixed = set()
        for column, (present, numbers) in counts.items():
            if present and MIXED_NUMERIC_SHARE < numbers / present < 1:
                mixed.add(column)
                first, shown = self._first_values(
                    _q(column), f"{_q(column)} IS NOT NULL AND TRY_CAST({_q(column)} AS DOUBLE) IS NULL")
                problem(InputError(
                    f"{self.path}: column {column!r} mixes numbers and text: {numbers / present:.0%} of its values "
                    f"are numbers but {present - numbers} are not, at {_rows(self.path, first, present - numbers)}, "
                    f"values {', '.join(repr(str(v)) for v in shown)}. Fix those values, add them to "
                    f"data.read.na_values (now {self.read.na_values}) if they mean 'missing', or leave the column "
                    "out of the table's 'columns'."))
        for agg in self.table.aggregations:
            if agg.agg in NUMERIC_AGGS and agg.column not in mixed and values[agg.column][1] == "text":
                problem(InputError(f"{self.path}: column {agg.column!r} is text, but aggregation {agg.agg!r} of "
                                   f"{self.what} needs numbers. Use 'count'/'nunique' or fix the column."))

    def _view(self, key: str, ts: str, values: dict[str, tuple[str, str]], n_rows: int) -> EventScan:
        """The cleaned events: k, ts, v0.. (missing for NaN, infinite and extreme numbers); bad timestamps dropped."""
        columns = [f"{key} AS {plan.ID}", f"{ts} AS {plan.TS}", *self.engine.carried]
        for i, (value, kind) in enumerate(values.values()):
            columns.append(f"{_cleaned(value, kind)} AS {plan.value_name(i)}")
        view = self.engine.name("events")
        self.engine.run(f"CREATE TEMP VIEW {_q(view)} AS SELECT {', '.join(columns)} FROM {_q(self.raw)} "
                        f"WHERE ({ts}) IS NOT NULL")
        return EventScan(self.engine, self.table, view, n_rows, [KEY, self.table.timestamp, *self.values],
                         [kind == "float" for _, kind in values.values()], self.values, self.path, self.read)
