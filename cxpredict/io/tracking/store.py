"""Where cxpredict's MLflow runs go, and the store itself: mlflow imported lazily and quietly (a command that
does not track does not pay for the import), the experiment, and a store that cannot be written reported as
exit 5.

Where runs go, first match wins:
  1. an explicit `uri` argument (the CLI's `--tracking-uri`);
  2. a run launched by `mlflow run` (MLFLOW_RUN_ID set): that run's MLFLOW_TRACKING_URI, so the run is resumed;
  3. `tracking.uri` in the config;
  4. the MLFLOW_TRACKING_URI environment variable;
  5. the user's store `sqlite:///~/.cxpredict/mlflow.db` (`$CXPREDICT_HOME/mlflow.db` when set), never the current
     folder: a nightly job and an analyst's shell see the same runs; `mlflow ui --backend-store-uri` opens it.
With a local sqlite store, artifacts of new experiments go to `mlruns/` beside the database file. The experiment
is tagged as a machine-learning one so MLflow 3 opens it on its model-training pages, not GenAI.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cxpredict.errors import ConfigError, CxError, OutputError

if TYPE_CHECKING:
    from cxpredict.config import Config


DEFAULT_DB_NAME = "mlflow.db"
HOME_VARIABLE = "CXPREDICT_HOME"  # the user's cxpredict folder (default ~/.cxpredict): MLflow store, artifacts
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # read by the MLflow 3 UI to pick the experiment's pages
EXPERIMENT_KIND = "custom_model_development"  # (the other kind, genai_development, opens traces and prompts)


def import_mlflow():
    """Import mlflow quietly (no alembic chatter, no artifact progress bars in logs)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("alembic", "mlflow.tracking.fluent", "mlflow.store.model_registry"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # it logs a traceback for each database error it then raises as MlflowException, which cxpredict reports
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    import mlflow

    return mlflow


def cxpredict_home() -> Path:
    """The user's cxpredict folder: $CXPREDICT_HOME, else ~/.cxpredict."""
    return Path(os.environ.get(HOME_VARIABLE) or Path.home() / ".cxpredict").expanduser().resolve()


def default_tracking_uri(folder: str | Path | None = None) -> str:
    """The local sqlite store in `folder` (default: the user's cxpredict folder, created when needed)."""
    folder = Path(folder).resolve() if folder else cxpredict_home()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / DEFAULT_DB_NAME}"


def resolve_tracking_uri(cfg: Config | None = None, uri: str | None = None) -> str:
    """Pick the tracking URI by the precedence in this module's docstring."""
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


def sqlite_artifact_root(tracking_uri: str) -> str | None:
    """For a local sqlite store, keep artifacts beside the database instead of in whatever folder we run from."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db_path = Path(tracking_uri[len("sqlite:///"):])
    return (db_path.parent / "mlruns").resolve().as_uri()


def ensure_experiment(mlflow, name: str, tracking_uri: str) -> str:
    """The id of experiment `name`, made (artifacts beside a sqlite store) and tagged when needed."""
    found = mlflow.get_experiment_by_name(name)
    if found is None:
        return mlflow.create_experiment(name, artifact_location=sqlite_artifact_root(tracking_uri),
                                        tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    mark_experiment(mlflow, found)
    return found.experiment_id


def mark_experiment(mlflow, experiment) -> None:
    """Tag an experiment made before this tag existed (or by `mlflow run`), so MLflow 3 opens its ML pages."""
    if EXPERIMENT_KIND_TAG not in (experiment.tags or {}):
        mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)


# the store's own words for "cannot write" (sqlite, SQLAlchemy, file stores, servers passing them on)
_UNWRITABLE = re.compile(r"disk is full|no space left|readonly database|read-only file system|disk i/o error|"
                         r"quota exceeded|file too large", re.IGNORECASE)


def store_failure(tracking_uri: str, error: Exception) -> CxError | None:
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
        failure = store_failure(tracking_uri or import_mlflow().get_tracking_uri(), e)
        if failure is None:
            raise
        raise failure from None


def require_enabled(cfg: Config, what: str, no_tracking: bool = False) -> None:
    """Raise a clear error when a command needs tracking (e.g. registering) but it is turned off."""
    if no_tracking or not cfg.tracking.enabled:
        raise ConfigError(f"{what} needs MLflow tracking; remove --no-tracking / set tracking.enabled: true")
