"""Parity of the Spark engine (data.engine: spark, local mode) with the pandas reference and DuckDB: every aggregation
kind and window, missing values, empty groups, timestamps with and without a time zone, unicode and spaced column
names, CSV, Parquet and a folder of Parquet parts give the same feature tables (integers exactly, floats within
1e-9 relative) and the same warnings. Few, small cases: Spark runs every query as jobs (seconds each)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from data.test_duckdb_events import AGGS, AS_OF, KEY, VALUE, assert_same, config, customers_csv, events_frame, write_events

from cxpredict.config import config_from_dict
from cxpredict.data.customers import load_customers, validate_inputs
from cxpredict.data.spark_events import _spark_sql
from cxpredict.errors import ConfigError, InputError


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


@on_spark
def test_a_spark_sessions_views_as_the_source_give_the_files_features(spark, tmp_path):
    """data.source: spark: the customer, outcome and event tables registered as views of the session (one by
    query) give the feature table the same data as files gives; a missing view is an input error naming it."""
    customers_csv(tmp_path)
    frame = events_frame(seed=3)
    frame["Zeit"] = frame["Zeit"].dt.tz_localize("UTC")
    files = load_customers(config(tmp_path, write_events(tmp_path, frame, "parquet"), "spark", as_of=AS_OF))
    views = {"kunden": pd.read_csv(tmp_path / "customers.csv", dtype={KEY: "str", "plan": "str"}),
             "ergebnisse": pd.read_csv(tmp_path / "outcomes.csv", dtype={KEY: "str"}), "anrufe": frame}
    for name, table in views.items():
        spark.createDataFrame(pa.Table.from_pandas(table, preserve_index=False)).createOrReplaceTempView(name)
    behaviour = [{"name": "customers", "path": "kunden"},
                 {"name": "calls", "path": "query: SELECT * FROM anrufe", "kind": "events", "timestamp": "Zeit",
                  "aggregations": AGGS}]
    raw = {"data": {"key": KEY, "behaviour": behaviour, "outcomes": {"path": "ergebnisse"}, "engine": "spark",
                    "source": "spark", "as_of": AS_OF}}
    sparked = load_customers(config_from_dict(raw, base_dir=tmp_path))
    assert_same_frames(files.frame, sparked.frame)
    assert sparked.frame.shape[0] == 60 and sparked.frame["calls_count"].sum() > 0
    raw["data"]["outcomes"]["path"] = "no_such_view"
    with pytest.raises(InputError, match="the Spark session: cannot read table 'no_such_view'"):
        load_customers(config_from_dict(raw, base_dir=tmp_path))


def assert_same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same customers and columns; integers and text exactly, floats within 1e-9 relative."""
    assert list(a.index) == list(b.index) and list(a.columns) == list(b.columns)
    for column in a.columns:
        if pd.api.types.is_float_dtype(a[column]):
            np.testing.assert_allclose(b[column].to_numpy(), a[column].to_numpy(), rtol=1e-9, atol=0, err_msg=column)
        else:
            assert a[column].astype(object).equals(b[column].astype(object)), column


def test_spark_source_needs_the_spark_engine(tmp_path):
    raw = {"data": {"key": KEY, "source": "spark", "behaviour": [{"name": "customers", "path": "kunden"}],
                    "outcomes": {"path": "ergebnisse"}}}
    with pytest.raises(ConfigError, match="set data.engine: spark"):
        config_from_dict(raw, base_dir=tmp_path)


@pytest.mark.slow
def test_a_local_session_starts_without_java_warnings(tmp_path):
    """local_session's JVM logs errors only: a start and a job print no WARN/INFO lines (Spark's default profile
    prints several), so the CLI's output stays readable."""
    import subprocess
    import sys

    code = ("from cxpredict.data.spark_events import local_session\n"
            "s = local_session(1)\nprint(s.range(5).count())\ns.stop()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "5", done.stderr[-2000:]
    noisy = [line for line in done.stderr.splitlines() if " WARN " in line or "log level" in line
             or "log4j profile" in line]
    assert noisy == [], noisy
