"""Optuna tuning: honest fold objective, pruning, resumable seeded studies, tuned config, MLflow child runs."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cxpredict.config import load_config
from cxpredict.workflows import tune as tuning


def _toy_problem(noise: float = 0.0) -> tuning.Problem:
    """A cheap problem with a known optimum (x = 0.3): tests the study machinery without LightGBM."""
    folds = np.repeat(np.arange(4), 5)

    def settings(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        return x, {"x": x}

    def fold_value(x, train_idx, test_idx):
        return (x - 0.3) ** 2 + noise * int(test_idx[0])

    return tuning.Problem("nps", "log_loss", folds, fold_value, settings, lambda: (0.9, {"x": 0.9}), "toy")


@pytest.fixture
def toy_cfg(demo_config, tmp_path):
    return demo_config.model_copy(update={"tuning": demo_config.tuning.model_copy(update={
        "storage": str(tmp_path / "optuna.sqlite3"), "startup_trials": 3})})


def test_study_starts_from_the_config_improves_and_resumes(toy_cfg):
    first = tuning.run_study(toy_cfg, _toy_problem(), trials=12)
    assert first.new_trials == 12 and first.n_complete + first.n_pruned == 12
    assert first.default_value == pytest.approx(0.36), "trial 0 is the config as given"
    assert first.best_value < first.default_value
    assert abs(first.best_params["x"] - 0.3) < 0.2
    again = tuning.run_study(toy_cfg, _toy_problem(), trials=15)
    assert again.new_trials == 3, "a rerun tops the stored study up instead of starting over"
    assert again.n_complete + again.n_pruned == 15
    assert again.best_value <= first.best_value


def test_bad_trials_are_pruned_between_folds(toy_cfg):
    summary = tuning.run_study(toy_cfg, _toy_problem(noise=0.01), trials=25)
    assert summary.n_pruned > 0


def test_studies_are_seeded(toy_cfg, tmp_path):
    import optuna

    a = tuning.run_study(toy_cfg, _toy_problem(), trials=8)
    other = toy_cfg.model_copy(update={"tuning": toy_cfg.tuning.model_copy(
        update={"storage": str(tmp_path / "other.sqlite3")})})
    b = tuning.run_study(other, _toy_problem(), trials=8)
    values = [[t.value for t in optuna.load_study(study_name=s.study_name, storage=s.storage).trials] for s in (a, b)]
    assert values[0] == values[1]


@pytest.mark.parametrize("formulation", ["multiclass", "regression", "ordinal"])
def test_nps_fold_value_beats_the_uniform_guess(demo_config, formulation):
    problem = tuning.load_problems(demo_config, ("nps",))[0]
    k = problem.folds == 0
    value = problem.fold_value((formulation, demo_config.nps.params), np.flatnonzero(~k), np.flatnonzero(k))
    assert np.isfinite(value) and value < np.log(3), "weighted log loss must beat guessing 1/3 per class"


def test_churn_fold_value_is_an_auc_above_chance(demo_config):
    problem = tuning.load_problems(demo_config, ("churn",))[0]
    assert problem.direction == "maximize"
    k = problem.folds == 0
    assert 0.6 < problem.fold_value(demo_config.churn.params, np.flatnonzero(~k), np.flatnonzero(k)) <= 1


def test_tuned_config_keeps_other_keys_and_rebases_paths(demo_config_path, tmp_path):
    summary = tuning.StudySummary(
        model="nps", study_name="s", storage="x", metric="log_loss", direction="minimize", default_value=0.9,
        best_value=0.8, best_params={"formulation": "ordinal", "num_leaves": 7, "learning_rate": 0.0312345678},
        best_trial=3, n_complete=5, n_pruned=1, n_failed=0, new_trials=6, seconds=1.0)
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
