"""Reading run outputs back: folder layouts of train/score/demo and of downloaded MLflow artifacts."""

from __future__ import annotations

import json

import pandas as pd

from cxpredict.io.runfiles import find_run_files


def _bundle(folder, metrics):
    folder.mkdir(parents=True)
    (folder / "bundle.json").write_text("{}", encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")


def test_mlflow_artifact_layout_is_found(tmp_path):
    """A demo run in MLflow holds bundle/ and scoring/; manifest paths point at the machine that scored."""
    _bundle(tmp_path / "bundle", {"n_customers": 3, "population_nps": {"estimate": -5.0}})
    scoring = tmp_path / "scoring"
    scoring.mkdir()
    pd.DataFrame({"customer_id": ["a", "b", "c"], "is_respondent": [True, False, False],
                  "predicted_score": [7.0, 6.0, 5.0], "secret_column": [1, 2, 3]}).to_csv(scoring / "scored.csv",
                                                                                         index=False)
    (scoring / "manifest.json").write_text(json.dumps({"kind": "score", "outputs": {
        "scored": {"path": "/other/machine/scored.csv"}}}), encoding="utf-8")
    run = find_run_files(tmp_path)
    assert run.bundle_dir == tmp_path / "bundle"
    assert run.population == {"estimate": -5.0}, "population falls back to metrics.json"
    assert list(run.scored.columns) == ["is_respondent", "predicted_score"], "only the columns the report uses"
    assert run.segment_summary is None


def test_formula_escapes_are_undone_and_bad_json_is_skipped(tmp_path):
    _bundle(tmp_path / "model", {})
    (tmp_path / "model" / "nps").mkdir()
    (tmp_path / "model" / "nps" / "nps.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "segment_summary.csv").write_text("segment,strategy,customers\n'=risky,retention,3\n",
                                                  encoding="utf-8-sig")
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "score", "outputs": {}}), encoding="utf-8")
    run = find_run_files(tmp_path)
    assert run.nps_meta is None
    assert run.segment_summary["segment"].tolist() == ["=risky"]


def test_history_keeps_the_latest_run_per_day_of_the_same_config(tmp_path):
    from cxpredict.io.runfiles import read_history

    def manifest(created, as_of, name="demo", nps=0.0):
        return {"kind": "score", "config_name": name, "created_at": created, "as_of": as_of,
                "nps": {"model_only": nps}}

    (tmp_path / "history").mkdir()
    runs = [manifest("2026-10-24T01:00:00Z", "2026-10-24", nps=-1.0),
            manifest("2026-10-31T01:00:00Z", "2026-10-31", nps=-2.0),
            manifest("2026-10-31T05:00:00Z", "2026-10-31", nps=-3.0),  # a retry the same day: it wins
            manifest("2026-10-30T01:00:00Z", "2026-10-30", name="other")]
    for i, m in enumerate(runs):
        (tmp_path / "history" / f"manifest-{i}.json").write_text(json.dumps(m), encoding="utf-8")
    history = read_history(tmp_path, runs[2])
    assert [(m["as_of"], m["nps"]["model_only"]) for m in history] == [("2026-10-24", -1.0), ("2026-10-31", -3.0)]


def test_a_scoring_folder_finds_the_bundle_its_manifest_names(tmp_path):
    """train --out MODEL, score --out RUN/scored.csv, report RUN: the model lies outside RUN, the manifest names it."""
    _bundle(tmp_path / "model", {"n_customers": 3, "population_nps": {"estimate": 4.0}})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    manifest = {"kind": "score", "outputs": {}, "bundle": {"path": str(tmp_path / "model")}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    run = find_run_files(run_dir)
    assert run.bundle_dir == tmp_path / "model" and run.population == {"estimate": 4.0}
    manifest["bundle"]["path"] = str(tmp_path / "gone")  # scored on another machine: no bundle, no error
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert find_run_files(run_dir).bundle_dir is None
