"""Training orchestration: raw tables -> features -> response weights -> NPS, churn, reason models -> bundle.

Each stage lives in its own module; this file only wires them in order and collects their reports, so the
order of the flow in DESIGN.md can be read top to bottom in `train`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxpredict import threads
from cxpredict.actions.strategy import ActionStage
from cxpredict.config import Config, DriversConfig
from cxpredict.data.customers import CustomerData, load_customers, require_trainable
from cxpredict.data.features import FeatureManifest
from cxpredict.data.invitations import Invitations, load_invitations
from cxpredict.data.config_checks import require_names
from cxpredict.estimation.design import answer_chance_slope
from cxpredict.estimation.population import PopulationNps, nps_arrays, population_nps
from cxpredict.estimation.segments import segment_frame
from cxpredict.explain.drivers import DriverGroups
from cxpredict.explain.stage import DriverStage
from cxpredict.io.bundle import save_bundle
from cxpredict.metrics import class_index, confusion, score_to_class
from cxpredict.models.churn import ImputedValues, valued
from cxpredict.models.nps import NpsClassifier
from cxpredict.models.response import ResponsePropensity
from cxpredict.models.stages import ChurnStage, NpsStage, ReasonStage
from cxpredict.provenance import Timer
from cxpredict.stages import Batch, run_stages
from cxpredict.workflows.drift import profile_training
from cxpredict.workflows.default_drivers import resolve_drivers
from cxpredict.workflows.text import TextStage, fit_text_stage, previous_text_models

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    bundle_path: Path
    metrics: dict[str, Any]
    reports: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def default_bundle_path(cfg: Config) -> Path:
    """Where `cxpredict train` (and Pipeline.fit) write the bundle without --out: outputs/<name>/model."""
    return Path("outputs") / cfg.name / "model"


def train(cfg: Config, out: str | Path, data: CustomerData | None = None) -> TrainResult:
    """Fit every stage on `cfg`'s data and write a bundle to `out` (atomically): what `cxpredict train` runs.

    A churn-only config (no data.survey) or a survey-only one (no data.outcomes) trains the stages its tables
    allow; `Config.absent_stages` says which are skipped and why (one log line), the bundle records both.
    Order: actions (band cuts and the playbook: nothing to learn from models, so a broken playbook fails first),
    text, features, NPS (response weights, the model, population NPS), churn, drift profile, reasons and
    drivers, save; each stage is fitted with its own settings section."""
    threads.use(cfg.n_jobs)
    timer = Timer(log, "train")
    absent = cfg.absent_stages()
    if absent:
        log.info("train: skipping %s", "; ".join(f"{', '.join(s)}: {why}" for why, s in _by_reason(absent).items()))
    with timer("load"):
        data = data if data is not None else load_customers(cfg)
    invitations = _checked(cfg, data, absent)
    actions = _fit_actions(cfg, data, absent)  # band cuts; a broken playbook fails now, before any model is fitted
    with timer("text"):  # text features join the behaviour columns; comments fill missing reason codes
        text, data = _fit_text(cfg, data, Path(out), absent)
    with timer("features"):
        manifest, X, drivers_cfg = _features(cfg, data, text, absent)
    run = _Run({"n_customers": len(X), "n_respondents": int(data.is_respondent.sum())},
               {"data": data.report.__dict__}, {"text": text.models} if text else {})
    if text:
        run.metrics["text"] = {"features": len(text.models.meta["feature_names"]),
                               "counts": text.models.meta["counts"], "comment_reasons": text.models.meta["reasons"]}
    nps, weights = None, None
    if "nps" not in absent:
        with timer("nps"):  # response weights -> NPS model on respondents -> population NPS with its interval
            nps, weights = _nps_stage(cfg, data, X, manifest, invitations, run)
    with timer("churn"):  # every customer with a known outcome; NPS features cross-fitted (see churn.py)
        churn = ChurnStage.fit(data, X, cfg.churn, cfg.seed, nps, nps_weight=weights)
        if churn.model is not None:
            run.components["churn"] = churn.model
            run.metrics["churn"] = churn.model.metrics_
    with timer("drift_profile"):  # the training population as scoring sees it, for PSI at scoring time
        outputs = run_stages([*([nps] if nps is not None else []), churn],
                             Batch(data.frame, X, pd.DataFrame(index=X.index)))
        drift_profile = profile_training(manifest, X, outputs, data.score.to_numpy(), cfg.scale)
    with timer("drivers"):  # stated-reason model on respondents; drivers + KDA of the training population
        _fit_drivers(cfg, data, Batch(data.frame, X, outputs), nps, weights, drivers_cfg, manifest, run)
    trained = ["features", *(["nps"] if nps is not None else []),
               *(n for n, c in run.components.items() if c is not None)]
    run.metrics["stages"] = {"trained": sorted(trained), "skipped": absent}
    fingerprints = {name: t["fingerprint"] for name, t in data.report.tables.items()}
    with timer("save"):
        bundle_path = save_bundle(
            out, cfg, manifest, nps.model if nps is not None else None, components=run.components,
            metrics=run.metrics, fingerprints=fingerprints, drift_profile=drift_profile, extra_files=actions.files(),
            skipped=absent,
        )
    run.metrics["timings"] = timer.seconds
    return TrainResult(bundle_path=Path(bundle_path), metrics=run.metrics, reports=run.reports, timings=timer.seconds)


@dataclass
class _Run:
    """What training collects while it fits: metrics.json, the reports and the bundle's components."""

    metrics: dict[str, Any]
    reports: dict[str, Any]
    components: dict[str, Any]


def _checked(cfg: Config, data: CustomerData, absent: dict[str, str]) -> Invitations:
    """The loaded data's warnings logged, its respondents enough to train on; the invitation log read."""
    for warning in data.report.warnings:
        log.warning(warning)
    require_trainable(data, cfg)  # enough matched answers, in two classes at least (errors name the survey file)
    invitations = load_invitations(cfg, data.frame.index)  # a bad invitation log fails now (exit 2), not later
    for warning in invitations.warnings:
        log.warning(warning)
    if "nps" not in absent:
        log.info("training on %d respondents of %d customers", int(data.is_respondent.sum()), len(data.frame))
    return invitations


def _fit_text(cfg: Config, data: CustomerData, out: Path, absent: dict[str, str]
              ) -> tuple[TextStage | None, CustomerData]:
    """The text stage (None when off) and the data with its features joined and reasons filled."""
    if "text" in absent or not cfg.text.active:
        return None, data
    fitted = fit_text_stage(cfg, data, previous_text_models(cfg, out))
    if fitted is None:
        return None, data
    text, data = fitted
    for warning in text.warnings:
        log.warning(warning)
    return text, data


def _features(cfg: Config, data: CustomerData, text: TextStage | None, absent: dict[str, str]
              ) -> tuple[FeatureManifest, pd.DataFrame, DriversConfig]:
    """The feature manifest fitted on the data, the training matrix, and the driver groups (readable names by
    default; a group naming a feature the model lacks fails now)."""
    require_names(cfg, data.frame.columns)  # every name the config holds is a column (text features included)
    manifest = FeatureManifest.fit(data.frame, cfg.features, origin=data.report.origin,
                                   generated=text.generated if text else ())
    X = manifest.transform(data.frame, source="training data")
    drivers_cfg = resolve_drivers(cfg, text.models if text else None, manifest)
    if cfg.drivers.enabled and "drivers" not in absent:
        drivers_cfg, notes = manifest.kept_driver_groups(drivers_cfg)
        for note in notes:
            log.warning(note)
        DriverGroups.from_config(drivers_cfg, manifest.names)
    return manifest, X, drivers_cfg


def _fit_actions(cfg: Config, data: CustomerData, absent: dict[str, str]) -> ActionStage:
    """Band cuts on the training customers' values (a warning when a default stands in) and the playbook."""
    value, imputed = valued(data.frame, cfg.churn.value)
    placeholders = ImputedValues()
    placeholders.add(data.frame.index, imputed)
    if placeholders.warning(cfg.churn.value):
        log.warning(placeholders.warning(cfg.churn.value))
    path = cfg.resolve(cfg.strategy.playbook) if cfg.strategy.playbook else None
    return ActionStage.fit(value, cfg.strategy, cfg.churn, path, absent)


def _fit_drivers(cfg: Config, data: CustomerData, batch: Batch, nps: NpsStage | None, weights: np.ndarray | None,
                 drivers_cfg: DriversConfig, manifest: FeatureManifest, run: _Run) -> None:
    """The stated-reason model on respondents, then drivers and the KDA tables of the training population."""
    reasons = None
    respondents = data.is_respondent
    if cfg.drivers.enabled and data.reasons is not None and nps is not None:
        reasons = ReasonStage.fit(batch.features[respondents], data.reasons[respondents], cfg.drivers, cfg.seed,
                                  sample_weight=weights)
        run.components["reasons"] = reasons.model if reasons.fitted else None
        run.metrics["reasons"] = reasons.model.metrics_
    drivers = DriverStage.fit(nps, reasons, drivers_cfg, manifest) if nps is not None else None
    if drivers is not None:
        totals = drivers.new_totals()
        drivers.counting(totals).transform(batch)
        run.reports["kda"] = totals.tables()  # DataFrames: drivers.write_kda_reports(reports["kda"], folder)
        run.metrics["drivers"] = totals.summary()


def _by_reason(absent: dict[str, str]) -> dict[str, list[str]]:
    """{stage: why} -> {why: [stages]}, for one readable line."""
    grouped: dict[str, list[str]] = {}
    for stage, why in absent.items():
        grouped.setdefault(why, []).append(stage)
    return grouped


def _nps_stage(cfg: Config, data: CustomerData, X: pd.DataFrame, manifest: FeatureManifest,
               invitations: Invitations, run: _Run) -> tuple[NpsStage, np.ndarray]:
    """The survey stages of `train` (response, NPS, population NPS): fills the run's metrics, reports and
    components; returns the NPS stage and the respondents' weights."""
    metrics, reports, components = run.metrics, run.reports, run.components
    respondents = data.is_respondent
    stage = fit_nps_stage(X, data.score.to_numpy(dtype=float), cfg,
                          segment_frame(data.frame, cfg.population.segments), invitations)
    nps = stage.nps
    components["response"] = stage.response
    if stage.invited_response is not None:  # its saved summary names features too: the user's names
        stage.invited_response.importance_ = manifest.user_named(stage.invited_response.importance_)
        stage.invited_response.differences_ = manifest.user_named(stage.invited_response.differences_)
        components["invited_response"] = stage.invited_response
    if invitations.rounds:
        metrics["survey_design"] = {**invitations.summary(respondents), **stage.design}
    metrics["nps_formulation"] = nps.formulation_
    metrics["nps_cv"] = nps.cv_metrics_  # held out from every choice (models/held_out.py)
    metrics["nps_cv_interval"] = nps.cv_intervals_
    metrics["nps_cv_selected_oof"] = nps.selected_oof_metrics_  # diagnostic: seen by the choice, optimistic
    metrics["nps_cv_confusion"] = confusion(  # held out, respondents; rows = true class (for the report)
        score_to_class(data.score.to_numpy()[respondents], cfg.scale), class_index(nps.held_out_["predicted_class"])
    ).tolist()
    if stage.response is not None:  # its summary (and response.json) names features: the user's names
        stage.response.importance_ = manifest.user_named(stage.response.importance_)
        stage.response.differences_ = manifest.user_named(stage.response.differences_)
        stage.population.response = stage.response.summary()
    metrics["population_nps"] = stage.population.to_dict()  # saved in the bundle's metrics.json
    reports["response"] = stage.population.response
    reports["nps_reliability"] = nps.reliability_
    return NpsStage(nps), stage.weights


def class_counts(labels: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(np.asarray(labels, dtype=str), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts)}


# --------------------------------------------------------------------------------------------- the stage
def fit_response(cfg: Config, X: pd.DataFrame, is_respondent: np.ndarray) -> ResponsePropensity | None:
    """The response propensity on every customer (None when `response.enabled` is off): its `weights_` are the
    NPS model's training weights, in training and in tuning."""
    if not cfg.response.enabled:
        return None
    return ResponsePropensity.from_config(cfg.response, cfg.seed).fit(X, is_respondent)


def fit_invited_response(cfg: Config, X: pd.DataFrame, invited: np.ndarray, answered: np.ndarray
                         ) -> tuple[ResponsePropensity | None, np.ndarray, dict[str, Any]]:
    """Who answers an invitation, learned among the invited (invitations are random given behaviour, so they are
    a fair sample): (the model or None, the cross-fitted answer chance of every invited customer, a summary).
    With fewer than survey_design.min_invited_for_model answers or non-answers, the invited's answer rate."""
    yes, no = int((invited & answered).sum()), int((invited & ~answered).sum())
    rate = yes / max(yes + no, 1)
    if min(yes, no) < cfg.survey_design.min_invited_for_model:
        return None, np.full(yes + no, rate), {"answer_chance": "rate", "answer_rate": rate}
    model = ResponsePropensity.from_config(cfg.response, cfg.seed).fit(X[invited], answered[invited])
    chance = model.propensity_.to_numpy()
    return model, chance, {"answer_chance": "model", "answer_rate": rate, "answer_auc": model.auc_,
                           "answer_chance_slope": answer_chance_slope(answered[invited], chance)}


def design_inputs(cfg: Config, X: pd.DataFrame, responded: np.ndarray, invitations: Invitations | None):
    """Channel of every answer, P(observed through its invitation) of the invited respondents, the invited-response
    model and its summary (estimation/estimators.py, SURVEY DESIGN). No invitations: every answer is channel 0."""
    if invitations is None or not invitations.rounds:
        return np.where(responded, 0, -1), None, None, {}
    answered_round = invitations.answered_round(responded)
    invited = invitations.invited
    model, chance, summary = fit_invited_response(cfg, X, invited, responded)
    design_probability = np.zeros(len(responded))
    design_probability[invited] = invitations.probability[invited] * chance
    return answered_round, design_probability, model, summary


def channel_population_weights(answered_round: np.ndarray, design_probability: np.ndarray | None,
                               response: ResponsePropensity | None) -> np.ndarray:
    """Respondents' weights for the NPS model (calibration and selection; respondents in X's order): the response
    weights for answers of the usual survey, (1 - p) / p for an invitation round's, each channel with mean 1."""
    w = np.ones(len(answered_round))
    for t in np.unique(answered_round[answered_round >= 0]):
        members = answered_round == t
        if t == 0:
            w[members] = 1.0 if response is None else response.weights_
        else:
            p = design_probability[members]
            w[members] = (1 - p) / p / np.mean((1 - p) / p)
    return w[answered_round >= 0]


@dataclass
class NpsFit:
    """What the NPS step of training fits: the response model and weights, the NPS model, its predictions and
    the population NPS."""

    response: ResponsePropensity | None
    weights: np.ndarray  # respondents' response weights (the NPS model's population_weight), in X's order
    nps: NpsClassifier
    predictions: pd.DataFrame  # every customer
    population: PopulationNps
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    invited_response: ResponsePropensity | None = None  # who answers an invitation (with an invitation log)
    design: dict[str, Any] = field(default_factory=dict)  # how the invited's answer chance was estimated


def fit_nps_stage(X: pd.DataFrame, score, cfg: Config, segments: pd.DataFrame | None = None,
                  invitations: Invitations | None = None) -> NpsFit:
    """Response model -> weights -> NPS model on respondents -> predictions for all -> population NPS.

    The NPS stage of `train`, public so that the benchmarks (scripts/bench_*.py) run exactly what training runs.

    X: model matrix of every customer; score: aligned with X, NaN for silent customers; segments: raw columns
    (aligned with X) to report segment NPS for, e.g. `data.frame[cfg.population.segments]`. The NPS model grows
    its trees on the respondents unweighted; the response weights calibrate it and choose among its candidates
    (see cxpredict/models/nps.py), and the population estimate uses the propensities themselves. With
    `invitations` (data.invitations), the response model learns who answers the usual survey, a second one who
    answers an invitation, and the estimate weights each answer by its channel (estimation/population.py).
    """
    s = np.asarray(score, dtype=float)
    resp = ~np.isnan(s)
    clock = [time.perf_counter()]
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        clock.append(time.perf_counter())
        timings[name] = clock[-1] - clock[-2]
        log.info("train: nps %s done in %.1f s", name, timings[name], extra={"fields": {
            "event": "train.substage", "stage": f"nps.{name}", "duration_s": round(timings[name], 3)}})

    answered_round, design_probability, invited_response, design = design_inputs(cfg, X, resp, invitations)
    organic = answered_round == 0
    # with invitations the usual survey may have (almost) no answers of its own: then it has no response model
    response = fit_response(cfg, X, organic) if design_probability is None or \
        organic.sum() >= 2 * cfg.response.cv_folds else None
    weights = channel_population_weights(answered_round, design_probability, response)
    lap("response")
    nps = NpsStage.fit(X, s, cfg.nps, cfg.scale, cfg.seed, population_weight=weights).model
    lap("nps_fit")
    predictions = nps.predict_frame(X)
    lap("nps_predict")
    observed, cross_fitted, full = nps_arrays(nps, X, s, predictions[["p_detractor", "p_passive", "p_promoter"]])
    population = population_nps(
        observed, cross_fitted, None if response is None else response.propensity_.to_numpy(dtype=float), full,
        level=cfg.population.interval, interval_method=cfg.population.interval_method,
        n_bootstrap=cfg.population.bootstrap, seed=cfg.seed, segments=segments, no_signal=bool(nps.no_signal_),
        signal=nps.signal_, response=None if response is None else response.summary(),
        answered_round=answered_round, design_probability=design_probability)
    lap("population")
    return NpsFit(response=response, weights=weights, nps=nps, predictions=predictions, population=population,
                    timings=timings, invited_response=invited_response, design=design)
