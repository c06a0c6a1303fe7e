"""Everything that touches MLflow, and nothing else does (models stay testable without a tracking server).

Small `log_*` functions act on the run opened by `start_run`; when tracking is disabled (`--no-tracking`,
`tracking.enabled: false`) `start_run` yields None and every `log_*` call is a no-op, so callers never branch.
mlflow is imported lazily: a command that does not track does not pay for the import.

Where runs go, first match wins:
  1. an explicit `uri` argument (the CLI's `--tracking-uri`);
  2. a run launched by `mlflow run` (MLFLOW_RUN_ID set): that run's MLFLOW_TRACKING_URI, so the run is resumed;
  3. `tracking.uri` in the config;
  4. the MLFLOW_TRACKING_URI environment variable;
  5. `sqlite:///<cwd>/mlflow.db`, the store `mlflow ui` opens when started in the same folder.
With a local sqlite store, artifacts of new experiments go to `mlruns/` beside the database file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxpredict import provenance
from cxpredict.errors import BundleError, ConfigError

if TYPE_CHECKING:
    from cxpredict.config import Config

DEFAULT_DB_NAME = "mlflow.db"
BUNDLE_ARTIFACT_PATH = "bundle"
MAX_PARAM_CHARS = 6000  # MLflow's limit on a parameter value
PARAM_BATCH = 100  # MLflow's limit on parameters per batch call
MAX_ARTIFACT_MB = 20.0  # larger outputs (a nightly 1M-row scored file) are named in a tag, not copied
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")

# the run id of the cxpredict run currently open in this context (None: tracking off / no run)
_active_run_id: ContextVar[str | None] = ContextVar("cxpredict_active_run", default=None)


def _mlflow():
    """Import mlflow quietly (no alembic chatter, no artifact progress bars in logs)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent", "mlflow.store.model_registry"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import mlflow

    return mlflow


# --------------------------------------------------------------------------------------------- where
def default_tracking_uri(project_dir: str | Path | None = None) -> str:
    """The local sqlite store under the project (the current folder unless given)."""
    folder = Path(project_dir or Path.cwd()).resolve()
    return f"sqlite:///{folder / DEFAULT_DB_NAME}"


def resolve_tracking_uri(cfg: Config | None = None, uri: str | None = None) -> str:
    """Pick the tracking URI by the precedence documented at the top of this module."""
    if uri:
        return uri
    env_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if os.environ.get("MLFLOW_RUN_ID") and env_uri:
        return env_uri
    if cfg is not None and cfg.tracking.uri:
        return cfg.tracking.uri
    return env_uri or default_tracking_uri()


def _sqlite_artifact_root(tracking_uri: str) -> str | None:
    """For a local sqlite store, keep artifacts beside the database instead of in whatever folder we run from."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db_path = Path(tracking_uri[len("sqlite:///"):])
    return (db_path.parent / "mlruns").resolve().as_uri()


def _experiment_id(mlflow, name: str, tracking_uri: str) -> str:
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return mlflow.create_experiment(name, artifact_location=_sqlite_artifact_root(tracking_uri))


# --------------------------------------------------------------------------------------------- runs
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
    for table, digest in (fingerprints or {}).items():
        tags[f"cxpredict.data.customers.{sanitize_key(table)}"] = str(digest)
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
    mlflow = _mlflow()
    tracking_uri = resolve_tracking_uri(cfg, uri)
    mlflow.set_tracking_uri(tracking_uri)
    from mlflow.exceptions import MlflowException

    launched_by_project = bool(os.environ.get("MLFLOW_RUN_ID"))
    all_tags = {**provenance_tags(cfg, kind, fingerprints), **(tags or {})}
    try:
        experiment_id = None if launched_by_project else _experiment_id(mlflow, cfg.tracking.experiment, tracking_uri)
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name or f"{cfg.name}-{kind}", tags=all_tags)
    except MlflowException as e:
        raise ConfigError(f"MLflow tracking at {tracking_uri} is not usable: {e.message}. Fix --tracking-uri / "
                          "MLFLOW_TRACKING_URI / tracking.uri, or run with --no-tracking.") from None
    token = _active_run_id.set(run.info.run_id)
    status = "FAILED"
    try:
        if launched_by_project:
            mlflow.set_tags(all_tags)  # tags passed to start_run are ignored when resuming a run
        log_config(cfg)
        yield run.info.run_id
        status = "FINISHED"
    finally:
        _active_run_id.reset(token)
        mlflow.end_run(status=status)


def active_run_id() -> str | None:
    """The id of the cxpredict run open in this context, or None."""
    return _active_run_id.get()


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
    mlflow = _mlflow()
    items = [(sanitize_key(k), _param_text(v)) for k, v in params.items()]
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
        _mlflow().log_metrics(values, step=step)


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
    _mlflow().set_tags({sanitize_key(k): str(v) for k, v in tags.items()})


def log_artifact(path: str | Path, artifact_path: str | None = None) -> None:
    path = Path(path)
    if active_run_id() is None or not path.exists():
        return
    mlflow = _mlflow()
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
    _mlflow().log_text(text, artifact_file)


def log_child_run(name: str, params: Mapping[str, Any], metrics: Mapping[str, Any],
                  tags: Mapping[str, Any] | None = None) -> str | None:
    """Log one finished unit of work (an Optuna trial) as a child of the open run; returns its id."""
    if active_run_id() is None:
        return None
    mlflow = _mlflow()
    child_tags = {sanitize_key(k): str(v) for k, v in (tags or {}).items()}
    parent = mlflow.active_run()  # children go to the parent's experiment, not the default one
    with mlflow.start_run(run_name=name, nested=True, tags=child_tags,
                          experiment_id=parent.info.experiment_id) as child:
        log_params(params)  # acts on the innermost active MLflow run: the child
        log_metrics(metrics)
        return child.info.run_id


# --------------------------------------------------------------------------------------------- registry
def register_bundle(bundle_dir: str | Path, name: str, alias: str | None = "champion",
                    tags: Mapping[str, str] | None = None) -> str | None:
    """Log the bundle folder as an artifact of the open run and register it as a new version of model `name`.

    The bundle is registered as a plain artifact folder (our own format, no MLmodel flavour, no pickle);
    `download_bundle("models:/<name>@<alias>")` fetches it back. Returns the version, or None when tracking is off.
    """
    run_id = active_run_id()
    if run_id is None:
        return None
    bundle_dir = Path(bundle_dir)
    if not (bundle_dir / "bundle.json").is_file():
        raise BundleError(f"{bundle_dir}: not a model bundle (no bundle.json); run `cxpredict train` first")
    mlflow = _mlflow()
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.log_artifacts(str(bundle_dir), artifact_path=BUNDLE_ARTIFACT_PATH)
    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="cxpredict model bundle (NPS, response, churn, drivers)")
    version = client.create_model_version(
        name, source=mlflow.get_artifact_uri(BUNDLE_ARTIFACT_PATH), run_id=run_id,
        tags={sanitize_key(k): str(v) for k, v in (tags or {}).items()},
    )
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return str(version.version)


# --------------------------------------------------------------------------------------------- command outputs
def log_files(paths: list[str | Path], artifact_path: str | None = None, max_mb: float = MAX_ARTIFACT_MB) -> None:
    """Log output files; files over `max_mb` (a 10M-row scored file) are skipped and named in a tag instead."""
    if active_run_id() is None:
        return
    skipped = []
    for path in map(Path, paths):
        if not path.is_file():
            continue
        if path.stat().st_size > max_mb * 1e6:
            skipped.append(path.name)
            continue
        log_artifact(path, artifact_path)
    if skipped:
        log_tags({f"cxpredict.skipped_artifacts.{artifact_path or 'root'}": ", ".join(skipped)})


def log_train_outputs(bundle_dir: str | Path, metrics: Mapping[str, Any], register: str | None = None,
                      alias: str | None = "champion") -> str | None:
    """After `train`: metrics, the bundle's fingerprints as tags, the bundle as an artifact (registered as a new
    version of model `register` with `alias` when asked). Returns the registered version, if any."""
    if active_run_id() is None:
        return None
    bundle_dir = Path(bundle_dir)
    log_metrics(metrics)
    info = json.loads((bundle_dir / "bundle.json").read_text(encoding="utf-8"))
    log_tags({"cxpredict.io.bundle.content_hash": info.get("content_hash", ""),
              **{f"cxpredict.data.customers.{sanitize_key(k)}": v for k, v in info.get("data_fingerprints", {}).items()}})
    if register:
        return register_bundle(bundle_dir, register, alias)
    log_artifacts(bundle_dir, BUNDLE_ARTIFACT_PATH)
    return None


def log_score_outputs(manifest: Mapping[str, Any], manifest_path: str | Path) -> None:
    """After `score`: row counts, speed and drift status, and the output files listed in the manifest."""
    if active_run_id() is None:
        return
    drift = manifest.get("drift") or {}
    log_metrics({"score": {"rows": manifest.get("rows"), "respondents": manifest.get("respondents"),
                           "rows_per_s": manifest.get("rows_per_s"), "drift": int(drift.get("status") == "drift")}})
    log_tags({"cxpredict.drift_status": drift.get("status", "unknown"),
              "cxpredict.io.bundle.content_hash": (manifest.get("bundle") or {}).get("content_hash", "")})
    outputs = [o.get("path") for o in (manifest.get("outputs") or {}).values() if o.get("path")]
    log_files([manifest_path, *outputs], "scoring")


def log_learn_outputs(manifest: Mapping[str, Any], paths: Mapping[str, str | Path]) -> None:
    """After `learn`: verdict counts and effect areas as metrics, the reviewed playbook and tables as artifacts."""
    if active_run_id() is None:
        return
    summary = manifest.get("summary") or {}
    verdicts = list((summary.get("verdicts") or {}).values())
    log_metrics({"learn": {"customers": summary.get("customers"), "retired": verdicts.count("retire"),
                           "kept": verdicts.count("keep"), "keep_testing": verdicts.count("keep testing"),
                           "auuc_excess": {a["strategy"]: a.get("excess") for a in summary.get("auuc", [])}}})
    log_tags({"cxpredict.learn.retired_segments": ", ".join(summary.get("retired_segments", []))[:5000]})
    log_files([p for k, p in paths.items() if k != "reviewed_playbook"], "learn")
    log_artifact(paths["reviewed_playbook"], "playbook")
    bundle = (manifest.get("bundle") or {}).get("extended")
    if bundle:
        log_artifacts(bundle, BUNDLE_ARTIFACT_PATH)


def download_run_outputs(run_id: str, dst: str | Path, tracking_uri: str | None = None) -> Path:
    """Fetch every artifact of a run (for `cxpredict report <run id>`)."""
    mlflow = _mlflow()
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(resolve_tracking_uri(None, tracking_uri))
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="", dst_path=str(dst)))
    except MlflowException as e:
        raise BundleError(f"cannot fetch the artifacts of run '{run_id}' from {mlflow.get_tracking_uri()}: "
                          f"{e.message}. Check the run id (`mlflow ui`) or pass --tracking-uri.") from None


def is_tracking_uri(text: str | Path) -> bool:
    """True for `models:/name@alias`, `models:/name/3` and `runs:/<id>/bundle` style references."""
    return str(text).startswith(("models:/", "runs:/", "mlflow-artifacts:/"))


def download_bundle(model_uri: str, dst: str | Path | None = None, tracking_uri: str | None = None,
                    cfg: Config | None = None) -> Path:
    """Fetch a registered or logged bundle to a local folder and return it (`models:/cxpredict-nps@champion`)."""
    mlflow = _mlflow()
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(resolve_tracking_uri(cfg, tracking_uri))
    target = Path(dst) if dst else Path(tempfile.mkdtemp(prefix="cxpredict-bundle-"))
    target.mkdir(parents=True, exist_ok=True)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(target)))
    except MlflowException as e:
        raise BundleError(
            f"cannot fetch model '{model_uri}' from {mlflow.get_tracking_uri()}: {e.message}. "
            "Check the name and alias (`mlflow ui` lists registered models) or pass --tracking-uri."
        ) from None
    if not (local / "bundle.json").is_file() and (local / BUNDLE_ARTIFACT_PATH / "bundle.json").is_file():
        local = local / BUNDLE_ARTIFACT_PATH
    if not (local / "bundle.json").is_file():
        raise BundleError(f"'{model_uri}' does not hold a cxpredict bundle (no bundle.json in {local})")
    return local


# --------------------------------------------------------------------------------------------- pyfunc
PYFUNC_LOADER = "cxpredict.workflows.pyfunc"  # loader module: _load_pyfunc(bundle folder) -> BundleScorer
PYFUNC_NAME = "pyfunc"
PYFUNC_PACKAGES = ("lightgbm", "numpy", "pandas", "pyarrow", "pydantic", "scikit-learn")  # cxpredict itself too


def _pyfunc_arguments(bundle_dir: str | Path, output_types: list[tuple[str, str]], input_example: Any) -> dict[str, Any]:
    """The bundle folder as the model's data (no pickle), the loader module, and an output-only signature
    (columns may hold missing values) from which spark_udf derives its result struct. No input schema: MLflow
    would refuse integer columns for double features, while the bundle's feature manifest converts any number
    type itself; the input example documents the expected columns."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    signature = ModelSignature(inputs=None, outputs=Schema([ColSpec(kind, name, required=False)
                                                            for name, kind in output_types]))
    versions = provenance.package_versions()
    return {
        "loader_module": PYFUNC_LOADER,
        "data_path": str(bundle_dir),
        "signature": signature,
        "input_example": input_example,
        "pip_requirements": [f"{p}=={versions[p]}" for p in PYFUNC_PACKAGES if versions.get(p, "not installed")
                             != "not installed"],
    }


def save_pyfunc(bundle_dir: str | Path, path: str | Path, output_types: list[tuple[str, str]],
                input_example: Any) -> Path:
    """Write a bundle as a local MLflow pyfunc model folder (see cxpredict.workflows.pyfunc.save_pyfunc)."""
    _mlflow().pyfunc.save_model(str(path), **_pyfunc_arguments(bundle_dir, output_types, input_example))
    return Path(path)


def log_pyfunc(bundle_dir: str | Path, output_types: list[tuple[str, str]], input_example: Any,
               name: str = PYFUNC_NAME, registered_model_name: str | None = None) -> str | None:
    """Log a bundle as a pyfunc model of the open run (and register it when a name is given); returns the model
    URI for `mlflow.pyfunc.load_model` / `spark_udf`, or None when tracking is off."""
    if active_run_id() is None:
        return None
    info = _mlflow().pyfunc.log_model(name=name, registered_model_name=registered_model_name,
                                      **_pyfunc_arguments(bundle_dir, output_types, input_example))
    return info.model_uri


def require_enabled(cfg: Config, what: str, no_tracking: bool = False) -> None:
    """Raise a clear error when a command needs tracking (e.g. registering) but it is turned off."""
    if no_tracking or not cfg.tracking.enabled:
        raise ConfigError(f"{what} needs MLflow tracking; remove --no-tracking / set tracking.enabled: true")
