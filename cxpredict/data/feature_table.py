"""A materialised feature table (`cxpredict features CONFIG --out X.parquet`, then data.features: X.parquet or
`--features X.parquet`) read by `train` and `score` in place of the behaviour tables.

Why the check: the table is only the config's features if it was built by the config's definitions. Its feature
manifest (X.manifest.json beside it) lists every column with its type and, for an event feature, its aggregation,
column, window, timestamp and as_of, and hashes that list. Before a row is read, the hash must match the list
(an edited manifest), every event feature the config defines must be there with the same definition, every
column must come from a table the config has, and the Parquet types must be the listed ones; anything else is an
InputError (exit 2) naming the column and the fix: rebuild the table with this config.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from cxpredict.config import Aggregation, BehaviourTable, Config
from cxpredict.data.events import aggregation_name, window_end
from cxpredict.data.ids import KEY, clean_ids
from cxpredict.data.tables import check_source, fingerprint_file, require_columns
from cxpredict.errors import InputError

WHAT = "the feature table, data.features"


def manifest_path(table: str | Path) -> Path:
    """features.parquet -> features.manifest.json beside it."""
    table = Path(table)
    return table.with_name(f"{table.stem}.manifest.json")


def definitions_hash(definitions: list[dict[str, Any]]) -> str:
    text = json.dumps(definitions, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def event_definition(table: BehaviourTable, agg: Aggregation) -> dict[str, Any]:
    """What makes an event feature (its as_of aside): one home for `cxpredict features` and the check here."""
    return {"agg": agg.agg, "column": agg.column, "window_days": agg.window_days, "timestamp": table.timestamp}


def check_manifest(cfg: Config, manifest: dict[str, Any], where: str, check_as_of: bool = True) -> None:
    """InputError naming the first column whose definition differs from `cfg`'s (see the module notes);
    `check_as_of`: a configured data.as_of must be the table's (false for a bundle's training config)."""
    fix = ("Rebuild the table with this config: cxpredict features CONFIG --out PATH (or remove data.features / "
           "--features to build the features from the behaviour tables).")
    entries = manifest.get("features")
    if not isinstance(entries, list) or definitions_hash(entries) != manifest.get("features_hash"):
        raise InputError(f"{where}: the feature definitions do not match their features_hash (the manifest was "
                         f"edited or is not a cxpredict feature manifest). {fix}")
    listed = {entry["name"]: entry for entry in entries}
    tables = {t.name: t for t in cfg.data.behaviour}
    as_of = str(window_end(cfg, {})) if check_as_of and cfg.data.as_of else None
    for table in (t for t in cfg.data.behaviour if t.kind == "events"):
        for agg in table.aggregations:
            name, expected = aggregation_name(table, agg), event_definition(table, agg)
            entry = listed.get(name)
            if entry is None:
                raise InputError(f"{where}: column {name!r} (events table {table.name!r}: {expected}) is not in "
                                 f"the feature table. {fix}")
            got = {k: v for k, v in (entry.get("aggregation") or {}).items() if k != "as_of"}
            if got != expected:
                raise InputError(f"{where}: column {name!r} was built as {got or 'no event aggregation'}, but this "
                                 f"config defines it as {expected}. {fix}")
            built = (entry.get("aggregation") or {}).get("as_of")
            if as_of is not None and built != as_of:
                raise InputError(f"{where}: column {name!r} was built with as_of {built}, but data.as_of is "
                                 f"{as_of}. {fix}")
    for entry in entries:
        if entry.get("table") is not None and entry["table"] not in tables:
            raise InputError(f"{where}: column {entry['name']!r} comes from behaviour table {entry['table']!r}, "
                             f"which this config lacks. {fix}")


def read_manifest(path: Path) -> dict[str, Any]:
    mpath = manifest_path(path)
    if not mpath.is_file():
        raise InputError(f"{path}: its feature manifest {mpath} is missing ({WHAT}). Write the table and its "
                         "manifest together with: cxpredict features CONFIG --out PATH.")
    try:
        return json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{mpath}: not a readable feature manifest ({e}). Write it again with: cxpredict "
                         "features CONFIG --out PATH.") from None


def read_feature_table(cfg: Config, report) -> pd.DataFrame:
    """The behaviour features indexed by customer ID, checked against `cfg`; `report` (customers.DataReport)
    gets the table (path, rows, fingerprint, features_hash) and each column's source table."""
    path = cfg.data_path(cfg.data.features)
    check_source(path, WHAT)
    if path.suffix.lower() != ".parquet":
        raise InputError(f"{path}: data.features is a Parquet file written by `cxpredict features`. Point it at "
                         "that file.")
    manifest = read_manifest(path)
    check_manifest(cfg, manifest, str(path))
    key = manifest.get("key") or cfg.data.key
    entries = manifest["features"]
    columns = pq.read_schema(path).names
    require_columns(path, columns, [key, *(entry["name"] for entry in entries)], WHAT)
    frame = pd.read_parquet(path, columns=[key, *(entry["name"] for entry in entries)])
    for entry in entries:
        if str(frame[entry["name"]].dtype) != entry["type"]:
            raise InputError(f"{path}: column {entry['name']!r} is {frame[entry['name']].dtype}, but its manifest "
                             f"says {entry['type']} (the file was rewritten). Rebuild it with: cxpredict features "
                             "CONFIG --out PATH.")
    ids = clean_ids(frame.pop(key).astype("str"), path, key, WHAT, lambda message: None)
    frame.index = pd.Index(ids.to_numpy(), dtype="str", name=KEY)
    if frame.index.has_duplicates:
        raise InputError(f"{path}: customer IDs repeat in column {key!r}. Rebuild it with: cxpredict features "
                         "CONFIG --out PATH.")
    report.tables["features"] = {"path": str(path), "rows": len(frame), "columns": [key, *frame.columns],
                                 "fingerprint": fingerprint_file(path), "features_hash": manifest["features_hash"]}
    report.origin.update({entry["name"]: entry["table"] for entry in entries if entry.get("table")})
    return frame


def check_against_training(cfg: Config, training: Config) -> None:
    """With data.features: the table's event features must be defined as the bundle's training config defined
    them (its as_of may be a later day's)."""
    if cfg.data.features:
        path = cfg.data_path(cfg.data.features)
        check_manifest(training, read_manifest(path), f"{path} (against the model bundle's training config)",
                       check_as_of=False)
