"""Shared fixtures: the repo root, the shared telco data (skipped cleanly when absent) and a small demo run."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
TELCO_DIR = ROOT.parent / "shared" / "datasets" / "ibm_telco"

# pytest-xdist runs two workers on two cores: one LightGBM thread each, and OpenMP threads that sleep instead of
# spinning while they wait (spinning threads of two processes starve each other: 10x slower training).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Fuzz tests (hypothesis) explore new examples on developers' machines; on CI (CI=true) they replay a fixed,
# derandomised set so a run is reproducible, and keep no example database.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Small, single-threaded models for the shared demo fixtures: tests check behaviour, benchmarks check quality.
FAST_OVERRIDES = [
    "nps.formulation=multiclass",
    "nps.candidates=configured",
    "nps.params.n_estimators=60",
    "nps.params.num_leaves=15",
    "nps.params.min_child_samples=30",
    "nps.params.n_jobs=1",
    "nps.cv_folds=3",
    "response.params.n_estimators=50",
    "response.params.n_jobs=1",
    "churn.params.n_estimators=60",
    "churn.params.n_jobs=1",
    "churn.measure_nps_lift=false",
    "drivers.reason_params.n_estimators=40",
    "drivers.reason_params.n_jobs=1",
]


@pytest.fixture(scope="session")
def _session_mlflow_uri(tmp_path_factory) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _mlflow_store_outside_the_repo(_session_mlflow_uri, monkeypatch):
    """Commands track to MLflow by default; in tests they log to a throwaway sqlite store, never ./mlflow.db.
    Set per test, because mlflow.set_tracking_uri also exports the variable: a test that talked to a server it
    has since stopped must not leave that address to the next test (it would retry for minutes)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _session_mlflow_uri)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def script_module(request):
    """A script of scripts/ imported as a module (its sibling imports work while the test module runs)."""
    folder = str(ROOT / "scripts")
    sys.path.insert(0, folder)
    request.addfinalizer(lambda: sys.path.remove(folder))
    return importlib.import_module


@pytest.fixture(scope="session")
def telco_dir() -> Path:
    if not (TELCO_DIR / "Telco_customer_churn_status.csv").is_file():
        pytest.skip(f"shared telco data not found at {TELCO_DIR} (../shared is absent)")
    return TELCO_DIR


@pytest.fixture(scope="session")
def demo_config_path(tmp_path_factory) -> Path:
    """The packaged demo config and playbook copied beside a freshly generated small synthetic data set (5,000
    customers, 15%): base/configs/demo.yaml reading base/data/demo."""
    from cxpredict.synthetic.customers import generate
    from cxpredict.synthetic.tables import write_tables

    base = tmp_path_factory.mktemp("demo")
    write_tables(generate(n_customers=5_000, seed=0, response_rate=0.15), base / "data" / "demo")
    return packaged_demo_config_in(base)


def packaged_demo_config_in(base: Path) -> Path:
    """Copy the packaged demo config and playbook to base/configs, reading base/data/demo; the config's path."""
    from cxpredict.config import DEFAULT_PLAYBOOK, DEMO_CONFIG

    (base / "configs").mkdir()
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    assert "dir: ../../data/demo" in text
    (base / "configs" / "demo.yaml").write_text(text.replace("dir: ../../data/demo", "dir: ../data/demo"),
                                                encoding="utf-8")
    shutil.copy(DEFAULT_PLAYBOOK, base / "configs" / "playbook.yaml")
    return base / "configs" / "demo.yaml"


@pytest.fixture(scope="session")
def demo_config(demo_config_path):
    from cxpredict.config import load_config

    return load_config(demo_config_path, FAST_OVERRIDES)


@pytest.fixture(scope="session")
def fast_demo_config_path(demo_config_path) -> Path:
    """demo.yaml with small models, as a file, for tests that go through the CLI or `mlflow run` subprocesses."""
    import yaml

    from cxpredict.config import apply_overrides

    raw = apply_overrides(yaml.safe_load(demo_config_path.read_text(encoding="utf-8")), FAST_OVERRIDES)
    path = demo_config_path.with_name("demo_fast.yaml")
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_bundle(demo_config, tmp_path_factory):
    """A bundle trained once per session on the small demo data (shared by scoring/bundle/CLI tests)."""
    from cxpredict.workflows.train import train

    out = tmp_path_factory.mktemp("bundle") / "model"
    return train(demo_config, out).bundle_path


@pytest.fixture(scope="session")
def text_demo_config(tmp_path_factory):
    """demo.yaml with text on, beside a small synthetic data set with bilingual comments and ticket notes."""
    from cxpredict.config import load_config
    from cxpredict.synthetic.customers import generate
    from cxpredict.synthetic.tables import write_tables

    base = tmp_path_factory.mktemp("text_demo")
    write_tables(generate(n_customers=4_000, seed=0, response_rate=0.2, text="mixed"), base / "data" / "demo")
    return load_config(packaged_demo_config_in(base), [*FAST_OVERRIDES, "text.enabled=true", "text.cv_folds=3"])


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the whole session (tests/postgres_server.py: initdb, pg_ctl start on a free
    port, stopped and removed at teardown); skipped with the reason where it cannot run."""
    import subprocess

    from postgres_server import PostgresServer, why_unavailable

    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    server = PostgresServer()
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        server.stop()
        pytest.skip(f"PostgreSQL could not start here: {e}")
    yield server
    server.stop()


@pytest.fixture
def postgres(postgres_server, monkeypatch):
    """The session's server with its password in PGPASSWORD (where libpq reads it), for this test only."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    return postgres_server


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """Spark in local mode on one core, quiet (errors only on the console), Python workers from this venv: one
    session for every Spark test (starting Spark takes tens of seconds)."""
    from pyspark.sql import SparkSession

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.fail("Spark local mode needs Java 17+ (.ci/run checks for it): install a JDK or set JAVA_HOME")
    log4j = tmp_path_factory.mktemp("spark") / "log4j2.properties"
    log4j.write_text("rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
                     "appender.console.type = Console\nappender.console.name = console\n"
                     "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
                     "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_PYTHON", sys.executable)
        env.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        env.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        session = (SparkSession.builder.master("local[1]").appName("cxpredict-test")
                   .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                   .config("spark.log.level", "ERROR").config("spark.sql.shuffle.partitions", "1")
                   .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
                   .config("spark.sql.warehouse.dir", str(log4j.parent / "warehouse"))  # not ./spark-warehouse
                   .getOrCreate())
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()
