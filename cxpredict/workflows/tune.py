"""Optuna tuning of the NPS and churn LightGBM models (and the NPS formulation), resumable and reproducible.

Why this shape:
- The objective is what the models are judged on: for NPS a cross-validated metric of the respondents weighted
  with the response weights (default weighted log loss; `tuning.nps_metric`), for churn the cross-validated AUC
  of every customer with a known outcome (`tuning.churn_metric`). Each fold mirrors one fold of the model's own
  cross-fitting (`nps.py`): boosters early-stop on an inner split and stage 2 (cut points, calibrator, class
  offsets) is fitted on that split's held-out rows, so no row is scored by anything that saw its label.
- The running mean is reported after every fold, so a MedianPruner stops trials that are clearly worse.
- Trial 0 of a new study is the config as written: the "default" value the tuned value is compared against
  (with `nps.formulation: auto`, trial 0 uses multiclass; the tuned config names the formulation explicitly).
- The study lives in a local sqlite file (`tuning.storage`); a rerun with `--trials N` tops the study up to N
  finished trials, so an interrupted run resumes. The study name hashes the data, features, scale and metric,
  so changing the problem starts a new study instead of mixing incomparable values.
- TPE is seeded with `cfg.seed`, folds are seeded, LightGBM is deterministic: reruns give the same trials.
- The best parameters are written back into a copy of the YAML config that `cxpredict train` accepts.
- Churn tuning uses behaviour features only (not the NPS-probability features the churn model may add), so it
  does not depend on the NPS model being tuned at the same time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cxpredict.config import Config, LgbmParams, config_from_dict, read_yaml
from cxpredict.errors import ConfigError, InputError
from cxpredict.io import tracking
from cxpredict.io.outputs import write_json, write_text
from cxpredict.metrics import (
    detractor_auc,
    macro_f1,
    multiclass_log_loss,
    quadratic_weighted_kappa,
    score_to_class,
)
from cxpredict.models.calibration import stage2_apply, stage2_fit, tune_offsets
from cxpredict.models.lgbm import (
    INNER_VALID_SHARE,
    fold_ids,
    lgbm_params,
    train_booster,
)
from cxpredict.models.nps import NpsClassifier, as_scale
from cxpredict.workflows.progress import progress_bar

log = logging.getLogger(__name__)

MODELS = ("nps", "churn")
MAXIMISE = {"qwk", "macro_f1", "detractor_auc", "auc"}
TUNED_KEYS = ("n_estimators", "learning_rate", "num_leaves", "min_child_samples", "subsample", "colsample_bytree",
              "reg_lambda")


@dataclass
class StudySummary:
    """The outcome of tuning one model: enough for the closing note and the experiments README."""

    model: str
    study_name: str
    storage: str
    metric: str
    direction: str
    default_value: float | None
    best_value: float | None
    best_params: dict[str, Any]
    best_trial: int | None
    n_complete: int
    n_pruned: int
    n_failed: int
    new_trials: int
    seconds: float

    @property
    def improvement(self) -> float | None:
        """Best minus default, signed so that positive always means better."""
        if self.default_value is None or self.best_value is None:
            return None
        diff = self.best_value - self.default_value
        return diff if self.direction == "maximize" else -diff


@dataclass
class TuneResult:
    studies: dict[str, StudySummary] = field(default_factory=dict)
    config_path: Path | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "config_path": str(self.config_path) if self.config_path else None,
            "seconds": round(self.seconds, 1),
            "studies": {k: {**asdict(s), "improvement": s.improvement} for k, s in self.studies.items()},
        }


# --------------------------------------------------------------------------------------------- search space
def suggest_lgbm(trial, base: LgbmParams, prefix: str) -> LgbmParams:
    """LightGBM parameters for one trial; ranges wide enough for 1k-1M rows, log-scaled where it matters."""
    subsample = trial.suggest_float(f"{prefix}.subsample", 0.5, 1.0)
    return base.model_copy(update={
        "n_estimators": trial.suggest_int(f"{prefix}.n_estimators", 50, 600, log=True),
        "learning_rate": trial.suggest_float(f"{prefix}.learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int(f"{prefix}.num_leaves", 4, 64, log=True),
        "min_child_samples": trial.suggest_int(f"{prefix}.min_child_samples", 5, 300, log=True),
        "subsample": subsample,
        "subsample_freq": 1 if subsample < 1.0 else 0,
        "colsample_bytree": trial.suggest_float(f"{prefix}.colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float(f"{prefix}.reg_lambda", 1e-3, 100.0, log=True),
    })


def _effective(params: LgbmParams) -> dict[str, Any]:
    return {k: getattr(params, k) for k in (*TUNED_KEYS, "subsample_freq")}


# --------------------------------------------------------------------------------------------- fold metrics
def nps_fold_value(model: NpsClassifier, formulation: str, X: pd.DataFrame, score: np.ndarray, w: np.ndarray,
                   train_idx: np.ndarray, test_idx: np.ndarray, metric: str, seed: int) -> float:
    """The NPS metric on one held-out fold, for a model fitted on the other folds (see the module notes)."""
    model.scale_ = as_scale(model.scale)
    strata = score_to_class(score, model.scale_)
    is_valid = fold_ids(strata[train_idx], int(round(1 / INNER_VALID_SHARE)), seed) == 0
    fit_idx, val_idx = train_idx[~is_valid], train_idx[is_valid]
    val_parts, test_parts = [], []
    for label, objective in model._targets(formulation, score):
        constant = model._constant_logit(label[fit_idx], w[fit_idx], objective)
        if constant is not None:
            val_parts.append(np.full(len(val_idx), constant))
            test_parts.append(np.full(len(test_idx), constant))
            continue
        params = lgbm_params(model, **objective)
        valid = (X.iloc[val_idx], label[val_idx], w[val_idx])
        booster = train_booster(X.iloc[fit_idx], label[fit_idx], w[fit_idx], params, model.n_estimators,
                                valid if model.early_stopping_rounds else None, model.early_stopping_rounds)
        rounds = booster.best_iteration or None
        val_parts.append(booster.predict(X.iloc[val_idx], raw_score=True, num_iteration=rounds))
        test_parts.append(booster.predict(X.iloc[test_idx], raw_score=True, num_iteration=rounds))
    raw_val, raw_test = model._raw(formulation, val_parts), model._raw(formulation, test_parts)
    link, calibrator = stage2_fit(formulation, raw_val, score[val_idx], w[val_idx], model.scale_, model.calibrate)
    proba = stage2_apply(formulation, raw_test, link, calibrator, model.scale_)[1]
    y_test, w_test = strata[test_idx], w[test_idx]
    if metric == "log_loss":
        return multiclass_log_loss(y_test, proba, w_test)
    if metric == "detractor_auc":
        return detractor_auc(y_test == 0, proba[:, 0], w_test)
    proba_val = stage2_apply(formulation, raw_val, link, calibrator, model.scale_)[1]
    offsets = tune_offsets(proba_val, strata[val_idx], w[val_idx], model._check_params())
    pred = np.argmax(np.log(np.clip(proba, 1e-9, 1.0)) + offsets, axis=1)
    if metric == "qwk":
        return quadratic_weighted_kappa(y_test, pred, w_test)
    return macro_f1(y_test, pred, w_test)


def churn_fold_value(cfg: Config, X: pd.DataFrame, y: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray,
                     metric: str) -> float:
    """The churn metric on one held-out fold, for a calibrated ChurnClassifier fitted on the other folds."""
    from sklearn.metrics import log_loss, roc_auc_score

    from cxpredict.models.churn import ChurnClassifier

    churn_cfg = cfg.churn.model_copy(update={"measure_nps_lift": False})
    p = ChurnClassifier.from_config(churn_cfg, cfg.seed).fit(X.iloc[train_idx], y[train_idx]).predict_proba(
        X.iloc[test_idx])[:, 1]
    if metric == "auc":
        return float(roc_auc_score(y[test_idx], p))
    return float(log_loss(y[test_idx], np.clip(p, 1e-12, 1 - 1e-12), labels=[0, 1]))


# --------------------------------------------------------------------------------------------- problems
@dataclass
class Problem:
    """One tuning problem: the rows, the label, the fold assignment and how a trial is turned into a value."""

    model: str
    metric: str
    folds: np.ndarray
    fold_value: Callable[[Any, np.ndarray, np.ndarray], float]  # (trial settings, train_idx, test_idx) -> value
    settings: Callable[[Any], tuple[Any, dict[str, Any]]]  # trial -> (settings, effective params to record)
    default_settings: Callable[[], tuple[Any, dict[str, Any]]]
    fingerprint: str

    @property
    def direction(self) -> str:
        return "maximize" if self.metric in MAXIMISE else "minimize"


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def nps_problem(cfg: Config, X: pd.DataFrame, score: np.ndarray, weights: np.ndarray | None,
                data_fingerprint: str) -> Problem:
    """NPS: respondents only, weighted with the response weights; the formulation is a tuned choice."""
    metric = cfg.tuning.nps_metric
    score = np.asarray(score, dtype=int)
    w = np.ones(len(score)) if weights is None else np.asarray(weights, dtype=float) / np.mean(weights)
    strata = score_to_class(score, cfg.scale)
    folds = fold_ids(strata, cfg.tuning.cv_folds, cfg.seed)
    default_formulation = cfg.nps.formulation if cfg.nps.formulation != "auto" else "multiclass"

    def settings(trial) -> tuple[Any, dict[str, Any]]:
        formulation = trial.suggest_categorical("nps.formulation", list(cfg.tuning.formulations))
        params = suggest_lgbm(trial, cfg.nps.params, "nps")
        return (formulation, params), {"formulation": formulation, **_effective(params)}

    def default_settings() -> tuple[Any, dict[str, Any]]:
        return (default_formulation, cfg.nps.params), {"formulation": default_formulation,
                                                       **_effective(cfg.nps.params)}

    def fold_value(chosen, train_idx, test_idx) -> float:
        formulation, params = chosen
        params = params.model_copy(update={"n_jobs": cfg.tuning.n_jobs})
        model = NpsClassifier.from_config(cfg.nps.model_copy(update={"params": params}), cfg.scale, cfg.seed)
        return nps_fold_value(model, formulation, X, score, w, train_idx, test_idx, metric, cfg.seed)

    fp = _hash(data_fingerprint, list(X.columns), cfg.scale.model_dump(), metric, cfg.tuning.cv_folds,
               cfg.tuning.formulations, cfg.seed, cfg.nps.early_stopping_rounds, cfg.nps.calibrate, weights is None)
    return Problem("nps", metric, folds, fold_value, settings, default_settings, fp)


def churn_problem(cfg: Config, X: pd.DataFrame, outcome: np.ndarray, data_fingerprint: str) -> Problem:
    """Churn: every customer with a known outcome (operational data), unweighted, stratified folds."""
    metric = cfg.tuning.churn_metric
    y = np.asarray(outcome, dtype=int)
    folds = fold_ids(y, cfg.tuning.cv_folds, cfg.seed)

    def settings(trial) -> tuple[Any, dict[str, Any]]:
        params = suggest_lgbm(trial, cfg.churn.params, "churn")
        return params, _effective(params)

    def default_settings() -> tuple[Any, dict[str, Any]]:
        return cfg.churn.params, _effective(cfg.churn.params)

    def fold_value(params, train_idx, test_idx) -> float:
        params = params.model_copy(update={"n_jobs": cfg.tuning.n_jobs})
        trial_cfg = cfg.model_copy(update={"churn": cfg.churn.model_copy(update={"params": params})})
        return churn_fold_value(trial_cfg, X, y, train_idx, test_idx, metric)

    fp = _hash(data_fingerprint, list(X.columns), metric, cfg.tuning.cv_folds, cfg.seed, cfg.churn.calibration,
               cfg.churn.calibration_share)
    return Problem("churn", metric, folds, fold_value, settings, default_settings, fp)


# --------------------------------------------------------------------------------------------- studies
def storage_url(cfg: Config) -> str:
    path = cfg.resolve(cfg.tuning.storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def study_name(cfg: Config, problem: Problem) -> str:
    base = cfg.tuning.study_name or cfg.name
    return f"{base}-{problem.model}-{problem.fingerprint}"


def _objective(problem: Problem) -> Callable:
    import optuna

    def objective(trial) -> float:
        if trial.user_attrs.get("cxpredict_default"):
            chosen, effective = problem.default_settings()
        else:
            chosen, effective = problem.settings(trial)
        trial.set_user_attr("effective_params", effective)
        values = []
        for step, k in enumerate(np.unique(problem.folds)):
            train_idx, test_idx = np.flatnonzero(problem.folds != k), np.flatnonzero(problem.folds == k)
            values.append(problem.fold_value(chosen, train_idx, test_idx))
            running = float(np.nanmean(values))
            trial.report(running, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"fold {step + 1}: running {problem.metric} {running:.4f}")
        trial.set_user_attr("fold_values", [float(v) for v in values])
        return float(np.nanmean(values))

    return objective


def _counts(study) -> dict[str, int]:
    from optuna.trial import TrialState

    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {"complete": states.count(TrialState.COMPLETE), "pruned": states.count(TrialState.PRUNED),
            "failed": states.count(TrialState.FAIL)}


def _log_trial(problem: Problem) -> Callable:
    def callback(study, trial) -> None:
        metrics = {"objective": trial.value} if trial.value is not None else {}
        for i, v in enumerate(trial.user_attrs.get("fold_values", [])):
            metrics[f"fold_{i}"] = v
        if trial.intermediate_values:
            metrics["last_running_value"] = list(trial.intermediate_values.values())[-1]
        tracking.log_child_run(
            f"{problem.model}-trial-{trial.number}",
            {"model": problem.model, **trial.user_attrs.get("effective_params", {})},
            metrics,
            tags={"state": trial.state.name, "optuna.study": study.study_name,
                  "default": bool(trial.user_attrs.get("cxpredict_default"))},
        )

    return callback


def run_study(cfg: Config, problem: Problem, trials: int, timeout: float | None = None) -> StudySummary:
    """Create or resume the study and top it up to `trials` finished trials (or until `timeout` seconds)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    name = study_name(cfg, problem)
    storage = storage_url(cfg)
    study = optuna.create_study(
        storage=storage, study_name=name, direction=problem.direction, load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=cfg.tuning.startup_trials,
                                           multivariate=True),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=cfg.tuning.startup_trials, n_warmup_steps=1),
    )
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial({}, user_attrs={"cxpredict_default": True})
        study.set_user_attr("metric", problem.metric)
        study.set_user_attr("config_hash", cfg.fingerprint())
    done = sum(_counts(study).values())
    todo = max(0, trials - done)
    if done:
        log.info("%s: resuming study %s with %d finished trial(s); %d to go", problem.model, name, done, todo)
    if todo:
        with progress_bar(todo, f"tuning {problem.model} ({problem.metric})", "trials") as advance:
            study.optimize(_objective(problem), n_trials=todo, timeout=timeout, catch=(InputError, ValueError),
                           callbacks=[_log_trial(problem), lambda s, t: advance(1)])
    return summarise(study, problem, storage, sum(_counts(study).values()) - done, time.perf_counter() - start)


def summarise(study, problem: Problem, storage: str, new_trials: int, seconds: float) -> StudySummary:
    counts = _counts(study)
    default = next((t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("cxpredict_default")), None)
    best = study.best_trial if counts["complete"] else None
    return StudySummary(
        model=problem.model, study_name=study.study_name, storage=storage, metric=problem.metric,
        direction=problem.direction,
        default_value=None if default is None or default.value is None else float(default.value),
        best_value=None if best is None else float(best.value),
        best_params=dict(best.user_attrs.get("effective_params", {})) if best else {},
        best_trial=None if best is None else best.number,
        n_complete=counts["complete"], n_pruned=counts["pruned"], n_failed=counts["failed"],
        new_trials=new_trials, seconds=round(seconds, 1),
    )


# --------------------------------------------------------------------------------------------- config out
def tuned_config(raw: dict[str, Any], studies: dict[str, StudySummary]) -> dict[str, Any]:
    """The raw YAML mapping with the best parameters written into `nps` / `churn` (other keys untouched)."""
    out = json.loads(json.dumps(raw))
    for model, summary in studies.items():
        if not summary.best_params:
            continue
        best = dict(summary.best_params)
        section = out.setdefault(model, {})
        if model == "nps":
            section["formulation"] = best.pop("formulation")
        params = section.setdefault("params", {})
        params.update({k: (round(v, 6) if isinstance(v, float) else v) for k, v in best.items()})
    return out


def _rebase_paths(raw: dict[str, Any], source_dir: Path, target_dir: Path) -> dict[str, Any]:
    """Keep relative paths (data.dir, strategy.playbook) pointing at the same files from the new folder."""
    if source_dir.resolve() == target_dir.resolve():
        return raw

    def rebase(value: str) -> str:
        p = Path(value).expanduser()
        return value if p.is_absolute() else os.path.relpath(source_dir / p, target_dir)

    if isinstance(raw.get("data"), dict):
        raw["data"]["dir"] = rebase(raw["data"].get("dir", "."))
    if isinstance(raw.get("strategy"), dict) and raw["strategy"].get("playbook"):
        raw["strategy"]["playbook"] = rebase(raw["strategy"]["playbook"])
    return raw


def write_tuned_config(config_path: Path, out: Path, studies: dict[str, StudySummary]) -> Path:
    """Write the tuned YAML (validated before writing) with a header saying where its numbers come from."""
    raw = _rebase_paths(tuned_config(read_yaml(config_path), studies), config_path.parent, out.parent)
    config_from_dict(raw, base_dir=out.parent.resolve(), source=out)  # a config we write must load
    lines = [f"# Tuned by `cxpredict tune {config_path.name}` on {time.strftime('%Y-%m-%d %H:%M')}."]
    for s in studies.values():
        if s.best_value is not None and s.default_value is not None:
            lines.append(f"# {s.model}: cross-validated {s.metric} {s.default_value:.4f} (config as given) -> "
                         f"{s.best_value:.4f} (trial {s.best_trial} of {s.n_complete + s.n_pruned}, "
                         f"study {s.study_name})")
    text = "\n".join(lines) + "\n" + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=120)
    return write_text(text, out)


def default_output(config_path: Path) -> Path:
    """`configs/telco.yaml` -> `configs/telco.tuned.yaml`: beside the source so relative paths keep working."""
    return config_path.with_name(f"{config_path.stem}.tuned.yaml")


# --------------------------------------------------------------------------------------------- entry point
def load_problems(cfg: Config, models: tuple[str, ...]) -> list[Problem]:
    """Load and featurise the data once, then build the requested problems."""
    from cxpredict.data.customers import load_customers
    from cxpredict.data.features import FeatureManifest

    data = load_customers(cfg)
    manifest = FeatureManifest.fit(data.frame, cfg.features)
    X = manifest.transform(data.frame)
    fingerprint = _hash({k: t.get("fingerprint") for k, t in data.report.tables.items()})
    problems = []
    if "nps" in models:
        resp = data.is_respondent
        weights = respondent_weights(cfg, X, resp)
        problems.append(nps_problem(cfg, X[resp], data.score.to_numpy()[resp], weights, fingerprint))
    if "churn" in models:
        if data.outcome is None or not cfg.churn.enabled:
            log.warning("churn: no outcomes table or churn disabled; skipping churn tuning")
        else:
            known = data.outcome.notna().to_numpy()
            problems.append(churn_problem(cfg, X[known], data.outcome.to_numpy()[known], fingerprint))
    return problems


def respondent_weights(cfg: Config, X: pd.DataFrame, is_respondent: np.ndarray) -> np.ndarray | None:
    """The response weights the NPS model is trained with, as `response.fit_nps_stage` makes them (None when the
    correction is off or everyone answered, where there is no bias to correct)."""
    if not cfg.response.enabled or is_respondent.all():
        return None
    from cxpredict.models.response import ResponsePropensity

    return ResponsePropensity.from_config(cfg.response, cfg.seed).fit(X, is_respondent).weights_


def tune(cfg: Config, config_path: Path, trials: int, timeout: float | None = None,
         models: tuple[str, ...] = MODELS, out: Path | None = None) -> TuneResult:
    """Tune the requested models, write the tuned config (and a JSON summary beside it), log to MLflow."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) to tune: {unknown}; choose from {list(MODELS)}")
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    start = time.perf_counter()
    result = TuneResult()
    problems = load_problems(cfg, models)
    if not problems:
        raise ConfigError(f"nothing to tune for --model {'/'.join(models)}: churn needs data.outcomes and "
                          "churn.enabled: true")
    deadline = None if timeout is None else start + timeout
    for i, problem in enumerate(problems):
        budget = None if deadline is None else max(1.0, (deadline - time.perf_counter()) / (len(problems) - i))
        summary = run_study(cfg, problem, trials, budget)
        result.studies[problem.model] = summary
        tracking.log_metrics({problem.model: {"default_objective": summary.default_value,
                                              "best_objective": summary.best_value,
                                              "trials_complete": summary.n_complete,
                                              "trials_pruned": summary.n_pruned}})
    out = out or default_output(config_path)
    result.config_path = write_tuned_config(config_path, out, result.studies)
    result.seconds = time.perf_counter() - start
    summary_path = write_json(result.to_dict(), out.with_suffix(".json"))
    tracking.log_artifact(result.config_path, "tuning")
    tracking.log_artifact(summary_path, "tuning")
    return result
