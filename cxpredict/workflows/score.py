"""Batch scoring: every customer gets a predicted NPS class distribution, expected score and (later stages) drivers,
churn risk and an action. Batches keep memory bounded; outputs appear atomically with a manifest beside them.

`score_frame` is the one per-batch function every stage plugs into: the batch command, the MLflow pyfunc model
and Spark (`mlflow.pyfunc.spark_udf`) all call it, with the stages `scoring_stages` builds (NPS, churn, drivers,
reasons, segments, playbook), so a customer gets the same columns and values whichever way they are scored.
`score` runs it over the batches of a source (sources.py: a streamed population table or the joined tables) and
publishes the scored file, the people files and manifest.json together through outputs.StagedOutputs, so
schedulers see all of them or none.

What needs the whole population stays with the batch command, which passes its accumulators to every batch
explicitly: survey answers (`observed`, read from the survey table), drift counts (`drift`), the KDA tables and
theme agreement (`totals`), capacity (`deferred`, settled by CapacityQueue after the last batch).

Learned things (features, models, scale) come from the bundle; business rules (drivers, playbook, batch size,
drift thresholds) come from the scoring config, so a playbook can change without retraining.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxpredict import threads
from cxpredict.actions.holdout import ControlGroups, assignment_date, assignment_rows, default_campaign_id
from cxpredict.actions.strategy import ActionStage, CapacityQueue
from cxpredict.codes import code_labels
from cxpredict.config import CLASSES, Config
from cxpredict.data.feature_table import check_against_training
from cxpredict.data.sources import ScoringSource, feature_origin, open_source, read_ahead
from cxpredict.errors import BundleError, ConfigError, DriftError
from cxpredict.explain.stage import DriverStage
from cxpredict.io.bundle import Bundle
from cxpredict.io.outputs import StagedOutputs, write_json
from cxpredict.io.people import PeopleOutputs, finish_scored, rank_drivers, write_kda_reports
from cxpredict.io.sheets import PeopleStyle, output_format
from cxpredict.io.tables import TableWriter
from cxpredict.metrics import score_to_class
from cxpredict.models.stages import ChurnStage, NpsStage, UpliftStage
from cxpredict.models.value import ImputedValues
from cxpredict.provenance import Timer, run_manifest, sha256_file
from cxpredict.stages import Batch, Stage, check_order, run_stages, stage_named
from cxpredict.workflows.drift import DriftMonitor
from cxpredict.workflows.progress import progress_bar
from cxpredict.workflows.default_drivers import resolve_drivers
from cxpredict.workflows.text import TOPICS_FILE, scoring_text_stage

log = logging.getLogger(__name__)


@dataclass
class ScoreResult:
    path: Path
    manifest_path: Path
    rows: int
    manifest: dict[str, Any] = field(default_factory=dict)
    sample: pd.DataFrame | None = None  # the first rows of the scored file (MLflow logs these, not the file)


def check_compatible(cfg: Config, bundle: Bundle) -> None:
    """The scoring config must describe the same survey scale the bundle was trained on."""
    if cfg.scale != bundle.config.scale:
        raise ConfigError(
            f"config scale {cfg.scale.model_dump()} differs from the bundle's {bundle.config.scale.model_dump()}; "
            "score with the config the model was trained with, or retrain"
        )


OBSERVED_COLUMNS = ("customer_id", "is_respondent", "observed_score", "observed_class")


def observed_columns(index: pd.Index, observed: pd.Series | None, cfg: Config) -> pd.DataFrame:
    """Respondents keep their own answer beside the prediction; silent customers get empty cells."""
    obs = (observed.reindex(index) if observed is not None else pd.Series(np.nan, index=index)).astype("float64")
    is_resp = obs.notna().to_numpy()
    cls = np.full(len(index), -1)
    cls[is_resp] = score_to_class(obs.to_numpy()[is_resp], cfg.scale)
    return pd.DataFrame(
        {
            "customer_id": pd.array(index.astype("str"), dtype="str"),
            "is_respondent": is_resp,
            "observed_score": pd.array(obs.round().astype("Int64")),
            "observed_class": code_labels(cls, CLASSES),
        },
        index=index,
    )


def model_stages(bundle: Bundle, cfg: Config) -> list[Stage]:
    """The bundle's model stages in scoring order: NPS (absent in a churn-only bundle), churn (value alone
    without a churn model), uplift (after `cxpredict learn`). The churn section (how value is computed) is the
    scoring config's: a business rule."""
    stages: list[Stage] = [NpsStage(bundle.nps)] if bundle.nps is not None else []
    stages.append(ChurnStage(bundle.get("churn"), cfg.churn))
    if bundle.get("uplift") is not None:  # uplift_<strategy> per customer, for priority.method expected_uplift
        stages.append(UpliftStage(bundle.get("uplift")))
    return stages


def scoring_stages(bundle: Bundle, cfg: Config, require_actions: bool = True) -> list[Stage]:
    """Every stage of `score_frame` for a bundle and scoring config, in order: the model stages, drivers +
    reasons, then segments + playbook (last: they read every column above). Built once per run or loaded model.
    Without `require_actions`, a bundle trained without band cuts scores without segments instead of raising
    BundleError."""
    stages = model_stages(bundle, cfg)
    try:
        actions: ActionStage | None = ActionStage.load(bundle.path, cfg.resolved_strategy(), skipped=bundle.skipped)
    except BundleError:
        if require_actions:
            raise
        actions = None
    if bundle.nps is not None:  # churn-only: drivers explain the NPS model (DESIGN.md), so there are none
        settings = resolve_drivers(cfg, bundle.get("text"), bundle.manifest)  # as at training: readable groups
        drivers = DriverStage.create(bundle.nps, bundle.get("reasons"), settings, bundle.manifest)
        if drivers is not None and actions is not None:  # drivers.rows: only the rows the playbook needs
            drivers.rows = functools.partial(actions.rows_to_explain, rows=settings.rows)
        stages += [drivers] if drivers is not None else []
    if actions is not None:
        stages.append(actions.following(c for stage in stages for c in stage.adds()))
    check_order(stages, OBSERVED_COLUMNS)
    return stages


HEADLINE_KEYS = ("estimate", "low", "high", "level", "method", "method_text", "no_signal", "n_customers",
                 "n_respondents")


def headline_nps(bundle: Bundle) -> dict[str, Any] | None:
    """The population NPS the report leads with (training's estimate over all customers: predictions plus the
    weighted respondents' answers), with its interval, method and no-signal flag, so a dashboard fed by
    manifest.json shows the report's answer. None when the bundle has no population estimate."""
    pop = bundle.metrics.get("population_nps") or {}
    if pop.get("estimate") is None:
        return None
    return {**{k: pop.get(k) for k in HEADLINE_KEYS}, "source": "training (the bundle's metrics.json "
            "population_nps), as the report's headline; model_only above is this run's unweighted answers + predictions"}


def score_frame(bundle: Bundle, frame: pd.DataFrame, cfg: Config, observed: pd.Series | None = None,
                stages: list[Stage] | None = None, *, drift: DriftMonitor | None = None,
                source: str = "scoring data", origin=None) -> pd.DataFrame:
    """Score one batch of customers (index = customer_id, the user's column names): the features, then
    `stages` in order (default: the bundle's model stages) through `stages.run_stages`.

    `observed` (survey answers) and `drift` are the batch command's: see the module notes. Errors about the values
    name `source` and `origin(column)` (default: the column's training table and file)."""
    origin = origin or functools.partial(feature_origin, cfg, bundle.manifest)
    if drift is not None:
        X, stats = bundle.manifest.transform_with_stats(frame, source, origin)
    else:
        X, stats = bundle.manifest.transform(frame, source, origin), None
    out = observed_columns(frame.index, observed, cfg)
    if bundle.nps is None:  # churn-only: no survey, so no answers and no NPS columns (columns.Column.needs)
        out = out[["customer_id"]]
    stages = model_stages(bundle, cfg) if stages is None else stages
    out = run_stages(stages, Batch(frame, X, out)).reset_index(drop=True)
    if drift is not None:
        drift.add(stats, out)
    return out


MANIFEST_NAME = "manifest.json"
ASSIGNMENTS_NAME = "assignments"  # the assignment log, beside the scored file in its format
HISTORY_DIR = "history"  # a copy of every run's manifest: the report's trend across runs
SAMPLE_ROWS = 1000


class _Counts:
    """Rows per predicted / observed class, strategy and segment, for the manifest."""

    COLUMNS = ("predicted_class", "observed_class", "strategy", "risk_band", "group")

    def __init__(self) -> None:
        self.by: dict[str, Counter[str]] = {c: Counter() for c in self.COLUMNS}
        self.respondents = 0

    def add(self, scored: pd.DataFrame) -> None:
        for col, counter in self.by.items():
            if col in scored.columns:
                counts = scored[col].value_counts(dropna=True)  # a categorical's counted on its codes
                counter.update({str(value): int(n) for value, n in counts.items() if n})
        if "is_respondent" in scored.columns:
            self.respondents += int(scored["is_respondent"].sum())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {col: dict(sorted(c.items())) for col, c in self.by.items() if c}


def _in_sample_survey(source: ScoringSource, bundle: Bundle) -> bool:
    """True when the survey table is byte-identical to the one the bundle was trained on."""
    trained = bundle.info.get("data_fingerprints", {}).get("survey")
    return trained is not None and trained == source.fingerprints.get("survey")


@dataclass
class _ScoringRun:
    """What one batch scoring run holds from opening the source to publishing: the stages, the run-wide
    accumulators (key-driver totals, drift, counts, capacity, control groups) and where things go."""

    source: ScoringSource
    stages: list[Stage]
    late: list[Stage]  # after the respondents' stated reasons: the text stage's comment reasons
    actions: ActionStage
    totals: Any  # explain.drivers.DriverTotals, or None without drivers
    text: Any  # workflows.text.TextStage, or None without text columns
    warnings: list[str]
    monitor: DriftMonitor
    style: PeopleStyle
    people: PeopleOutputs
    holdout: ControlGroups
    campaign_id: str
    assignments_path: Path
    assigned_at: str
    counts: _Counts = field(default_factory=lambda: _Counts())
    imputed: ImputedValues = field(default_factory=ImputedValues)


def _open_run(cfg: Config, bundle: Bundle, out: Path, fmt: str, campaign_id: str | None) -> _ScoringRun:
    """The source, the stages in order (the drivers stage adding to this run's totals) and the accumulators."""
    text = scoring_text_stage(cfg, bundle.get("text"), out.with_name(TOPICS_FILE)) if bundle.get("text") else None
    source = open_source(cfg, bundle.manifest, text.features if text else None)
    stages = scoring_stages(bundle, cfg)
    actions, drivers = stage_named(stages, "actions"), stage_named(stages, "drivers")
    totals = drivers.new_totals() if drivers is not None else None
    stages = [s.counting(totals) if s is drivers else s for s in stages]  # this run's KDA and theme agreement
    warnings = source.warnings  # the same list: warnings found while streaming reach the manifest too
    warnings.extend(text.warnings if text else [])
    extra = [c for c in source.extra_columns if c not in (text.own_columns if text else set())]
    if extra:  # the text stage's own columns (generated features, raw texts) are not the user's extras
        warnings.append(f"{len(extra)} extra column(s) in {source.description} ignored: {extra[:20]}")
    for warning in warnings:
        log.warning(warning)
    style = PeopleStyle.from_config(cfg, fmt)
    campaign_id = campaign_id or default_campaign_id(cfg.strategy.holdout, cfg.name, cfg.data.as_of)
    return _ScoringRun(
        source=source, stages=stages, late=[text] if text is not None else [], actions=actions, totals=totals,
        text=text, warnings=warnings, monitor=DriftMonitor(bundle.drift, cfg.scoring.drift), style=style,
        people=PeopleOutputs(actions.playbook, style), campaign_id=campaign_id,
        holdout=ControlGroups(actions.playbook, cfg.strategy.holdout, campaign_id),
        # the log is for machines: Parquet beside a Parquet scored file, else CSV
        assignments_path=out.with_name(f"{ASSIGNMENTS_NAME}.{'parquet' if out.suffix.lower() == '.parquet' else 'csv'}"),
        assigned_at=assignment_date(cfg.data.as_of))


def _score_batches(run: _ScoringRun, cfg: Config, bundle: Bundle, queue: CapacityQueue, timer: Timer) -> None:
    """Every batch of the source through the stages, spooled for capacity and the control groups."""
    with progress_bar(run.source.total_rows, "scoring", "rows") as advance:
        for batch in read_ahead(run.source.batches()):
            with timer("score"):
                scored = score_frame(bundle, batch.frame, cfg, observed=batch.observed, stages=run.stages,
                                     drift=run.monitor, source=run.source.description, origin=run.source.origin)
                if batch.stated is not None:  # respondents' own reasons, for the people files
                    scored["stated_reasons"] = batch.stated.to_numpy()
                # the reasons respondents' comments imply, by customer ID
                scored = run_stages(run.late, Batch(batch.frame, scored.iloc[:, :0], scored))
            run.imputed.add(scored["customer_id"], scored["value_imputed"])
            with timer("spool"):
                queue.add(scored)
                run.holdout.add(scored)
            advance(len(scored))
    if run.imputed.warning(cfg.churn.value):  # found while scoring: logged now, listed in the manifest
        run.warnings.append(run.imputed.warning(cfg.churn.value))
        log.warning(run.warnings[-1])


def _write_scored(run: _ScoringRun, out: Path, queue: CapacityQueue, staged: StagedOutputs, timer: Timer
                  ) -> tuple[Any, TableWriter | None, pd.DataFrame | None, dict[str, Path]]:
    """The scored file (capacity settled, control groups drawn), the assignment log and the people files:
    (the scored file's writer, the log's writer or None, the first rows, the people files' paths)."""
    log_writer = TableWriter(run.assignments_path, staged=staged) if run.holdout.active else None
    sample = None
    with timer("write"), run.style.writer(out, staged=staged) as writer, log_writer or contextlib.nullcontext():
        for final in read_ahead(queue.batches()):  # the next spooled batch read (and settled) on the other core
            final = run.holdout.assign(final)
            run.counts.add(final)
            run.people.add(final)
            finished = finish_scored(final, run.actions.playbook, run.style)
            sample = finished.head(SAMPLE_ROWS) if sample is None else sample
            writer.write(finished)
            if log_writer is not None:
                log_writer.write(assignment_rows(final, run.campaign_id, run.assigned_at))
    with timer("people_outputs"):
        kda = run.totals.tables() if run.totals is not None else {}  # key driver analysis (kda_global, ...)
        kda = {**kda, "kda_global": rank_drivers(kda)} if kda else kda  # ranked once: the file and columns.csv
        paths = run.people.write(out.parent, staged=staged,
                                 also={name: list(table.columns) for name, table in kda.items()})
        if kda:
            paths.update(write_kda_reports(kda, out.parent, staged=staged, style=run.style))
        if run.text is not None:  # topic shares of this run beside the previous run's (report: rising topics)
            write_json(run.text.trend, staged.path(out.with_name(TOPICS_FILE)))
            paths["text_topics"] = out.with_name(TOPICS_FILE)
    return writer, log_writer, sample, paths


def score(cfg: Config, bundle: Bundle, out: str | Path, fail_on_drift: bool = False, fmt: str | None = None,
          origin: dict[str, Any] | None = None, campaign_id: str | None = None) -> ScoreResult:
    """Score the population into `out` (.csv, .xlsx or .parquet; `fmt` or outputs.format must agree with its
    extension); manifest.json, work_orders(_deferred), segment_summary and columns.csv beside it. `origin` (from
    the CLI: the MLflow run, the registered model version) is recorded in the manifest.

    Streams batches (memory bounded by scoring.batch_size with data.population), and publishes every file at once
    only when all are complete. Schema problems raise InputError before anything is written (exit 2). With
    `fail_on_drift`, drift beyond scoring.drift raises DriftError (exit 3) AFTER the complete outputs are
    published: the manifest says why, and a scheduler's next task does not run on them. With a playbook, control
    groups (strategy.holdout) are drawn for `campaign_id` and the assignment log is published with the rest.
    """
    threads.use(cfg.n_jobs)
    out = Path(out)
    started = time.perf_counter()
    check_compatible(cfg, bundle)
    check_against_training(cfg, bundle.config)  # a feature table (data.features) built as the model's features
    fmt = output_format(out, fmt or cfg.outputs.format)  # a bad extension is a ConfigError now, not after the work
    timer = Timer()
    with timer("open"):
        run = _open_run(cfg, bundle, out, fmt, campaign_id)
    log.info("scoring %s (%s rows) with bundle %s... into %s", run.source.description,
             run.source.total_rows if run.source.total_rows is not None else "?", bundle.content_hash[:12], out)
    manifest_path = out.with_name(MANIFEST_NAME)
    # capacity is settled over all rows; the queue closes first: no spool write outlives a failed run's scratch folder
    with StagedOutputs() as staged, contextlib.closing(CapacityQueue(run.actions.playbook,
                                                                     staged.scratch_dir(out))) as queue:
        run.people = PeopleOutputs(run.actions.playbook, run.style, spool=queue.directory)  # orders wait there too
        _score_batches(run, cfg, bundle, queue, timer)
        writer, log_writer, sample, people_paths = _write_scored(run, out, queue, staged, timer)
        drift = run.monitor.report(in_sample_survey=_in_sample_survey(run.source, bundle))
        outputs = {"scored": out, **people_paths, **({"assignments": run.assignments_path} if log_writer else {})}
        total = time.perf_counter() - started
        manifest = _manifest(cfg, bundle, run, origin, fail_on_drift, fmt, drift, writer.rows, log_writer,
                             {name: {"path": str(path), "sha256": sha256_file(staged.path(path))}
                              for name, path in outputs.items()}, timer.seconds, total)
        write_json(manifest, staged.path(manifest_path))
        stamp = manifest["created_at"].replace(":", "").replace("-", "")
        write_json(manifest, staged.path(out.parent / HISTORY_DIR / f"manifest-{stamp}.json"))
        staged.commit(last=(manifest_path,))
    log.info("scored %d rows in %.1fs (%.0f rows/s) into %s; drift: %s", writer.rows, total,
             manifest["rows_per_s"], out, drift["status"])
    for reason in drift["reasons"]:
        log.warning("drift: %s", reason)
    if drift["status"] == "drift" and fail_on_drift:
        raise DriftError(f"drift beyond the thresholds of scoring.drift ({len(drift['reasons'])} check(s) failed, "
                         f"first: {drift['reasons'][0]}). The outputs were written; {manifest_path} has "
                         "drift.status = 'drift' and every reason.")
    return ScoreResult(path=out, manifest_path=manifest_path, rows=writer.rows, manifest=manifest, sample=sample)


def _manifest(cfg: Config, bundle: Bundle, run: _ScoringRun, origin: dict[str, Any] | None, fail_on_drift: bool,
              fmt: str, drift: dict[str, Any], rows: int, log_writer: TableWriter | None,
              outputs: dict[str, Any], seconds: dict[str, float], total: float) -> dict[str, Any]:
    """manifest.json of a scoring run: provenance, inputs, outputs with their hashes, counts, drift, timings."""
    drifted = drift["status"] == "drift"
    return run_manifest(
        "score",
        cfg,
        run.source.fingerprints,
        status="drift" if drifted else "ok",
        exit_code=3 if drifted and fail_on_drift else 0,
        fail_on_drift=fail_on_drift,
        as_of=run.style.day.isoformat(),
        as_of_source="data.as_of" if run.style.as_of else "scoring day (data.as_of and --as-of not set)",
        format=fmt,
        outputs_config=cfg.outputs.model_dump(mode="json"),  # currency and labels, for the report
        **{k: v for k, v in (origin or {}).items() if k != "bundle"},
        bundle={"path": str(bundle.path), **(origin or {}).get("bundle", {}), "content_hash": bundle.content_hash,
                "format_version": bundle.info.get("format_version"),
                "trained_config_hash": bundle.info.get("config_hash"),
                "trained_data_fingerprints": bundle.info.get("data_fingerprints", {}),
                "components": bundle.info.get("components", []), "skipped": bundle.skipped},
        input={"source": run.source.description, "rows": rows, "survey_answers": run.source.survey_answers,
               "extra_columns_ignored": run.source.extra_columns},
        outputs=outputs,
        rows=rows,
        respondents=run.counts.respondents,
        counts=run.counts.as_dict(),
        nps={**run.people.summary.totals(), "headline": headline_nps(bundle)},
        work_orders=run.people.queue(),
        drift=drift,
        drivers=run.totals.summary() if run.totals is not None else None,
        campaign={"campaign_id": run.campaign_id, "holdout": cfg.strategy.holdout.model_dump(),
                  "assigned_at": run.assigned_at, "assigned": log_writer.rows} if log_writer else None,
        warnings=run.warnings + drift["notes"],
        timings={**seconds, "total": round(total, 3)},
        rows_per_s=round(rows / max(total, 1e-9), 1),
    )
