"""The per-customer path on Spark (local mode): features built by Spark and scored through the pyfunc UDF equal
`cxpredict score`'s scored file in every column the UDF returns, for every customer (scripts/bench_data.py's
spark_end_to_end_equal, run here at a small size)."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning",
                            "ignore:The copy keyword is deprecated:DeprecationWarning")
def test_spark_features_and_udf_scores_equal_the_batch_command(spark, script_module, tmp_path):
    bench = script_module("bench_data")
    got = bench.spark_end_to_end(tmp_path, 400, threads=1)
    assert got["spark_columns_differing"] == [] and got["spark_end_to_end_equal"] is True, got
    scored = pd.read_parquet(tmp_path / "spark_scored")
    assert len(scored) == 400 and {"customer_id", "churn_prob"} <= set(scored.columns)
    assert scored["churn_prob"].nunique() > 10  # the model scored, not a constant


def test_a_column_that_differs_is_named(script_module):
    bench = script_module("bench_data")
    batch = pd.DataFrame({"customer_id": ["a", "b"], "p": [0.1, 0.2], "why": ["x", None]})
    spark = pd.DataFrame({"customer_id": ["b", "a"], "p": [0.2, 0.1 + 1e-6], "why": [None, "x"]})
    assert bench.same_scores(batch, spark) == {"customer_id": True, "p": False, "why": True}


def test_the_largest_float_difference_is_reported(script_module):
    bench = script_module("bench_data")
    batch = pd.DataFrame({"customer_id": ["a", "b"], "p": [0.1, 0.2], "q": [1.0, None]})
    spark = pd.DataFrame({"customer_id": ["b", "a"], "p": [0.2, 0.1 * (1 + 1e-6)], "q": [None, 1.0]})
    assert bench.largest_float_diff(batch, spark) == pytest.approx(1e-6, rel=1e-6)


def test_an_integer_column_is_compared_exactly(script_module):
    bench = script_module("bench_data")
    batch = pd.DataFrame({"customer_id": ["a"], "n": pd.array([1_000_000_000_000], dtype="int64")})
    assert bench.same_scores(batch, pd.DataFrame({"customer_id": ["a"], "n": [1e12 + 1.0]})) == {
        "customer_id": True, "n": False}  # within 1e-9 relative, but not the same integer
