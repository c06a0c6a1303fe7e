"""A model bundle as an MLflow pyfunc model, so Spark (`mlflow.pyfunc.spark_udf`) and any pyfunc host score with
the same `scoring.score_frame` as `cxpredict score`.

Why this shape:
- MLflow's "loader module" workflow: tracking.save_pyfunc / log_pyfunc store the bundle folder itself as the
  model's data (LightGBM text + JSON, content hash intact) and name this module as the loader. Loading calls
  `_load_pyfunc(data_path)`, which verifies and loads the bundle. Nothing is pickled, not even a wrapper class,
  and this module does not import mlflow (tracking.py is the only module that does).
- `predict` takes a pandas DataFrame with the key column (data.key) and the feature columns, as a wide population
  table has them; it returns one row per input row, in order: the prediction columns of the scored file (NPS,
  churn, drivers, segment and playbook columns as far as the bundle has those stages). Survey answers and
  capacity (deferred) need the whole population, so they stay with the batch command; join answers in Spark.
- Output columns have plain types (float64, bool, text with None) so MLflow can infer a signature and Spark a
  struct type from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxpredict.actions.strategy import ActionStage
from cxpredict.data.customers import KEY
from cxpredict.errors import BundleError
from cxpredict.io.bundle import Bundle, load_bundle
from cxpredict.workflows.score import score_frame

NOT_RETURNED = ("customer_id", "is_respondent", "observed_score", "observed_class", "deferred")


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns as float64, bool or object text (None for missing): types every pyfunc host and Spark accept."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) and not s.isna().any():
            out[col] = s.astype(bool).to_numpy()
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out[col] = s.astype("float64").to_numpy(na_value=np.nan)
        else:
            text = s.astype("object")
            out[col] = np.where(s.isna().to_numpy(), None, text.astype("str").to_numpy(dtype=object))
    return pd.DataFrame(out, index=frame.index)


class BundleScorer:
    """What `mlflow.pyfunc.load_model` returns the inner model of: `predict(DataFrame) -> DataFrame`."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.cfg = bundle.config
        try:
            self.actions: ActionStage | None = ActionStage.from_bundle(bundle.path, self.cfg)
        except BundleError:  # a bundle trained without the strategy stage still scores NPS (and churn)
            self.actions = None

    def predict(self, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:  # noqa: ARG002
        frame = pd.DataFrame(model_input).reset_index(drop=True)
        key = self.cfg.data.key
        ids = frame.pop(key).astype("str") if key in frame.columns else pd.Series(frame.index.astype("str"))
        frame.index = pd.Index(ids.to_numpy(dtype=object), dtype="str", name=KEY)
        scored = score_frame(self.bundle, frame, self.cfg, observed=None, actions=self.actions)
        return _plain(scored.drop(columns=[c for c in NOT_RETURNED if c in scored.columns]))

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


def save_pyfunc(bundle_dir: str | Path, path: str | Path) -> Path:
    """Write a bundle as a local MLflow pyfunc model folder, e.g. for `mlflow.pyfunc.spark_udf(spark, path)`.

    The folder holds the bundle unchanged under data/; loading runs `_load_pyfunc`, so cxpredict must be
    installed where the model is loaded (the driver and the Spark executors)."""
    from cxpredict.io import tracking

    scorer = BundleScorer(load_bundle(bundle_dir))  # verifies the content hash before anything is stored
    example = scorer.example_input()
    return tracking.save_pyfunc(bundle_dir, path, column_types(scorer.predict(example)), example)
