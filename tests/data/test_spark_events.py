"""Parity of the Spark engine (data.engine: spark, local mode) with the pandas reference and DuckDB: every aggregation
kind and window, missing values, empty groups, timestamps with and without a time zone, unicode and spaced column
names, CSV, Parquet and a folder of Parquet parts give the same feature tables (integers exactly, floats within
1e-9 relative) and the same warnings. Few, small cases: Spark runs every query as jobs (seconds each)."""

from __future__ import annotations

import pandas as pd
import pytest
from data.test_duckdb_events import AS_OF, KEY, VALUE, assert_same, config, customers_csv, events_frame, write_events

from cxpredict.data.customers import load_customers, validate_inputs
from cxpredict.data.spark_events import _spark_sql
from cxpredict.errors import InputError


def on_spark(test):
    """A test that runs Spark (the session fixture): slow, and quiet about pyspark's pandas 3 notice."""
    return pytest.mark.slow(pytest.mark.filterwarnings(
        "ignore:PySpark does not yet fully support pandas:FutureWarning")(test))


def three(folder, path, **kwargs):
    return [load_customers(config(folder, path, engine, **kwargs)) for engine in ("pandas", "duckdb", "spark")]


@on_spark
def test_every_aggregation_window_and_time_zone_matches_pandas_and_duckdb(spark, tmp_path):
    customers_csv(tmp_path)
    frame = events_frame()
    frame["Zeit"] = frame["Zeit"].dt.tz_localize("Asia/Kolkata")  # +05:30: moves events across as_of
    pandas, duck, sparked = three(tmp_path, write_events(tmp_path, frame, "csv"), as_of="2024-06-30T12:00:00+02:00")
    assert_same(pandas, duck)
    assert_same(pandas, sparked)  # same values and the same warnings (padded IDs with their rows, future, absent)
    f = sparked.frame
    assert f.loc["c055", "calls_count"] == 0 and pd.isna(f.loc["c055", f"calls_mean_{VALUE}"])
    for phrase in ("after as_of", "absent from the customer tables", "leading/trailing spaces"):
        assert any(phrase in w for w in sparked.report.warnings), phrase
    assert not [t.name for t in spark.catalog.listTables() if t.name.startswith("cxpredict_")]  # views dropped


@on_spark
def test_naive_parquet_timestamps_flags_and_first_appearance(spark, tmp_path):
    """A folder of Parquet parts with nanosecond timestamps (which Spark cannot read itself), no customer table (the population is the
    events' IDs in order of first appearance), boolean and empty value columns, a date-only as_of."""
    customers_csv(tmp_path)
    frame = events_frame(seed=2)
    frame["flag"] = frame["Anzahl"] % 3 == 0
    frame["leer"] = float("nan")  # an empty float column
    assert str(frame["Zeit"].dtype) == "datetime64[ns]"
    aggs = [{"agg": "count", "window_days": 30}, {"agg": "sum", "column": "flag"}, {"agg": "mean", "column": "leer"},
            {"agg": "max", "column": VALUE, "window_days": 1}, {"agg": "nunique", "column": "flag"}]
    pandas, duck, sparked = three(tmp_path, write_events(tmp_path, frame, "folder"), customers=False,
                                  aggregations=aggs, as_of=AS_OF)
    assert_same(pandas, sparked)
    assert list(sparked.frame.index[:3]) == list(duck.frame.index[:3]) and "ghost1" in sparked.frame.index


@on_spark
def test_bad_rows_are_the_same_errors_as_duckdb(spark, tmp_path):
    customers_csv(tmp_path)
    (tmp_path / "e.csv").write_text(f"{KEY},Zeit,kind\nc001,2024-06-01,call\nc001,not a date,chat\n  ,2024-06-02,x\n",
                                    encoding="utf-8")
    errors = {}
    for engine in ("duckdb", "spark"):
        problems = validate_inputs(config(tmp_path, "e.csv", engine, aggregations=[{"agg": "sum", "column": "kind"}],
                                          as_of=AS_OF))
        assert all(isinstance(p, InputError) for p in problems)
        errors[engine] = [str(p) for p in problems]
    assert errors["spark"] == errors["duckdb"] and any("is empty at row 4" in m for m in errors["spark"])


def test_the_checker_sql_transpiles_to_spark():
    sql = _spark_sql("SELECT row_number() OVER () AS r, isinf(CAST(x AS DOUBLE)) FROM t")
    assert "ORDER BY _cx_file NULLS LAST, _cx_row NULLS LAST" in sql and "ABS(CAST(x AS DOUBLE)) = CAST('Infinity' AS DOUBLE)" in sql
