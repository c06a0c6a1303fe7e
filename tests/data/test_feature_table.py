"""A materialised feature table (data.features / --features): read in place of the behaviour tables with the same
values, and its manifest checked against the config: a changed definition, an edited manifest, a retyped column
or a missing manifest is an InputError (exit 2) naming the column and the fix."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from data.test_duckdb_events import AS_OF, VALUE, config, customers_csv, events_frame, write_events

from cxpredict.data.customers import load_customers
from cxpredict.data.feature_table import manifest_path
from cxpredict.errors import InputError
from cxpredict.workflows.features import materialise_features

AGGS = [{"agg": "count", "window_days": 30}, {"agg": "mean", "column": VALUE}, {"agg": "nunique", "column": "Anzahl"}]


@pytest.fixture
def built(tmp_path):
    customers_csv(tmp_path)
    write_events(tmp_path, events_frame(), "parquet")
    cfg = config(tmp_path, "events.parquet", "duckdb", aggregations=AGGS, as_of=AS_OF)
    materialise_features(cfg, tmp_path / "features.parquet")
    return tmp_path, cfg


def with_table(folder, **kwargs):
    return config(folder, "events.parquet", "duckdb", as_of=AS_OF, features="features.parquet", **kwargs)


def test_the_table_gives_the_features_the_tables_give(built, monkeypatch):
    import cxpredict.data.duckdb_events as duckdb_events

    folder, cfg = built
    reference = load_customers(cfg)
    monkeypatch.setattr(duckdb_events, "duckdb_engine", lambda *a, **k: pytest.fail("the table was rebuilt"))
    data = load_customers(with_table(folder, aggregations=AGGS))
    pd.testing.assert_frame_equal(data.frame, reference.frame)
    pd.testing.assert_series_equal(data.outcome, reference.outcome)
    assert data.report.origin == reference.report.origin and data.report.tables["features"]["features_hash"]


def test_a_changed_window_names_the_column_and_the_fix(built):
    folder, _ = built
    changed = [{"agg": "count", "window_days": 7}, *AGGS[1:]]
    with pytest.raises(InputError, match=r"column 'calls_count_7d' .* is not in the feature table.*cxpredict "
                                         r"features CONFIG --out PATH"):
        load_customers(with_table(folder, aggregations=changed))
    renamed = [{**AGGS[0], "name": "calls_count_30d"}, {"agg": "max", "column": VALUE, "name": f"calls_mean_{VALUE}"},
               AGGS[2]]
    with pytest.raises(InputError, match=r"column 'calls_mean_Minuten \(gesamt\)' was built as .*'agg': 'mean'.* "
                                         r"defines it as .*'agg': 'max'"):
        load_customers(with_table(folder, aggregations=renamed))
    with pytest.raises(InputError, match=r"built with as_of 2024-06-30 23:59:59.999999, but data.as_of is "
                                         r"2024-05-31 23:59:59.999999"):
        load_customers(config(folder, "events.parquet", "duckdb", aggregations=AGGS, as_of="2024-05-31",
                              features="features.parquet"))


def test_an_edited_manifest_a_retyped_column_or_no_manifest_is_refused(built):
    folder, _ = built
    path = manifest_path(folder / "features.parquet")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edited = {**manifest, "features": [{**e, "type": "int64"} if e["name"] == "calls_count_30d" else e
                                       for e in manifest["features"]]}
    path.write_text(json.dumps(edited), encoding="utf-8")
    with pytest.raises(InputError, match=r"do not match their features_hash"):
        load_customers(with_table(folder, aggregations=AGGS))
    path.write_text(json.dumps(manifest), encoding="utf-8")
    frame = pd.read_parquet(folder / "features.parquet")
    frame["plan"] = frame["plan"].astype("category")
    frame.to_parquet(folder / "features.parquet")
    with pytest.raises(InputError, match=r"column 'plan' is category, but its manifest says str"):
        load_customers(with_table(folder, aggregations=AGGS))
    path.unlink()
    with pytest.raises(InputError, match=r"feature manifest .*features.manifest.json is missing"):
        load_customers(with_table(folder, aggregations=AGGS))
