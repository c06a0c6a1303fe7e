"""Packaging: every imported package declared and every declared one used, the shipped resources are package data,
`cxpredict --version`, and the demo runs from a folder that is not the repository."""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import FAST_OVERRIDES
from cxpredict._version import __version__
from cxpredict.config import DEFAULT_PLAYBOOK, DEMO_CONFIG, RESOURCES, load_config

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_distributions(folder: Path) -> dict[str, set[str]]:
    """Third-party modules imported anywhere in `folder` (also inside functions) -> the distributions that
    provide them (mlflow comes with mlflow and mlflow-skinny)."""
    top = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                top |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top.add(node.module.split(".")[0])
    owners = importlib.metadata.packages_distributions()
    third_party = top - set(sys.stdlib_module_names) - {"cxpredict", "__future__"}
    return {name: {d.lower().replace("_", "-") for d in owners.get(name, [name])} for name in third_party}


def test_every_imported_package_is_declared_and_every_declared_one_is_used():
    declared = {_distribution(r) for r in PYPROJECT["project"]["dependencies"]}
    spark = {_distribution(r) for r in PYPROJECT["project"]["optional-dependencies"]["spark"]}
    package, scripts = _imported_distributions(ROOT / "cxpredict"), _imported_distributions(ROOT / "scripts")
    undeclared = sorted(m for m, owners in package.items() if not owners & (declared | spark))
    assert undeclared == [], "imported by the package but not declared in pyproject.toml"
    used = set().union(*package.values(), *scripts.values())
    assert declared - used == set(), "declared in pyproject.toml but imported nowhere (package or scripts)"


def test_the_shipped_resources_are_package_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["cxpredict"]
    shipped = sorted(p.relative_to(RESOURCES.parent).as_posix() for p in RESOURCES.rglob("*") if p.is_file())
    assert shipped and all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in shipped), shipped
    assert DEMO_CONFIG.parent == RESOURCES and DEFAULT_PLAYBOOK.parent == RESOURCES
    cfg = load_config(DEMO_CONFIG)
    assert cfg.resolve(cfg.strategy.playbook) == DEFAULT_PLAYBOOK
    telco = load_config(ROOT / "configs" / "telco.yaml")
    assert telco.resolve(telco.strategy.playbook) == DEFAULT_PLAYBOOK, "one playbook, referenced, not copied"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("cxpredict") or str(Path(sys.executable).with_name("cxpredict"))
    env = {**os.environ, "CXPREDICT_PROGRESS": "0"}
    return subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_version_option(tmp_path):
    done = _cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"cxpredict {__version__}"


@pytest.mark.slow
def test_the_installed_demo_runs_from_any_folder(tmp_path):
    """The installed command in an empty folder: the packaged config, tables into ./data/demo, outputs beside."""
    overrides = [a for o in FAST_OVERRIDES for a in ("--set", o)]
    done = _cli("demo", "--customers", "3000", "--no-tracking", *overrides, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "data" / "demo" / "survey.csv").is_file()
    for name in ("scored.csv", "manifest.json", "report.html", "model/bundle.json"):
        assert (tmp_path / "outputs" / "demo" / name).is_file(), name
