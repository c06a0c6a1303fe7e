"""A cxpredict command's MLflow run: opened by `start_run` with the config as params and provenance as tags, and
small `log_*` functions acting on it. When tracking is disabled (`--no-tracking`, `tracking.enabled: false`)
`start_run` yields None and every `log_*` call is a no-op, so callers never branch. Runs are named "<config>
<command> <as-of date or today>". What each command logs is in io/run_log.py.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxpredict import provenance, threads
from cxpredict.errors import ConfigError
from cxpredict.io.tracking.store import (
    ensure_experiment,
    import_mlflow,
    log_store,
    mark_experiment,
    resolve_tracking_uri,
    store_failure,
    store_writes,
)

if TYPE_CHECKING:
    from cxpredict.config import Config


MAX_PARAM_CHARS = 6000  # MLflow's limit on a parameter value
PARAM_BATCH = 100  # MLflow's limit on parameters per batch call
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")
# the run id of the cxpredict run currently open in this context (None: tracking off / no run)
_active_run_id: ContextVar[str | None] = ContextVar("cxpredict_active_run", default=None)


def default_run_name(cfg: Config, kind: str) -> str:
    """'<config> <command> <date>': the as-of date of the data when set, else today."""
    import datetime as dt

    return f"{cfg.name} {kind} {cfg.data.as_of or dt.date.today().isoformat()}"


def provenance_tags(cfg: Config, kind: str, fingerprints: Mapping[str, str] | None = None) -> dict[str, str]:
    """Tags that make a run auditable: kind, config hash, seed, git commit, package versions, data fingerprints."""
    tags = {
        "cxpredict.kind": kind,
        "cxpredict.config_name": cfg.name,
        "cxpredict.config_hash": cfg.fingerprint(),
        "cxpredict.seed": str(cfg.seed),
    }
    commit = provenance.git_commit(Path(__file__).parent)
    if commit:
        tags["cxpredict.git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit
    for package, version in provenance.package_versions().items():
        tags[f"cxpredict.version.{package}"] = version
    plan = threads.describe()
    tags["cxpredict.threads"] = (f"{plan['threads']} ({plan['source']}; OMP_WAIT_POLICY={plan['omp_wait_policy']}, "
                                 f"GOMP_SPINCOUNT={plan['gomp_spincount']})")
    for table, digest in (fingerprints or {}).items():
        tags[f"cxpredict.data.{sanitize_key(table)}"] = str(digest)
    return tags


@contextmanager
def start_run(
    cfg: Config,
    kind: str,
    tags: Mapping[str, str] | None = None,
    *,
    uri: str | None = None,
    enabled: bool | None = None,
    run_name: str | None = None,
    fingerprints: Mapping[str, str] | None = None,
) -> Iterator[str | None]:
    """Open an MLflow run for a train/tune/evaluate/score/demo command and yield its id (None when disabled).

    The flattened config is logged as params and provenance as tags. A failing block ends the run FAILED.
    """
    on = cfg.tracking.enabled if enabled is None else enabled
    if not on:
        token = _active_run_id.set(None)
        try:
            yield None
        finally:
            _active_run_id.reset(token)
        return
    mlflow = import_mlflow()
    tracking_uri = resolve_tracking_uri(cfg, uri)
    mlflow.set_tracking_uri(tracking_uri)
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    launched_by_project = bool(os.environ.get("MLFLOW_RUN_ID"))
    all_tags = {**provenance_tags(cfg, kind, fingerprints), **(tags or {})}
    try:
        experiment_id = None if launched_by_project else ensure_experiment(mlflow, cfg.tracking.experiment, tracking_uri)
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name or default_run_name(cfg, kind),
                               tags=all_tags)
    except (MlflowException, SQLAlchemyError) as e:  # SQLAlchemy's own: a new sqlite store on a full disk
        raise store_failure(tracking_uri, e) or ConfigError(
            f"MLflow tracking at {tracking_uri} is not usable: {getattr(e, 'message', e)}. Fix --tracking-uri / "
            "MLFLOW_TRACKING_URI / tracking.uri, or run with --no-tracking.") from None
    log_store(tracking_uri)
    token = _active_run_id.set(run.info.run_id)
    status = "FAILED"
    try:
        if launched_by_project:
            with store_writes(tracking_uri):
                mlflow.set_tags(all_tags)  # tags passed to start_run are ignored when resuming a run
            _project_run_experiment(mlflow, cfg, run)
        log_config(cfg)
        yield run.info.run_id
        status = "FINISHED"
    finally:
        _active_run_id.reset(token)
        with store_writes(tracking_uri):
            mlflow.end_run(status=status)


def _project_run_experiment(mlflow, cfg: Config, run) -> None:
    """A run made by `mlflow run` lives in the experiment mlflow chose; say how to share the CLI's experiment."""
    experiment = mlflow.get_experiment(run.info.experiment_id)
    mark_experiment(mlflow, experiment)
    if experiment.name != cfg.tracking.experiment:
        logging.getLogger(__name__).warning(
            "this `mlflow run` run is in experiment %r, the CLI's runs in %r: pass `--experiment-name %s` to "
            "mlflow run (or export MLFLOW_EXPERIMENT_NAME=%s) so both share one experiment",
            experiment.name, cfg.tracking.experiment, cfg.tracking.experiment, cfg.tracking.experiment)


def active_run_id() -> str | None:
    """The id of the cxpredict run open in this context, or None."""
    return _active_run_id.get()


def run_origin(cfg: Config) -> dict[str, Any]:
    """The open run, for the manifest: run id, experiment, tracking URI (empty when tracking is off)."""
    run_id = active_run_id()
    if run_id is None:
        return {}
    mlflow = import_mlflow()
    run = mlflow.active_run()
    return {"run_id": run_id, "experiment_id": run.info.experiment_id if run else None,
            "experiment": cfg.tracking.experiment, "tracking_uri": mlflow.get_tracking_uri()}


# --------------------------------------------------------------------------------------------- log_*
def sanitize_key(key: str) -> str:
    """MLflow keys allow letters, digits, '_', '-', '.', ' ' and '/'; anything else becomes '_'."""
    return _KEY_UNSAFE.sub("_", str(key))


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'nps': {'params': {'num_leaves': 31}}} -> {'nps.params.num_leaves': 31}; lists stay leaves."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."


def log_config(cfg: Config) -> None:
    """Log the effective config as flattened params (one per leaf) so runs can be compared column by column."""
    log_params(flatten(cfg.to_dict()))


def log_params(params: Mapping[str, Any]) -> None:
    if active_run_id() is None or not params:
        return
    mlflow = import_mlflow()
    items = [(sanitize_key(k), _param_text(v)) for k, v in params.items()]
    with store_writes():
        for start in range(0, len(items), PARAM_BATCH):
            mlflow.log_params(dict(items[start:start + PARAM_BATCH]))


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Flatten nested metrics and keep finite numbers only (MLflow metrics are floats; text goes to tags)."""
    out: dict[str, float] = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (int, float)) and math.isfinite(float(value)):
            out[sanitize_key(key)] = float(value)
        elif hasattr(value, "item") and not isinstance(value, (str, bytes)):
            scalar = value.item()  # numpy scalar
            if isinstance(scalar, (int, float)) and math.isfinite(float(scalar)):
                out[sanitize_key(key)] = float(scalar)
    return out


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    if active_run_id() is None:
        return
    values = numeric_metrics(metrics)
    if values:
        with store_writes():
            import_mlflow().log_metrics(values, step=step)


def log_metrics_file(path: str | Path, prefix: str = "") -> None:
    """Log every number of a JSON file (metrics.json, population.json) as metrics, nested keys dotted."""
    path = Path(path)
    if active_run_id() is None or not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, Mapping):
        log_metrics({f"{prefix}{k}": v for k, v in data.items()} if prefix else data)


def log_tags(tags: Mapping[str, Any]) -> None:
    if active_run_id() is None or not tags:
        return
    with store_writes():
        import_mlflow().set_tags({sanitize_key(k): str(v) for k, v in tags.items()})


def log_artifact(path: str | Path, artifact_path: str | None = None) -> None:
    path = Path(path)
    if active_run_id() is None or not path.exists():
        return
    mlflow = import_mlflow()
    with store_writes():
        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path=artifact_path)
        else:
            mlflow.log_artifact(str(path), artifact_path=artifact_path)


def log_artifacts(directory: str | Path, artifact_path: str | None = None) -> None:
    """Log a whole output folder (scored file, driver CSVs, report, plots) under `artifact_path`."""
    log_artifact(directory, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    if active_run_id() is None:
        return
    with store_writes():
        import_mlflow().log_text(text, artifact_file)


def log_child_run(name: str, params: Mapping[str, Any], metrics: Mapping[str, Any],
                  tags: Mapping[str, Any] | None = None) -> str | None:
    """Log one finished unit of work (an Optuna trial) as a child of the open run; returns its id."""
    if active_run_id() is None:
        return None
    mlflow = import_mlflow()
    child_tags = {sanitize_key(k): str(v) for k, v in (tags or {}).items()}
    parent = mlflow.active_run()  # children go to the parent's experiment, not the default one
    with mlflow.start_run(run_name=name, nested=True, tags=child_tags,
                          experiment_id=parent.info.experiment_id) as child:
        log_params(params)  # acts on the innermost active MLflow run: the child
        log_metrics(metrics)
        return child.info.run_id
