"""A checked events table left where it lies (in a file DuckDB reads, a DuckDB or PostgreSQL database, a Spark
view): its row count and columns for the report, its latest timestamp, its customers, and its features for a
population, computed by the engine that holds it (duckdb_events.py; postgres_events.py and spark_events.py
subclass it) from event_plan.py's plan.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pacompute

from cxpredict.config import BehaviourTable, ReadOptions
from cxpredict.data import event_plan as plan
from cxpredict.data.duckdb_sql import duckdb_errors as _read_errors
from cxpredict.data.duckdb_sql import quote as _q
from cxpredict.data.events import aggregation_name
from cxpredict.data.ids import why_unmatched

if TYPE_CHECKING:
    from cxpredict.data.duckdb_events import DuckDBEngine

Warn = Callable[[str], None]


class EventScan:
    """A checked events table left where it lies: rows and columns for the report, its latest timestamp, its
    customers, and its features for a population."""

    fingerprint: str | None = None  # None: the file's bytes are its fingerprint (a database table sets its own)
    known_latest: pd.Timestamp | None | bool = False  # the latest timestamp when the checks found it; False: unknown
    prepared: tuple[str, pd.Timestamp] | None = None  # (per-customer table, its as_of) built with the checks

    def __init__(self, engine: DuckDBEngine, table: BehaviourTable, view: str, rows: int, columns: list[str],
                 floats: list[bool], values: list[str], path: Path, read: ReadOptions):
        self.engine, self.table, self.view, self.rows, self.columns = engine, table, view, rows, columns
        self.floats, self.values, self.path, self.read = floats, values, path, read

    def __len__(self) -> int:
        return self.rows

    def latest(self) -> pd.Timestamp | None:
        if self.known_latest is not False:
            return self.known_latest
        with _read_errors(self.path, self.read):
            value = self.engine.run(f"SELECT max({plan.TS}) FROM {_q(self.view)}")[0][0]
        return None if value is None else pd.Timestamp(value)

    def ids(self) -> pd.Series:
        """Customer IDs in order of first appearance (the population when no customer table is configured)."""
        with _read_errors(self.path, self.read):
            got = self.engine.arrow(
                f"SELECT {plan.ID} FROM (SELECT {plan.ID}, min(_row) AS _first FROM (SELECT row_number() OVER () "
                f"AS _row, {plan.ID} FROM {_q(self.view)}) GROUP BY {plan.ID}) ORDER BY _first")
        return got.column(0).to_pandas().astype("str")  # no Python object per customer

    def aggregate(self, as_of: pd.Timestamp, population: pd.Index, warn: Warn) -> pd.DataFrame:
        """The pandas path's aggregate_events, run by DuckDB: same features, warnings and order."""
        con, aggs = self.engine.con, self.table.aggregations  # register/unregister return no result
        prepared = self.prepared is not None and self.prepared[1] == as_of  # built in the checks' scan
        per_customer = self.prepared[0] if prepared else self.engine.name("per_customer")
        pop = self.engine.name("population")
        con.register(pop, pa.table({plan.ID: pa.array(population.array),  # Arrow-backed text: no copy per ID
                                    plan.POS: np.arange(len(population), dtype=np.int64)}))
        values = [plan.value_name(self.values.index(a.column)) if a.column else None for a in aggs]
        floats = [self.floats[self.values.index(a.column)] if a.column else False for a in aggs]
        try:
            if not prepared:
                self._per_customer(per_customer, lambda view, dialect: plan.per_customer_sql(
                    aggs, values, floats, as_of, view, dialect))
            self._warn_ignored(per_customer, pop, as_of, population, warn)
            got = self.engine.arrow(plan.features_sql(aggs, per_customer, pop))
        finally:
            con.unregister(pop)
            self.engine.run(f"DROP TABLE IF EXISTS {_q(per_customer)}")
            self.prepared = None
        return pd.DataFrame({aggregation_name(self.table, a): got.column(plan.feature_name(i)).to_numpy()
                             .astype("float64") for i, a in enumerate(aggs)}, index=population)

    def _per_customer(self, name: str, sql_of: Callable[[str, str], str]) -> None:
        """Create table `name`, one row per customer with events: `sql_of(view, dialect)` is the plan's SQL (a
        subclass runs it where its events live, e.g. postgres_events.py)."""
        with _read_errors(self.path, self.read):
            self.engine.per_customer(name, self.view, lambda view: sql_of(view, "duckdb"))

    def _warn_ignored(self, per_customer: str, pop: str, as_of: pd.Timestamp, population: pd.Index,
                      warn: Warn) -> None:
        """The pandas path's warnings: events after as_of, events of customers absent from the population."""
        future = self.engine.run(f"SELECT sum({plan.FUTURE}) FROM {_q(per_customer)}")[0][0] or 0
        if future:
            warn(f"events table {self.table.name!r}: {int(future)} events after as_of {as_of} ignored")
        absent = self.engine.arrow(plan.absent_sql(per_customer, pop) + f" ORDER BY {plan.ID}")
        if absent.num_rows:
            ids = absent.column(0).to_pylist()
            warn(f"events table {self.table.name!r}: {int(pacompute.sum(absent.column(1)).as_py())} events of "
                 f"{len(ids)} customers absent from the customer tables ignored{why_unmatched(ids, population)}")
