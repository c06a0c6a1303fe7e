"""Optuna tuning through the estimators: the objective is the shipped model's own validation, resumable seeded
studies that never replay trials, the baseline's stored parameters, tuned config, MLflow child runs."""

from __future__ import annotations

import os

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from sklearn.base import BaseEstimator

from cxpredict.config import load_config
from cxpredict.io.bundle import load_bundle
from cxpredict.workflows import tune as tuning


class Toy(BaseEstimator):
    """An estimator whose 'validation' is (x - 0.3)^2: tests the study machinery without LightGBM."""

    def __init__(self, x=0.9):
        self.x = x


def _toy_problem() -> tuning.Problem:
    return tuning.Problem("nps", "log_loss", Toy(), {"x": FloatDistribution(0.0, 1.0)},
                          lambda model: ((model.x - 0.3) ** 2, []), "toy")


def _trials(summary: tuning.StudySummary) -> list:
    return optuna.load_study(study_name=summary.study_name, storage=summary.storage).trials


@pytest.fixture
def toy_cfg(demo_config, tmp_path):
    return demo_config.model_copy(update={"tuning": demo_config.tuning.model_copy(update={
        "storage": str(tmp_path / "optuna.sqlite3"), "startup_trials": 3})})


def test_study_starts_from_the_config_improves_and_resumes(toy_cfg):
    first = tuning.run_study(toy_cfg, _toy_problem(), trials=12)
    assert first.new_trials == 12 and first.n_complete == 12
    assert first.default_value == pytest.approx(0.36), "trial 0 is the config as given"
    assert _trials(first)[0].params == {"x": 0.9}, "and stores its parameters"
    assert first.best_value < first.default_value
    assert abs(first.best_params["x"] - 0.3) < 0.2
    again = tuning.run_study(toy_cfg, _toy_problem(), trials=15)
    assert again.new_trials == 3, "a rerun tops the stored study up instead of starting over"
    assert again.n_complete == 15
    assert again.best_value <= first.best_value


def test_a_resumed_study_does_not_replay_earlier_parameters(toy_cfg):
    """Resumed inside the random startup phase, a sampler seeded as before would draw the same values again."""
    cfg = toy_cfg.model_copy(update={"tuning": toy_cfg.tuning.model_copy(update={"startup_trials": 10})})
    first = tuning.run_study(cfg, _toy_problem(), trials=4)  # the baseline + 3 random trials
    tuning.run_study(cfg, _toy_problem(), trials=8)  # 4 more random trials
    xs = [t.params["x"] for t in _trials(first)]
    assert len(xs) == 8 and len(set(xs)) == 8, f"the resumed trials repeat earlier ones: {xs}"


def test_studies_are_seeded(toy_cfg, tmp_path):
    a = tuning.run_study(toy_cfg, _toy_problem(), trials=8)
    other = toy_cfg.model_copy(update={"tuning": toy_cfg.tuning.model_copy(
        update={"storage": str(tmp_path / "other.sqlite3")})})
    b = tuning.run_study(other, _toy_problem(), trials=8)
    assert [t.value for t in _trials(a)] == [t.value for t in _trials(b)]


def test_the_nps_objective_at_the_config_is_the_shipped_models_cross_validated_metric(demo_config, trained_bundle,
                                                                                       tmp_path):
    """Tuning scores with the estimator's own cross-validation: trial 0 equals what `train` put in the bundle."""
    cfg = demo_config.model_copy(update={"tuning": demo_config.tuning.model_copy(
        update={"storage": str(tmp_path / "optuna.sqlite3")})})
    problem = tuning.load_problems(cfg, ("nps",))[0]
    summary = tuning.run_study(cfg, problem, trials=1)
    shipped = load_bundle(trained_bundle).nps
    assert summary.default_value == shipped.cv_metrics_[cfg.tuning.nps_metric]
    assert _trials(summary)[0].params == {"formulation": cfg.nps.formulation, **{
        k: v for k, v in shipped.get_params().items() if k in tuning.SEARCH}}


def test_trials_change_the_estimator_through_set_params(demo_config):
    problem = tuning.load_problems(demo_config, ("nps",))[0]
    model = problem.trial_estimator({"formulation": "ordinal", "num_leaves": 5, "subsample": 0.8}, default=False)
    assert (model.formulation, model.num_leaves, model.subsample_freq) == ("ordinal", 5, 1)
    assert problem.estimator.num_leaves != 5, "a clone: the configured estimator is untouched"
    value, _ = problem.evaluate(model)
    assert np.isfinite(value) and value < np.log(3), "weighted log loss must beat guessing 1/3 per class"


def test_churn_objective_is_a_cross_validated_auc_above_chance(demo_config):
    problem = tuning.load_problems(demo_config, ("churn",))[0]
    assert problem.direction == "maximize"
    value, folds = problem.evaluate(problem.estimator)
    assert 0.6 < value <= 1 and len(folds) == tuning.DEFAULT_CHURN_FOLDS and value == pytest.approx(np.mean(folds))


def test_tuned_config_keeps_other_keys_and_rebases_paths(demo_config_path, tmp_path):
    summary = tuning.StudySummary(
        model="nps", study_name="s", storage="x", metric="log_loss", direction="minimize", default_value=0.9,
        best_value=0.8, best_params={"formulation": "ordinal", "num_leaves": 7, "learning_rate": 0.0312345678},
        best_trial=3, n_complete=6, n_failed=0, new_trials=6, seconds=1.0)
    out = tmp_path / "elsewhere" / "tuned.yaml"
    tuning.write_tuned_config(demo_config_path, out, {"nps": summary})
    tuned, original = load_config(out), load_config(demo_config_path)
    assert tuned.nps.formulation == "ordinal" and tuned.nps.params.num_leaves == 7
    assert tuned.nps.params.min_child_samples == original.nps.params.min_child_samples
    assert tuned.resolve(tuned.data.dir) == original.resolve(original.data.dir), "data still found from new folder"
    assert "log_loss 0.9000 (config as given) -> 0.8000" in out.read_text(encoding="utf-8")


def test_tune_command_writes_a_trainable_config_and_logs_trials(fast_demo_config_path, tmp_path):
    from mlflow import MlflowClient

    from cxpredict.cli.app import main

    out = tmp_path / "tuned.yaml"
    code = main(["tune", str(fast_demo_config_path), "--trials", "3", "--model", "nps", "--out", str(out),
                 "--set", "tuning.cv_folds=2", "--set", f"tuning.storage={tmp_path / 'optuna.sqlite3'}"])
    assert code == 0
    cfg = load_config(out)
    assert cfg.nps.formulation in ("multiclass", "regression", "ordinal")
    assert (tmp_path / "tuned.json").is_file()
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    runs = client.search_runs([experiment.experiment_id], "tags.`cxpredict.kind` = 'tune'")
    parent = runs[0]
    children = client.search_runs([experiment.experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == 3, "one child run per trial"
    assert "nps.best_objective" in parent.data.metrics
