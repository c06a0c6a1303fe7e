"""`cxpredict features`: the per-customer feature table (behaviour tables joined, event windows aggregated by the
configured data.engine) materialised once as Parquet, with a feature manifest beside it.

The manifest says what each column is (name, type, the table it came from and, for an event feature, its
aggregation, window and as_of) and hashes those definitions: two feature tables with the same `features_hash`
were built by the same definitions, whichever engine built them; the table fingerprints say from which data.
Both files appear together or not at all (staged, then renamed; the manifest last).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxpredict.config import Config
from cxpredict.data.customers import CustomerData, load_customers
from cxpredict.data.events import aggregation_name
from cxpredict.data.feature_table import definitions_hash, event_definition, manifest_path
from cxpredict.errors import ConfigError
from cxpredict.io.outputs import StagedOutputs, write_json, write_parquet
from cxpredict.provenance import run_manifest


@dataclass
class FeaturesResult:
    path: Path
    manifest_path: Path
    rows: int
    manifest: dict[str, Any]


def feature_definitions(cfg: Config, data: CustomerData) -> list[dict[str, Any]]:
    """One entry per column: its name, type, source table and (event features) aggregation definition."""
    events = {aggregation_name(t, a): (t, a) for t in cfg.data.behaviour if t.kind == "events"
              for a in t.aggregations}
    out = []
    for name, dtype in data.frame.dtypes.items():
        table = data.report.origin.get(str(name))
        entry: dict[str, Any] = {"name": str(name), "type": str(dtype), "table": table}
        if str(name) in events and events[str(name)][0].name == table:
            source, agg = events[str(name)]
            entry["aggregation"] = {**event_definition(source, agg),
                                    "as_of": data.report.tables.get(source.name, {}).get("as_of")}
        out.append(entry)
    return out


def materialise_features(cfg: Config, out: str | Path, data: CustomerData | None = None) -> FeaturesResult:
    """Build the feature table and write it to `out` (.parquet; the customer ID as column data.key) with
    <stem>.manifest.json beside it."""
    out = Path(out)
    if out.suffix.lower() != ".parquet":
        raise ConfigError(f"--out {out}: the feature table is written as Parquet; use a path ending in .parquet")
    data = data if data is not None else load_customers(cfg)
    definitions = feature_definitions(cfg, data)
    fingerprints = {name: table["fingerprint"] for name, table in data.report.tables.items()}
    manifest = run_manifest("features", cfg, fingerprints, engine=cfg.data.engine, as_of=cfg.data.as_of,
                            rows=len(data.frame), key=cfg.data.key, features=definitions,
                            features_hash=definitions_hash(definitions), warnings=data.report.warnings)
    frame = data.frame.rename_axis(cfg.data.key).reset_index()
    with StagedOutputs() as staged:
        write_parquet(frame, staged.path(out))
        write_json(manifest, staged.path(manifest_path(out)))
        staged.commit(last=(manifest_path(out),))
    return FeaturesResult(path=out, manifest_path=manifest_path(out), rows=len(frame), manifest=manifest)
