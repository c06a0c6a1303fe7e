"""Shared fixtures: the repo root, the shared telco data (skipped cleanly when absent) and a small demo run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TELCO_DIR = ROOT.parent / "shared" / "datasets" / "ibm_telco"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def telco_dir() -> Path:
    if not (TELCO_DIR / "Telco_customer_churn_status.csv").is_file():
        pytest.skip(f"shared telco data not found at {TELCO_DIR} (../shared is absent)")
    return TELCO_DIR


@pytest.fixture(scope="session")
def demo_config_path(tmp_path_factory) -> Path:
    """configs/demo.yaml copied beside a freshly generated small synthetic data set (5,000 customers, 15%)."""
    from cxpredict.datasets import generate, write_tables

    base = tmp_path_factory.mktemp("demo")
    (base / "configs").mkdir()
    shutil.copy(ROOT / "configs" / "demo.yaml", base / "configs" / "demo.yaml")
    if (ROOT / "configs" / "playbook.yaml").is_file():
        shutil.copy(ROOT / "configs" / "playbook.yaml", base / "configs" / "playbook.yaml")
    data = generate(n_customers=5_000, seed=0, response_rate=0.15)
    write_tables(data, base / "data" / "demo")
    return base / "configs" / "demo.yaml"


@pytest.fixture(scope="session")
def demo_config(demo_config_path):
    from cxpredict.config import load_config

    return load_config(demo_config_path, ["nps.params.n_estimators=60", "nps.cv_folds=3"])


@pytest.fixture(scope="session")
def trained_bundle(demo_config, tmp_path_factory):
    """A bundle trained once per session on the small demo data (shared by scoring/bundle/CLI tests)."""
    from cxpredict.pipeline import train

    out = tmp_path_factory.mktemp("bundle") / "model"
    return train(demo_config, out).bundle_path
