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
