"""`cxpredict features`: the feature table as Parquet with its manifest, the same from either engine, and nothing
written on bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cxpredict.cli.app import main
from cxpredict.workflows.features import manifest_path


def test_features_are_written_with_a_manifest_and_agree_across_engines(demo_config_path, tmp_path):
    tables, manifests = {}, {}
    for engine in ("pandas", "duckdb"):
        out = tmp_path / engine / "features.parquet"
        assert main(["features", str(demo_config_path), "--out", str(out), "--set", f"data.engine={engine}"]) == 0
        tables[engine] = pd.read_parquet(out)
        manifests[engine] = json.loads(manifest_path(out).read_text(encoding="utf-8"))
        assert sorted(p.name for p in out.parent.iterdir()) == ["features.manifest.json", "features.parquet"]
    pd.testing.assert_frame_equal(tables["pandas"], tables["duckdb"], check_exact=False, rtol=1e-9)
    a, b = manifests["pandas"], manifests["duckdb"]
    assert a["features_hash"] == b["features_hash"] and a["engine"] == "pandas" and b["engine"] == "duckdb"
    assert a["rows"] == len(tables["duckdb"]) == 5000 and tables["duckdb"].columns[0] == "customer_id"
    by_name = {f["name"]: f for f in b["features"]}
    assert by_name["tickets_count_90d"]["aggregation"] == {
        "agg": "count", "column": None, "window_days": 90, "timestamp": "opened_at",
        "as_of": "2026-10-31 23:59:59.999999"}
    assert by_name["tickets_count_90d"]["type"] == "float64" and "aggregation" not in by_name["plan"]
    assert set(b["data_fingerprints"]) >= {"tickets", "orders", "customers"}


def test_the_duckdb_engine_never_reads_the_events_into_pandas(demo_config_path, tmp_path, monkeypatch):
    """`cxpredict features` on DuckDB reads the customer tables with pandas, never an events table (tickets,
    orders): those are checked and aggregated where they lie, and only the feature table comes back."""
    from cxpredict.data import checks

    read, original = [], checks.read_table
    monkeypatch.setattr(checks, "read_table", lambda path, *args, **kwargs: read.append(path.name) or original(
        path, *args, **kwargs))
    assert main(["features", str(demo_config_path), "--out", str(tmp_path / "f.parquet")]) == 0
    assert "customers.csv" in read and not {"tickets.csv", "orders.csv"} & set(read), read


def test_features_change_hash_with_a_window_and_refuse_other_formats(demo_config_path, tmp_path):
    out = tmp_path / "f.parquet"
    assert main(["features", str(demo_config_path), "--out", str(out)]) == 0
    first = json.loads(manifest_path(out).read_text(encoding="utf-8"))["features_hash"]
    assert main(["features", str(demo_config_path), "--out", str(out),
                 "--set", "data.behaviour.3.aggregations.0.window_days=60"]) == 0
    assert json.loads(manifest_path(out).read_text(encoding="utf-8"))["features_hash"] != first
    assert main(["features", str(demo_config_path), "--out", str(tmp_path / "f.csv")]) == 2
    assert not (tmp_path / "f.csv").exists()


def test_bad_input_writes_nothing(demo_config_path, tmp_path):
    out = tmp_path / "new" / "features.parquet"
    assert main(["features", str(demo_config_path), "--out", str(out), "--set",
                 "data.behaviour.3.timestamp=no_such_column"]) == 2
    assert not out.exists() and not manifest_path(out).exists()


def test_features_from_postgres_equal_the_files_and_never_show_the_password(postgres, demo_config_path, tmp_path,
                                                                            monkeypatch, capsys, caplog):
    """The demo's CSV tables loaded into a real PostgreSQL server: `cxpredict features` from data.source gives the
    same table as from the files; the password (PGPASSWORD) appears in no output, log line or manifest; a wrong
    password and a down server exit 7 naming the source, and write nothing."""
    import pyarrow.csv as pacsv
    import yaml

    raw = yaml.safe_load(demo_config_path.read_text(encoding="utf-8"))
    data = (demo_config_path.parent / raw["data"]["dir"]).resolve()
    tables = [raw["data"]["survey"], raw["data"]["outcomes"], *raw["data"]["behaviour"]]
    for table in tables:
        stem = table["path"].removesuffix(".csv")
        postgres.load(stem, pacsv.read_csv(data / table["path"]))
        table["path"] = stem
    raw["data"]["source"] = postgres.url
    config = demo_config_path.with_name("postgres.yaml")
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    files, served = tmp_path / "files.parquet", tmp_path / "pg" / "features.parquet"
    assert main(["features", str(demo_config_path), "--out", str(files)]) == 0
    assert main(["--log-json", "features", str(config), "--out", str(served)]) == 0, caplog.text[-2000:]
    pd.testing.assert_frame_equal(pd.read_parquet(served), pd.read_parquet(files), check_exact=False, rtol=1e-9)
    manifest = json.loads(manifest_path(served).read_text(encoding="utf-8"))
    assert manifest["rows"] == 5000 and set(manifest["data_fingerprints"]) >= {"tickets", "orders", "customers"}

    monkeypatch.setenv("PGPASSWORD", "wrong-" + postgres.password)
    refused = tmp_path / "refused" / "features.parquet"
    assert main(["features", str(config), "--out", str(refused)]) == 7
    down = config.with_name("down.yaml")
    down.write_text(config.read_text(encoding="utf-8").replace(f":{postgres.port}/", ":1/"), encoding="utf-8")
    assert main(["features", str(down), "--out", str(refused)]) == 7
    assert not refused.exists() and not manifest_path(refused).exists()
    captured = capsys.readouterr()
    seen = captured.out + captured.err + caplog.text
    assert "password authentication failed" in seen and postgres.url in seen
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()] + [config.read_bytes()]
    assert all(postgres.password.encode() not in text for text in written)
    assert postgres.password not in seen


@pytest.mark.slow
def test_train_and_score_read_the_table_and_a_changed_definition_exits_2(fast_demo_config_path, tmp_path):
    config, table, model = str(fast_demo_config_path), tmp_path / "f.parquet", tmp_path / "model"
    assert main(["features", config, "--out", str(table)]) == 0
    assert main(["train", config, "--out", str(model), "--no-tracking", "--features", str(table)]) == 0
    scored = {}
    for name, extra in (("tables", []), ("table", ["--features", str(table)])):
        out = tmp_path / name / "scored.csv"
        assert main(["score", config, "--model", str(model), "--out", str(out), "--no-tracking", *extra]) == 0
        scored[name] = out.read_bytes()
    assert len(scored["table"]) > 1000 and scored["table"] == scored["tables"]
    out = tmp_path / "changed" / "scored.csv"
    assert main(["score", config, "--model", str(model), "--out", str(out), "--no-tracking", "--features", str(table),
                 "--set", "data.behaviour.3.aggregations.0.window_days=60"]) == 2
    assert not out.parent.exists() or not any(out.parent.iterdir())
