"""Batch scoring for schedulers: streaming, atomic and idempotent outputs, exit codes, schema and drift checks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxpredict.cli.app import main
from cxpredict.config import load_config
from cxpredict.data.customers import load_customers
from cxpredict.io.bundle import load_bundle
from cxpredict.io.people import load_scored
from cxpredict.workflows.score import score

OUTPUTS = ("scored.csv", "work_orders.csv", "segment_summary.csv", "manifest.json")


@pytest.fixture(scope="module")
def joined(demo_config):
    """The demo customers as the joined behaviour tables give them (index customer_id)."""
    return load_customers(demo_config).frame


def write_population(frame: pd.DataFrame, folder: Path, parts: int = 3) -> Path:
    """A wide population table as a folder of Parquet parts (plus Spark's _SUCCESS marker)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = frame.reset_index()
    for i, rows in enumerate(np.array_split(np.arange(len(table)), parts)):
        table.iloc[rows].to_parquet(folder / f"part-{i:05d}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    return folder


def cli_score(config: Path, bundle: Path, out: Path, *extra: str) -> int:
    """`cxpredict score` in-process (MLflow tracking off: its logging is tested in test_tracking.py)."""
    return main(["score", str(config), "--model", str(bundle), "--out", str(out), "--no-tracking", *extra])


def final_files(folder: Path) -> dict[str, bytes]:
    """Every file under a final (not hidden) name: the outputs above plus any a stage adds (e.g. kda_*.csv)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def baseline(demo_config_path, trained_bundle, tmp_path_factory):
    """One scoring run from the joined tables through the CLI: (output folder, manifest)."""
    out = tmp_path_factory.mktemp("baseline") / "scored.csv"
    assert cli_score(demo_config_path, trained_bundle, out, "--set", "scoring.batch_size=1500") == 0
    return out.parent, json.loads((out.parent / "manifest.json").read_text())


# --------------------------------------------------------------------------------------------- manifest, reruns
def test_manifest_records_bundle_inputs_counts_timings_and_drift(baseline, trained_bundle):
    folder, manifest = baseline
    assert set(OUTPUTS) <= {p.name for p in folder.iterdir()}
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert manifest["bundle"]["content_hash"] == load_bundle(trained_bundle).content_hash
    assert {"customers", "survey", "usage"} <= set(manifest["data_fingerprints"])
    rows = manifest["rows"]
    assert rows == 5000 and sum(manifest["counts"]["predicted_class"].values()) == rows
    assert sum(manifest["counts"]["observed_class"].values()) == manifest["respondents"] > 0
    if "strategy" in manifest["counts"]:
        assert sum(manifest["counts"]["strategy"].values()) == rows
    assert manifest["status"] == "ok" and manifest["exit_code"] == 0 and manifest["drift"]["status"] == "ok"
    assert manifest["drift"]["psi_features"] and manifest["drift"]["psi_outputs"]["predicted_score"] < 0.01
    assert manifest["drift"]["respondent_mix"]["judged"] is False  # the training survey: in-sample
    assert manifest["timings"]["total"] > 0 and manifest["rows_per_s"] > 0
    scored = pd.read_csv(folder / "scored.csv", encoding="utf-8-sig", dtype={"customer_id": "str"})
    assert len(scored) == rows and scored["customer_id"].is_unique
    assert list(scored.columns[:12]) == ["customer_id", "as_of", "scored_on", "to_contact", "is_respondent",
                                         "observed_score", "observed_class", "stated_reasons", "predicted_score",
                                         "p_detractor", "p_passive", "p_promoter"]
    assert manifest["as_of"] == "2026-10-31" and (folder / "history").is_dir()  # the demo config's data.as_of
    from cxpredict.provenance import sha256_file

    assert manifest["outputs"]["scored"]["sha256"] == sha256_file(folder / "scored.csv")


def test_two_runs_give_identical_outputs(baseline, demo_config_path, trained_bundle, tmp_path):
    folder, _ = baseline
    out = tmp_path / "again" / "scored.csv"
    assert cli_score(demo_config_path, trained_bundle, out, "--set", "scoring.batch_size=700") == 0
    first, second = final_files(folder), final_files(out.parent)
    assert set(first) == set(second) and set(OUTPUTS) <= set(first)
    for name in set(first) - {"manifest.json"}:  # data files byte-identical, whatever the batch size
        assert first[name] == second[name], name


def test_population_parquet_folder_scores_like_the_joined_tables(baseline, joined, demo_config_path,
                                                                 trained_bundle, tmp_path):
    folder, manifest = baseline
    population = write_population(joined, tmp_path / "population")
    out = tmp_path / "streamed" / "scored.csv"
    assert cli_score(demo_config_path, trained_bundle, out, "--set", f"data.population={population}",
                     "--set", "scoring.batch_size=1200") == 0
    streamed = json.loads((out.parent / "manifest.json").read_text())
    assert streamed["input"]["source"].startswith("population table")
    assert set(streamed["data_fingerprints"]) == {"population", "survey"}
    assert streamed["counts"] == manifest["counts"]
    streamed_files, joined_files = final_files(out.parent), final_files(folder)
    assert set(streamed_files) == set(joined_files)
    for name in set(joined_files) - {"manifest.json"}:
        assert streamed_files[name] == joined_files[name], name


# --------------------------------------------------------------------------------------------- schema checks
def test_missing_column_is_exit_2_and_writes_nothing(joined, demo_config_path, trained_bundle, tmp_path, caplog):
    population = write_population(joined.drop(columns=["dropped_calls_30d"]), tmp_path / "population")
    out = tmp_path / "out" / "scored.csv"
    assert cli_score(demo_config_path, trained_bundle, out, "--set", f"data.population={population}") == 2
    assert "dropped_calls_30d" in caplog.text and "population" in caplog.text
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_repeated_ids_in_the_population_are_exit_2(joined, demo_config_path, trained_bundle, tmp_path, caplog):
    population = write_population(pd.concat([joined, joined.iloc[[7]]]), tmp_path / "population")
    out = tmp_path / "out" / "scored.csv"
    assert cli_score(demo_config_path, trained_bundle, out, "--set", f"data.population={population}") == 2
    assert "repeat" in caplog.text and "rows 8, 5001" in caplog.text
    assert not out.exists()


def test_a_wrong_dtype_names_the_file_it_was_read_from(joined, demo_config_path, trained_bundle, tmp_path, caplog):
    """The catalogue's trip: a text column where training had numbers named the training table's file (or none),
    not the population table being scored."""
    frame = joined.copy()
    frame["age"] = frame["age"].astype("str") + " years"
    population = write_population(frame, tmp_path / "population")
    out = tmp_path / "out" / "scored.csv"
    assert cli_score(demo_config_path, trained_bundle, out, "--set", f"data.population={population}") == 2
    error = next(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert str(population) in error and "'age'" in error and "should be numeric" in error
    assert "customers.csv" not in error  # the training table is not where this column came from
    assert not out.exists()


def test_unseen_categories_are_counted_and_extra_columns_noted(joined, demo_config, trained_bundle, tmp_path):
    frame = joined.copy()
    frame["plan"] = frame["plan"].astype("str")
    frame.iloc[:300, frame.columns.get_loc("plan")] = "satellite"
    frame["favourite_colour"] = "blue"
    population = write_population(frame, tmp_path / "population")
    cfg = demo_config.model_copy(deep=True)
    cfg.data.population = str(population)
    result = score(cfg, load_bundle(trained_bundle), tmp_path / "out" / "scored.parquet")
    manifest = result.manifest
    assert result.rows == len(frame) and result.path.is_file()
    assert manifest["drift"]["unseen_categories"]["plan"]["rows"] == 300
    assert manifest["input"]["extra_columns_ignored"] == ["favourite_colour"]
    assert any("favourite_colour" in w for w in manifest["warnings"])
    assert any("'plan'" in r and "unseen" in r for r in manifest["drift"]["reasons"])  # 6% > 5%


# --------------------------------------------------------------------------------------------- drift exit code
def test_fail_on_drift_is_exit_3_with_outputs_written(joined, demo_config_path, trained_bundle, tmp_path):
    shifted = joined.copy()
    shifted["monthly_charges"] = shifted["monthly_charges"] * 3 + 40
    shifted["usage_gb_30d"] = 0.0
    population = write_population(shifted, tmp_path / "population")
    args = ("--set", f"data.population={population}")
    out = tmp_path / "flagged" / "scored.csv"
    assert cli_score(demo_config_path, trained_bundle, out, *args, "--fail-on-drift") == 3
    manifest = json.loads((out.parent / "manifest.json").read_text())
    assert out.is_file() and manifest["status"] == "drift" and manifest["exit_code"] == 3
    assert manifest["drift"]["psi_features"]["monthly_charges"] > 0.25
    assert any("monthly_charges" in r for r in manifest["drift"]["reasons"])
    quiet = tmp_path / "quiet" / "scored.csv"
    assert cli_score(demo_config_path, trained_bundle, quiet, *args) == 0  # without the flag: a warning only
    assert json.loads((quiet.parent / "manifest.json").read_text())["status"] == "drift"


def test_tampered_bundle_is_exit_4_and_writes_nothing(demo_config_path, trained_bundle, tmp_path):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(trained_bundle, copy)
    drift = copy / "drift.json"
    drift.write_text(drift.read_text().replace('"rows": ', '"rows": 1', 1))
    out = tmp_path / "out" / "scored.csv"
    assert cli_score(demo_config_path, copy, out) == 4
    assert not out.exists()


# --------------------------------------------------------------------------------------------- kills
@pytest.fixture(scope="module")
def big_population(joined, tmp_path_factory):
    """20,000 customers (the demo ones four times, new IDs): long enough to be killed half-way."""
    parts = []
    for k in range(4):
        part = joined.copy()
        part.index = pd.Index([f"{i}-{k}" for i in joined.index], dtype="str", name="customer_id")
        parts.append(part)
    return write_population(pd.concat(parts), tmp_path_factory.mktemp("big") / "population", parts=4)


def _kill_while_writing(demo_config_path, bundle, population, out: Path, sig: int) -> subprocess.CompletedProcess:
    """Start `cxpredict score` and send `sig` as soon as its scored file is being written under a temporary name."""
    cmd = [sys.executable, "-m", "cxpredict.cli.app", "score", str(demo_config_path), "--model", str(bundle),
           "--out", str(out), "--set", f"data.population={population}", "--set", "scoring.batch_size=500",
           "--no-tracking"]
    env = {**os.environ, "CXPREDICT_PROGRESS": "0"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if [p for p in out.parent.glob(f".{out.name}.cxpid*.tmp.csv") if p.is_file()]:
            proc.send_signal(sig)
            break
        time.sleep(0.005)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_run_leaves_previous_outputs_and_no_partial_file(sig, baseline, demo_config_path, trained_bundle,
                                                                 big_population, tmp_path):
    import shutil

    out = tmp_path / "out" / "scored.csv"
    shutil.copytree(baseline[0], out.parent)  # yesterday's outputs
    before = final_files(out.parent)
    result = _kill_while_writing(demo_config_path, trained_bundle, big_population, out, sig)
    assert result.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 143), result.stderr[-2000:]
    assert final_files(out.parent) == before  # untouched, and no partial file under a final name
    leftovers = [p.name for p in out.parent.iterdir() if p.name not in before and p.name != "history"]
    # only hidden temporary names, and after SIGKILL the folder's lock file (its flock died with the process)
    assert all(".cxpid" in name or name == ".cxpredict.lock" for name in leftovers)
    if sig == signal.SIGTERM:
        assert leftovers == [] and "SIGTERM" in result.stderr  # cleaned up on the way out
    else:  # the next run removes what the killed one left behind
        assert leftovers
        rerun = tmp_path / "out" / "scored.csv"
        assert cli_score(demo_config_path, trained_bundle, rerun) == 0
        assert [p.name for p in out.parent.iterdir() if p.name not in before and p.name != "history"] == []
        assert final_files(out.parent)["scored.csv"] == before["scored.csv"]


def test_population_csv_streams_with_training_types(joined, demo_config, trained_bundle, tmp_path):
    """A CSV population whose first block looks numeric in a text column still reads and scores."""
    frame = joined.copy()
    frame["region"] = frame["region"].astype("str")
    path = tmp_path / "population.csv"
    frame.reset_index().to_csv(path, index=False)
    cfg = load_config(demo_config.base_dir / "demo.yaml", [f"data.population={path}", "scoring.batch_size=2000"])
    result = score(cfg, load_bundle(trained_bundle), tmp_path / "out" / "scored.csv")
    assert result.rows == len(frame) and result.manifest["data_fingerprints"]["population"]


# --------------------------------------------------------------------------------------------- the user's column names
def test_column_names_with_spaces_punctuation_and_unicode_work_end_to_end(tmp_path):
    """Train, score, drivers, a playbook rule on a driver named after such a column, the report and the pyfunc
    model, on a flat table with names like 'Monthly Charge', 'Größe', '=cost', 'a,b', 'x:y' and 'Monthly_Charge'
    (the obvious model-safe spelling of another column): LightGBM only sees model-safe names, people only theirs."""
    import mlflow
    from factories import ODD_NAMES, odd_name_project

    from cxpredict.config import load_config
    from cxpredict.errors import ConfigError
    from cxpredict.explain.stage import DriverStage
    from cxpredict.workflows.pyfunc import save_pyfunc

    config = odd_name_project(tmp_path / "project")
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run / "model"), "--no-tracking"]) == 0
    assert cli_score(config, run / "model", run / "scored.csv") == 0
    bundle = load_bundle(run / "model")
    manifest = bundle.manifest
    assert set(manifest.names) == set(ODD_NAMES) - {"[id]"}  # '[id]' is excluded in the config, by its name
    assert all(name.isidentifier() and name.isascii() for name in manifest.model_names)
    assert len(set(manifest.model_names)) == len(manifest.model_names)
    assert list(bundle.nps.feature_names_in_) == manifest.model_names  # what LightGBM saw

    scored = pd.read_csv(run / "scored.csv", encoding="utf-8-sig", dtype={"customer_id": "str"})
    drivers = set(scored[["driver_1", "driver_2", "driver_3"]].stack().dropna())
    assert "Monthly Charge" in drivers and drivers <= {"Monthly Charge", "Senior Citizen"}  # actionable groups
    detractor = scored["segment"].str.split("/").str[0] == "detractor"
    routed = detractor & scored["driver_1"].isin(["Monthly Charge", "Senior Citizen"])
    assert routed.sum() > 20
    assert (scored["rule"] == "charge-callback").equals(routed), "the playbook's list-form rule on driver_1"

    leaked = {m for m, u in zip(manifest.model_names, manifest.names) if m != u}  # e.g. Monthly_Charge_2, Groe
    kda = (run / "kda_global.csv").read_text(encoding="utf-8-sig")
    assert "Größe & co" in kda and "Monthly Charge" in kda
    texts = {name: (run / name).read_text(encoding="utf-8-sig") for name in
             ("scored.csv", "kda_global.csv", "kda_segments.csv", "manifest.json")}
    texts["metrics.json"] = (run / "model" / "metrics.json").read_text(encoding="utf-8")
    for name, text in texts.items():
        assert not [m for m in leaked if f'"{m}"' in text or f",{m}," in text], f"model names in {name}"
    psi = json.loads(texts["manifest.json"])["drift"]["psi_features"]
    assert set(psi) == set(manifest.names), "drift is reported by the user's column names"

    assert main(["report", str(run), "--out", str(run / "report.html")]) == 0
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "Monthly Charge" in report and not [m for m in leaked if f">{m}<" in report or f">{m}=" in report]

    cfg = load_config(config)
    typo = cfg.drivers.model_copy(update={"groups": [cfg.drivers.groups[0].model_copy(
        update={"features": ["Monthly Chrage"]})]})
    with pytest.raises(ConfigError, match="'Monthly Chrage'.*did you mean 'Monthly Charge'"):
        DriverStage.create(bundle.nps, None, typo, manifest)

    population = pd.read_csv(tmp_path / "project" / "data" / "customers.csv")
    model = mlflow.pyfunc.load_model(str(save_pyfunc(run / "model", tmp_path / "pyfunc")))
    got = model.predict(population).set_index(population["customer_id"].to_numpy())
    expected = scored.set_index("customer_id").loc[got.index]
    silent = ~expected["is_respondent"].to_numpy(dtype=bool)
    for col in ("p_detractor", "churn_prob", "driver_1_impact"):
        np.testing.assert_allclose(got[col].to_numpy(dtype=float), expected[col].to_numpy(dtype=float),
                                   rtol=0, atol=5e-4 + 1e-12, equal_nan=True, err_msg=col)  # CSV: 3 decimals
    for col in ("driver_1", "driver_2", "rule"):
        assert got[col].fillna("").to_numpy()[silent].tolist() == expected[col].fillna("").to_numpy()[silent].tolist()


def test_manifest_carries_the_reports_headline_nps(baseline, trained_bundle):
    """A dashboard fed by manifest.json shows the report's answer: the headline estimate, its interval, method and
    no-signal flag, the very numbers the report's summary card prints."""
    from cxpredict.analyst.html import fmt, points
    from cxpredict.analyst.report import write_report

    folder, manifest = baseline
    headline = manifest["nps"]["headline"]
    pop = load_bundle(trained_bundle).metrics["population_nps"]
    assert {k: headline[k] for k in ("estimate", "low", "high", "level", "method", "no_signal")} == \
        {k: pop[k] for k in ("estimate", "low", "high", "level", "method", "no_signal")}
    html = write_report(folder, folder / "report.html").read_text(encoding="utf-8")
    card = html[html.index('<div class="card headline">'):]
    card = card[:card.index("</div></div>") if "</div></div>" in card else 2000]
    assert points(headline["estimate"]) in card and f"{fmt(headline['low'])} to {fmt(headline['high'])}" in card


def test_report_and_manifest_give_one_detractor_share_and_one_model_only_nps(baseline, trained_bundle):
    """One number per concept: the expected shares and 'Model only' NPS the report prints are the manifest's
    figures, computed from the scored file (answers of respondents, predictions for the silent), and equal to
    training's 'Model only' when the same customers are scored. The predicted class count is a different figure."""
    from cxpredict.analyst.html import pct, points
    from cxpredict.analyst.report import write_report

    folder, manifest = baseline
    nps, scored = manifest["nps"], load_scored(folder / "scored.csv")
    answered = scored["observed_class"].notna().to_numpy()
    for cls in ("detractor", "promoter"):
        expected = np.where(answered, (scored["observed_class"] == cls).fillna(False).to_numpy(float),
                            scored[f"p_{cls}"].to_numpy(float)).mean()
        assert nps["expected_shares"][cls] == pytest.approx(expected, abs=1e-4), cls
    shares = nps["expected_shares"]
    assert nps["model_only"] == pytest.approx(100 * (shares["promoter"] - shares["detractor"]), abs=0.02)
    assert "model_based" not in nps and "class_shares" not in nps  # no second name for the same figure

    pop = load_bundle(trained_bundle).metrics["population_nps"]
    assert pop["n_customers"] == nps["customers"]  # the demo scores the customers it trained on
    assert points(nps["model_only"]) == points(pop["estimators"]["model_only"]["estimate"])
    html = write_report(folder, folder / "report.html").read_text(encoding="utf-8")
    summary = html[html.index('<div class="cards">'):html.index("<h2", html.index('<div class="cards">'))]
    assert f"{pct(shares['detractor'])} detractors" in summary
    population = html[html.index('<section id="population"'):]
    model_only_row = population[population.index("Model only"):][:300]
    assert points(nps["model_only"]) in model_only_row
    counted = manifest["counts"]["predicted_class"]
    assert sum(counted.values()) == nps["customers"]  # the class count stays a count, under its own name


def test_drivers_only_for_work_orders_change_no_action(baseline, demo_config_path, trained_bundle, tmp_path):
    """drivers.rows: work_orders leaves drivers and reasons empty only where no work order and no rule needs them."""
    out = tmp_path / "scored.csv"
    assert cli_score(demo_config_path, trained_bundle, out, "--set", "scoring.batch_size=1500",
                     "--set", "drivers.rows=work_orders") == 0
    full, lean = load_scored(baseline[0] / "scored.csv"), load_scored(out)
    for column in ("rule", "action", "deferred", "to_contact", "churn_prob"):
        assert full[column].astype("str").equals(lean[column].astype("str")), column
    explained = lean["driver_1"].notna()
    assert 0 < explained.sum() < full["driver_1"].notna().sum()
    assert (lean.loc[explained, "driver_1"] == full.loc[explained, "driver_1"]).all()
    for column in [c for c in full.columns if c.startswith(("driver_", "reason_"))]:  # impacts, reasons: the same
        assert lean.loc[explained, column].astype("str").equals(full.loc[explained, column].astype("str")), column
    ordered = lean["customer_id"].isin(load_scored(out.parent / "work_orders.csv")["customer_id"])
    assert ordered.any() and lean.loc[ordered, "driver_1"].astype("str").equals(
        full.loc[ordered, "driver_1"].astype("str"))  # every work order has its drivers


@pytest.mark.parametrize("table", ["kda_what_if", "kda_global", "kda_segments"])
def test_the_column_dictionary_documents_the_key_driver_tables(baseline, table):
    """Every column of kda_what_if.csv (detractor_share_now, the what-if's baseline, among them), kda_global.csv and
    kda_segments.csv is in columns.csv and in the README's dictionary, with a meaning each, and nothing else is."""
    from cxpredict.columns import COLUMNS

    folder, _ = baseline
    header = list(pd.read_csv(folder / f"{table}.csv", encoding="utf-8-sig", nrows=0).columns)
    dictionary = pd.read_csv(folder / "columns.csv", encoding="utf-8-sig")
    documented = dictionary[dictionary["file"] == table]
    assert list(documented["column"]) == header
    assert documented["meaning"].str.len().gt(20).all()
    assert {c for c, col in COLUMNS.items() if table in col.files} == set(header)
