"""An events table left on the PostgreSQL server (data.source with data.engine: duckdb): checked and aggregated
there, so only one row per customer crosses the network.

The same plan as for files (event_plan.per_customer_sql, written in the PostgreSQL dialect) runs on a temporary
view of the cleaned events; its per-customer result is joined to the population in the run's DuckDB connection
exactly as for a file (duckdb_events.EventScan). The cleaning follows the file readers: IDs as trimmed text
(never empty), timestamps as naive UTC (timestamptz converted), numbers that are NaN, infinite or beyond 1e15 as
missing (numbers.py), numeric aggregations of text refused. Timestamps stored as text are parsed by the server
(ISO forms; an unreadable one fails the query with PostgreSQL's message).
The table's fingerprint is its row count and an order-independent checksum of its rows (one hash per row, summed),
computed in the same scan as the checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import sqlglot.expressions as exp

from cxpredict.config import BehaviourTable, ReadOptions
from cxpredict.data import event_plan as plan
from cxpredict.data.duckdb_events import DuckDBEngine, EventScan
from cxpredict.data.duckdb_sql import whitespace
from cxpredict.data.numbers import MAX_ABS
from cxpredict.data.tables import require_columns
from cxpredict.errors import CxError, InputError

Warn = Callable[[str], None]
PG_TYPE = b"POSTGRESQL:type"
INTEGERS = {"int2", "int4", "int8", "bool"}
FLOATS = {"float4", "float8", "numeric"}
TIMESTAMPS = {"timestamptz": "tz", "timestamp": "naive", "date": "date"}


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("postgres")


def _s(text: str) -> str:
    return exp.Literal.string(text).sql("postgres")


def _pg_type(schema: pa.Schema, column: str) -> str:
    return (schema.field(column).metadata or {}).get(PG_TYPE, b"").decode()


def _double(value: str) -> str:
    return f"CAST({value} AS DOUBLE PRECISION)"


def _extreme(value: str) -> str:
    """Infinite or beyond MAX_ABS; NaN is missing, not extreme (PostgreSQL sorts NaN above every number)."""
    return f"({_double(value)} <> 'NaN' AND abs({_double(value)}) > {MAX_ABS})"


class PostgresEvents:
    """One events relation of the server (a table or a query), found by the path the staged config gives it."""

    def __init__(self, db, relation: str, label: str, shown: str):
        """`label`: how messages name the relation (source and table), `shown`: the table alone (the database
        connection's messages add the source)."""
        self.db, self.relation, self.label, self.shown = db, relation, label, shown  # db: PostgresDatabase

    def columns(self) -> list[str]:
        return self.db.schema(self.relation, self.shown).names

    def scan(self, engine: DuckDBEngine, table: BehaviourTable, key: str, read: ReadOptions, what: str,
             warn: Warn, problem: Callable[[CxError], None]) -> EventScan:
        """Check the events on the server and leave a cleaned temporary view there (k, ts, v0..)."""
        schema = self.db.schema(self.relation, f"{self.shown} ({what})")
        values = list(dict.fromkeys(a.column for a in table.aggregations if a.column))
        require_columns(self.label, schema.names, [key, table.timestamp, *values], what)
        raw_key = f"CAST(t.{_q(key)} AS TEXT)"
        trimmed = f"btrim({raw_key}, {_s(whitespace())})"
        ts = self._timestamp(schema, table.timestamp, what)
        kinds = {c: ("int" if _pg_type(schema, c) in INTEGERS else "float" if _pg_type(schema, c) in FLOATS
                     else "text") for c in values}
        exprs = {c: (f"CAST(t.{_q(c)} AS INTEGER)" if _pg_type(schema, c) == "bool" else f"t.{_q(c)}") for c in values}
        numeric = [c for c in values if kinds[c] != "text"]
        stats = ["count(*)", f"count(*) FILTER (WHERE {trimmed} IS NULL OR {trimmed} = '')",
                 f"count(*) FILTER (WHERE {trimmed} <> {raw_key})", f"count(*) FILTER (WHERE ({ts}) IS NULL)",
                 "CAST(sum(hashtextextended(CAST(t AS TEXT), 0)) AS TEXT)"]
        stats += [f"count(*) FILTER (WHERE {_extreme(exprs[c])})" for c in numeric]
        got = self.db.arrow(f"SELECT {', '.join(stats)} FROM {self.relation} AS t", f"{self.shown} ({what})")
        rows, empty, padded, bad_ts, checksum, *extreme = [got.column(i)[0].as_py() for i in range(got.num_columns)]
        if not rows:
            raise InputError(f"{self.label}: no rows ({what}). Check the table or the query's conditions.")
        if empty:
            raise InputError(f"{self.label}: column {key!r} (the customer ID, {what}) is empty in {empty} of "
                             f"{rows} rows. Fill in or remove those rows (or filter them in a query:).")
        if padded:
            warn(f"{self.label}: column {key!r} ({what}): leading/trailing spaces removed from {padded} of {rows} "
                 "IDs so they match the other tables; trim them in the database to silence this")
        for column, n in zip(numeric, extreme):
            if n:
                warn(f"{self.label}: column {column!r}: {n} values are infinite or beyond ±{MAX_ABS:.0e}; read "
                     "as missing")
        for agg in table.aggregations:
            if agg.agg in ("sum", "mean", "max", "min") and kinds[agg.column] == "text":
                problem(InputError(f"{self.label}: column {agg.column!r} is text, but aggregation {agg.agg!r} of "
                                   f"{what} needs numbers. Use 'count'/'nunique', or cast it in a query:."))
        if bad_ts:
            problem(InputError(f"{self.label}: column {table.timestamp!r} is empty in {bad_ts} of {rows} rows "
                               f"({what}). Fill in or remove those rows (or filter them in a query:)."))
        view = engine.name("pg_events")
        columns = [f"{trimmed if padded else raw_key} AS {plan.ID}", f"{ts} AS {plan.TS}"]
        for i, column in enumerate(values):
            value = exprs[column]
            if kinds[column] != "text":
                value = (f"CASE WHEN {_double(value)} = 'NaN' OR {_extreme(value)} THEN NULL ELSE "
                         f"{_double(value) if kinds[column] == 'float' else value} END")
            columns.append(f"{value} AS {plan.value_name(i)}")
        self.db.run(f"CREATE TEMP VIEW {_q(view)} AS SELECT {', '.join(columns)} FROM {self.relation} AS t "
                    f"WHERE ({ts}) IS NOT NULL", f"{self.shown} ({what})")
        fingerprint = hashlib.sha256(f"{rows}:{checksum}".encode()).hexdigest()[:16]
        return PostgresEventScan(engine, table, view, int(rows), [key, table.timestamp, *values],
                                 [kinds[c] == "float" for c in values], values, self.label, read,
                                 remote=self, fingerprint=fingerprint, what=what)

    def _timestamp(self, schema: pa.Schema, column: str, what: str) -> str:
        kind = TIMESTAMPS.get(_pg_type(schema, column))
        if kind is None and not pa.types.is_string(schema.field(column).type):
            raise InputError(f"{self.label}: column {column!r} ({what}, the events' timestamp) has type "
                             f"{_pg_type(schema, column) or schema.field(column).type}; store it as timestamp, "
                             f"timestamptz or date, or convert it in a query: (e.g. CAST({column} AS timestamptz)).")
        # the session's time zone is UTC (database_source.PostgresDatabase): timestamptz -> naive UTC; ISO text is
        # parsed by the server (an offset converted, none read as UTC; an unreadable value fails the query with
        # PostgreSQL's message naming it), an empty text is a missing timestamp
        if kind is None:
            return f"CAST(CAST(NULLIF(btrim(t.{_q(column)}), '') AS TIMESTAMPTZ) AS TIMESTAMP)"
        return f"t.{_q(column)}" if kind == "naive" else f"CAST(t.{_q(column)} AS TIMESTAMP)"


class PostgresEventScan(EventScan):
    """EventScan whose per-customer aggregation runs on the server; the join to the population stays local."""

    def __init__(self, *args, remote: PostgresEvents, fingerprint: str, what: str):
        super().__init__(*args)
        self.remote, self.fingerprint, self.what = remote, fingerprint, what

    def _server(self, sql: str) -> pa.Table:
        return self.remote.db.arrow(sql, f"{self.remote.shown} ({self.what})")

    def latest(self) -> pd.Timestamp | None:
        value = self._server(f"SELECT max({plan.TS}) AS latest FROM {_q(self.view)}").column(0)[0].as_py()
        return None if value is None else pd.Timestamp(value)

    def ids(self) -> pd.Series:
        """Customer IDs sorted as text in byte order: a database table has no row order, so the population of a
        config without customer tables is the sorted IDs (as when the table is fetched, database_source.py)."""
        got = self._server(f'SELECT {plan.ID} FROM (SELECT DISTINCT {plan.ID} FROM {_q(self.view)}) AS d '
                           f'ORDER BY {plan.ID} COLLATE "C"')
        return pd.Series(got.column(0).to_pylist(), dtype="str")

    def _per_customer(self, name: str, sql_of: Callable[[str, str], str]) -> None:
        """The per-customer table computed by the server, then held by the local DuckDB for the join."""
        got = self._server(sql_of(self.view, "postgres"))
        fetched = self.engine.name("fetched")
        self.engine.con.register(fetched, got)
        try:
            self.engine.run(f"CREATE TEMP TABLE {_q(name)} AS SELECT * FROM {_q(fetched)}")
        finally:
            self.engine.con.unregister(fetched)
