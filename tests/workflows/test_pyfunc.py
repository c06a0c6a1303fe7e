"""The bundle as an MLflow pyfunc model: the batch command's values, no pickle, the registry alias, Spark local mode."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from cxpredict.cli.app import main
from cxpredict.data.customers import load_customers
from cxpredict.io.bundle import load_bundle

# Only the batch command has these (customer_id comes back, from the key column, rows in input order): the survey
# answers are read from the survey table, capacity (`deferred`, hence `to_contact`) is settled over the whole
# population, and the run's dates (`as_of`, `scored_on`) belong to the run, not to a row; so are control groups
# (`group`: a rule's minimum of controls needs all of the rule's customers).
BATCH_ONLY = ("is_respondent", "observed_score", "observed_class", "deferred", "to_contact", "as_of",
              "scored_on", "stated_reasons", "group")
# With strategy.class_source "observed" the batch command segments a respondent by their own answer; the pyfunc
# model has no answers, so for respondents whose answer differs from the prediction these may differ.
FROM_OWN_ANSWER = ("segment", "strategy", "action", "channel", "owner_team", "sla_hours",
                   "priority", "rule")
REGISTERED = "cxpredict-nps-test"


@pytest.fixture(scope="module")
def pyfunc_dir(trained_bundle, tmp_path_factory):
    from cxpredict.workflows.pyfunc import save_pyfunc

    return save_pyfunc(trained_bundle, tmp_path_factory.mktemp("pyfunc") / "model")


@pytest.fixture(scope="module")
def population(demo_config):
    """Every demo customer as the joined behaviour tables give them, key as a column (a wide population table)."""
    return load_customers(demo_config).frame.reset_index()


@pytest.fixture(scope="module")
def registry(trained_bundle, tmp_path_factory, demo_config):
    """A sqlite tracking store in which a train run registered the bundle as models:/REGISTERED@champion."""
    from cxpredict.io import tracking
    from cxpredict.workflows.pyfunc import log_trained_bundle

    store = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    cfg = demo_config.model_copy(update={"tracking": demo_config.tracking.model_copy(update={"uri": store})})
    with tracking.start_run(cfg, "train", uri=store):
        version = log_trained_bundle(trained_bundle, {"nps_cv": {"log_loss": 1.0}}, register=REGISTERED)
    assert version == "1"
    return store


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality with missing == missing (numbers exactly, text as text)."""
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(a):
        x, y = a.to_numpy(dtype="float64", na_value=np.nan), b.to_numpy(dtype="float64", na_value=np.nan)
        return (x == y) | (np.isnan(x) & np.isnan(y))
    x = a.astype("object").where(a.notna(), None).to_numpy()
    y = b.astype("object").where(b.notna(), None).to_numpy()
    return np.array([(u is None and v is None) or (u is not None and v is not None and str(u) == str(v))
                     for u, v in zip(x, y)])


def test_pyfunc_model_holds_the_bundle_and_no_pickle(pyfunc_dir, trained_bundle):
    assert not [p for p in pyfunc_dir.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib", ".cloudpickle")]
    stored = pyfunc_dir / "data" / trained_bundle.name
    assert load_bundle(stored).content_hash == load_bundle(trained_bundle).content_hash
    assert "loader_module: cxpredict.workflows.pyfunc" in (pyfunc_dir / "MLmodel").read_text()


def test_cli_and_pyfunc_give_the_same_columns_and_values(pyfunc_dir, trained_bundle, population,
                                                         fast_demo_config_path, tmp_path):
    """One scoring path: `cxpredict score` and the pyfunc model on the same bundle and customers agree on every
    column the pyfunc returns, drivers included (a playbook rule on driver_1 routes the same customers)."""
    import mlflow

    out = tmp_path / "scored.parquet"
    assert main(["score", str(fast_demo_config_path), "--model", str(trained_bundle), "--out", str(out),
                 "--no-tracking", "--set", "scoring.batch_size=1700"]) == 0
    cli = pd.read_parquet(out).set_index("customer_id")
    model = mlflow.pyfunc.load_model(str(pyfunc_dir))
    got = model.predict(population).set_index(population["customer_id"].astype("str").to_numpy())
    cli = cli.loc[got.index]

    assert set(BATCH_ONLY) & set(got.columns) == set()
    assert list(got.columns) == ["customer_id", *[c for c in cli.columns if c not in BATCH_ONLY]], "scored columns"
    assert {"driver_1", "driver_1_impact", "reason_1", "rule", "churn_prob"} <= set(got.columns)
    assert got["driver_1"].notna().mean() > 0.3, "drivers are scored, not left empty"
    assert [s.name for s in model.metadata.signature.outputs.inputs] == list(got.columns)
    assert (got.index == got["customer_id"]).all(), "customer_id is passed through"
    inputs = {s.name: repr(s.type) for s in model.metadata.signature.inputs.inputs}  # the UI's "Inputs (n)"
    features = load_bundle(trained_bundle).manifest
    assert list(inputs) == ["customer_id", *features.names] and inputs["customer_id"] == "string"
    assert {inputs[c] for c in features.categorical} == {"string"} and {inputs[c] for c in features.numeric} == {"Any"}
    int_columns = population.select_dtypes("integer").columns  # as pandas reads whole numbers: MLflow's double
    assert len(int_columns) and model.predict(population.head(5)).shape[0] == 5  # would refuse these

    respondent = cli["is_respondent"].to_numpy(dtype=bool)
    own_is_predicted = (cli["observed_class"].astype("str") == cli["predicted_class"].astype("str")).to_numpy()
    comparable = ~respondent | own_is_predicted  # silent customers, and respondents predicted as they answered
    assert comparable.sum() > 0.8 * len(cli)
    for col in got.columns.drop("customer_id"):
        same = _same(got[col], cli[col])
        assert same[comparable].all(), f"{col}: {int((~same[comparable]).sum())} customers differ"
        if col not in FROM_OWN_ANSWER:
            assert same.all(), f"{col} differs for respondents although it does not depend on their answer"
    assert (got["rule"].astype("str") == cli["rule"].astype("str"))[~respondent].all()


def test_a_tampered_pyfunc_bundle_is_refused(pyfunc_dir, trained_bundle, tmp_path):
    import mlflow

    from cxpredict.errors import BundleError

    copy = tmp_path / "model"
    shutil.copytree(pyfunc_dir, copy)
    features = copy / "data" / trained_bundle.name / "features.json"
    features.write_text(features.read_text().replace('"names"', '"names" ', 1))
    with pytest.raises(BundleError, match="content hash"):
        mlflow.pyfunc.load_model(str(copy))


def test_registered_model_loads_on_its_alias_and_scores_through_the_cli(registry, trained_bundle, population,
                                                                        pyfunc_dir, fast_demo_config_path,
                                                                        tmp_path, monkeypatch):
    """The registry holds a real pyfunc model: mlflow.pyfunc.load_model on the alias, and `cxpredict score
    --model models:/NAME@ALIAS` (which finds the bundle inside the downloaded pyfunc folder)."""
    import mlflow
    from mlflow import MlflowClient

    from cxpredict.io.tracking import download_bundle

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry)
    uri = f"models:/{REGISTERED}@champion"
    rows = population.iloc[:300]
    registered = mlflow.pyfunc.load_model(uri)
    assert "python_function" in registered.metadata.flavors
    pd.testing.assert_frame_equal(registered.predict(rows), mlflow.pyfunc.load_model(str(pyfunc_dir)).predict(rows))
    version = MlflowClient(registry).get_model_version_by_alias(REGISTERED, "champion")
    assert version.source.startswith("models:/"), "the version is the logged pyfunc model, not a loose folder"
    local = download_bundle(uri, dst=tmp_path / "fetched", tracking_uri=registry)
    assert load_bundle(local).content_hash == load_bundle(trained_bundle).content_hash
    out = tmp_path / "scored.csv"
    assert main(["score", str(fast_demo_config_path), "--model", uri, "--out", str(out), "--tracking-uri", registry,
                 "--no-tracking"]) == 0
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == len(population)


@pytest.mark.slow
# pyspark 4.3 on pandas 3 says "FutureWarning: PySpark does not yet fully support pandas >= 3.0.0. Some features
# may not work correctly", and its Arrow conversion passes the deprecated copy= keyword (Pandas4Warning); the
# test checks every value against the pyfunc model instead of trusting it.
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning",
                            "ignore:The copy keyword is deprecated:DeprecationWarning")
def test_spark_udf_on_the_registered_alias_gives_the_pyfunc_values(spark, registry, population, monkeypatch):
    import mlflow
    from pyspark.sql import functions as F

    from cxpredict.io import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry)
    uri = f"models:/{REGISTERED}@champion"
    rows = population.iloc[:120].copy()
    for col in rows.columns:  # Spark wants plain types: text as object with None, numbers as float
        rows[col] = rows[col].astype("float64") if pd.api.types.is_numeric_dtype(rows[col]) \
            else rows[col].astype(object).where(rows[col].notna(), None)
    df = spark.createDataFrame(rows)
    scores = tracking.spark_udf(spark, uri)  # mlflow.pyfunc.spark_udf, missing text kept null
    result = df.withColumn("s", scores(F.struct(*df.columns))).select("s.*")  # customer_id comes back
    plan = result._jdf.queryExecution().executedPlan().toString()
    assert plan.count("ArrowEvalPython") + plan.count("BatchEvalPython") == 1, "the model runs once per batch"
    scored = result.toPandas()
    expected = mlflow.pyfunc.load_model(uri).predict(population.iloc[:120])
    scored = scored.set_index("customer_id", drop=False).loc[population["customer_id"].iloc[:120].astype("str")]
    assert list(scored.columns) == list(expected.columns) and expected.columns[0] == "customer_id"
    assert expected["driver_1"].notna().any() and expected["driver_3"].isna().any()
    for col in expected.columns:
        if pd.api.types.is_float_dtype(expected[col]):
            np.testing.assert_array_equal(scored[col].to_numpy(dtype=float), expected[col].to_numpy(dtype=float),
                                          err_msg=col)
        else:
            same = _same(scored[col].reset_index(drop=True), expected[col])
            assert same.all(), (f"{col}: {int((~same).sum())} rows differ between Spark and the pyfunc model",
                                scored[col].head(5).tolist(), expected[col].head(5).tolist())
