"""Tests for cxpredict.data: reading, every validation case, joins, event windows, streaming, telco."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxpredict.config import config_from_dict
from cxpredict.data.customers import DataReport, load_customers, validate_inputs
from cxpredict.data.tables import fingerprint_file
from cxpredict.errors import ConfigError, InputError

TELCO = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "ibm_telco"

CUSTOMERS = "customer_id,plan,charges\nc1,basic,10.5\nc2,None,20\nc3,pro,30\nc4,pro,\n"
SURVEY = "customer_id,score,reasons\nc1,9,\nc2,3,price; network\nc4,6,support\n"
OUTCOMES = "customer_id,churned\nc1,0\nc2,yes\nc3,No\n"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def make_cfg(tmp_path: Path, behaviour=None, survey=None, outcomes=None, **data):
    """A small valid config over tmp_path; tests overwrite one file or section to break it."""
    for name, text in (("customers.csv", CUSTOMERS), ("survey.csv", SURVEY), ("outcomes.csv", OUTCOMES)):
        if not (tmp_path / name).exists():
            write(tmp_path, name, text)
    raw = {
        "data": {
            "survey": survey or {"path": "survey.csv", "reasons": "reasons"},
            "behaviour": behaviour or [{"name": "customers", "path": "customers.csv"}],
            "outcomes": outcomes or {"path": "outcomes.csv"},
            **data,
        }
    }
    return config_from_dict(raw, base_dir=tmp_path)


def load_error(cfg, kind=InputError) -> str:
    with pytest.raises(kind) as info:
        load_customers(cfg)
    return str(info.value)


# --------------------------------------------------------------------------------------------- happy path
def test_load_customers_fuses_survey_behaviour_and_outcomes(tmp_path):
    data = load_customers(make_cfg(tmp_path))
    assert data.frame.index.name == "customer_id"
    assert list(data.frame.index) == ["c1", "c2", "c3", "c4"]
    assert list(data.frame.columns) == ["plan", "charges"]
    assert data.frame.loc["c2", "plan"] == "None"  # literal category kept, not turned into missing
    assert pd.isna(data.frame.loc["c4", "plan"]) is False and np.isnan(data.frame.loc["c4", "charges"])
    assert data.score.dtype == "float64" and data.score.tolist()[:2] == [9.0, 3.0] and np.isnan(data.score["c3"])
    assert data.is_respondent.tolist() == [True, True, False, True]
    assert data.reasons["c2"] == "price;network" and pd.isna(data.reasons["c1"])
    assert data.outcome.tolist()[:3] == [0.0, 1.0, 0.0] and np.isnan(data.outcome["c4"])
    assert data.report.n_customers == 4 and data.report.n_respondents == 3
    assert data.report.orphan_respondents == 0
    assert set(data.report.tables) == {"survey", "customers", "outcomes"}
    entry = data.report.tables["customers"]
    assert entry["rows"] == 4 and entry["columns"] == ["customer_id", "plan", "charges"]
    assert entry["fingerprint"] == fingerprint_file(tmp_path / "customers.csv")
    assert validate_inputs(make_cfg(tmp_path)) == []


@pytest.mark.parametrize("usage_ids", [["c1", "c2", "c3", "c4"], ["c3", "c1", "c4", "c2"], ["c1", "c2", "c5"]])
def test_tables_sorted_by_one_id_list_fuse_as_any_others(tmp_path, monkeypatch, usage_ids):
    """Customer tables sharing one sorted ID list skip the hashing of their IDs (uniqueness, population,
    alignment): the same frame as the general path, which shuffled or partial tables take."""
    from cxpredict.data import checks, customers

    write(tmp_path, "usage.csv", "customer_id,gb\n" + "".join(f"{c},{i}.5\n" for i, c in enumerate(usage_ids)))
    cfg = make_cfg(tmp_path, behaviour=[{"name": "customers", "path": "customers.csv"},
                                        {"name": "usage", "path": "usage.csv"}])
    quick = load_customers(cfg)
    for module in (checks, customers):
        monkeypatch.setattr(module, "increasing", lambda values: False)
    general = load_customers(cfg)
    pd.testing.assert_frame_equal(quick.frame, general.frame)
    pd.testing.assert_index_equal(quick.frame.index, general.frame.index, exact=True)
    assert quick.report.warnings == general.report.warnings
    assert list(quick.frame.index) == ["c1", "c2", "c3", "c4", *(["c5"] if "c5" in usage_ids else [])]


# --------------------------------------------------------------------------------------------- file problems
def test_missing_file_names_the_file(tmp_path):
    cfg = make_cfg(tmp_path, behaviour=[{"name": "usage", "path": "usage.csv"}])
    msg = load_error(cfg)
    assert "usage.csv" in msg and "not found" in msg


@pytest.mark.parametrize("content", ["", "customer_id,plan,charges\n"], ids=["zero-bytes", "header-only"])
def test_empty_file_is_an_input_error(tmp_path, content):
    write(tmp_path, "customers.csv", content)
    msg = load_error(make_cfg(tmp_path))
    assert "customers.csv" in msg and ("empty" in msg or "no data rows" in msg)


def test_undecodable_encoding_says_which_encoding_and_how_to_fix(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,city\nc1,Sevilla\nc2,Málaga\n".encode("latin-1"))
    msg = load_error(make_cfg(tmp_path))
    assert "customers.csv" in msg and "'city'" in msg and "'utf-8'" in msg and "data.read.encoding" in msg
    data = load_customers(make_cfg(tmp_path, read={"encoding": "latin-1"}))
    assert data.frame.loc["c2", "city"] == "Málaga"


def test_undecodable_header_is_an_encoding_error(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,año\nc1,1\n".encode("latin-1"))
    msg = load_error(make_cfg(tmp_path))
    assert "customers.csv" in msg and "data.read.encoding" in msg


def test_wrong_delimiter_hints_at_the_delimiter(tmp_path):
    write(tmp_path, "customers.csv", "customer_id;plan\nc1;basic\n")
    msg = load_error(make_cfg(tmp_path))
    assert "customers.csv" in msg and "'customer_id'" in msg and "delimiter" in msg
    write(tmp_path, "survey.csv", "customer_id;score\nc1;9\n")
    write(tmp_path, "outcomes.csv", "customer_id;churned\nc1;0\n")
    fixed = make_cfg(tmp_path, survey={"path": "survey.csv"}, read={"delimiter": ";"})
    assert load_customers(fixed).frame.loc["c1", "plan"] == "basic"


def test_ragged_rows_are_an_input_error(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,plan\nc1,basic\nc2,pro,extra\n")
    msg = load_error(make_cfg(tmp_path))
    assert "customers.csv" in msg and "Expected 2 columns" in msg


# --------------------------------------------------------------------------------------------- columns
def test_missing_key_column_lists_columns_and_suggests_a_match(tmp_path):
    write(tmp_path, "customers.csv", "Customer_ID,plan\nc1,basic\n")
    msg = load_error(make_cfg(tmp_path))
    assert "customers.csv" in msg and "['customer_id']" in msg
    assert "Columns in the file: ['Customer_ID', 'plan']" in msg and "did you mean 'Customer_ID'" in msg


def test_missing_configured_columns_are_listed(tmp_path):
    cfg = make_cfg(tmp_path, behaviour=[{"name": "customers", "path": "customers.csv",
                                         "columns": ["plans", "charges", "region"]}])
    msg = load_error(cfg)
    assert "customers.csv" in msg and "['plans', 'region']" in msg and "did you mean 'plan'" in msg


def test_missing_survey_score_column(tmp_path):
    msg = load_error(make_cfg(tmp_path, survey={"path": "survey.csv", "score": "nps"}))
    assert "survey.csv" in msg and "['nps']" in msg and "data.survey" in msg


def test_mixed_types_report_column_values_and_lines(tmp_path):
    rows = "".join(f"c{i},{i * 1.5}\n" for i in range(1, 9))
    write(tmp_path, "customers.csv", "customer_id,charges\n" + rows + "c9,n/a\nc10,unknown\n")
    msg = load_error(make_cfg(tmp_path))
    assert "customers.csv" in msg and "'charges'" in msg and "mixes numbers and text" in msg
    assert "rows 10, 11" in msg and "'n/a'" in msg and "'unknown'" in msg and "na_values" in msg
    fixed = make_cfg(tmp_path, read={"na_values": ["", "n/a", "unknown"]})
    assert pd.api.types.is_float_dtype(load_customers(fixed).frame["charges"])


def test_text_category_column_is_not_mixed_types(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,plan\nc1,basic\nc2,pro\nc3,1\nc4,None\n")
    assert load_customers(make_cfg(tmp_path)).frame["plan"].tolist() == ["basic", "pro", "1", "None"]


# --------------------------------------------------------------------------------------------- duplicates
def test_duplicate_ids_in_customer_table_show_ids_and_lines(tmp_path):
    rows = "".join(f"c{i},basic\nc{i},pro\n" for i in range(1, 8))
    write(tmp_path, "customers.csv", "customer_id,plan\n" + rows)
    msg = load_error(make_cfg(tmp_path))
    assert "customers.csv" in msg and "'customer_id'" in msg and "7 IDs repeat" in msg
    assert "'c1' at rows 2, 3" in msg and "'c5' at rows 10, 11" in msg and "'c6'" not in msg


def test_duplicate_respondents(tmp_path):
    write(tmp_path, "survey.csv", "customer_id,score,reasons\nc1,9,\nc1,7,\n")
    msg = load_error(make_cfg(tmp_path))
    assert "survey.csv" in msg and "'customer_id'" in msg and "'c1' at rows 2, 3" in msg


def test_duplicate_lookup_keys(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,zip\nc1,1000\nc2,2000\n")
    write(tmp_path, "zips.csv", "zip,population\n1000,5\n1000,6\n")
    behaviour = [{"name": "customers", "path": "customers.csv"},
                 {"name": "zips", "path": "zips.csv", "kind": "lookup", "join_on": "zip"}]
    msg = load_error(make_cfg(tmp_path, behaviour=behaviour))
    assert "zips.csv" in msg and "'zip'" in msg and "'1000' at rows 2, 3" in msg


# --------------------------------------------------------------------------------------------- scores, labels
@pytest.mark.parametrize(
    ("bad", "shown"), [("11", "'11'"), ("6.5", "'6.5'"), ("-1", "'-1'"), ("seven", "'seven'")],
    ids=["above-scale", "not-integer", "below-scale", "text"],
)
def test_bad_scores_name_column_lines_and_fix(tmp_path, bad, shown):
    write(tmp_path, "survey.csv", f"customer_id,score,reasons\nc1,9,\nc2,{bad},\nc3,{bad},\n")
    msg = load_error(make_cfg(tmp_path))
    assert "survey.csv" in msg and "'score'" in msg and "rows 3, 4" in msg and shown in msg
    assert "from 0 to 10" in msg and "scale" in msg


def test_bad_scores_show_only_the_first_five(tmp_path):
    rows = "".join(f"c{i},12,\n" for i in range(1, 9))
    write(tmp_path, "survey.csv", "customer_id,score,reasons\n" + rows)
    msg = load_error(make_cfg(tmp_path))
    assert "rows 2, 3, 4, 5, 6 (and 3 more)" in msg


def test_csat_scale_accepts_one_to_five(tmp_path):
    write(tmp_path, "survey.csv", "customer_id,score\nc1,1\nc2,5\n")
    cfg = make_cfg(tmp_path, survey={"path": "survey.csv"})
    cfg.scale = cfg.scale.model_copy(update={"min": 1, "max": 5, "detractor_max": 3, "promoter_min": 5})
    assert load_customers(cfg).score.dropna().tolist() == [1.0, 5.0]


def test_blank_scores_are_silent_customers_with_a_warning(tmp_path):
    write(tmp_path, "survey.csv", "customer_id,score\nc1,9\nc2,\n")
    data = load_customers(make_cfg(tmp_path, survey={"path": "survey.csv"}))
    assert data.is_respondent.tolist() == [True, False, False, False]
    assert any("no 'score' answer" in w for w in data.report.warnings)


def test_bad_outcome_labels(tmp_path):
    write(tmp_path, "outcomes.csv", "customer_id,churned\nc1,0\nc2,maybe\nc3,2\n")
    msg = load_error(make_cfg(tmp_path))
    assert "outcomes.csv" in msg and "'churned'" in msg and "rows 3, 4" in msg and "'maybe'" in msg


def test_numeric_outcome_outside_zero_one(tmp_path):
    write(tmp_path, "outcomes.csv", "customer_id,churned\nc1,0\nc2,1\nc3,2\n")
    msg = load_error(make_cfg(tmp_path))
    assert "outcomes.csv" in msg and "'churned'" in msg and "row 4" in msg


# --------------------------------------------------------------------------------------------- orphans, joins
def test_orphan_respondents_are_counted_not_dropped_silently(tmp_path):
    write(tmp_path, "survey.csv", "customer_id,score\nc1,9\nx1,3\nx2,4\n")
    data = load_customers(make_cfg(tmp_path, survey={"path": "survey.csv"}))
    assert data.report.orphan_respondents == 2 and data.report.orphan_examples == ["x1", "x2"]
    assert any("2 survey answers" in w for w in data.report.warnings)
    assert "x1" not in data.frame.index and data.report.n_respondents == 1


def test_answers_matching_no_customer_are_an_error_naming_both_files(tmp_path):
    """The catalogue's trip: `validate` said ok to an answer table whose IDs match no customer (all orphans)."""
    from cxpredict.data.customers import training_problems

    write(tmp_path, "survey.csv", "customer_id,score\nC-01,9\nC-02,3\nC-03,4\n")
    cfg = make_cfg(tmp_path, survey={"path": "survey.csv"})
    errors = [str(e) for e in validate_inputs(cfg)]
    assert len(errors) == 1, errors
    assert "survey.csv" in errors[0] and "customers.csv" in errors[0] and "none of its 3 answers" in errors[0]
    assert "'C-01'" in errors[0] and "'c1'" in errors[0] and "data.survey.key" in errors[0]  # both ID forms, the fix
    assert [str(e) for e in training_problems(load_customers(cfg), cfg)] == errors  # train says the same
    write(tmp_path, "survey.csv", "customer_id,score\nc1,9\nx1,3\n")  # some match: a warning, not an error
    assert validate_inputs(cfg) == []


def test_customer_tables_union_with_warning(tmp_path):
    write(tmp_path, "extra.csv", "customer_id,region,plan\nc1,north,x\nc5,south,y\n")
    behaviour = [{"name": "customers", "path": "customers.csv"}, {"name": "extra", "path": "extra.csv"}]
    data = load_customers(make_cfg(tmp_path, behaviour=behaviour))
    assert list(data.frame.index) == ["c1", "c2", "c3", "c4", "c5"]
    assert data.frame.loc["c1", "region"] == "north" and pd.isna(data.frame.loc["c2", "region"])
    assert "extra_plan" in data.frame.columns  # clashing name gets the table prefix
    assert any("'customers' lacks 1 of the 5" in w for w in data.report.warnings)
    assert any("'extra' lacks 3 of the 5" in w for w in data.report.warnings)


def test_customer_tables_in_another_row_order_align_by_id(tmp_path):
    """Tables listing the same customers in another order (a usual export): each row lands on its customer, and
    a table that lacks none keeps its dtypes (whole numbers stay int64: nothing to fill)."""
    write(tmp_path, "usage.csv", "customer_id,calls,label\nc3,30,z\nc1,10,x\nc4,40,w\nc2,20,y\n")
    behaviour = [{"name": "customers", "path": "customers.csv"}, {"name": "usage", "path": "usage.csv"}]
    data = load_customers(make_cfg(tmp_path, behaviour=behaviour))
    assert list(data.frame.index) == ["c1", "c2", "c3", "c4"]
    assert data.frame["calls"].tolist() == [10, 20, 30, 40] and data.frame["calls"].dtype == np.int64
    assert data.frame["label"].tolist() == ["x", "y", "z", "w"]
    assert not any("lacks" in w for w in data.report.warnings)


def test_lookup_joins_through_a_numeric_column(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,zip\nc1,1000\nc2,2000\nc3,\nc4,3000\n")
    write(tmp_path, "zips.csv", "zip,population,note\n1000,5,a\n2000,6,b\n")
    behaviour = [{"name": "customers", "path": "customers.csv"},
                 {"name": "zips", "path": "zips.csv", "kind": "lookup", "join_on": "zip", "columns": ["population"]}]
    data = load_customers(make_cfg(tmp_path, behaviour=behaviour))
    assert data.frame["population"].tolist()[:2] == [5, 6] and data.frame["population"].isna().sum() == 2
    assert "note" not in data.frame.columns
    assert any("1 customers have a 'zip'" in w for w in data.report.warnings)


def test_lookup_join_on_unknown_column(tmp_path):
    write(tmp_path, "zips.csv", "zip,population\n1000,5\n")
    behaviour = [{"name": "customers", "path": "customers.csv"},
                 {"name": "zips", "path": "zips.csv", "kind": "lookup", "key": "zip", "join_on": "zipcode"}]
    msg = load_error(make_cfg(tmp_path, behaviour=behaviour))
    assert "zips.csv" in msg and "'zipcode'" in msg and "join_on" in msg


def test_survey_and_outcome_columns_never_reach_the_frame(tmp_path):
    write(tmp_path, "status.csv", "customer_id,score,churned,leak\nc1,9,0,1\nc2,3,1,2\n")
    behaviour = [{"name": "customers", "path": "customers.csv"}, {"name": "status", "path": "status.csv"}]
    data = load_customers(make_cfg(tmp_path, behaviour=behaviour, survey={"path": "status.csv"},
                                   outcomes={"path": "status.csv"}))
    assert "score" not in data.frame.columns and "churned" not in data.frame.columns
    assert any("features.exclude" in w for w in data.report.warnings)
    assert data.outcome.tolist()[:2] == [0.0, 1.0]


# --------------------------------------------------------------------------------------------- events
EVENTS = (
    "customer_id,at,minutes,kind\n"
    "c1,2024-06-29,10,call\nc1,2024-06-10,20,chat\nc1,2024-03-01,30,call\n"
    "c2,2024-06-30 18:00:00,5,call\nc2,2024-07-02,100,call\nzz,2024-06-01,1,call\n"
)


def events_cfg(tmp_path, aggregations, **data):
    write(tmp_path, "events.csv", EVENTS)
    behaviour = [{"name": "customers", "path": "customers.csv"},
                 {"name": "calls", "path": "events.csv", "kind": "events", "timestamp": "at",
                  "aggregations": aggregations}]
    return make_cfg(tmp_path, behaviour=behaviour, **data)


def test_event_windows_end_at_as_of(tmp_path):
    aggs = [{"agg": "count", "window_days": 30}, {"agg": "sum", "column": "minutes"},
            {"agg": "mean", "column": "minutes", "window_days": 30}, {"agg": "nunique", "column": "kind"},
            {"agg": "max", "column": "minutes", "name": "longest"}]
    data = load_customers(events_cfg(tmp_path, aggs, as_of="2024-06-30"))
    f = data.frame
    assert ["calls_count_30d", "calls_sum_minutes", "calls_mean_minutes_30d", "calls_nunique_kind", "longest"] \
        == list(f.columns[-5:])
    assert f.loc["c1", "calls_count_30d"] == 2 and f.loc["c1", "calls_sum_minutes"] == 60
    assert f.loc["c2", "calls_sum_minutes"] == 5  # the 2024-07-02 event is after as_of; the whole as_of day counts
    assert f.loc["c3", "calls_count_30d"] == 0 and f.loc["c3", "calls_sum_minutes"] == 0
    assert np.isnan(f.loc["c3", "calls_mean_minutes_30d"]) and np.isnan(f.loc["c3", "longest"])
    assert "zz" not in f.index
    assert data.report.tables["calls"]["as_of"].startswith("2024-06-30")
    assert any("after as_of" in w for w in data.report.warnings)


def test_event_as_of_defaults_to_latest_timestamp(tmp_path):
    data = load_customers(events_cfg(tmp_path, [{"agg": "count", "window_days": 4}]))
    assert data.frame["calls_count_4d"].tolist() == [1, 2, 0, 0]  # window (06-28, 07-02], 07-02 = last event


def test_event_bad_timestamps_and_text_sums(tmp_path):
    write(tmp_path, "events.csv", "customer_id,at,kind\nc1,2024-06-01,call\nc1,not a date,chat\n")
    behaviour = [{"name": "customers", "path": "customers.csv"},
                 {"name": "calls", "path": "events.csv", "kind": "events", "timestamp": "at",
                  "aggregations": [{"agg": "sum", "column": "kind"}]}]
    errors = validate_inputs(make_cfg(tmp_path, behaviour=behaviour))
    messages = [str(e) for e in errors]
    assert all(isinstance(e, InputError) for e in errors) and len(errors) == 2
    assert any("'kind'" in m and "needs numbers" in m and "events.csv" in m for m in messages)
    assert any("'at'" in m and "row 3" in m and "'not a date'" in m and "events.csv" in m for m in messages)


def test_quoted_line_breaks_in_notes_are_not_blamed_on_timestamps(tmp_path):
    """A 3 MB ticket-notes export whose quoted notes hold line breaks: every 1 MiB read block boundary falls in
    a note, no row is garbled, and the one bad timestamp is named on its real file line."""
    rows = [f'c{i % 4 + 1},2024-06-{i % 28 + 1:02d},"line one, ""quoted""\r\nline two\n\nline {i}"\n'
            for i in range(60_000)]
    rows[50_000] = rows[50_000].replace("2024-06-", "june ")
    write(tmp_path, "notes.csv", "customer_id,noted_at,note\n" + "".join(rows))
    behaviour = [{"name": "customers", "path": "customers.csv"},
                 {"name": "notes", "path": "notes.csv", "kind": "events", "timestamp": "noted_at",
                  "aggregations": [{"agg": "count"}]}]
    errors = [str(e) for e in validate_inputs(make_cfg(tmp_path, behaviour=behaviour))]
    assert len(errors) == 1 and "'noted_at'" in errors[0] and "'june 21'" in errors[0]
    assert "row 200002 (file lines" in errors[0]  # 1 header line + 4 lines per note before it


def test_event_aggregation_config_errors(tmp_path):
    msg = load_error(events_cfg(tmp_path, [{"agg": "sum"}]), ConfigError)
    assert "'calls'" in msg and "needs a 'column'" in msg
    msg = load_error(events_cfg(tmp_path, [{"agg": "count"}, {"agg": "count", "window_days": 0}]), ConfigError)
    assert "repeated feature names" in msg


# --------------------------------------------------------------------------------------------- validate_inputs
def test_validate_inputs_reports_every_table_at_once(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,plan\nc1,a\nc1,b\n")
    write(tmp_path, "survey.csv", "customer_id,score\nc1,99\n")
    write(tmp_path, "outcomes.csv", "")
    behaviour = [{"name": "customers", "path": "customers.csv"}, {"name": "usage", "path": "usage.csv"}]
    cfg = make_cfg(tmp_path, behaviour=behaviour, survey={"path": "survey.csv"})
    errors = validate_inputs(cfg)
    assert all(isinstance(e, InputError) for e in errors)
    assert [next(n for n in ("survey", "customers", "usage", "outcomes") if f"{n}.csv" in str(e)) for e in errors] \
        == ["survey", "customers", "usage", "outcomes"]
    with pytest.raises(InputError, match="survey.csv"):
        load_customers(cfg)


def test_validate_inputs_hands_over_the_warnings_training_would_log(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,plan,charge\nc1,a,inf\nc2,b,1\nc3,a,2\n")
    write(tmp_path, "survey.csv", "customer_id,score\nc1,9\nc2,3\n")
    cfg = make_cfg(tmp_path, behaviour=[{"name": "customers", "path": "customers.csv"}], survey={"path": "survey.csv"})
    report = DataReport()
    assert validate_inputs(cfg, report) == []
    assert any("charge" in w and "1 row" in w for w in report.warnings), report.warnings


def test_validate_inputs_does_not_blame_a_lookup_for_a_broken_earlier_table(tmp_path):
    write(tmp_path, "zips.csv", "zip,population\n1000,5\n")
    behaviour = [{"name": "customers", "path": "missing.csv"},
                 {"name": "zips", "path": "zips.csv", "kind": "lookup", "join_on": "zip"}]
    errors = validate_inputs(make_cfg(tmp_path, behaviour=behaviour))
    assert len(errors) == 1 and "missing.csv" in str(errors[0])


# --------------------------------------------------------------------------------------------- parquet, streaming
def test_parquet_file_and_folder_read_like_csv(tmp_path):
    table = pa.table({"customer_id": [1, 2, 3], "plan": ["a", "None", None], "charges": [1.0, 2.0, 3.0]})
    pq.write_table(table, tmp_path / "customers.parquet")
    (tmp_path / "parts").mkdir()
    pq.write_table(table.slice(0, 2), tmp_path / "parts" / "part-0.parquet")
    pq.write_table(table.slice(2), tmp_path / "parts" / "part-1.parquet")
    write(tmp_path / "parts", "_SUCCESS", "")
    for path in ("customers.parquet", "parts"):
        data = load_customers(make_cfg(tmp_path, behaviour=[{"name": "customers", "path": path}]))
        assert list(data.frame.index) == ["1", "2", "3"] and data.frame["plan"].tolist()[:2] == ["a", "None"]
        assert data.report.tables["customers"]["fingerprint"] == fingerprint_file(tmp_path / path)


def test_parquet_missing_column_and_empty_folder(tmp_path):
    pq.write_table(pa.table({"id": ["c1"]}), tmp_path / "customers.parquet")
    msg = load_error(make_cfg(tmp_path, behaviour=[{"name": "customers", "path": "customers.parquet"}]))
    assert "customers.parquet" in msg and "['customer_id']" in msg
    (tmp_path / "empty").mkdir()
    msg = load_error(make_cfg(tmp_path, behaviour=[{"name": "customers", "path": "empty"}]))
    assert "empty" in msg and "no .parquet files" in msg


# --------------------------------------------------------------------------------------------- telco
@pytest.mark.skipif(not TELCO.is_dir(), reason="../shared/datasets/ibm_telco is absent")
def test_telco_tables_fuse_into_7043_customers():
    status = "Telco_customer_churn_status.csv"
    raw = {
        "data": {
            "dir": str(TELCO), "key": "Customer ID",
            "survey": {"path": status, "score": "Satisfaction Score"},
            "outcomes": {"path": status, "label": "Churn Value"},
            "behaviour": [
                {"name": "demographics", "path": "Telco_customer_churn_demographics.csv"},
                {"name": "location", "path": "Telco_customer_churn_location.csv"},
                {"name": "population", "path": "Telco_customer_churn_population.csv", "kind": "lookup",
                 "key": "Zip Code", "join_on": "Zip Code", "columns": ["Population"]},
                {"name": "services", "path": "Telco_customer_churn_services.csv"},
            ],
        },
        "scale": {"min": 1, "max": 5, "detractor_max": 3, "promoter_min": 5},
    }
    cfg = config_from_dict(raw)
    data = load_customers(cfg)
    assert data.report.n_customers == 7043 and data.report.n_respondents == 7043
    assert data.report.orphan_respondents == 0
    assert (data.frame["Offer"] == "None").sum() > 1000 and (data.frame["Internet Type"] == "None").sum() > 500
    assert data.frame["Population"].notna().all()
    status_columns = {"Satisfaction Score", "Customer Status", "Churn Label", "Churn Value", "Churn Score", "CLTV",
                      "Churn Category", "Churn Reason", "Status ID"}
    assert not status_columns & set(data.frame.columns)
    assert set(data.score.unique()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert set(data.outcome.unique()) == {0.0, 1.0} and int(data.outcome.sum()) == 1869
    assert validate_inputs(cfg) == []


def test_validate_notes_undecodable_bytes_in_a_column_the_config_does_not_read(tmp_path):
    """A cp1252 byte (0x92, a curly apostrophe) in a survey column nobody reads: harmless, but `validate` says so."""
    write(tmp_path, "survey.csv", b"customer_id,score,comment\nc1,9,fine\nc2,3,don\x92t like it\nc4,6,\n")
    report = DataReport()
    assert validate_inputs(make_cfg(tmp_path, survey={"path": "survey.csv"}), report) == []
    notes = [w for w in report.warnings if "not valid utf-8" in w]
    assert len(notes) == 1 and "survey.csv: line 3 (column 'comment')" in notes[0] and "cp1252" in notes[0]
    assert load_customers(make_cfg(tmp_path, survey={"path": "survey.csv"})).score["c2"] == 3.0  # still reads
