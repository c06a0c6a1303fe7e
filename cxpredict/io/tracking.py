"""Everything that touches MLflow, and nothing else does (models stay testable without a tracking server).

Small `log_*` functions act on the run opened by `start_run`; when tracking is disabled (`--no-tracking`,
`tracking.enabled: false`) `start_run` yields None and every `log_*` call is a no-op, so callers never branch.
mlflow is imported lazily: a command that does not track does not pay for the import.

Where runs go, first match wins:
  1. an explicit `uri` argument (the CLI's `--tracking-uri`);
  2. a run launched by `mlflow run` (MLFLOW_RUN_ID set): that run's MLFLOW_TRACKING_URI, so the run is resumed;
  3. `tracking.uri` in the config;
  4. the MLFLOW_TRACKING_URI environment variable;
  5. the user's store `sqlite:///~/.cxpredict/mlflow.db` (`$CXPREDICT_HOME/mlflow.db` when set), never the current
     folder: a nightly job and an analyst's shell see the same runs; `mlflow ui --backend-store-uri` opens it.
With a local sqlite store, artifacts of new experiments go to `mlruns/` beside the database file.

Runs are named "<config> <command> <as-of date or today>"; the experiment is tagged as a machine-learning one so
MLflow 3 opens it on its model-training pages, not GenAI. What each command logs is in io/run_log.py.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxpredict import provenance, threads
from cxpredict.errors import BundleError, ConfigError, CxError, OutputError

if TYPE_CHECKING:
    from cxpredict.config import Config

DEFAULT_DB_NAME = "mlflow.db"
HOME_VARIABLE = "CXPREDICT_HOME"  # the user's cxpredict folder (default ~/.cxpredict): MLflow store, artifacts
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # read by the MLflow 3 UI to pick the experiment's pages
EXPERIMENT_KIND = "custom_model_development"  # (the other kind, genai_development, opens traces and prompts)

BUNDLE_ARTIFACT_PATH = "bundle"  # where runs logged before bundles were pyfunc models kept them
PYFUNC_NAME = "model"  # the logged model's name in its run
PYFUNC_PACKAGES = ("lightgbm", "numpy", "pandas", "pyarrow", "pydantic", "scikit-learn")  # cxpredict itself too
MISSING_TEXT_PARAM = "missing_text"  # pyfunc param: what stands for a missing text value in the output
SPARK_MISSING_TEXT = "\ue000"  # that stand-in between the model and spark_udf: a private-use code point (numpy
# strips a trailing NUL, so that cannot be it)
MAX_PARAM_CHARS = 6000  # MLflow's limit on a parameter value
PARAM_BATCH = 100  # MLflow's limit on parameters per batch call
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")

# the run id of the cxpredict run currently open in this context (None: tracking off / no run)
_active_run_id: ContextVar[str | None] = ContextVar("cxpredict_active_run", default=None)


def _mlflow():
    """Import mlflow quietly (no alembic chatter, no artifact progress bars in logs)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("alembic", "mlflow.tracking.fluent", "mlflow.store.model_registry"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # it logs a traceback for each database error it then raises as MlflowException, which cxpredict reports
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    import mlflow

    return mlflow


# --------------------------------------------------------------------------------------------- where
def cxpredict_home() -> Path:
    """The user's cxpredict folder: $CXPREDICT_HOME, else ~/.cxpredict."""
    return Path(os.environ.get(HOME_VARIABLE) or Path.home() / ".cxpredict").expanduser().resolve()


def default_tracking_uri(folder: str | Path | None = None) -> str:
    """The local sqlite store in `folder` (default: the user's cxpredict folder, created when needed)."""
    folder = Path(folder).resolve() if folder else cxpredict_home()
    folder.mkdir(parents=True, exist_ok=True)
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


def tracking_uri(config: Config | str | Path | None = None) -> str:
    """The MLflow store cxpredict's commands use (the precedence above; `config`: a Config or a YAML path for
    `tracking.uri`). Python code that reads cxpredict's runs or registered models sets it first:

        mlflow.set_tracking_uri(cxpredict.tracking_uri())
        model = mlflow.pyfunc.load_model("models:/cxpredict-nps@champion")

    (MLflow's own default is a `mlflow.db` in the current folder, which would be created empty.)"""
    if isinstance(config, (str, Path)):
        from cxpredict.config import load_config

        config = load_config(config)
    return resolve_tracking_uri(config)


def log_store(uri: str) -> None:
    """Say where a command's run goes, and how to look at it (the default store is a file in the user's home)."""
    look = f"; look at it with: mlflow ui --backend-store-uri {uri}" if uri.startswith("sqlite:") else ""
    logging.getLogger(__name__).info("MLflow run tracked in %s%s", uri, look)


def _sqlite_artifact_root(tracking_uri: str) -> str | None:
    """For a local sqlite store, keep artifacts beside the database instead of in whatever folder we run from."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db_path = Path(tracking_uri[len("sqlite:///"):])
    return (db_path.parent / "mlruns").resolve().as_uri()


def _experiment_id(mlflow, name: str, tracking_uri: str) -> str:
    found = mlflow.get_experiment_by_name(name)
    if found is None:
        return mlflow.create_experiment(name, artifact_location=_sqlite_artifact_root(tracking_uri),
                                        tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    _mark_experiment(mlflow, found)
    return found.experiment_id


def _mark_experiment(mlflow, experiment) -> None:
    """Tag an experiment made before this tag existed (or by `mlflow run`), so MLflow 3 opens its ML pages."""
    if EXPERIMENT_KIND_TAG not in (experiment.tags or {}):
        mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)


# the store's own words for "cannot write" (sqlite, SQLAlchemy, file stores, servers passing them on)
_UNWRITABLE = re.compile(r"disk is full|no space left|readonly database|read-only file system|disk i/o error|"
                         r"quota exceeded|file too large", re.IGNORECASE)


def _store_failure(tracking_uri: str, error: Exception) -> CxError | None:
    """A store that cannot be written (disk full, read-only, quota) is OutputError, exit 5, as for every other
    output; None for any other failure (the caller decides)."""
    from cxpredict.io.outputs import WRITE_ONLY_ERRNOS

    lines = str(getattr(error, "message", None) or error).strip().splitlines() or [type(error).__name__]
    cause = next((line for line in lines if _UNWRITABLE.search(line)), None)
    if cause is None and not (isinstance(error, OSError) and error.errno in WRITE_ONLY_ERRNOS):
        return None
    text = (cause or lines[0])[:300]
    where = str(Path(tracking_uri[len("sqlite:///"):]).parent) if tracking_uri.startswith("sqlite:///") else \
        tracking_uri
    return OutputError(f"cannot write to the MLflow store {tracking_uri}: {text}. Fix: free space on the disk "
                       f"holding {where} (see `df -h {where}`) or make it writable, point --tracking-uri / "
                       "MLFLOW_TRACKING_URI / tracking.uri at another store, or run with --no-tracking.")


@contextmanager
def store_writes(tracking_uri: str | None = None) -> Iterator[None]:
    """Around MLflow calls that write: an unwritable store becomes OutputError (exit 5) naming the store."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (MlflowException, SQLAlchemyError, OSError) as e:
        failure = _store_failure(tracking_uri or _mlflow().get_tracking_uri(), e)
        if failure is None:
            raise
        raise failure from None


def default_run_name(cfg: Config, kind: str) -> str:
    """'<config> <command> <date>': the as-of date of the data when set, else today."""
    import datetime as dt

    return f"{cfg.name} {kind} {cfg.data.as_of or dt.date.today().isoformat()}"


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
    mlflow = _mlflow()
    tracking_uri = resolve_tracking_uri(cfg, uri)
    mlflow.set_tracking_uri(tracking_uri)
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    launched_by_project = bool(os.environ.get("MLFLOW_RUN_ID"))
    all_tags = {**provenance_tags(cfg, kind, fingerprints), **(tags or {})}
    try:
        experiment_id = None if launched_by_project else _experiment_id(mlflow, cfg.tracking.experiment, tracking_uri)
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name or default_run_name(cfg, kind),
                               tags=all_tags)
    except (MlflowException, SQLAlchemyError) as e:  # SQLAlchemy's own: a new sqlite store on a full disk
        raise _store_failure(tracking_uri, e) or ConfigError(
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
    _mark_experiment(mlflow, experiment)
    if experiment.name != cfg.tracking.experiment:
        logging.getLogger(__name__).warning(
            "this `mlflow run` run is in experiment %r, the CLI's runs in %r: pass `--experiment-name %s` to "
            "mlflow run (or export MLFLOW_EXPERIMENT_NAME=%s) so both share one experiment",
            experiment.name, cfg.tracking.experiment, cfg.tracking.experiment, cfg.tracking.experiment)


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
    with store_writes():
        _mlflow().set_tags({sanitize_key(k): str(v) for k, v in tags.items()})


def log_artifact(path: str | Path, artifact_path: str | None = None) -> None:
    path = Path(path)
    if active_run_id() is None or not path.exists():
        return
    mlflow = _mlflow()
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
@dataclass(frozen=True)
class PyfuncSpec:
    """What MLflow stores beside the bundle: output columns as (name, MLflow type), an input example, the loader
    module (`_load_pyfunc(bundle folder)`). Built by the layer above, which names itself as the loader."""

    output_types: list[tuple[str, str]]
    input_example: Any
    loader_module: str
    input_types: list[tuple[str, str]] = ()  # (name, "string" or "any") of the key and the features; () none


def log_bundle_model(bundle_dir: str | Path, spec: PyfuncSpec, register: str | None = None,
                     alias: str | None = "champion") -> str | None:
    """Log the bundle as the open run's MLflow pyfunc model (MLmodel + the bundle folder as its data, the spec's
    loader module, no pickle) and, with `register`, register it as a new version of that
    model with `alias`, so `mlflow.pyfunc.load_model("models:/<name>@<alias>")` and `spark_udf` work on it and
    `download_bundle` finds the bundle inside. Returns the registered version (None: not registered / no run)."""
    if active_run_id() is None:
        return None
    bundle_dir = Path(bundle_dir)
    if not (bundle_dir / "bundle.json").is_file():
        raise BundleError(f"{bundle_dir}: not a model bundle (no bundle.json); run `cxpredict train` first")
    mlflow = _mlflow()
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    if register:
        try:
            client.get_registered_model(register)
        except MlflowException:
            client.create_registered_model(register, description="cxpredict model bundle as a pyfunc model "
                                                                  "(NPS, response, churn, drivers, playbook)")
    with store_writes():
        info = mlflow.pyfunc.log_model(name=PYFUNC_NAME, registered_model_name=register,
                                       **_pyfunc_arguments(bundle_dir, spec))
    if not register:
        return None
    version = str(info.registered_model_version)
    if alias:
        client.set_registered_model_alias(register, alias, version)
    return version


# --------------------------------------------------------------------------------------------- run origin
def describe_model(model_uri: str, tracking_uri: str | None = None, cfg: Config | None = None) -> dict[str, Any]:
    """What `models:/NAME@ALIAS` (or `models:/NAME/VERSION`) pointed to when it was fetched: name, version, alias,
    the run that logged it; for the manifest, since the fetched folder is temporary."""
    out: dict[str, Any] = {"uri": model_uri}
    if not str(model_uri).startswith("models:/"):
        return out
    mlflow = _mlflow()
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(resolve_tracking_uri(cfg, tracking_uri))
    name, _, ref = model_uri[len("models:/"):].partition("@")
    alias = ref or None
    if not alias:
        name, _, version_text = name.partition("/")
    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(
            name, version_text)
    except MlflowException as e:
        raise BundleError(f"model '{model_uri}' not found in {mlflow.get_tracking_uri()}: {e.message}") from None
    return {**out, "name": name, "version": str(version.version), "alias": alias, "run_id": version.run_id,
            "tracking_uri": mlflow.get_tracking_uri()}


def run_origin(cfg: Config) -> dict[str, Any]:
    """The open run, for the manifest: run id, experiment, tracking URI (empty when tracking is off)."""
    run_id = active_run_id()
    if run_id is None:
        return {}
    mlflow = _mlflow()
    run = mlflow.active_run()
    return {"run_id": run_id, "experiment_id": run.info.experiment_id if run else None,
            "experiment": cfg.tracking.experiment, "tracking_uri": mlflow.get_tracking_uri()}


def download_run_outputs(run_id: str, dst: str | Path, tracking_uri: str | None = None) -> Path:
    """Fetch every artifact of a run and the models it logged (MLflow 3 keeps a logged model's files apart from
    the run's artifacts), for `cxpredict report <run id>`. Models land in `<dst>/<model name>/`."""
    mlflow = _mlflow()
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(resolve_tracking_uri(None, tracking_uri))
    try:
        local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="", dst_path=str(dst)))
        run = mlflow.get_run(run_id)
        for model in mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list",
                                                 filter_string=f"source_run_id = '{run_id}'"):
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{model.model_id}",
                                                dst_path=str(local / model.name))
        return local
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
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(target)))
        except MlflowException as e:
            raise BundleError(
                f"cannot fetch model '{model_uri}' from {mlflow.get_tracking_uri()}: {e.message}. "
                "Check the name and alias (`mlflow ui` lists registered models) or pass --tracking-uri."
            ) from None
        found = bundle_in(local)
        if found is None:
            raise BundleError(f"'{model_uri}' does not hold a cxpredict bundle (no bundle.json in {local})")
    except BaseException:
        if dst is None:  # a folder made here for a fetch that failed: nothing of it is left behind
            shutil.rmtree(target, ignore_errors=True)
        raise
    return found


def bundle_in(folder: Path) -> Path | None:
    """The bundle folder in a downloaded model: a pyfunc model's data folder (named by its MLmodel file), a
    bundle/ artifact folder (runs logged before bundles were pyfunc models), or the folder itself."""
    candidates = [folder, folder / BUNDLE_ARTIFACT_PATH]
    if (folder / "MLmodel").is_file():
        from mlflow.models import Model

        data = Model.load(str(folder)).flavors.get("python_function", {}).get("data")
        if data:
            candidates.insert(0, folder / data)
    return next((c for c in candidates if (c / "bundle.json").is_file()), None)


# --------------------------------------------------------------------------------------------- pyfunc


def _pyfunc_arguments(bundle_dir: str | Path, spec: PyfuncSpec) -> dict[str, Any]:
    """The bundle folder as the model's data (no pickle), the loader module, and a signature: the input columns
    (the key and every feature, none required, so a missing one gets the manifest's own error naming it) and
    the output columns (may hold missing values), from which spark_udf derives its result struct.

    Input types: text columns are `string`; numbers are `Any`, because MLflow's enforcement refuses int64 data
    for a `double` column (and float data with gaps for a `long` one), while the feature manifest converts any
    number type itself."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import AnyType

    inputs = Schema([ColSpec(AnyType() if kind == "any" else kind, name, required=False)
                     for name, kind in spec.input_types]) if spec.input_types else None
    signature = ModelSignature(inputs=inputs, outputs=Schema([ColSpec(kind, name, required=False)
                                                              for name, kind in spec.output_types]),
                               params=ParamSchema([ParamSpec(MISSING_TEXT_PARAM, "string", None)]))
    versions = provenance.package_versions()
    return {
        "loader_module": spec.loader_module,
        "data_path": str(bundle_dir),
        "signature": signature,
        "input_example": spec.input_example,
        "pip_requirements": [f"{p}=={versions[p]}" for p in PYFUNC_PACKAGES if versions.get(p, "not installed")
                             != "not installed"],
    }


def save_pyfunc(bundle_dir: str | Path, path: str | Path, spec: PyfuncSpec) -> Path:
    """Write a bundle as a local MLflow pyfunc model folder (see cxpredict.workflows.pyfunc.save_pyfunc)."""
    _mlflow().pyfunc.save_model(str(path), **_pyfunc_arguments(bundle_dir, spec))
    return Path(path)


def spark_udf(spark: Any, model_uri: str, env_manager: str = "local"):
    """`mlflow.pyfunc.spark_udf` on a cxpredict pyfunc model (a folder or `models:/cxpredict-nps@champion`) as a
    function of Spark columns returning one struct column of the scored columns, missing text as null:

        scores = tracking.spark_udf(spark, "models:/cxpredict-nps@champion")
        df.withColumn("s", scores(F.struct(*df.columns))).select("customer_id", "s.*")

    Why a wrapper: MLflow casts a struct's text fields with `astype(str)`, so None would arrive as the text
    'None' (the pandas 3 `str` dtype's NaN as 'nan'). The model marks missing text with SPARK_MISSING_TEXT instead
    (param `missing_text`), which this turns back into null."""
    mlflow = _mlflow()
    from mlflow.types import DataType
    from pyspark.sql import functions as F

    udf = mlflow.pyfunc.spark_udf(spark, model_uri, env_manager=env_manager,
                                  params={MISSING_TEXT_PARAM: SPARK_MISSING_TEXT})
    outputs = mlflow.models.get_model_info(model_uri).signature.outputs.inputs

    def scores(*columns):
        raw = udf(*columns)
        return F.struct(*[(F.when(raw[c.name] != SPARK_MISSING_TEXT, raw[c.name]) if c.type == DataType.string
                           else raw[c.name]).alias(c.name) for c in outputs])

    return scores


def require_enabled(cfg: Config, what: str, no_tracking: bool = False) -> None:
    """Raise a clear error when a command needs tracking (e.g. registering) but it is turned off."""
    if no_tracking or not cfg.tracking.enabled:
        raise ConfigError(f"{what} needs MLflow tracking; remove --no-tracking / set tracking.enabled: true")
