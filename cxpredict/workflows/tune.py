"""Optuna tuning of the NPS and churn models through the estimators themselves, resumable and reproducible.

Why this shape:
- The objective is the shipped model's own validation: each trial is a clone of the configured estimator with
  the trial's parameters set by `set_params`. NPS: `NpsClassifier.cross_validate`, the weighted out-of-fold
  metric `fit` reports in `cv_metrics_` (`tuning.nps_metric`, default weighted log loss) on the respondents
  with the response weights training uses (as `population_weight`), the configured model alone
  (`candidates: configured`), `auto` selecting its formulation as in training. Churn:
  scikit-learn's `cross_val_score` of the calibrated `ChurnClassifier` on every customer with a known outcome
  (`tuning.churn_metric`). So the value of the config as given IS what `cxpredict train` reports.
- No pruning: the NPS model's stage 2 (cut points, calibrator, class offsets) is cross-fitted over all folds,
  so there is no honest value before every fold is done.
- Trial 0 of a new study is the config as written, with its parameters stored as the trial's parameters (the
  search ranges are widened to contain them). It is the "default" value the tuned value is compared against.
- The study lives in a local sqlite file (`tuning.storage`); a rerun with `--trials N` tops the study up to N
  finished trials. The TPE sampler is seeded with `cfg.seed` plus the number of trials already in the study,
  so a resumed study continues with new parameters instead of replaying its first random trials. The study
  name hashes the data, features, metric, the estimator's parameters and the search space, so a changed
  problem starts a new study instead of mixing incomparable values.
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
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_score

from cxpredict import threads
from cxpredict.config import Config, config_from_dict, read_yaml
from cxpredict.errors import ConfigError, InputError
from cxpredict.io import tracking
from cxpredict.io.outputs import write_json, write_text
from cxpredict.models.churn import ChurnClassifier
from cxpredict.models.nps import NpsClassifier
from cxpredict.workflows.progress import progress_bar
from cxpredict.workflows.train import fit_response

log = logging.getLogger(__name__)

MODELS = ("nps", "churn")
MAXIMISE = {"qwk", "macro_f1", "detractor_auc", "auc"}
CHURN_SCORING = {"auc": "roc_auc", "log_loss": "neg_log_loss"}
DEFAULT_CHURN_FOLDS = 5
# estimator keyword -> (low, high, log scale, integer): ranges wide enough for 1k-1M rows
SEARCH = {
    "n_estimators": (50, 600, True, True),
    "learning_rate": (0.01, 0.2, True, False),
    "num_leaves": (4, 64, True, True),
    "min_child_samples": (5, 300, True, True),
    "subsample": (0.5, 1.0, False, False),
    "colsample_bytree": (0.3, 1.0, False, False),
    "reg_lambda": (0.0, 10.0, False, False),  # linear: 0 (the default, no L2) must be a value of the range
}


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
def search_space(estimator: Any, choices: dict[str, list] | None = None) -> dict[str, Any]:
    """Optuna distributions over the estimator's keywords, each widened to contain the estimator's own value
    (so the config-as-given trial is a point of the space); `choices` adds categorical keywords."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    params = estimator.get_params()
    space: dict[str, Any] = {name: CategoricalDistribution(list(dict.fromkeys(values)))
                             for name, values in (choices or {}).items()}
    for name, (low, high, log_scale, integer) in SEARCH.items():
        value = params[name]
        low, high = min(low, value), max(high, value)
        log_scale = log_scale and low > 0
        space[name] = IntDistribution(int(low), int(high), log=log_scale) if integer else \
            FloatDistribution(float(low), float(high), log=log_scale)
    return space


def suggest(trial, space: dict[str, Any]) -> dict[str, Any]:
    """One value per keyword of the space (an enqueued trial gets its fixed values)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    out = {}
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            out[name] = trial.suggest_categorical(name, d.choices)
        elif isinstance(d, IntDistribution):
            out[name] = trial.suggest_int(name, d.low, d.high, log=d.log)
        else:
            out[name] = trial.suggest_float(name, d.low, d.high, log=d.log)
    return out


# --------------------------------------------------------------------------------------------- problems
@dataclass
class Problem:
    """One tuning problem: the configured estimator (trial 0), the search space over its keywords, and how an
    estimator is scored (its own validation: objective value and per-fold values where there are folds)."""

    model: str
    metric: str
    estimator: Any
    space: dict[str, Any]
    evaluate: Callable[[Any], tuple[float, list[float]]]
    fingerprint: str

    @property
    def direction(self) -> str:
        return "maximize" if self.metric in MAXIMISE else "minimize"

    def trial_estimator(self, params: dict[str, Any], default: bool) -> Any:
        """A clone with the trial's keywords; bagging is switched on with subsampling (not for the config as
        given, which keeps its own subsample_freq)."""
        params = dict(params)
        if not default and "subsample" in params:
            params["subsample_freq"] = 1 if params["subsample"] < 1.0 else 0
        return clone(self.estimator).set_params(**params)


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def nps_problem(cfg: Config, X: pd.DataFrame, score: np.ndarray, weights: np.ndarray | None,
                data_fingerprint: str) -> Problem:
    """NPS: respondents only, weighted with the response weights; the formulation is a tuned choice."""
    metric = cfg.tuning.nps_metric
    # the configured model alone: with the built-in candidates competing, a trial's parameters would often not
    # be what its value measures; the tuned config says `candidates: configured` so it ships what was tuned
    overrides = {"n_jobs": cfg.tuning.n_jobs, "candidates": "configured",
                 **({"cv": cfg.tuning.cv_folds} if cfg.tuning.cv_folds else {})}
    estimator = NpsClassifier.from_config(cfg.nps, cfg.scale, cfg.seed, **overrides)
    space = search_space(estimator, {"formulation": [*cfg.tuning.formulations, cfg.nps.formulation]})

    def evaluate(model: NpsClassifier) -> tuple[float, list[float]]:
        return float(model.cross_validate(X, score, population_weight=weights)[metric]), []

    fp = _hash(data_fingerprint, list(X.columns), metric, estimator.get_params(), repr(space), weights is None)
    return Problem("nps", metric, estimator, space, evaluate, fp)


def churn_problem(cfg: Config, X: pd.DataFrame, outcome: np.ndarray, data_fingerprint: str) -> Problem:
    """Churn: every customer with a known outcome (operational data), unweighted, stratified folds."""
    metric = cfg.tuning.churn_metric
    y = np.asarray(outcome, dtype=int)
    estimator = ChurnClassifier.from_config(cfg.churn, cfg.seed, measure_nps_lift=False, n_jobs=cfg.tuning.n_jobs)
    folds = StratifiedKFold(cfg.tuning.cv_folds or DEFAULT_CHURN_FOLDS, shuffle=True, random_state=cfg.seed)
    space = search_space(estimator)

    def evaluate(model: ChurnClassifier) -> tuple[float, list[float]]:
        values = cross_val_score(model, X, y, cv=folds, scoring=CHURN_SCORING[metric], error_score="raise")
        values = -values if metric == "log_loss" else values  # scikit-learn's scorers maximise
        return float(np.mean(values)), [float(v) for v in values]

    fp = _hash(data_fingerprint, list(X.columns), metric, folds.get_n_splits(), estimator.get_params(), repr(space))
    return Problem("churn", metric, estimator, space, evaluate, fp)


# --------------------------------------------------------------------------------------------- studies
def storage_url(cfg: Config) -> str:
    path = cfg.resolve(cfg.tuning.storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def study_name(cfg: Config, problem: Problem) -> str:
    base = cfg.tuning.study_name or cfg.name
    return f"{base}-{problem.model}-{problem.fingerprint}"


def baseline_params(problem: Problem) -> dict[str, Any]:
    """The configured estimator's values of the searched keywords: trial 0's parameters."""
    params = problem.estimator.get_params()
    return {name: params[name] for name in problem.space}


def _objective(problem: Problem) -> Callable:
    def objective(trial) -> float:
        default = bool(trial.user_attrs.get("cxpredict_default"))
        model = problem.trial_estimator(suggest(trial, problem.space), default)
        used = model.get_params()
        trial.set_user_attr("effective_params", {k: used[k] for k in (*problem.space, "subsample_freq") if k in used})
        value, folds = problem.evaluate(model)
        trial.set_user_attr("fold_values", folds)
        return value

    return objective


def _counts(study) -> dict[str, int]:
    from optuna.trial import TrialState

    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {"complete": states.count(TrialState.COMPLETE), "failed": states.count(TrialState.FAIL)}


def _log_trial(problem: Problem) -> Callable:
    def callback(study, trial) -> None:
        metrics = {"objective": trial.value} if trial.value is not None else {}
        for i, v in enumerate(trial.user_attrs.get("fold_values", [])):
            metrics[f"fold_{i}"] = v
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
    study = optuna.create_study(storage=storage, study_name=name, direction=problem.direction, load_if_exists=True)
    existing = len(study.get_trials(deepcopy=False))
    # a resumed study must not replay its first random trials: the seed moves on with the trials already there
    study.sampler = optuna.samplers.TPESampler(seed=cfg.seed + existing, n_startup_trials=cfg.tuning.startup_trials,
                                               multivariate=True)
    if not existing:
        study.enqueue_trial(baseline_params(problem), user_attrs={"cxpredict_default": True})
        study.set_user_attr("metric", problem.metric)
        study.set_user_attr("config_hash", cfg.fingerprint())
    done = sum(_counts(study).values())
    todo = max(0, trials - done)
    if done:
        log.info("%s: resuming study %s with %d finished trial(s); %d to go", problem.model, name, done, todo)
    if todo:
        with progress_bar(todo, f"tuning {problem.model} ({problem.metric})", "trials") as advance:
            study.optimize(_objective(problem), n_trials=todo, timeout=timeout, catch=(InputError,),
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
        n_complete=counts["complete"], n_failed=counts["failed"],
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
            section["candidates"] = "configured"
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
                         f"{s.best_value:.4f} (trial {s.best_trial} of {s.n_complete}, "
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
    if "nps" in models and cfg.data.survey is None:
        log.info("nps: no survey table (data.survey); skipping NPS tuning")
    elif "nps" in models:
        resp = data.is_respondent
        weights = respondent_weights(cfg, X, resp)
        problems.append(nps_problem(cfg, X[resp], data.score.to_numpy()[resp], weights, fingerprint))
    if "churn" in models:
        if data.outcome is None or not cfg.churn.enabled:
            log.info("churn: %s; skipping churn tuning", cfg.absent_stages().get("churn", "no known outcomes"))
        else:
            known = data.outcome.notna().to_numpy()
            problems.append(churn_problem(cfg, X[known], data.outcome.to_numpy()[known], fingerprint))
    return problems


def respondent_weights(cfg: Config, X: pd.DataFrame, is_respondent: np.ndarray) -> np.ndarray | None:
    """The response weights the NPS model is trained with (train.fit_response; None when the correction is off)."""
    response = fit_response(cfg, X, is_respondent)
    return None if response is None else response.weights_


def tune(cfg: Config, config_path: Path, trials: int, timeout: float | None = None,
         models: tuple[str, ...] = MODELS, out: Path | None = None) -> TuneResult:
    """Tune the requested models, write the tuned config (and a JSON summary beside it), log to MLflow."""
    threads.use(cfg.n_jobs)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) to tune: {unknown}; choose from {list(MODELS)}")
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    start = time.perf_counter()
    result = TuneResult()
    problems = load_problems(cfg, models)
    if not problems:
        raise ConfigError(f"nothing to tune for --model {'/'.join(models)}: nps needs data.survey, churn needs "
                          "data.outcomes and churn.enabled: true")
    deadline = None if timeout is None else start + timeout
    for i, problem in enumerate(problems):
        budget = None if deadline is None else max(1.0, (deadline - time.perf_counter()) / (len(problems) - i))
        summary = run_study(cfg, problem, trials, budget)
        result.studies[problem.model] = summary
        tracking.log_metrics({problem.model: {"default_objective": summary.default_value,
                                              "best_objective": summary.best_value,
                                              "trials_complete": summary.n_complete}})
    out = out or default_output(config_path)
    result.config_path = write_tuned_config(config_path, out, result.studies)
    result.seconds = time.perf_counter() - start
    summary_path = write_json(result.to_dict(), out.with_suffix(".json"))
    tracking.log_artifact(result.config_path, "tuning")
    tracking.log_artifact(summary_path, "tuning")
    return result
