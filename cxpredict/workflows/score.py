"""Batch scoring: every customer gets a predicted NPS class distribution, expected score and (later stages) drivers,
churn risk and an action. Batches keep memory bounded; outputs appear atomically with a manifest beside them.

`score_frame` is the one per-batch function every stage plugs into (the batch command, and the MLflow pyfunc model
for Spark, call it). `score` runs it over the batches of a source (sources.py: a streamed population table or the
joined tables), counts drift on the way (drift.py) and publishes the scored file, the people files and
manifest.json together through outputs.StagedOutputs, so schedulers see all of them or none.

Learned things (features, models, scale) come from the bundle; business rules (drivers, playbook, batch size,
drift thresholds) come from the scoring config, so a playbook can change without retraining.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxpredict.actions.strategy import ActionStage, CapacityQueue
from cxpredict.config import CLASSES, Config
from cxpredict.data.sources import ScoringSource, open_source, read_ahead
from cxpredict.errors import ConfigError, DriftError
from cxpredict.explain.drivers import DriverStage
from cxpredict.io.bundle import Bundle
from cxpredict.io.outputs import StagedOutputs, TableWriter, write_json
from cxpredict.io.people import PeopleOutputs, scored_columns, write_kda_reports
from cxpredict.metrics import score_to_class
from cxpredict.models.churn import churn_columns
from cxpredict.provenance import Timer, run_manifest, sha256_file
from cxpredict.workflows.drift import DriftMonitor
from cxpredict.workflows.progress import progress_bar
from cxpredict.workflows.text import TOPICS_FILE, scoring_text_stage, text_drivers

log = logging.getLogger(__name__)


@dataclass
class ScoreResult:
    path: Path
    manifest_path: Path
    rows: int
    manifest: dict[str, Any] = field(default_factory=dict)


def check_compatible(cfg: Config, bundle: Bundle) -> None:
    """The scoring config must describe the same survey scale the bundle was trained on."""
    if cfg.scale != bundle.config.scale:
        raise ConfigError(
            f"config scale {cfg.scale.model_dump()} differs from the bundle's {bundle.config.scale.model_dump()}; "
            "score with the config the model was trained with, or retrain"
        )


def observed_columns(index: pd.Index, observed: pd.Series | None, cfg: Config) -> pd.DataFrame:
    """Respondents keep their own answer beside the prediction; silent customers get empty cells."""
    obs = (observed.reindex(index) if observed is not None else pd.Series(np.nan, index=index)).astype("float64")
    is_resp = obs.notna().to_numpy()
    cls = np.full(len(index), None, dtype=object)
    cls[is_resp] = np.asarray(CLASSES)[score_to_class(obs.to_numpy()[is_resp], cfg.scale)]
    return pd.DataFrame(
        {
            "customer_id": pd.array(index.astype("str"), dtype="str"),
            "is_respondent": is_resp,
            "observed_score": pd.array(obs.round().astype("Int64")),
            "observed_class": pd.array(cls, dtype="str"),
        },
        index=index,
    )


def score_frame(bundle: Bundle, frame: pd.DataFrame, cfg: Config, observed: pd.Series | None = None,
                actions: ActionStage | None = None, drivers: DriverStage | None = None) -> pd.DataFrame:
    """Score one batch of customers (index = customer_id) with every stage of the bundle."""
    X = bundle.manifest.transform(frame)
    out = observed_columns(frame.index, observed, cfg)
    pred = bundle.nps.predict(X)
    out = pd.concat([out, pred], axis=1)
    out = pd.concat([out, churn_columns(bundle.get("churn"), X, pred, frame, cfg.churn.value)], axis=1)
    if drivers is not None:  # driver_1..k for the configured subset, reason_1..k; accumulates the KDA
        out = pd.concat([out, drivers.columns(X, pred, frame)], axis=1)
    if actions is not None:  # last: segments and playbook read every column above (capacity: CapacityQueue)
        out = actions.apply(out)
    return out.reset_index(drop=True)


MANIFEST_NAME = "manifest.json"


class _Counts:
    """Rows per predicted / observed class, strategy and segment, for the manifest."""

    COLUMNS = ("predicted_class", "observed_class", "strategy", "risk_band")

    def __init__(self) -> None:
        self.by: dict[str, Counter[str]] = {c: Counter() for c in self.COLUMNS}
        self.respondents = 0

    def add(self, scored: pd.DataFrame) -> None:
        for col, counter in self.by.items():
            if col in scored.columns:
                counter.update(scored[col].astype("str").value_counts(dropna=True).to_dict())
        if "is_respondent" in scored.columns:
            self.respondents += int(scored["is_respondent"].sum())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {col: dict(sorted(c.items())) for col, c in self.by.items() if c}


def _in_sample_survey(source: ScoringSource, bundle: Bundle) -> bool:
    """True when the survey table is byte-identical to the one the bundle was trained on."""
    trained = bundle.info.get("data_fingerprints", {}).get("survey")
    return trained is not None and trained == source.fingerprints.get("survey")


def score(cfg: Config, bundle: Bundle, out: str | Path, fail_on_drift: bool = False) -> ScoreResult:
    """Score the population into `out` (.csv or .parquet); manifest.json, work_orders and segment_summary beside it.

    Streams batches (memory bounded by scoring.batch_size with data.population), and publishes every file at once
    only when all are complete. Schema problems raise InputError before anything is written (exit 2). With
    `fail_on_drift`, drift beyond scoring.drift raises DriftError (exit 3) AFTER the complete outputs are
    published: the manifest says why, and a scheduler's next task does not run on them.
    """
    out = Path(out)
    started = time.perf_counter()
    check_compatible(cfg, bundle)
    TableWriter(out)  # an unknown extension is a ConfigError now, not after the scoring work
    timer = Timer()
    with timer("open"):
        text = scoring_text_stage(cfg, bundle.get("text"), out.with_name(TOPICS_FILE)) if bundle.get("text") else None
        source = open_source(cfg, bundle.manifest, text.features if text else None)
        actions = ActionStage.from_bundle(bundle.path, cfg)
        drivers = DriverStage.create(bundle.nps, bundle.get("reasons"),
                                     text_drivers(cfg.drivers, text.models if text else None))
    warnings = list(source.warnings) + (text.warnings if text else [])
    if source.extra_columns:
        warnings.append(f"{len(source.extra_columns)} extra column(s) in {source.description} ignored: "
                        f"{source.extra_columns[:20]}")
    for warning in warnings:
        log.warning(warning)
    log.info("scoring %s (%s rows) with bundle %s... into %s", source.description,
             source.total_rows if source.total_rows is not None else "?", bundle.content_hash[:12], out)
    monitor = DriftMonitor(bundle.drift, cfg.scoring.drift)
    counts = _Counts()
    people = PeopleOutputs(actions.playbook)
    manifest_path = out.with_name(MANIFEST_NAME)
    with StagedOutputs() as staged:
        queue = CapacityQueue(actions.playbook, staged.scratch_dir(out))  # capacity is settled over all rows
        with progress_bar(source.total_rows, "scoring", "rows") as advance:
            for batch in read_ahead(source.batches()):
                with timer("score"):
                    scored = score_frame(bundle, batch.frame, cfg, observed=batch.observed, actions=actions,
                                         drivers=drivers)
                    if text is not None:  # respondents' comment reasons, by customer ID
                        scored = text.outputs(scored)
                with timer("checks"):
                    monitor.add(bundle.manifest.last_stats, scored)
                with timer("spool"):
                    queue.add(scored)
                advance(len(scored))
        with timer("write"), TableWriter(out, staged=staged) as writer:
            for final in queue.batches():
                counts.add(final)
                people.add(final)
                writer.write(final[scored_columns(final)])
        with timer("people_outputs"):
            people_paths = people.write(out.parent, fmt=out.suffix.lower().lstrip("."), staged=staged)
            if drivers is not None:  # key driver analysis CSVs (kda_global, kda_segments, kda_what_if)
                people_paths.update(write_kda_reports(drivers.tables(), out.parent, staged=staged))
            if text is not None:  # topic shares of this run, beside the previous run's (report: rising topics)
                write_json(text.trend, staged.path(out.with_name(TOPICS_FILE)))
                people_paths["text_topics"] = out.with_name(TOPICS_FILE)
        drift = monitor.report(in_sample_survey=_in_sample_survey(source, bundle))
        drifted = drift["status"] == "drift"
        outputs = {"scored": out, **people_paths}
        total = time.perf_counter() - started
        manifest = run_manifest(
            "score",
            cfg,
            source.fingerprints,
            status="drift" if drifted else "ok",
            exit_code=3 if drifted and fail_on_drift else 0,
            fail_on_drift=fail_on_drift,
            bundle={"path": str(bundle.path), "content_hash": bundle.content_hash,
                    "format_version": bundle.info.get("format_version"),
                    "trained_config_hash": bundle.info.get("config_hash"),
                    "trained_data_fingerprints": bundle.info.get("data_fingerprints", {})},
            input={"source": source.description, "rows": writer.rows, "survey_answers": source.survey_answers,
                   "extra_columns_ignored": source.extra_columns},
            outputs={name: {"path": str(path), "sha256": sha256_file(staged.path(path))}
                     for name, path in outputs.items()},
            rows=writer.rows,
            respondents=counts.respondents,
            counts=counts.as_dict(),
            drift=drift,
            drivers=drivers.summary() if drivers is not None else None,
            warnings=warnings + drift["notes"],
            timings={**timer.seconds, "total": round(total, 3)},
            rows_per_s=round(writer.rows / max(total, 1e-9), 1),
        )
        write_json(manifest, staged.path(manifest_path))
        staged.commit(last=(manifest_path,))
    log.info("scored %d rows in %.1fs (%.0f rows/s) into %s; drift: %s", writer.rows, total,
             manifest["rows_per_s"], out, drift["status"])
    for reason in drift["reasons"]:
        log.warning("drift: %s", reason)
    if drifted and fail_on_drift:
        raise DriftError(f"drift beyond the thresholds of scoring.drift ({len(drift['reasons'])} check(s) failed, "
                         f"first: {drift['reasons'][0]}). The outputs were written; {manifest_path} has "
                         "drift.status = 'drift' and every reason.")
    return ScoreResult(path=out, manifest_path=manifest_path, rows=writer.rows, manifest=manifest)
