"""A model bundle as an MLflow pyfunc model, so Spark (`mlflow.pyfunc.spark_udf`) and any pyfunc host score with
the same `workflows.score.score_frame`, and the same stages (`scoring_stages`), as `cxpredict score`.

Why this shape:
- MLflow's "loader module" workflow: tracking.save_pyfunc / log_bundle_model store the bundle folder itself as the
  model's data (LightGBM text + JSON, content hash intact) and name this module as the loader. Loading calls
  `_load_pyfunc(data_path)`, which verifies and loads the bundle. Nothing is pickled, not even a wrapper class,
  and this module does not import mlflow (tracking.py is the only module that does).
- `predict` takes a pandas DataFrame with the key column (data.key) and the feature columns (the user's names),
  as a wide population table has them (the model signature lists them); it returns one row per input row, in
  order: `customer_id` and the prediction columns of the scored file (NPS, churn, drivers, reasons, segment and
  playbook columns as far as the bundle has those stages), equal to the batch command's for the same rows
  (tests/workflows/test_pyfunc.py). Drivers and playbook come
  from the config the bundle was trained with (its playbook copy); `cxpredict score` takes them from the scoring
  config, so the two agree when that is the training config.
- Only the batch command has what needs the whole population: survey answers (so respondents' own class, which
  segments them when strategy.class_source is "observed", and the observed_* columns), capacity (`deferred`), the
  key driver analysis tables and drift. Join answers in Spark if needed.
- Output columns have plain types (float64, bool, text with None) so MLflow can infer a signature and Spark a
  struct type from it. On Spark use `cxpredict.io.tracking.spark_udf`, a thin wrapper of mlflow.pyfunc.spark_udf
  that keeps missing text null (MLflow casts a struct's text fields with astype(str): None would arrive as 'None').
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxpredict.data.customers import KEY
from cxpredict.io import run_log, tracking
from cxpredict.io.bundle import Bundle, load_bundle
from cxpredict.io.people import scored_columns
from cxpredict.workflows.score import score_frame, scoring_stages

# scored-file columns only the batch command has (see the module notes); the rest come back in the file's order,
# customer_id first (from the key column, else the input's row labels)
NOT_RETURNED = ("is_respondent", "observed_score", "observed_class", "deferred")


def _plain(frame: pd.DataFrame, missing_text: str | None = None) -> pd.DataFrame:
    """Columns as float64, bool or object text (`missing_text`, None by default, for missing): types every pyfunc
    host and Spark accept. Text stays `object`: pandas 3 would infer its `str` dtype (missing = NaN)."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) and not s.isna().any():
            out[col] = pd.Series(s.astype(bool).to_numpy(), index=frame.index)
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out[col] = pd.Series(s.astype("float64").to_numpy(na_value=np.nan), index=frame.index)
        else:
            text = np.where(s.isna().to_numpy(), missing_text, s.astype("object").astype("str").to_numpy(dtype=object))
            out[col] = pd.Series(text, index=frame.index, dtype=object)
    return pd.DataFrame(out, index=frame.index)


class BundleScorer:
    """What `mlflow.pyfunc.load_model` returns the inner model of: `predict(DataFrame) -> DataFrame`."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        # the playbook is the bundle's own copy, whatever the file was called where the bundle was trained
        self.cfg = bundle.config.model_copy(deep=True)
        self.cfg.strategy.playbook = None
        # a bundle trained without band cuts still scores NPS, churn and drivers
        self.stages = scoring_stages(bundle, self.cfg, require_actions=False)

    def predict(self, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Scored columns for every input row, in order. Param `missing_text` replaces None in text columns
        (tracking.spark_udf uses it: MLflow's spark_udf would turn None into the text 'None')."""
        frame = pd.DataFrame(model_input).reset_index(drop=True)
        key = self.cfg.data.key
        ids = frame.pop(key).astype("str") if key in frame.columns else pd.Series(frame.index.astype("str"))
        frame.index = pd.Index(ids.to_numpy(dtype=object), dtype="str", name=KEY)
        scored = score_frame(self.bundle, frame, self.cfg, stages=self.stages)
        return _plain(scored[[c for c in scored_columns(scored) if c not in NOT_RETURNED]],
                      (params or {}).get(tracking.MISSING_TEXT_PARAM))

    def example_input(self, rows: int = 3) -> pd.DataFrame:
        """A few synthetic rows in the training schema (numbers inside the training range, known categories), for
        MLflow's signature and input example. Made from the manifest, so no customer data leaves the bundle."""
        manifest = self.bundle.manifest
        columns: dict[str, list] = {self.cfg.data.key: [f"example-{i + 1}" for i in range(rows)]}
        for name in manifest.names:
            if name in manifest.categorical:
                levels = manifest.categorical[name]
                columns[name] = [levels[i % len(levels)] for i in range(rows)]
            else:
                prof = manifest.numeric[name]
                columns[name] = np.linspace(prof["min"], prof["max"], rows).tolist()
        return pd.DataFrame(columns)

    def input_types(self) -> list[tuple[str, str]]:
        """(name, "string" or "any") of the input columns for the model signature: the key and text categories
        are text; numbers and number-coded categories "any" (tracking._pyfunc_arguments says why)."""
        manifest = self.bundle.manifest

        def kind(name: str) -> str:
            levels = manifest.categorical.get(name)
            return "string" if levels is not None and pd.to_numeric(pd.Series(levels), errors="coerce").isna().all() \
                else "any"
        return [(self.cfg.data.key, "string"), *((name, kind(name)) for name in manifest.names)]


def column_types(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(name, MLflow type) of `predict`'s output columns: double, boolean or string."""
    def kind(s: pd.Series) -> str:
        if pd.api.types.is_bool_dtype(s):
            return "boolean"
        return "double" if pd.api.types.is_numeric_dtype(s) else "string"
    return [(col, kind(frame[col])) for col in frame.columns]


def _load_pyfunc(data_path: str) -> BundleScorer:
    """MLflow's loader-module hook: `data_path` is the bundle folder stored with the model."""
    return BundleScorer(load_bundle(Path(data_path)))


def pyfunc_spec(bundle_dir: str | Path) -> tracking.PyfuncSpec:
    """The output column types and input example MLflow stores with the bundle (scores three synthetic rows)."""
    scorer = BundleScorer(load_bundle(bundle_dir))  # verifies the content hash before anything is stored
    example = scorer.example_input()
    return tracking.PyfuncSpec(column_types(scorer.predict(example)), example, loader_module=__name__,
                               input_types=scorer.input_types())


def save_pyfunc(bundle_dir: str | Path, path: str | Path) -> Path:
    """Write a bundle as a local MLflow pyfunc model folder, e.g. for `mlflow.pyfunc.spark_udf(spark, path)`.

    The folder holds the bundle unchanged under data/; loading runs `_load_pyfunc`, so cxpredict must be
    installed where the model is loaded (the driver and the Spark executors)."""
    return tracking.save_pyfunc(bundle_dir, path, pyfunc_spec(bundle_dir))


def log_trained_bundle(bundle_dir: str | Path, metrics: dict[str, Any], register: str | None = None,
                       alias: str | None = "champion") -> str | None:
    """After `train` / `demo`, inside the command's run: metrics, tags and the bundle as the run's pyfunc model,
    registered as `models:/<register>@<alias>` when asked. Returns the version; None with tracking off."""
    if tracking.active_run_id() is None:
        return None
    return run_log.log_train_outputs(bundle_dir, metrics, pyfunc_spec(bundle_dir), register, alias)
