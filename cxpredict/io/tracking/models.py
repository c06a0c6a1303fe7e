"""A bundle as an MLflow model: logged as the run's pyfunc model (the bundle folder as its data, no pickle) and
registered with an alias, fetched back (`models:/cxpredict-nps@champion`), saved as a local pyfunc folder, and
applied on Spark (`spark_udf`). The loader module is named by the layer above (`PyfuncSpec`), never here.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxpredict import provenance
from cxpredict.errors import BundleError
from cxpredict.io.tracking.runs import active_run_id
from cxpredict.io.tracking.store import import_mlflow, resolve_tracking_uri, store_writes

if TYPE_CHECKING:
    from cxpredict.config import Config


BUNDLE_ARTIFACT_PATH = "bundle"  # where runs logged before bundles were pyfunc models kept them
PYFUNC_NAME = "model"  # the logged model's name in its run
PYFUNC_PACKAGES = ("lightgbm", "numpy", "pandas", "pyarrow", "pydantic", "scikit-learn")  # cxpredict itself too
MISSING_TEXT_PARAM = "missing_text"  # pyfunc param: what stands for a missing text value in the output
SPARK_MISSING_TEXT = "\ue000"  # that stand-in between the model and spark_udf: a private-use code point (numpy
# strips a trailing NUL, so that cannot be it)


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
    mlflow = import_mlflow()
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


# --------------------------------------------------------------------------------------------- fetching
def describe_model(model_uri: str, tracking_uri: str | None = None, cfg: Config | None = None) -> dict[str, Any]:
    """What `models:/NAME@ALIAS` (or `models:/NAME/VERSION`) pointed to when it was fetched: name, version, alias,
    the run that logged it; for the manifest, since the fetched folder is temporary."""
    out: dict[str, Any] = {"uri": model_uri}
    if not str(model_uri).startswith("models:/"):
        return out
    mlflow = import_mlflow()
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


def download_run_outputs(run_id: str, dst: str | Path, tracking_uri: str | None = None) -> Path:
    """Fetch every artifact of a run and the models it logged (MLflow 3 keeps a logged model's files apart from
    the run's artifacts), for `cxpredict report <run id>`. Models land in `<dst>/<model name>/`."""
    mlflow = import_mlflow()
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
    mlflow = import_mlflow()
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
    import_mlflow().pyfunc.save_model(str(path), **_pyfunc_arguments(bundle_dir, spec))
    return Path(path)


def spark_udf(spark: Any, model_uri: str, env_manager: str = "local"):
    """`mlflow.pyfunc.spark_udf` on a cxpredict pyfunc model (a folder or `models:/cxpredict-nps@champion`) as a
    function of Spark columns returning one struct column of the scored columns, missing text as null:

        scores = tracking.spark_udf(spark, "models:/cxpredict-nps@champion")
        df.withColumn("s", scores(F.struct(*df.columns))).select("customer_id", "s.*")

    Why a wrapper: MLflow casts a struct's text fields with `astype(str)`, so None would arrive as the text
    'None' (the pandas 3 `str` dtype's NaN as 'nan'). The model marks missing text with SPARK_MISSING_TEXT instead
    (param `missing_text`), which this turns back into null."""
    mlflow = import_mlflow()
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
