"""MLflow tracking: URI precedence, the no-op path, a local sqlite round trip, and a real `mlflow server`."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from cxpredict.config import config_from_dict
from cxpredict.errors import BundleError, ConfigError
from cxpredict.io import tracking


def _cfg(**tracking_section):
    raw = {"name": "tiny", "data": {"survey": {"path": "s.csv"}, "behaviour": [{"name": "c", "path": "c.csv"}]}}
    if tracking_section:
        raw["tracking"] = tracking_section
    return config_from_dict(raw)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """Run in an empty folder with no MLflow environment and the user's cxpredict folder in `home/` under it, so
    nothing lands in the repository or the real home."""
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(tracking.HOME_VARIABLE, str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _fake_bundle(folder: Path) -> Path:
    (folder / "nps").mkdir(parents=True)
    (folder / "bundle.json").write_text('{"format_version": 1}', encoding="utf-8")
    (folder / "nps" / "model.txt").write_text("tree", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------------------------- unit
def test_uri_precedence(clean_env, monkeypatch):
    cfg = _cfg()
    home = clean_env.resolve() / "home"
    assert tracking.resolve_tracking_uri(cfg) == f"sqlite:///{home / 'mlflow.db'}", "the user's store, not cwd"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert tracking.resolve_tracking_uri(cfg) == "http://env:5000"
    cfg_uri = _cfg(uri="http://config:5000")
    assert tracking.resolve_tracking_uri(cfg_uri) == "http://config:5000"
    assert tracking.resolve_tracking_uri(cfg_uri, uri="http://flag:5000") == "http://flag:5000"
    monkeypatch.setenv("MLFLOW_RUN_ID", "abc")  # launched by `mlflow run`: resume where the project run lives
    assert tracking.resolve_tracking_uri(cfg_uri) == "http://env:5000"


def test_flatten_and_numeric_metrics():
    flat = tracking.flatten({"nps": {"params": {"num_leaves": 31}, "segments": ["a", "b"]}, "empty": {}})
    assert flat == {"nps.params.num_leaves": 31, "nps.segments": ["a", "b"], "empty": {}}
    metrics = tracking.numeric_metrics({"nps": {"qwk": 0.5, "label": "x", "bad": float("nan")}, "ok": True,
                                        "by class(det)": 2})
    assert metrics == {"nps.qwk": 0.5, "ok": 1.0, "by class_det_": 2.0}


def test_disabled_tracking_is_a_no_op(clean_env):
    cfg = _cfg(enabled=False)
    with tracking.start_run(cfg, "train") as run_id:
        assert run_id is None
        tracking.log_metrics({"a": 1.0})
        tracking.log_artifacts(clean_env)
        assert tracking.log_child_run("trial-0", {"x": 1}, {"y": 2}) is None
        assert tracking.log_bundle_model(clean_env, tracking.PyfuncSpec([], None, "stand_in_loader"), "m") is None
    assert not (clean_env / "mlflow.db").exists()


def test_local_sqlite_run_register_and_download(clean_env):
    """Run, params, tags, child runs and the registry on a local sqlite store. The bundle here is a stand-in
    (tests/workflows/test_pyfunc.py registers and loads a real one)."""
    from mlflow import MlflowClient

    cfg = _cfg()
    bundle = _fake_bundle(clean_env / "model")
    example = {"customer_id": ["example-1"], "x": [1.0]}
    with tracking.start_run(cfg, "train", fingerprints={"survey": "f00d"}) as run_id:
        tracking.log_metrics({"nps": {"qwk": 0.42}})
        child = tracking.log_child_run("trial-0", {"num_leaves": 15}, {"objective": 0.9})
        version = tracking.log_bundle_model(bundle, tracking.PyfuncSpec([("p_detractor", "double")], example, "stand_in_loader"),
                                            "tiny-nps", alias="champion")
    assert not (clean_env / "mlflow.db").exists() and not (clean_env / "mlruns").exists(), "never the cwd"
    assert (clean_env / "home" / "mlflow.db").is_file()
    assert (clean_env / "home" / "mlruns").is_dir(), "artifacts belong beside the sqlite database"
    client = MlflowClient(tracking.default_tracking_uri())
    experiment = client.get_experiment(client.get_run(run_id).info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development", "MLflow 3: an ML experiment"
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["nps.qwk"] == pytest.approx(0.42)
    assert run.data.params["nps.params.num_leaves"] == "31"
    assert run.data.tags["cxpredict.kind"] == "train"
    assert run.info.run_name == f"tiny train {dt.date.today().isoformat()}", "config, command and date"
    assert run.data.tags["cxpredict.data.survey"] == "f00d"
    assert run.data.tags["cxpredict.config_hash"] == cfg.fingerprint()
    assert client.get_run(child).data.tags["mlflow.parentRunId"] == run_id
    assert client.get_run(child).info.experiment_id == run.info.experiment_id
    assert str(client.get_model_version_by_alias("tiny-nps", "champion").version) == version
    local = tracking.download_bundle("models:/tiny-nps@champion", dst=clean_env / "fetched")
    assert (local / "nps" / "model.txt").read_text(encoding="utf-8") == "tree"
    assert (local.parent.parent / "MLmodel").is_file(), "found inside the pyfunc model's data folder"


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory) -> str:
    """One sqlite store shared by the small tests below (creating a store costs seconds of migrations)."""
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


def test_failed_block_marks_run_failed(clean_env, store_uri):
    from mlflow import MlflowClient

    with pytest.raises(RuntimeError):
        with tracking.start_run(_cfg(uri=store_uri), "train") as run_id:
            raise RuntimeError("boom")
    assert MlflowClient(store_uri).get_run(run_id).info.status == "FAILED"
    assert not (clean_env / "mlflow.db").exists()


def test_download_unknown_model_is_a_bundle_error_and_leaves_no_folder(clean_env, store_uri, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(BundleError, match="no-such-model"):
        tracking.download_bundle("models:/no-such-model@champion", tracking_uri=store_uri)
    assert not list(tmp_path.glob("cxpredict-bundle-*"))


def test_unreachable_server_is_a_config_error(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(ConfigError, match="--no-tracking"):
        with tracking.start_run(_cfg(), "train", uri=f"http://127.0.0.1:{_free_port()}"):
            pass


def test_register_needs_tracking():
    with pytest.raises(ConfigError, match="--register"):
        tracking.require_enabled(_cfg(), "--register", no_tracking=True)


# --------------------------------------------------------------------------------------------- real server
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on a free loopback port with a sqlite backend; killed (whole group) at teardown."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
           "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited early:\n{(root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not become healthy:\n{(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url, root
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_training_logged_to_real_mlflow_server(mlflow_server, clean_env, fast_demo_config_path):
    """A tiny `cxpredict train --register` against a real server; everything read back through the client."""
    from mlflow import MlflowClient

    from cxpredict.cli.app import main
    from cxpredict.io.bundle import load_bundle

    url, root = mlflow_server
    out = clean_env / "model"
    assert main(["train", str(fast_demo_config_path), "--out", str(out), "--tracking-uri", url, "--register"]) == 0

    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("cxpredict")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["cxpredict.kind"] == "train"
    assert run.data.params["nps.params.n_estimators"] == "60"
    assert 0 < run.data.metrics["nps_cv.log_loss"] < 2
    bundle_info = json.loads((out / "bundle.json").read_text(encoding="utf-8"))
    assert run.data.tags["cxpredict.bundle.content_hash"] == bundle_info["content_hash"]
    assert run.data.tags["cxpredict.data.survey"] == bundle_info["data_fingerprints"]["survey"]
    version = client.get_model_version_by_alias("cxpredict-nps", "champion")
    assert version.run_id == run.info.run_id
    local = tracking.download_bundle("models:/cxpredict-nps@champion", tracking_uri=url, dst=clean_env / "fetched")
    assert load_bundle(local).content_hash == bundle_info["content_hash"], "the registered bundle is intact"
    assert any((root / "artifacts").rglob("bundle.json")), "artifacts are proxied to the server's destination"
    import mlflow

    mlflow.set_tracking_uri(url)
    model = mlflow.pyfunc.load_model("models:/cxpredict-nps@champion")  # a real pyfunc model on the alias
    assert model.metadata.run_id == run.info.run_id
    fetched = tracking.download_run_outputs(run.info.run_id, clean_env / "run", tracking_uri=url)
    assert any(fetched.rglob("bundle.json")), "`cxpredict report <run id>` finds the run's bundle"
    assert not (clean_env / "mlflow.db").exists(), "nothing may be logged to the local default store"
