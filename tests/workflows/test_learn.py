"""`cxpredict learn` end to end on the demo fixture: score with control groups, simulated results, learn, score
again with the reviewed playbook and the extended bundle; bad result files exit 2 and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from cxpredict.analyst.report import write_report
from cxpredict.cli.app import main
from cxpredict.config import load_config
from cxpredict.synthetic.campaign import simulate_results
from cxpredict.synthetic.customers import generate


@pytest.fixture(scope="module")
def round_one(fast_demo_config_path, trained_bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("round1") / "scored.csv"
    assert main(["score", str(fast_demo_config_path), "--model", str(trained_bundle), "--out", str(out),
                 "--no-tracking", "--campaign-id", "spring"]) == 0
    log = pd.read_csv(out.with_name("assignments.csv"), encoding="utf-8-sig")
    data = generate(n_customers=5_000, seed=0, response_rate=0.15)  # the fixture's customers (same seed)
    results = simulate_results(data, log, seed=3).results
    # plant an unmistakably harmful upsell: every treated upsell customer churns
    upsell = (results["strategy"] == "upsell") & (results["group"] == "treated")
    results.loc[upsell, "churned"] = 1
    path = out.with_name("results.csv")
    results.to_csv(path, index=False)
    return out, path


def _learn(config: Path, bundle: Path, results: Path, assignments: Path, out: Path, *extra: str) -> int:
    return main(["learn", str(config), "--results", str(results), "--model", str(bundle), "--assignments",
                 str(assignments), "--out", str(out), "--no-tracking", *extra])


def test_score_writes_control_groups_that_never_reach_work_orders(round_one):
    scored_path, _ = round_one
    scored = pd.read_csv(scored_path, encoding="utf-8-sig")
    orders = pd.read_csv(scored_path.with_name("work_orders.csv"), encoding="utf-8-sig")
    control = set(scored.loc[scored["group"] == "control", "customer_id"])
    assert control and not control & set(orders["customer_id"])
    manifest = json.loads(scored_path.with_name("manifest.json").read_text())
    assert manifest["campaign"]["campaign_id"] == "spring" and "assignments" in manifest["outputs"]


def test_learn_retires_the_harmful_action_and_the_reviewed_playbook_checks(round_one, fast_demo_config_path,
                                                                          trained_bundle, tmp_path):
    scored_path, results = round_one
    playbook = fast_demo_config_path.with_name("playbook.yaml")
    before = playbook.read_bytes()
    out = tmp_path / "learn"
    assert _learn(fast_demo_config_path, trained_bundle, results, scored_path.with_name("assignments.csv"), out,
                  "--feed-answers", "control") == 0
    assert playbook.read_bytes() == before  # the user's playbook is never edited
    # only control customers' campaign answers join the next training round (treated answers reflect the action)
    survey = pd.read_csv(out / "survey_next.csv", encoding="utf-8-sig")
    campaign = pd.read_csv(results)
    answered = campaign[campaign["new_score"].notna()].set_index("customer_id")
    fed = answered.index.intersection(survey["customer_id"][survey["answered_at"] == "2026-10-31"])
    assert len(fed) and (answered.loc[fed, "group"] == "control").all()
    verdicts = pd.read_csv(out / "verdicts.csv", encoding="utf-8-sig")
    upsell = verdicts[(verdicts["level"] == "strategy") & (verdicts["strategy"] == "upsell")].iloc[0]
    assert upsell["verdict"] == "retire" and "harms" in upsell["evidence"]
    reviewed = out / "playbook.reviewed.yaml"
    assert main(["playbook", "check", str(reviewed), "--scored", str(scored_path)]) == 0
    assert "Retired: Upgrade offer" in reviewed.read_text() and "+  method: expected_uplift" in \
        (out / "playbook.diff").read_text()
    manifest = json.loads((out / "learn.json").read_text())
    assert manifest["kind"] == "learn" and (out / "model" / "uplift" / "uplift.json").is_file()
    # the stage log covers the run: only learn.json's own writing is outside a stage; startup (imports, config,
    # bundle) is counted from the process start (Linux /proc, 10 ms ticks)
    timings = manifest["timings"]
    stages = {k: v for k, v in timings.items() if k not in ("startup", "total", "process")}
    assert set(stages) == {"load", "effects", "features", "uplift", "targeting", "review", "write"}
    assert timings["total"] - 1.0 <= sum(stages.values()) <= timings["total"]
    if "process" in timings:
        assert timings["startup"] > 0 and timings["process"] >= timings["startup"] + timings["total"] - 0.05
    html = write_report(out, tmp_path / "report.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="campaign">'):]
    section = section[:section.index("</section>")]
    assert section.count("<img") == 3 and "retire" in section and "Return on the whole campaign budget" in section
    # round 2: the extended bundle ranks by expected uplift x value - cost; upsell customers get no action
    again = tmp_path / "round2" / "scored.csv"
    assert main(["score", str(fast_demo_config_path), "--model", str(out / "model"), "--out", str(again),
                 "--no-tracking", "--set", f"strategy.playbook={reviewed}"]) == 0
    second = pd.read_csv(again, encoding="utf-8-sig")
    assert "upsell" not in set(second["strategy"]) and second["expected_uplift"].notna().all()


@pytest.mark.parametrize("damage", ["bad_group", "bad_churn", "missing_outcomes"])
def test_bad_result_files_exit_2_and_write_nothing(round_one, fast_demo_config_path, trained_bundle, tmp_path,
                                                   damage):
    scored_path, results = round_one
    frame = pd.read_csv(results)
    if damage == "bad_group":
        frame.loc[3, "group"] = "holdout"
    elif damage == "bad_churn":
        frame["churned"] = frame["churned"].astype(float)
        frame.loc[5, "churned"] = 0.5
    else:
        frame = frame.drop(columns=["churned", "converted", "revenue", "new_score"])
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    out = tmp_path / "learn"
    assert _learn(fast_demo_config_path, trained_bundle, bad, scored_path.with_name("assignments.csv"), out) == 2
    assert not out.exists() or not any(out.iterdir())


def test_assignment_is_the_same_on_a_rerun(round_one, fast_demo_config_path, trained_bundle, tmp_path):
    scored_path, _ = round_one
    again = tmp_path / "scored.csv"
    assert main(["score", str(fast_demo_config_path), "--model", str(trained_bundle), "--out", str(again),
                 "--no-tracking", "--campaign-id", "spring", "--set", "scoring.batch_size=900"]) == 0
    first = pd.read_csv(scored_path.with_name("assignments.csv"), encoding="utf-8-sig")
    second = pd.read_csv(again.with_name("assignments.csv"), encoding="utf-8-sig")
    pd.testing.assert_frame_equal(first, second)
    share = (first["group"] == "control").mean()
    wanted = load_config(fast_demo_config_path).strategy.holdout.share
    assert wanted - 0.03 < share < wanted + 0.06 and np.isfinite(share)  # the share, plus small rules' minimum


def test_unknown_customers_in_the_results_are_warned_in_the_log(round_one, fast_demo_config_path, trained_bundle,
                                                                tmp_path, caplog):
    """learn.json counts them; a scheduler reads the log, so the log names them too (files, count, examples)."""
    scored_path, results = round_one
    frame = pd.read_csv(results)
    strangers = frame.head(30).assign(customer_id=[f"X{i:04d}" for i in range(30)])
    path = tmp_path / "results.csv"
    pd.concat([frame, strangers]).to_csv(path, index=False)
    caplog.set_level("WARNING")
    assert _learn(fast_demo_config_path, trained_bundle, path, scored_path.with_name("assignments.csv"),
                  tmp_path / "learn") == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "X0000" in r.getMessage()]
    assert len(warned) == 1 and "30 result rows name customers the assignment log did not assign" in warned[0]
    assert str(path) in warned[0] and "assignments.csv" in warned[0]
    manifest = json.loads((tmp_path / "learn" / "learn.json").read_text())
    assert manifest["summary"]["mismatches"]["unknown_customer"]["count"] == 30


def test_boosters_fitted_side_by_side_give_the_models_of_a_serial_fit(fast_demo_config_path, monkeypatch):
    """The strategies' learners share one pool of workers with single-threaded boosters (never nested); the
    models and out-of-fold uplift are those of one worker with one thread."""
    from cxpredict import threads
    from cxpredict.workflows.learn import fit_uplift

    cfg = load_config(fast_demo_config_path, ["campaign.min_cell=100"])
    rng = np.random.default_rng(0)
    n = 3_000
    features = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame = pd.DataFrame({"strategy": rng.choice(["retention", "upsell", "referral"], n),
                          "rule": rng.choice(["r1", "r2"], n), "treated": rng.random(n) < 0.6})
    frame["churned"] = (rng.random(n) < 0.3 - 0.1 * frame["treated"] * (features["a"] > 0)).astype(float)
    used: list[tuple[str, int]] = []
    plain_map, plain_pool, plain_train = threads.map_split, threads.workers, lgb.train
    monkeypatch.setattr(threads, "map_split", lambda fn, tasks, workers: used.append(("workers", workers)) or
                        plain_map(fn, tasks, workers))
    monkeypatch.setattr(threads, "workers", lambda count: used.append(("pool", count)) or plain_pool(count))
    monkeypatch.setattr(lgb, "train", lambda params, *a, **k: used.append(("threads", params["num_threads"])) or
                        plain_train(params, *a, **k))
    runs, seen = [], []
    for budget in (1, 2):
        monkeypatch.setenv("CXPREDICT_THREADS", str(budget))
        threads.use()
        runs.append(fit_uplift(cfg, frame, features))
        seen.append(set(used))
        used.clear()
    monkeypatch.delenv("CXPREDICT_THREADS")
    threads.use()  # the default plan again for the tests that follow
    assert seen == [{("workers", 1), ("threads", 1)}, {("pool", 2), ("threads", 1)}]
    (serial, serial_oof), (parallel, parallel_oof) = runs
    assert sorted(serial) == sorted(parallel) == ["referral", "retention", "upsell"]
    pd.testing.assert_frame_equal(serial_oof, parallel_oof)
    for strategy in serial:
        trees = [m[strategy].booster_.dump_model()["tree_info"] for m in (serial, parallel)]
        assert trees[0] == trees[1]


def test_one_thread_and_two_learn_the_same_files(round_one, fast_demo_config_path, trained_bundle, tmp_path,
                                                 monkeypatch):
    """Two threads load the behaviour beside the results and effects and share the boosters' pool; one thread
    does it all in order: the same files (learn.json aside: timings and threads)."""
    from cxpredict import threads

    scored_path, results = round_one
    outs = []
    for budget in ("1", "2"):
        monkeypatch.setenv("CXPREDICT_THREADS", budget)
        outs.append(tmp_path / f"learn{budget}")
        assert _learn(fast_demo_config_path, trained_bundle, results, scored_path.with_name("assignments.csv"),
                      outs[-1]) == 0
    monkeypatch.delenv("CXPREDICT_THREADS")
    threads.use()  # the default plan again for the tests that follow
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file() and p.name != "learn.json")
    assert files == sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file() and p.name != "learn.json")
    assert len(files) > 10
    for name in files:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
