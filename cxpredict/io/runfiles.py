"""Reading a run's outputs back: the bundle's metrics and model JSON, the population estimate, the scoring manifest
and the manifests of earlier runs (history/), the scored file, the work orders, the segment summary and the
key-driver tables, from a folder (the --out of train/score/demo, or downloaded MLflow artifacts). Any piece may be
missing; callers decide what to do without it (the report says "not available").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cxpredict.errors import InputError
from cxpredict.io.sheets import PeopleStyle, parse_date, read_table

log = logging.getLogger(__name__)

SCORED_COLUMNS = ("is_respondent", "observed_score", "observed_class", "predicted_score", "predicted_class",
                  "p_detractor", "p_promoter", "driver_1", "driver_2", "driver_3", "driver_1_impact",
                  "driver_2_impact", "driver_3_impact", "segment", "strategy", "value_at_risk", "churn_prob",
                  "stated_reasons", "reason_1", "to_contact", "deferred", "owner_team")
TABLES = ("segment_summary", "work_orders", "work_orders_deferred", "kda_global", "kda_what_if", "kda_segments")


def _json(path: Path | None) -> dict[str, Any] | None:
    return _read(path, json.loads, (json.JSONDecodeError,))


def _yaml(path: Path | None) -> dict[str, Any] | None:
    return _read(path, yaml.safe_load, (yaml.YAMLError,))


def _read(path: Path | None, parse, errors: tuple[type[Exception], ...]) -> dict[str, Any] | None:
    """A JSON or YAML mapping, or None when the file is absent or unreadable (its section says so)."""
    if path is None or not path.is_file():
        return None
    try:
        data = parse(path.read_text(encoding="utf-8"))
    except (OSError, *errors) as e:
        log.warning("report: %s is unreadable (%s); its section is left out", path, e)
        return None
    return data if isinstance(data, dict) else None


def _first(root: Path, pattern: str) -> Path | None:
    found = sorted(root.rglob(pattern), key=lambda p: (len(p.parts), str(p)))
    return found[0] if found else None


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
    survey_plan: dict[str, Any] | None = None  # survey_plan.json of `cxpredict survey-plan`
    trained_config: dict[str, Any] | None = None
    scored: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier runs' manifests, oldest first
    campaign: dict[str, Any] | None = None  # `learn` outputs: learn.json + its tables (name -> DataFrame)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def segment_summary(self) -> pd.DataFrame | None:
        return self.tables.get("segment_summary")

    @property
    def skipped(self) -> dict[str, str]:
        """Stages the bundle was trained without, with why (a churn-only run has no NPS stages): from the bundle's
        metrics.json, else the scoring manifest."""
        stages = (self.metrics or {}).get("stages") or {}
        return dict(stages.get("skipped") or ((self.manifest or {}).get("bundle") or {}).get("skipped") or {})

    def style(self) -> PeopleStyle:
        """Currency and labels as the run was scored (manifest), else as the bundle was trained (config.yaml)."""
        outputs = (self.manifest or {}).get("outputs_config") or (self.trained_config or {}).get("outputs") or {}
        as_of = (self.manifest or {}).get("as_of") or ((self.trained_config or {}).get("data") or {}).get("as_of")
        return PeopleStyle(currency=outputs.get("currency"), labels=dict(outputs.get("labels") or {}),
                           as_of=parse_date(as_of))


def find_run_files(root: str | Path) -> RunFiles:
    """Collect a run's outputs from a folder (the `--out` of train/score/demo, or downloaded MLflow artifacts)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"report: {root} is not a folder; pass the --out folder of `cxpredict demo/train/score` "
                         "or an MLflow run id")
    run = RunFiles(root=root)
    for candidate in sorted(root.rglob("manifest.json"), key=lambda p: len(p.parts)):
        manifest = _json(candidate)
        if manifest and manifest.get("kind") == "score":
            run.manifest = manifest
            _scoring_files(run, candidate.parent)
            break
    bundle_json = _first(root, "bundle.json") or _scored_with(run.manifest)
    if bundle_json is not None:
        run.bundle_dir = bundle_json.parent
        run.metrics = _json(run.bundle_dir / "metrics.json")
        run.nps_meta = _json(run.bundle_dir / "nps" / "nps.json")
        run.churn_meta = _json(run.bundle_dir / "churn" / "churn.json")
        response = _json(run.bundle_dir / "response" / "response.json")
        run.response = (response or {}).get("summary")
        run.trained_config = _yaml(run.bundle_dir / "config.yaml")
        run.sources["bundle"] = str(run.bundle_dir)
    population = _first(root, "population.json")
    run.population = _json(population) or (run.metrics or {}).get("population_nps") \
        or (run.metrics or {}).get("population")
    if run.response is None and run.population:
        run.response = run.population.get("response")
    run.evaluation = _json(_first(root, "evaluation.json"))
    run.survey_plan = _json(_first(root, "survey_plan.json"))
    learned = _first(root, "learn.json")
    if learned is not None and (manifest := _json(learned)) and manifest.get("kind") == "learn":
        tables = {name: read_table(learned.parent / f"{name}.csv") for name in LEARN_TABLES
                  if (learned.parent / f"{name}.csv").is_file()}
        run.campaign = {"manifest": manifest, **tables}
        run.sources["campaign"] = str(learned.parent)
    for name in ("kda_global", "kda_what_if", "kda_segments"):
        if name not in run.tables:
            _table(run, name, _first(root, f"{name}.csv"))
    return run


def _scored_with(manifest: dict[str, Any] | None) -> Path | None:
    """The bundle a scoring run names (manifest bundle.path), when it is on this machine: `score --out RUN/...`
    with the model elsewhere (`train --out MODEL`) still gives `report RUN` the topics, model quality and stages."""
    listed = ((manifest or {}).get("bundle") or {}).get("path")
    found = Path(listed) / "bundle.json" if listed else None
    return found if found is not None and found.is_file() else None


def _table(run: RunFiles, name: str, path: Path | None) -> None:
    if path is None or not path.is_file() or path.suffix.lower() == ".xlsx":
        return
    try:
        run.tables[name] = read_table(path)
        run.sources[name] = str(path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        log.warning("report: %s is unreadable (%s); its section is left out", path, e)


def _scoring_files(run: RunFiles, folder: Path) -> None:
    """The files the manifest lists, looked up beside it (the manifest's paths may be from another machine); an
    xlsx run is read through its CSV/Parquet siblings when present (the report never needs a spreadsheet)."""
    outputs = run.manifest.get("outputs", {})
    scored = folder / Path(outputs.get("scored", {}).get("path", "scored.csv")).name
    sample = folder / "scored_sample.csv"  # what MLflow keeps of a scored file
    if scored.is_file() and scored.suffix.lower() != ".xlsx":
        run.scored = read_table(scored, SCORED_COLUMNS)
        run.sources["scored"] = str(scored)
    elif sample.is_file():
        run.scored = read_table(sample, SCORED_COLUMNS)
        run.sources["scored"] = "sample"
    for name in TABLES:
        listed = outputs.get(name, {}).get("path")
        _table(run, name, folder / Path(listed).name if listed else folder / f"{name}.csv")
    run.history = read_history(folder, run.manifest)


def read_history(folder: Path, current: dict[str, Any]) -> list[dict[str, Any]]:
    """Manifests of the runs of the same config in `folder/history` (one per as-of date: the latest run of a day
    wins), oldest first, the current run included."""
    runs = [m for m in (_json(p) for p in sorted((folder / "history").glob("manifest-*.json"))) if m]
    runs = [m for m in runs if m.get("config_name") == current.get("config_name") and m.get("kind") == "score"]
    if not any(m.get("created_at") == current.get("created_at") for m in runs):
        runs.append(current)
    latest: dict[str, dict[str, Any]] = {}
    for m in sorted(runs, key=lambda m: str(m.get("created_at"))):
        latest[str(m.get("as_of") or m.get("created_at", ""))[:10]] = m
    return [latest[k] for k in sorted(latest)]
