"""Churn-only (no data.survey) and survey-only (no data.outcomes) configs, end to end through the CLI: each trains and
scores the stages its tables allow, the bundle records the rest, and a playbook naming an absent model's column
fails at load time (exit 2) naming the rule and the column."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import FAST_OVERRIDES

from cxpredict.cli.app import main
from cxpredict.columns import COLUMNS
from cxpredict.config import SURVEY_STAGES, apply_overrides

NPS_COLUMNS = [c.name for c in COLUMNS.values() if c.needs == "nps" and "scored" in c.files]
CHURN_COLUMNS = [c.name for c in COLUMNS.values() if c.needs == "churn" and "scored" in c.files]

CHURN_PLAYBOOK = {"version": 1, "name": "churn-playbook", "rules": [
    {"name": "high-risk-call", "when": 'risk_band == "high"', "strategy": "retention", "action": "Retention call",
     "owner_team": "retention-desk", "sla_hours": 48, "capacity": 50},
    {"name": "default", "strategy": "no-action", "action": "No action"}]}
SURVEY_PLAYBOOK = {"version": 1, "name": "survey-playbook", "priority": {"method": "value"}, "rules": [
    {"name": "detractor-call", "when": 'segment_class == "detractor"', "strategy": "retention",
     "action": "Personal call-back", "owner_team": "cx-team", "capacity": 40},
    {"name": "default", "strategy": "no-action", "action": "No action"}]}

VALUE_WARNING = "no usable 'monthly_charges' (churn.value.column"  # the planted missing values


def _config(demo_config_path: Path, folder: Path, drop: str, playbook: dict | None) -> Path:
    """The fast demo config without `drop` (survey or outcomes) in `folder`, reading the demo's tables, with
    `playbook` as folder/playbook_<drop>.yaml (None: the packaged default playbook, copied beside the demo config)."""
    raw = apply_overrides(yaml.safe_load(demo_config_path.read_text(encoding="utf-8")), FAST_OVERRIDES)
    raw["data"]["dir"] = str((demo_config_path.parent / raw["data"]["dir"]).resolve())
    del raw["data"][drop]
    raw["name"] = f"no-{drop}"
    folder.mkdir(parents=True, exist_ok=True)
    if playbook is None:
        raw["strategy"]["playbook"] = str(demo_config_path.with_name("playbook.yaml"))
    else:
        (folder / f"playbook_{drop}.yaml").write_text(yaml.safe_dump(playbook), encoding="utf-8")
        raw["strategy"]["playbook"] = f"playbook_{drop}.yaml"  # not the bundle copy's name: pyfunc must find it
    path = folder / f"no_{drop}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def churn_only(demo_config_path, tmp_path_factory):
    """A churn-only config trained and scored once through the CLI: (config, run folder)."""
    run = tmp_path_factory.mktemp("churn_only")
    config = _config(demo_config_path, run / "configs", "survey", CHURN_PLAYBOOK)
    assert main(["train", str(config), "--out", str(run / "model"), "--no-tracking"]) == 0
    assert main(["score", str(config), "--model", str(run / "model"), "--out", str(run / "scored.csv"),
                 "--no-tracking"]) == 0
    return config, run


def test_churn_only_scores_churn_columns_and_no_nps_columns(churn_only):
    _, run = churn_only
    scored = pd.read_csv(run / "scored.csv", dtype={"customer_id": "str"})
    assert set(CHURN_COLUMNS) <= set(scored.columns)
    assert not set(NPS_COLUMNS) & set(scored.columns)
    assert scored["churn_prob"].between(0, 1).all()
    assert set(scored["segment"]) <= {"low-risk", "medium-risk", "high-risk"}  # no class part without a survey
    assert (scored.loc[scored["rule"] == "high-risk-call", "risk_band"] == "high").all()
    orders = pd.read_csv(run / "work_orders.csv")
    assert len(orders) and orders["reason"].str.startswith("Churn risk high").all()
    summary = pd.read_csv(run / "segment_summary.csv")
    assert "predicted_nps" not in summary.columns and "respondents" not in summary.columns


def test_churn_only_bundle_records_its_stages(churn_only):
    _, run = churn_only
    info = json.loads((run / "model" / "bundle.json").read_text(encoding="utf-8"))
    assert info["components"] == ["churn"]
    assert set(info["skipped"]) == set(SURVEY_STAGES)
    assert all("data.survey" in why for why in info["skipped"].values())
    assert not (run / "model" / "nps").exists()
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["bundle"]["skipped"] == info["skipped"]


def test_churn_only_report_says_what_is_absent(churn_only):
    _, run = churn_only
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "Not in this run: the population NPS needs the population NPS estimate" in html
    assert "could not read its inputs" not in html and "nan" not in html.lower().split("<style>")[0]
    assert "Churn AUC" in html


def test_churn_only_train_logs_one_skip_line(demo_config_path, tmp_path, caplog):
    config = _config(demo_config_path, tmp_path, "survey", CHURN_PLAYBOOK)
    caplog.set_level(logging.INFO)
    assert main(["train", str(config), "--out", str(tmp_path / "model"), "--no-tracking"]) == 0
    skips = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert skips == ["train: skipping text, response, nps, population, drivers, reasons: no survey table "
                     "(data.survey)"]
    # the demo data plants customers without monthly_charges: the value placeholder is warned, nothing else
    assert [r for r in caplog.records if r.levelno >= logging.WARNING and VALUE_WARNING not in r.getMessage()] == []


def test_churn_only_evaluate_refuses_and_tune_tunes_churn(churn_only, tmp_path, caplog):
    config, _ = churn_only
    assert main(["evaluate", str(config), "--out", str(tmp_path / "eval"), "--no-tracking"]) == 2
    assert "no survey table (data.survey)" in caplog.text
    assert main(["tune", str(config), "--trials", "1", "--out", str(tmp_path / "tuned.yaml"), "--no-tracking"]) == 0
    assert json.loads((tmp_path / "tuned.json").read_text(encoding="utf-8"))["studies"].keys() == {"churn"}


def test_churn_only_pyfunc_scores_churn(churn_only):
    from cxpredict.io.bundle import load_bundle
    from cxpredict.workflows.pyfunc import BundleScorer

    _, run = churn_only
    scorer = BundleScorer(load_bundle(run / "model"))
    out = scorer.predict(scorer.example_input(3))
    assert len(out) == 3 and out["churn_prob"].between(0, 1).all()
    assert "p_detractor" not in out.columns and "rule" in out.columns


def test_playbook_naming_an_absent_models_column_is_exit_2(demo_config_path, tmp_path, caplog):
    config = _config(demo_config_path, tmp_path, "survey", playbook=None)  # the default playbook: classes
    out = tmp_path / "model"
    assert main(["train", str(config), "--out", str(out), "--no-tracking"]) == 2
    assert "rule 'detractor-high-risk': column 'segment_class' comes from the NPS model" in caplog.text
    assert not out.exists()
    config = _config(demo_config_path, tmp_path / "survey", "outcomes", playbook=None)
    assert main(["validate", str(config)]) == 2
    assert "rule 'passive-at-risk': column 'risk_band' comes from the churn model" in caplog.text


def test_survey_only_runs_end_to_end_without_churn_columns(demo_config_path, tmp_path, caplog):
    config = _config(demo_config_path, tmp_path / "configs", "outcomes", SURVEY_PLAYBOOK)
    caplog.set_level(logging.INFO)
    assert main(["train", str(config), "--out", str(tmp_path / "model"), "--no-tracking"]) == 0
    assert main(["score", str(config), "--model", str(tmp_path / "model"), "--out", str(tmp_path / "scored.csv"),
                 "--no-tracking"]) == 0
    assert main(["report", str(tmp_path)]) == 0
    scored = pd.read_csv(tmp_path / "scored.csv", dtype={"customer_id": "str"})
    assert not set(CHURN_COLUMNS) & set(scored.columns)
    assert {"p_detractor", "predicted_class", "value", "segment"} <= set(scored.columns)
    assert set(scored["segment"]) <= {"detractor", "passive", "promoter"}  # no risk part without outcomes
    info = json.loads((tmp_path / "model" / "bundle.json").read_text(encoding="utf-8"))
    assert "churn" not in info["components"] and set(info["skipped"]) == {"churn"}
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "could not read its inputs" not in html
    unexpected = [r.getMessage() for r in caplog.records
                  if r.levelno >= logging.WARNING and "absent from the behaviour data" not in r.getMessage()
                  and VALUE_WARNING not in r.getMessage()]
    assert not unexpected  # (the demo data plants answers of unknown customers and missing values: warned)
