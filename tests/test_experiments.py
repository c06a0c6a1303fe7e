"""experiments/: every study's README is exactly what scripts/experiment_readme.py makes from its result files."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest


@pytest.fixture(scope="module")
def generator(repo_root):
    spec = importlib.util.spec_from_file_location("experiment_readme", repo_root / "scripts" / "experiment_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _without_date(text: str) -> str:
    return re.sub(r"on \d{4}-\d{2}-\d{2} from", "on <date> from", text)


def test_every_readme_is_generated_not_hand_edited(repo_root, generator):
    studies = sorted(p.parent for p in (repo_root / "experiments").glob("*/study.yaml"))
    assert {s.name for s in studies} >= {"telco_mnar15", "synthetic_mar"}
    for study in studies:
        committed = (study / "README.md").read_text(encoding="utf-8")
        assert _without_date(committed) == _without_date(generator.render(study)), (
            f"{study.name}/README.md is stale or hand-edited; run python scripts/experiment_readme.py {study}")


def test_cells_come_from_the_result_files(tmp_path, generator):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "bench.json").write_text(json.dumps(
        {"size": "quick", "model": {"mean": {"auc": 0.7123}, "std": {"auc": 0.01}}, "n": 5}), encoding="utf-8")
    (tmp_path / "study.yaml").write_text(
        "title: t\nquestion: q\ncommands: [run]\ntables:\n"
        "  - {title: T, columns: {auc: AUC, n: [runs, 0]}, rows: [{label: m, file: results/bench.json, path: model},"
        " {label: top, file: results/bench.json}, {label: later, file: results/absent.json}]}\n", encoding="utf-8")
    text = generator.render(tmp_path)
    assert "| m (quick size) | 0.712 ± 0.010 | – |" in text
    assert "| top (quick size) | – | 5 |" in text
    assert "| later | not run yet | not run yet |" in text
