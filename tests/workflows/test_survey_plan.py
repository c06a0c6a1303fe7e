"""survey-plan end to end: plan from a bundle, answer some invitations, retrain with the log, and bad logs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from cxpredict.cli.app import main
from cxpredict.config import load_config
from cxpredict.io.bundle import load_bundle
from cxpredict.workflows.survey_plan import PLAN_NAME, survey_plan
from cxpredict.workflows.train import train

LOG_COLUMNS = ["customer_id", "round", "reason", "inclusion_probability", "expected_response", "answer_sd"]


@pytest.fixture()
def project(fast_demo_config_path, tmp_path):
    """A private copy of the small demo project (config + data) that a test may extend or break."""
    base = tmp_path / "demo"
    shutil.copytree(fast_demo_config_path.parents[1], base)
    return base / "configs" / fast_demo_config_path.name, base / "data" / "demo"


def with_invitations(config, logs):
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["data"]["invitations"] = [str(p) for p in logs]
    path = config.with_name("with_invitations.yaml")
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_plan_writes_the_log_of_silent_customers_deterministically(demo_config, trained_bundle, tmp_path):
    bundle = load_bundle(trained_bundle)
    first = survey_plan(demo_config, bundle, tmp_path / "a" / "invites.csv", budget=400, seed=1)
    survey_plan(demo_config, bundle, tmp_path / "b" / "invites.csv", budget=400, seed=1)
    other = survey_plan(demo_config, bundle, tmp_path / "c" / "invites.csv", budget=400, seed=2)
    log = pd.read_csv(first.invites_path, dtype={"customer_id": "str"})
    assert list(log.columns) == LOG_COLUMNS
    assert (tmp_path / "a" / "invites.csv").read_bytes() == (tmp_path / "b" / "invites.csv").read_bytes()
    assert not log["customer_id"].equals(pd.read_csv(other.invites_path, dtype={"customer_id": "str"})["customer_id"])
    survey = pd.read_csv(demo_config.data_path("survey.csv"), dtype={"customer_id": "str"})
    assert not log["customer_id"].isin(survey["customer_id"]).any()  # only silent customers are invited
    assert set(log["reason"]) <= {"probe", "model", "segment_target"} and (log["round"] == 1).all()
    assert log["inclusion_probability"].between(0, 1, inclusive="right").all()
    assert abs(len(log) - 400) < 5 * np.sqrt(400)  # Poisson: the budget on average
    record = json.loads((tmp_path / "a" / PLAN_NAME).read_text())
    assert record["plan"]["half_width_after"] < record["plan"]["half_width_now"]
    assert record["bundle"]["content_hash"] == bundle.content_hash


def test_answers_to_invitations_are_weighted_by_the_design_at_the_next_training(project, trained_bundle, tmp_path):
    config, data_dir = project
    cfg = load_config(config)
    plan = survey_plan(cfg, load_bundle(trained_bundle), data_dir / "invites_round1.csv", budget=800, seed=3)
    truth = pd.read_csv(data_dir / "truth.csv", dtype={"customer_id": "str"}).set_index("customer_id")
    invited = plan.invites["customer_id"].to_numpy()
    answering = invited[np.random.default_rng(0).random(len(invited)) < 0.4]
    survey = pd.read_csv(data_dir / "survey.csv", dtype={"customer_id": "str"})
    new = pd.DataFrame({"customer_id": answering, "score": truth.loc[answering, "true_score"].to_numpy(),
                        "answered_at": "2026-10-30"})
    pd.concat([survey, new], ignore_index=True).to_csv(data_dir / "survey.csv", index=False)

    result = train(load_config(with_invitations(config, [plan.invites_path])), tmp_path / "model")
    design = result.metrics["survey_design"]
    assert design["rounds"]["1"] == {"invited": len(invited), "answered": len(answering)}
    channels = result.metrics["population_nps"]["channels"]
    assert [c["channel"] for c in channels] == [0, 1] and channels[1]["n_respondents"] == len(answering)
    true_nps = json.loads((data_dir / "truth.json").read_text())["true_population_nps"]
    pop = result.metrics["population_nps"]
    assert pop["low"] - 3 <= true_nps <= pop["high"] + 3  # one run: a sanity check, coverage is tested elsewhere

    second = survey_plan(load_config(with_invitations(config, [plan.invites_path])), load_bundle(result.bundle_path),
                         data_dir / "invites_round2.csv", budget=300, seed=3)
    assert (second.invites["round"] == 2).all()
    assert design["answer_chance"] == "model" and 0 <= design["answer_chance_slope"] <= 1
    assert f"calibration slope {design['answer_chance_slope']:.2f}" in second.plan["answer_chance_source"]
    assert not second.invites["customer_id"].isin(answering).any()


@pytest.mark.parametrize("breakage, needle", [
    ({"inclusion_probability": 1.5}, "inclusion_probability"),
    ({"round": 0}, "round"),
    ({"drop": "inclusion_probability"}, "missing column"),
    ({"duplicate": True}, "invited twice"),
    ({"foreign_ids": True}, "none of its 20 invited customers is in the behaviour data"),
])
def test_bad_invitation_logs_exit_2_with_nothing_written(project, trained_bundle, tmp_path, caplog, breakage, needle):
    config, data_dir = project
    survey = pd.read_csv(data_dir / "survey.csv", dtype={"customer_id": "str"})
    customers = pd.read_csv(data_dir / "customers.csv", dtype={"customer_id": "str"})
    silent = customers.loc[~customers["customer_id"].isin(survey["customer_id"]), "customer_id"].head(20)
    log = pd.DataFrame({"customer_id": silent, "round": 1, "reason": "probe", "inclusion_probability": 0.1,
                        "expected_response": 0.2})
    if "drop" in breakage:
        log = log.drop(columns=breakage["drop"])
    elif "duplicate" in breakage:
        log = pd.concat([log, log.head(1)])
    elif "foreign_ids" in breakage:  # another project's log: its answers' design weights would be lost silently
        log["customer_id"] = "other-" + log["customer_id"]
    else:
        (column, value), = breakage.items()
        log.loc[log.index[3], column] = value
    log.to_csv(data_dir / "bad_log.csv", index=False)
    broken = with_invitations(config, [data_dir / "bad_log.csv"])
    model, invites = tmp_path / "out" / "model", tmp_path / "out" / "invites.csv"
    assert main(["validate", str(broken)]) == 2
    assert main(["train", str(broken), "--out", str(model), "--no-tracking"]) == 2
    assert main(["survey-plan", str(broken), "--model", str(trained_bundle), "--budget", "100",
                 "--out", str(invites)]) == 2
    assert needle in caplog.text and "bad_log.csv" in caplog.text
    assert not model.exists() and not invites.exists() and not (tmp_path / "out").exists()


def test_survey_plan_command_prints_the_planner_and_needs_a_budget_or_target(fast_demo_config_path, trained_bundle,
                                                                              tmp_path, capsys):
    out = tmp_path / "invites.csv"
    assert main(["survey-plan", str(fast_demo_config_path), "--model", str(trained_bundle), "--out", str(out)]) == 2
    assert not out.exists()
    assert main(["survey-plan", str(fast_demo_config_path), "--model", str(trained_bundle), "--out", str(out),
                 "--target-halfwidth", "2"]) == 0
    text = capsys.readouterr().out
    assert "for +-2 points:" in text and "plan=" in text  # overall and per segment (population.segments)
    record = json.loads((tmp_path / PLAN_NAME).read_text())
    plan = record["plan"]  # the design says what it promises against random invitations, and follows the rule
    assert f"design: {plan['design_text']}" in text and f"{plan['design_gain']:.1%}" in plan["design_text"]
    assert (plan["design"] == "model-based") == (plan["design_gain"] >= 0.05)
    assert plan["design"] == "model-based" or plan["invited_by_reason"]["model"] == 0
    planned = record["planner"]["overall"]
    assert planned["reachable"] is False or record["plan"]["half_width_after"] <= 2.0 + 0.05
    assert len(pd.read_csv(out)) > 0


def test_a_target_met_already_invites_nobody_and_writes_no_log(demo_config, trained_bundle, tmp_path):
    result = survey_plan(demo_config, load_bundle(trained_bundle), tmp_path / "invites.csv", target_half_width=80)
    assert result.invites_path is None and not (tmp_path / "invites.csv").exists()
    assert result.plan["planner"]["overall"]["invitations"] == 0 and result.plan["plan"] is None
    assert result.plan_path.is_file()


def test_a_budget_over_the_silent_customers_is_warned_and_invites_them_all(demo_config, trained_bundle, tmp_path,
                                                                          caplog):
    caplog.set_level("WARNING")
    result = survey_plan(demo_config, load_bundle(trained_bundle), tmp_path / "invites.csv", budget=1e6, seed=1)
    silent = result.plan["n_customers"] - result.plan["n_respondents"]
    warned = [r.getMessage() for r in caplog.records if "--budget" in r.getMessage()]
    assert len(warned) == 1 and f"more than the {silent} customers" in warned[0]
    assert len(result.invites) == silent
