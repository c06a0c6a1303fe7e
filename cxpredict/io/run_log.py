"""What each command records in its MLflow run, on top of the primitives of io/tracking.py (the only module that
imports mlflow): results split into metrics and params, the drift measurements, the bundle, and of a scoring run
the manifest, the small people files and a sample of the scored file (never the whole file).

Config values are params (settings echoed in results, such as churn.horizon_days, too: `result.<key>`); measured
numbers are metrics (cross-validated quality, population NPS, rows/s, PSI per feature and output, out-of-range and
unseen shares, the respondent-mix gap, class shares, work orders). Every function is a no-op without an open run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxpredict.io.tracking import (
    PyfuncSpec,
    active_run_id,
    flatten,
    log_artifact,
    log_bundle_model,
    log_metrics,
    log_params,
    log_tags,
    numeric_metrics,
    sanitize_key,
)

MAX_ARTIFACT_MB = 20.0  # larger outputs (a nightly 1M-row work-order file) are named in a tag, not copied
SAMPLE_ROWS = 1000  # rows of the scored file logged as an artifact; the whole file is named by its sha256
# leaves of result dictionaries that echo a setting, not a measurement: params, not metrics
SETTING_LEAVES = frozenset({"horizon_days", "bootstrap", "level", "trim_quantile", "rounds", "cv_folds",
                            "subset", "method", "formulation"})


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


def split_results(results: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """A result dictionary as (metrics, params): measured numbers are metrics; settings it echoes (horizon_days,
    bootstrap, level, ...) and text (the chosen formulation) are params, under their dotted key."""
    metrics, params = {}, {}
    for key, value in flatten(results).items():
        leaf = key.rsplit(".", 1)[-1]
        if leaf in SETTING_LEAVES or isinstance(value, str):
            params[key] = value
        elif isinstance(value, (list, tuple)) or (isinstance(value, Mapping) and not value):
            continue
        else:
            metrics.update(numeric_metrics({key: value}))
    return metrics, params


def log_results(results: Mapping[str, Any], prefix: str = "") -> None:
    """Log a result dictionary (metrics.json, a manifest's figures) split into metrics and params."""
    if active_run_id() is None:
        return
    metrics, params = split_results({prefix.rstrip("."): results} if prefix else results)
    log_metrics(metrics)
    log_params({f"result.{k}": v for k, v in params.items()})  # never clashes with the config's params


def log_train_outputs(bundle_dir: str | Path, metrics: Mapping[str, Any], spec: PyfuncSpec,
                      register: str | None = None, alias: str | None = "champion") -> str | None:
    """After `train`: metrics, the bundle's fingerprints as tags, the bundle as the run's pyfunc model (registered
    as a new version of model `register` with `alias` when asked). Returns the registered version, if any."""
    if active_run_id() is None:
        return None
    bundle_dir = Path(bundle_dir)
    log_results({k: v for k, v in metrics.items() if k != "timings"})
    log_metrics({"timings": metrics.get("timings", {})})
    info = json.loads((bundle_dir / "bundle.json").read_text(encoding="utf-8"))
    log_tags({"cxpredict.bundle.content_hash": info.get("content_hash", ""),
              **{f"cxpredict.data.{sanitize_key(k)}": v for k, v in info.get("data_fingerprints", {}).items()}})
    return log_bundle_model(bundle_dir, spec, register, alias)


def drift_metrics(drift: Mapping[str, Any]) -> dict[str, Any]:
    """The drift report's measurements as metrics: status (1 = drift), PSI per feature and model output, shares of
    out-of-range values and unseen categories per feature, the respondent-mix gaps."""
    mix = drift.get("respondent_mix") or {}
    return {"drift": {"status": int(drift.get("status") == "drift"),
                      "psi_features": drift.get("psi_features") or {}, "psi_outputs": drift.get("psi_outputs") or {},
                      "out_of_range": drift.get("out_of_range") or {},
                      "unseen_categories": drift.get("unseen_categories") or {},
                      "respondent_mix": {"max_gap": mix.get("max_gap"), "gaps": mix.get("gaps") or {}}}}


def log_score_outputs(manifest: Mapping[str, Any], manifest_path: str | Path, sample: Any = None) -> None:
    """After `score`: counts, speed, NPS figures and drift measurements as metrics; the manifest and the small
    people files as artifacts; of the scored file only a sample of its first rows (`sample`, a DataFrame) and its
    sha256 as a tag: a nightly million-row file is not copied into the store every run."""
    if active_run_id() is None:
        return
    drift = manifest.get("drift") or {}
    nps = manifest.get("nps") or {}
    queue = manifest.get("work_orders") or {}
    log_metrics({"score": {"rows": manifest.get("rows"), "respondents": manifest.get("respondents"),
                           "rows_per_s": manifest.get("rows_per_s"),
                           "nps": {k: nps.get(k) for k in ("model_only", "respondents_naive")},
                           "expected_shares": nps.get("expected_shares") or {},
                           "to_contact": sum(t.get("to_contact", 0) for t in queue.values()),
                           "control_within_capacity": sum(t.get("control", 0) for t in queue.values()),
                           "deferred": sum(t.get("deferred", 0) for t in queue.values())},
                 **drift_metrics(drift)})
    outputs = manifest.get("outputs") or {}
    scored = outputs.get("scored") or {}
    log_tags({"cxpredict.drift_status": drift.get("status", "unknown"),
              "cxpredict.bundle.content_hash": (manifest.get("bundle") or {}).get("content_hash", ""),
              "cxpredict.as_of": manifest.get("as_of", ""),
              "cxpredict.scored.path": scored.get("path", ""), "cxpredict.scored.sha256": scored.get("sha256", "")})
    log_files([manifest_path, *[o["path"] for name, o in outputs.items() if name != "scored" and o.get("path")]],
              "scoring")
    if sample is not None:
        with tempfile.TemporaryDirectory(prefix="cxpredict-sample-") as tmp:
            path = Path(tmp) / "scored_sample.csv"
            sample.head(SAMPLE_ROWS).to_csv(path, index=False, encoding="utf-8-sig")
            log_artifact(path, "scoring")


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
        log_artifact(bundle, "bundle")  # the bundle with its uplift models, to score the next round with
