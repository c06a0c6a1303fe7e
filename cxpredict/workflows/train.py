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
from cxpredict.actions.strategy import ActionStage, configured_playbook
from cxpredict.config import (
    Config,
    DriversConfig,
    NpsModelConfig,
    PopulationConfig,
    ResponseConfig,
    Scale,
    SurveyDesignConfig,
)
from cxpredict.data.customers import CustomerData, load_customers, require_trainable
from cxpredict.data.features import FeatureManifest
from cxpredict.data.invitations import Invitations, load_invitations
from cxpredict.data.text import load_texts
from cxpredict.data.config_checks import require_names
from cxpredict.estimation.design import answer_chance_slope
from cxpredict.estimation.population import PopulationNps, nps_arrays, population_nps
from cxpredict.estimation.segments import segment_frame
from cxpredict.explain.drivers import DriverGroups
from cxpredict.explain.stage import DriverStage
from cxpredict.io.bundle import save_bundle
from cxpredict.metrics import class_index, confusion, score_to_class
from cxpredict.models.nps import NpsClassifier
from cxpredict.models.response import ResponsePropensity
from cxpredict.models.stages import ChurnStage, NpsStage, ReasonStage
from cxpredict.provenance import Timer
from cxpredict.stages import Training
from cxpredict.workflows.drift import profile_training
from cxpredict.workflows.default_drivers import resolve_drivers
from cxpredict.workflows.text import TextSettings, TextStage, previous_text_models

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
    Order: text (its features join the customers), features, then the stages of `fitting_order` (NPS with its
    response weights and population estimate, churn; the drift profile of their outputs; actions, reasons),
    drivers (with the groups resolved on the features), save. Each stage is fitted through the stage protocol
    with its own settings section, all read from `cfg` here before the data."""
    threads.use(cfg.n_jobs)
    absent = cfg.absent_stages()
    texts = "text" not in absent and cfg.text.active  # text features join the customers; comments fill reasons
    previous_texts = previous_text_models(cfg, Path(out)) if texts else None  # whose topic names a retrain keeps
    models, rules = fitting_order(cfg)
    timer = Timer(log, "train")
    if absent:
        log.info("train: skipping %s", "; ".join(f"{', '.join(s)}: {why}" for why, s in _by_reason(absent).items()))
    with timer("load"):
        data = data if data is not None else load_customers(cfg)
    training = Training(data, None, None, cfg.seed, absent, _checked(cfg, data, absent),
                        previous_texts=previous_texts)
    if texts:
        with timer("read_texts"):
            training.texts = load_texts(cfg)
    configured_playbook(cfg.resolved_strategy(), absent)  # a broken strategy.playbook fails before any fit
    if texts:
        training.fit_stages([(TextStage, TextSettings.of(cfg))], timer)
    # the text stage's features are customer columns now; its own columns come last when scoring (score.py)
    data, text = training.customers, training.fitted.pop("text", None)
    for warning in text.warnings if text else []:
        log.warning(warning)
    with timer("features"):
        manifest, X, drivers_cfg = _features(cfg, data, text, absent)
    training.features, training.manifest = X, manifest
    training.metrics.update({"n_customers": len(X), "n_respondents": int(data.is_respondent.sum())})
    training.reports["data"] = data.report.__dict__
    if text:
        meta = text.models.meta
        training.metrics["text"] = {"features": len(meta["feature_names"]), "counts": meta["counts"],
                                    "comment_reasons": meta["reasons"]}
    training.fit_stages(models, timer)
    with timer("drift_profile"):  # the training population as scoring sees it, for PSI at scoring time
        training.scored = training.score_fitted(data.frame)
        drift_profile = profile_training(manifest, X, training.scored, data.score.to_numpy(), cfg.scale)
    training.fit_stages([*rules, (DriverStage, drivers_cfg)], timer)
    components = _components(text, training.fitted)
    trained = ["features", *(["nps"] if "nps" in training.fitted else []),
               *(n for n, c in components.items() if c is not None)]
    training.metrics["stages"] = {"trained": sorted(trained), "skipped": absent}
    fingerprints = {name: t["fingerprint"] for name, t in data.report.tables.items()}
    nps = training.fitted.get("nps")
    with timer("save"):
        bundle_path = save_bundle(
            out, cfg, manifest, nps.model if nps is not None else None, components=components,
            metrics=training.metrics, fingerprints=fingerprints, drift_profile=drift_profile,
            extra_files=training.fitted["actions"].files(), skipped=absent,
        )
    training.metrics["timings"] = timer.seconds
    return TrainResult(bundle_path=Path(bundle_path), metrics=training.metrics, reports=training.reports,
                       timings=timer.seconds)


def fitting_order(cfg: Config) -> tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]]:
    """The stages `train` fits, each with its own settings section: the models (whose outputs the drift
    profile records), then the stages that read those outputs. The drivers stage follows them, with the driver
    groups `train` resolves on the feature manifest (readable defaults, groups the model can explain)."""
    return ([(SurveyStage, NpsSettings.of(cfg)), (ChurnStage, cfg.churn)],
            [(ActionStage, cfg.resolved_strategy()), (ReasonStage, cfg.drivers)])


def _components(text: TextStage | None, fitted: dict[str, Any]) -> dict[str, Any]:
    """The bundle's sub-folders other than nps/: the text models, the response models, churn and reasons."""
    nps, churn, reasons = fitted.get("nps"), fitted["churn"], fitted.get("reasons")
    return {**({"text": text.models} if text else {}),
            **({"response": nps.response} if nps is not None else {}),
            **({"invited_response": nps.invited_response} if nps is not None and nps.invited_response else {}),
            **({"churn": churn.model} if churn.model is not None else {}),
            **({"reasons": reasons.model if reasons.fitted else None} if reasons is not None else {})}


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


def _by_reason(absent: dict[str, str]) -> dict[str, list[str]]:
    """{stage: why} -> {why: [stages]}, for one readable line."""
    grouped: dict[str, list[str]] = {}
    for stage, why in absent.items():
        grouped.setdefault(why, []).append(stage)
    return grouped


@dataclass(frozen=True)
class NpsSettings:
    """The sections the NPS stage is fitted with: the survey's part of the config."""

    nps: NpsModelConfig
    response: ResponseConfig
    survey_design: SurveyDesignConfig
    population: PopulationConfig
    scale: Scale
    seed: int

    @classmethod
    def of(cls, cfg: Config) -> NpsSettings:
        return cls(cfg.nps, cfg.response, cfg.survey_design, cfg.population, cfg.scale, cfg.seed)


@dataclass
class SurveyStage(NpsStage):
    """The NPS stage as training fits it (stage protocol): the response models first (their weights calibrate
    the NPS model and choose among its candidates), then the NPS model, then the population NPS; metrics.json
    gets the model's held-out quality and the estimate. Scoring needs only the NPS model (NpsStage)."""

    response: ResponsePropensity | None = None
    invited_response: ResponsePropensity | None = None  # who answers an invitation (with an invitation log)

    @classmethod
    def fit(cls, training: Training, settings: NpsSettings) -> SurveyStage | None:
        """None when the data has no survey. Sets training.weights: the respondents' population weights."""
        if "nps" in training.absent:
            return None
        data, X, manifest, invitations = training.customers, training.features, training.manifest, training.invitations
        metrics, reports = training.metrics, training.reports  # what the run records
        respondents = data.is_respondent
        stage = fit_nps_stage(X, data.score.to_numpy(dtype=float), settings,
                              segment_frame(data.frame, settings.population.segments), invitations)
        nps = stage.nps
        if stage.invited_response is not None:  # its saved summary names features too: the user's names
            stage.invited_response.importance_ = manifest.user_named(stage.invited_response.importance_)
            stage.invited_response.differences_ = manifest.user_named(stage.invited_response.differences_)
        if invitations.rounds:
            metrics["survey_design"] = {**invitations.summary(respondents), **stage.design}
        metrics["nps_formulation"] = nps.formulation_
        metrics["nps_cv"] = nps.cv_metrics_  # held out from every choice (models/held_out.py)
        metrics["nps_cv_interval"] = nps.cv_intervals_
        metrics["nps_cv_selected_oof"] = nps.selected_oof_metrics_  # diagnostic: seen by the choice, optimistic
        metrics["nps_cv_confusion"] = confusion(  # held out, respondents; rows = true class (for the report)
            score_to_class(data.score.to_numpy()[respondents], settings.scale),
            class_index(nps.held_out_["predicted_class"])).tolist()
        if stage.response is not None:  # its summary (and response.json) names features: the user's names
            stage.response.importance_ = manifest.user_named(stage.response.importance_)
            stage.response.differences_ = manifest.user_named(stage.response.differences_)
            stage.population.response = stage.response.summary()
        metrics["population_nps"] = stage.population.to_dict()  # saved in the bundle's metrics.json
        reports["response"] = stage.population.response
        reports["nps_reliability"] = nps.reliability_
        training.weights = stage.weights
        training.scored = stage.predictions  # the NPS stage's columns for every customer, predicted once
        return cls(nps, stage.response, stage.invited_response)

    def save(self, bundle_dir: Path) -> None:
        super().save(bundle_dir)
        for name, model in (("response", self.response), ("invited_response", self.invited_response)):
            if model is not None:
                model.save(Path(bundle_dir) / name)


def class_counts(labels: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(np.asarray(labels, dtype=str), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts)}


# --------------------------------------------------------------------------------------------- the stage
def fit_response(cfg: Config | NpsSettings, X: pd.DataFrame, is_respondent: np.ndarray) -> ResponsePropensity | None:
    """The response propensity on every customer (None when `response.enabled` is off): its `weights_` are the
    NPS model's training weights, in training and in tuning."""
    if not cfg.response.enabled:
        return None
    return ResponsePropensity.from_config(cfg.response, cfg.seed).fit(X, is_respondent)


def fit_invited_response(cfg: Config | NpsSettings, X: pd.DataFrame, invited: np.ndarray, answered: np.ndarray
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


def design_inputs(cfg: Config | NpsSettings, X: pd.DataFrame, responded: np.ndarray, invitations: Invitations | None):
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


def fit_nps_stage(X: pd.DataFrame, score, cfg: Config | NpsSettings, segments: pd.DataFrame | None = None,
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
    clock, cpu = [time.perf_counter()], [time.process_time()]
    timings: dict[str, float] = {}

    def lap(name: str) -> None:  # wall and CPU seconds (on a shared machine the CPU is the fairer measure)
        clock.append(time.perf_counter())
        cpu.append(time.process_time())
        timings[name] = clock[-1] - clock[-2]
        log.info("train: nps %s done in %.1f s", name, timings[name], extra={"fields": {
            "event": "train.substage", "stage": f"nps.{name}", "duration_s": round(timings[name], 3),
            "cpu_s": round(cpu[-1] - cpu[-2], 3)}})

    answered_round, design_probability, invited_response, design = design_inputs(cfg, X, resp, invitations)
    organic = answered_round == 0
    # with invitations the usual survey may have (almost) no answers of its own: then it has no response model
    response = fit_response(cfg, X, organic) if design_probability is None or \
        organic.sum() >= 2 * cfg.response.cv_folds else None
    weights = channel_population_weights(answered_round, design_probability, response)
    lap("response")
    nps = NpsClassifier.from_config(cfg.nps, cfg.scale, cfg.seed).fit(X[resp], s[resp], population_weight=weights)
    lap("nps_fit")
    nps.compile()  # every customer is predicted next, as scoring predicts them
    predictions = nps.predict_frame(X)
    lap("nps_predict")
    observed, cross_fitted, full, draw_variance = nps_arrays(
        nps, X, s, predictions[["p_detractor", "p_passive", "p_promoter"]], cfg.population.fold_mean_max_silent,
        cfg.seed)
    population = population_nps(
        observed, cross_fitted, None if response is None else response.propensity_.to_numpy(dtype=float), full,
        draw_variance=draw_variance, level=cfg.population.interval, interval_method=cfg.population.interval_method,
        n_bootstrap=cfg.population.bootstrap, seed=cfg.seed, segments=segments, no_signal=bool(nps.no_signal_),
        signal=nps.signal_, response=None if response is None else response.summary(),
        answered_round=answered_round, design_probability=design_probability)
    lap("population")
    return NpsFit(response=response, weights=weights, nps=nps, predictions=predictions, population=population,
                    timings=timings, invited_response=invited_response, design=design)
