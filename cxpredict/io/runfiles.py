"""Reading a run's outputs back: the bundle's metrics and model JSON, the population estimate, the scoring manifest,
the scored file and the segment summary, from a folder (the --out of train/score/demo, or downloaded MLflow
artifacts). Any piece may be missing; callers decide what to do without it (the report says "not available").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cxpredict.errors import InputError

log = logging.getLogger(__name__)

SCORED_COLUMNS = ("is_respondent", "observed_score", "observed_class", "predicted_score", "predicted_class",
                  "p_detractor", "p_promoter", "driver_1", "driver_2", "driver_3", "driver_1_impact",
                  "driver_2_impact", "driver_3_impact", "segment", "strategy", "value_at_risk", "churn_prob")


def _json(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        log.warning("report: %s is unreadable (%s); its section is left out", path, e)
        return None
    return data if isinstance(data, dict) else None


def _first(root: Path, pattern: str) -> Path | None:
    found = sorted(root.rglob(pattern), key=lambda p: (len(p.parts), str(p)))
    return found[0] if found else None


def _read_table(path: Path, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        return pd.read_parquet(path, columns=[c for c in names if columns is None or c in columns])
    frame = pd.read_csv(path, encoding="utf-8-sig", usecols=(lambda c: c in columns) if columns else None,
                        keep_default_na=True, na_values=[""], low_memory=False)
    for col in frame.columns:  # undo the apostrophe outputs.py puts before formula-like text
        if pd.api.types.is_string_dtype(frame[col]):
            frame[col] = frame[col].str.replace(r"^'(?=[=+\-@\t\r])", "", regex=True)
    return frame


LEARN_TABLES = ("effects", "verdicts", "qini", "auuc", "targeting", "campaign_return")


@dataclass
class RunFiles:
    """Everything the report can use; any piece may be None."""

    root: Path
    bundle_dir: Path | None = None
    metrics: dict[str, Any] | None = None
    nps_meta: dict[str, Any] | None = None
    churn_meta: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    population: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    scored: pd.DataFrame | None = None
    segment_summary: pd.DataFrame | None = None
    drivers: pd.DataFrame | None = None
    campaign: dict[str, Any] | None = None  # `learn` outputs: learn.json + its tables (name -> DataFrame)
    sources: dict[str, str] = field(default_factory=dict)


def find_run_files(root: str | Path) -> RunFiles:
    """Collect a run's outputs from a folder (the `--out` of train/score/demo, or downloaded MLflow artifacts)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"report: {root} is not a folder; pass the --out folder of `cxpredict demo/train/score` "
                         "or an MLflow run id")
    run = RunFiles(root=root)
    bundle_json = _first(root, "bundle.json")
    if bundle_json is not None:
        run.bundle_dir = bundle_json.parent
        run.metrics = _json(run.bundle_dir / "metrics.json")
        run.nps_meta = _json(run.bundle_dir / "nps" / "nps.json")
        run.churn_meta = _json(run.bundle_dir / "churn" / "churn.json")
        response = _json(run.bundle_dir / "response" / "response.json")
        run.response = (response or {}).get("summary")
        run.sources["bundle"] = str(run.bundle_dir)
    population = _first(root, "population.json")
    run.population = _json(population) or (run.metrics or {}).get("population_nps") \
        or (run.metrics or {}).get("population")
    if run.response is None and run.population:
        run.response = run.population.get("response")
    run.evaluation = _json(_first(root, "evaluation.json"))
    for candidate in sorted(root.rglob("manifest.json"), key=lambda p: len(p.parts)):
        manifest = _json(candidate)
        if manifest and manifest.get("kind") == "score":
            run.manifest = manifest
            _scoring_files(run, candidate.parent)
            break
    learned = _first(root, "learn.json")
    if learned is not None and (manifest := _json(learned)) and manifest.get("kind") == "learn":
        tables = {name: _read_table(learned.parent / f"{name}.csv") for name in LEARN_TABLES
                  if (learned.parent / f"{name}.csv").is_file()}
        run.campaign = {"manifest": manifest, **tables}
        run.sources["campaign"] = str(learned.parent)
    drivers = _first(root, "*driver*.csv")
    if drivers is not None:
        run.drivers = _read_table(drivers)
        run.sources["drivers"] = str(drivers)
    return run


def _scoring_files(run: RunFiles, folder: Path) -> None:
    outputs = run.manifest.get("outputs", {})
    scored_name = Path(outputs.get("scored", {}).get("path", "scored.csv")).name
    scored = folder / scored_name
    if scored.is_file():
        run.scored = _read_table(scored, SCORED_COLUMNS)
        run.sources["scored"] = str(scored)
    summary = folder / Path(outputs.get("segment_summary", {}).get("path", "segment_summary.csv")).name
    if summary.is_file():
        run.segment_summary = _read_table(summary)
        run.sources["segment_summary"] = str(summary)
