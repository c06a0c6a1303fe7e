"""The MLproject: typed entry points that are thin CLI calls, run for real through `mlflow run`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ENTRY_POINTS = {"validate", "train", "tune", "evaluate", "score", "demo"}
MLFLOW_TYPES = {"string", "float", "path", "uri"}


@pytest.fixture(scope="module")
def project(repo_root) -> dict:
    return yaml.safe_load((repo_root / "MLproject").read_text(encoding="utf-8"))


def test_every_stage_is_a_typed_thin_cli_entry_point(project):
    assert project["name"] == "cxpredict"
    assert set(project["entry_points"]) == ENTRY_POINTS
    for name, entry in project["entry_points"].items():
        assert entry["command"].startswith(f"cxpredict {name}"), name
        for param, spec in entry.get("parameters", {}).items():
            assert isinstance(spec, dict) and spec.get("type") in MLFLOW_TYPES, (name, param)
            assert f"{{{param}}}" in entry["command"], f"{name}: parameter {param} is not used"


def test_entry_point_commands_exist_in_the_cli(project):
    from typer.main import get_command

    from cxpredict.cli.app import app

    commands = set(get_command(app).commands)
    assert ENTRY_POINTS <= commands


def _mlflow_run(repo_root: Path, store: Path, entry: str, *params: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "CXPREDICT_PROGRESS": "0"}
    env.pop("MLFLOW_RUN_ID", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "mlflow", "run", str(repo_root), "-e", entry, "--env-manager", "local",
           "--experiment-name", "cxpredict-test"]
    for p in params:
        cmd += ["-P", p]
    return subprocess.run(cmd, cwd=store, env=env, capture_output=True, text=True, timeout=900)


def _runs(store: Path):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("cxpredict-test")
    return client, client.search_runs([experiment.experiment_id])


def test_mlflow_run_validate_entry_point(repo_root, demo_config_path, tmp_path):
    done = _mlflow_run(repo_root, tmp_path, "validate", f"config={demo_config_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok:" in done.stdout
    _, runs = _runs(tmp_path)
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.params["config"] == str(demo_config_path)


@pytest.mark.slow
def test_mlflow_run_train_registers_and_score_loads_by_alias(repo_root, fast_demo_config_path, tmp_path):
    small = fast_demo_config_path
    done = _mlflow_run(repo_root, tmp_path, "train", f"config={small}", f"out={tmp_path / 'model'}",
                       "register=true")
    assert done.returncode == 0, done.stderr[-3000:]
    client, runs = _runs(tmp_path)
    train_run = runs[0]
    assert train_run.data.tags["cxpredict.kind"] == "train"
    assert "nps_cv.log_loss" in train_run.data.metrics
    version = client.get_model_version_by_alias("cxpredict-nps", "champion")
    assert version.run_id == train_run.info.run_id

    scored = tmp_path / "scored.csv"
    done = _mlflow_run(repo_root, tmp_path, "score", f"config={small}", "model=models:/cxpredict-nps@champion",
                       f"out={scored}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert scored.is_file()
    _, runs = _runs(tmp_path)
    score_run = next(r for r in runs if r.data.tags.get("cxpredict.kind") == "score")
    assert score_run.data.metrics["score.rows"] > 0
    assert score_run.data.tags["cxpredict.model"] == "models:/cxpredict-nps@champion"
