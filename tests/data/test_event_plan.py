"""The event features' plan is plain SQL in any dialect: the DuckDB, PostgreSQL and Spark texts say the same, and
the PostgreSQL text runs on DuckDB with the same result (the plan is portable, not DuckDB-only)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot

from cxpredict.config import Aggregation
from cxpredict.data import event_plan as plan

AGGS = [Aggregation(agg="count"), Aggregation(agg="count", column="v0", window_days=2),
        Aggregation(agg="sum", column="v0", window_days=2), Aggregation(agg="mean", column="v0"),
        Aggregation(agg="max", column="v0", window_days=1), Aggregation(agg="min", column="v0"),
        Aggregation(agg="nunique", column="v0")]
AS_OF = pd.Timestamp("2024-06-30 23:59:59.999999")


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE TABLE events AS SELECT * FROM (VALUES ('a', TIMESTAMP '2024-06-30 12:00:00', 1.5), "
                "('a', TIMESTAMP '2024-06-28 23:59:59.999999', 2.0), ('a', TIMESTAMP '2024-07-01', 9.0), "
                "('b', TIMESTAMP '2024-06-01', NULL), ('b', TIMESTAMP '2024-06-30', 4.0), "
                "('z', TIMESTAMP '2024-06-29', 1.0)) v(k, ts, v0)").fetchall()
    con.execute("CREATE TABLE population AS SELECT * FROM (VALUES ('b', 0), ('a', 1), ('c', 2)) p(k, pos)").fetchall()
    yield con
    con.close()


def features(con, dialect: str) -> np.ndarray:
    values, floats = ["v0" if a.column else None for a in AGGS], [True] * len(AGGS)
    con.execute("CREATE OR REPLACE TABLE per_customer AS "
                + plan.per_customer_sql(AGGS, values, floats, AS_OF, "events", dialect)).fetchall()
    return np.array(con.execute(plan.features_sql(AGGS, "per_customer", "population", dialect)).fetchall(),
                    dtype="float64")


def test_the_plan_gives_the_windows_and_fills_of_the_pandas_path(con):
    got = features(con, "duckdb")
    nan = np.nan
    expected = [[2, 1, 4.0, 4.0, 4.0, 4.0, 1],  # b: the 06-01 event is outside 2 days; NULL values not counted
                [2, 1, 1.5, 1.75, 1.5, 1.5, 2],  # a: 07-01 is after as_of; 06-28T23:59:59.999999 is the 2-day edge
                [0, 0, 0.0, nan, nan, nan, 0]]  # c: no events
    np.testing.assert_array_equal(got, np.array(expected))
    absent = con.execute(plan.absent_sql("per_customer", "population")).fetchall()
    assert absent == [("z", 1)]


def test_the_postgres_text_runs_on_duckdb_with_the_same_result(con):
    np.testing.assert_allclose(features(con, "postgres"), features(con, "duckdb"), rtol=1e-12)


@pytest.mark.parametrize("dialect", ["spark", "postgres", "bigquery"])
def test_the_plan_is_written_in_each_dialect(dialect):
    sql = plan.per_customer_sql(AGGS, ["v0" if a.column else None for a in AGGS], [True] * len(AGGS), AS_OF,
                                "events", dialect)
    assert sqlglot.parse_one(sql, read=dialect).find(sqlglot.exp.Group) is not None
    assert "fsum" not in sql.lower() and "2024-06-28 23:59:59.999999" in sql
    assert ("COUNTIF(" in sql) == (dialect == "bigquery")  # no FILTER clause there: rewritten, not dropped
