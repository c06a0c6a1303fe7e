"""A saved model component (nps/, response/, churn/, reasons/): LightGBM text files plus one JSON, written and read
here with one set of bundle errors; nothing is pickled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from cxpredict.errors import BundleError


def read_component_meta(path: str | Path, what: str, version: int) -> dict[str, Any]:
    """Read a component's JSON metadata; unreadable files or another format version are a BundleError (exit 4)."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{path}: unreadable {what} metadata ({e}); retrain or restore the bundle") from e
    found = meta.get("format_version")
    if found != version:
        raise BundleError(f"{path.parent}: {what} format {found!r} is not the supported {version}; "
                          "retrain with this cxpredict version")
    return meta


def feature_meta(model: Any) -> dict[str, Any]:
    """The fitted feature count and names (None for array input), for a component's JSON."""
    names = getattr(model, "feature_names_in_", None)
    return {"n_features_in": int(model.n_features_in_), "feature_names": None if names is None else list(names)}


def set_feature_meta(model: Any, meta: dict[str, Any]) -> None:
    """Restore n_features_in_ / feature_names_in_ (scikit-learn's names) from a component's JSON."""
    names = meta["feature_names"]
    model.n_features_in_ = int(meta["n_features_in"]) if "n_features_in" in meta else len(names)
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)


def write_component(directory: str | Path, json_name: str, meta: dict[str, Any],
                    boosters: dict[str, lgb.Booster] | None = None) -> Path:
    """Write a component folder: each booster as LightGBM text under its file name, `meta` as JSON."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, booster in (boosters or {}).items():
        booster.save_model(str(directory / name))
    (directory / json_name).write_text(json.dumps(meta, indent=1, allow_nan=True), encoding="utf-8")
    return directory
