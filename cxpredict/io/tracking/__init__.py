"""Everything that touches MLflow, and nothing else does (models stay testable without a tracking server):
`store` (where runs go, the lazy import, the experiment, an unwritable store), `runs` (a command's run and the
`log_*` functions), `models` (a bundle as a logged, registered, fetched or Spark-applied pyfunc model). The
names below are the package's API: import them from `cxpredict.io.tracking`.
"""

from cxpredict.io.tracking.models import (
    BUNDLE_ARTIFACT_PATH,
    MISSING_TEXT_PARAM,
    PYFUNC_NAME,
    PYFUNC_PACKAGES,
    SPARK_MISSING_TEXT,
    PyfuncSpec,
    bundle_in,
    describe_model,
    download_bundle,
    download_run_outputs,
    is_tracking_uri,
    log_bundle_model,
    save_pyfunc,
    spark_udf,
)
from cxpredict.io.tracking.runs import (
    MAX_PARAM_CHARS,
    PARAM_BATCH,
    active_run_id,
    default_run_name,
    flatten,
    log_artifact,
    log_artifacts,
    log_child_run,
    log_config,
    log_metrics,
    log_metrics_file,
    log_params,
    log_tags,
    log_text,
    numeric_metrics,
    provenance_tags,
    run_origin,
    sanitize_key,
    start_run,
)
from cxpredict.io.tracking.store import (
    DEFAULT_DB_NAME,
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    HOME_VARIABLE,
    cxpredict_home,
    default_tracking_uri,
    import_mlflow,
    log_store,
    require_enabled,
    resolve_tracking_uri,
    store_writes,
    tracking_uri,
)

__all__ = [
    "BUNDLE_ARTIFACT_PATH", "DEFAULT_DB_NAME", "EXPERIMENT_KIND", "EXPERIMENT_KIND_TAG", "HOME_VARIABLE",
    "MAX_PARAM_CHARS", "MISSING_TEXT_PARAM", "PARAM_BATCH", "PYFUNC_NAME", "PYFUNC_PACKAGES", "SPARK_MISSING_TEXT",
    "PyfuncSpec", "active_run_id", "bundle_in", "cxpredict_home", "default_run_name", "default_tracking_uri",
    "describe_model", "download_bundle", "download_run_outputs", "flatten", "import_mlflow", "is_tracking_uri",
    "log_artifact", "log_artifacts", "log_bundle_model", "log_child_run", "log_config", "log_metrics",
    "log_metrics_file", "log_params", "log_store", "log_tags", "log_text", "numeric_metrics", "provenance_tags",
    "require_enabled", "resolve_tracking_uri", "run_origin", "sanitize_key", "save_pyfunc", "spark_udf",
    "start_run", "store_writes", "tracking_uri",
]
