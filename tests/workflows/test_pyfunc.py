"""The bundle as an MLflow pyfunc model: same predictions as batch scoring, no pickle, Spark in local mode."""

from __future__ import annotations

import importlib.util
import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from cxpredict.data.customers import load_customers
from cxpredict.io.bundle import load_bundle
from cxpredict.workflows.score import score_frame


@pytest.fixture(scope="module")
def pyfunc_dir(trained_bundle, tmp_path_factory):
    from cxpredict.workflows.pyfunc import save_pyfunc

    return save_pyfunc(trained_bundle, tmp_path_factory.mktemp("pyfunc") / "model")


@pytest.fixture(scope="module")
def population(demo_config):
    return load_customers(demo_config).frame.iloc[:400].reset_index()


def test_pyfunc_model_holds_the_bundle_and_no_pickle(pyfunc_dir, trained_bundle):
    assert not [p for p in pyfunc_dir.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib", ".cloudpickle")]
    stored = pyfunc_dir / "data" / trained_bundle.name
    assert load_bundle(stored).content_hash == load_bundle(trained_bundle).content_hash
    assert "loader_module: cxpredict.workflows.pyfunc" in (pyfunc_dir / "MLmodel").read_text()


def test_pyfunc_predicts_like_batch_scoring(pyfunc_dir, trained_bundle, population, demo_config):
    import mlflow

    model = mlflow.pyfunc.load_model(str(pyfunc_dir))
    got = model.predict(population)
    bundle = load_bundle(trained_bundle)
    frame = population.set_index("customer_id")
    expected = score_frame(bundle, frame, bundle.config)
    assert len(got) == len(population)
    for col in ("predicted_score", "p_detractor", "p_passive", "p_promoter"):
        np.testing.assert_allclose(got[col].to_numpy(), expected[col].to_numpy(), rtol=1e-12)
    assert got["predicted_class"].tolist() == expected["predicted_class"].astype("str").tolist()
    outputs = [s.name for s in model.metadata.signature.outputs.inputs]
    assert outputs == list(got.columns)


def test_a_tampered_pyfunc_bundle_is_refused(pyfunc_dir, trained_bundle, tmp_path):
    import mlflow

    from cxpredict.errors import BundleError

    copy = tmp_path / "model"
    shutil.copytree(pyfunc_dir, copy)
    features = copy / "data" / trained_bundle.name / "features.json"
    features.write_text(features.read_text().replace('"names"', '"names" ', 1))
    with pytest.raises(BundleError, match="content hash"):
        mlflow.pyfunc.load_model(str(copy))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")  # pyspark 4 on pandas 3
@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None,
                    reason="pyspark is not installed (pip install 'cxpredict[spark]'); the Spark path is untested here")
@pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime for Spark local mode")
def test_spark_udf_scores_a_spark_dataframe(pyfunc_dir, population, monkeypatch):
    import mlflow
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)  # Spark's Python workers: this venv, with cxpredict
    spark = (SparkSession.builder.master("local[2]").appName("cxpredict-test")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    try:
        table = population.copy()
        for col in table.columns:  # Spark wants plain types: text as object, numbers as float
            table[col] = table[col].astype(object).where(table[col].notna(), None) \
                if not pd.api.types.is_numeric_dtype(table[col]) else table[col].astype("float64")
        df = spark.createDataFrame(table).repartition(2)
        udf = mlflow.pyfunc.spark_udf(spark, str(pyfunc_dir), env_manager="local")
        scored = df.withColumn("score", udf(F.struct(*df.columns))).select("customer_id", "score.*").toPandas()
    finally:
        spark.stop()
    expected = mlflow.pyfunc.load_model(str(pyfunc_dir)).predict(population).assign(
        customer_id=population["customer_id"].astype("str").to_numpy())
    merged = scored.merge(expected, on="customer_id", suffixes=("_spark", ""))
    assert len(merged) == len(population)
    np.testing.assert_allclose(merged["p_detractor_spark"], merged["p_detractor"], rtol=1e-9)
    assert (merged["predicted_class_spark"] == merged["predicted_class"]).all()
