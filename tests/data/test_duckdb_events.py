"""Parity of the DuckDB engine with the pandas reference (data.engine): every aggregation kind and window, missing
values, empty groups, timestamps with and without a time zone, unicode and spaced column names, CSV, Parquet and a
folder of Parquet parts give the same feature tables (integers exactly, floats within 1e-9 relative) and the same
warnings; bad input gives the same errors; the spill folder is removed."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxpredict.config import DuckDBSettings, config_from_dict
from cxpredict.data.customers import DataReport, load_customers, validate_inputs
from cxpredict.data.duckdb_events import duckdb_engine
from cxpredict.errors import ConfigError, InputError, ResourceError

AS_OF = "2024-06-30"
KEY = "Kunden Nr."  # a spaced key name with a dot
VALUE, COUNT, KIND = "Minuten (gesamt)", "Anzahl", "類型 kind"  # float, int and text columns with odd names
AGGS = [{"agg": "count"}, {"agg": "count", "window_days": 7}, {"agg": "count", "column": VALUE, "window_days": 30}]
AGGS += [{"agg": agg, "column": column, "window_days": window}
         for agg in ("sum", "mean", "max", "min") for column in (VALUE, COUNT) for window in (None, 1, 30)]
AGGS += [{"agg": "nunique", "column": column, "window_days": window} for column in (KIND, COUNT) for window in
         (None, 30)]


def events_frame(n_customers: int = 60, n_events: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Events around as_of: some after it, some on the window edges, NaN values, customers without events,
    events of customers absent from the customer table and IDs with padding."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:03d}" for i in range(n_customers)] + ["ghost1", "ghost2"])
    who = rng.choice(len(ids) - 10, n_events)  # the last customers (c050..c059) have no events
    who[:15] = len(ids) - 1 - rng.integers(0, 2, 15)  # events of customers absent from the customer table
    end = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
    offsets = pd.to_timedelta(rng.uniform(-60, 5, n_events), unit="D").round("s")
    at = end + offsets
    edge = end - pd.Timedelta(microseconds=1) - pd.Timedelta(days=30)  # exactly on the 30-day window's start
    at = at.where(np.arange(n_events) % 97 != 0, edge)
    at = at.where(np.arange(n_events) % 89 != 0, end - pd.Timedelta(seconds=1))  # the last second of as_of
    value = rng.gamma(2.0, 10.0, n_events).round(3)
    value[rng.random(n_events) < 0.1] = np.nan
    text = rng.choice(["Anruf", "chat ✓", "e-mail", None], n_events)
    key = pd.Series(ids[who], dtype="str")
    key[3] = f"  {key[3]} "
    return pd.DataFrame({KEY: key, "Zeit": at, VALUE: value, COUNT: rng.integers(0, 50, n_events), KIND: text})


def customers_csv(folder: Path, n_customers: int = 60, sep: str = ",") -> None:
    rows = "".join(f"c{i:03d}{sep}p{i % 3}\n" for i in range(n_customers))
    (folder / "customers.csv").write_text(f"{KEY}{sep}plan\n{rows}", encoding="utf-8")
    outcomes = "".join(f"c{i:03d}{sep}{i % 2}\n" for i in range(n_customers))
    (folder / "outcomes.csv").write_text(f"{KEY}{sep}churned\n{outcomes}", encoding="utf-8")


def write_events(folder: Path, frame: pd.DataFrame, form: str) -> str:
    if form == "csv":
        frame.to_csv(folder / "events.csv", index=False)
        return "events.csv"
    if form == "parquet":
        frame.to_parquet(folder / "events.parquet", index=False)
        return "events.parquet"
    parts = folder / "events"
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        (parts / f"month={i}").mkdir(parents=True)
        frame.iloc[part].to_parquet(parts / f"month={i}" / "part-0.parquet", index=False)
    (parts / "_SUCCESS").write_text("")
    return "events"


def config(folder: Path, path: str, engine: str, aggregations=AGGS, customers: bool = True, **data):
    behaviour = [{"name": "customers", "path": "customers.csv"}] if customers else []
    behaviour.append({"name": "calls", "path": path, "kind": "events", "timestamp": "Zeit",
                      "aggregations": aggregations})
    raw = {"data": {"key": KEY, "behaviour": behaviour, "outcomes": {"path": "outcomes.csv"}, "engine": engine,
                    **data}}
    return config_from_dict(raw, base_dir=folder)


def both(folder: Path, path: str, **kwargs):
    return [load_customers(config(folder, path, engine, **kwargs)) for engine in ("pandas", "duckdb")]


def assert_same(reference, candidate) -> None:
    """Same customers, columns and dtypes; counts exactly, floats within 1e-9 relative; same warnings."""
    a, b = reference.frame, candidate.frame
    assert list(a.index) == list(b.index) and list(a.columns) == list(b.columns)
    assert list(a.dtypes) == list(b.dtypes)
    for column in a.columns:
        if a[column].dtype != "float64":
            assert a[column].equals(b[column]), column
            continue
        x, y = a[column].to_numpy(), b[column].to_numpy()
        assert np.array_equal(np.isnan(x), np.isnan(y)), column
        if "_count" in column or "_nunique" in column:
            assert np.array_equal(x, y, equal_nan=True), column
        else:
            np.testing.assert_allclose(y, x, rtol=1e-9, atol=0, err_msg=column)
    assert reference.report.warnings == candidate.report.warnings


@pytest.mark.parametrize("form", ["csv", "parquet", "folder"])
def test_every_aggregation_and_window_matches_pandas(tmp_path, form):
    customers_csv(tmp_path)
    frame = events_frame()
    pandas, duck = both(tmp_path, write_events(tmp_path, frame, form), as_of=AS_OF)
    assert_same(pandas, duck)
    f = duck.frame
    assert len(f.columns) == 1 + len(AGGS) and f.loc["c055", "calls_count"] == 0  # c050.. have no events
    assert np.isnan(f.loc["c055", f"calls_mean_{VALUE}"]) and f.loc["c055", f"calls_sum_{VALUE}"] == 0
    assert any("after as_of" in w for w in duck.report.warnings)
    assert any("absent from the customer tables" in w for w in duck.report.warnings)
    assert any("leading/trailing spaces" in w for w in duck.report.warnings)
    assert duck.frame["calls_count"].sum() > 0 and duck.report.tables["calls"]["rows"] == len(frame)


@pytest.mark.parametrize("as_of,padded", [(AS_OF, True), (AS_OF, False), (None, True)])
def test_customers_aggregated_in_several_passes_give_the_one_pass_features(tmp_path, monkeypatch, as_of, padded):
    """More customers than one pass holds: disjoint hash buckets of the IDs, one pass each, the same features
    and warnings as pandas (padded IDs: buckets of the trimmed IDs, so a customer's events share one)."""
    import cxpredict.data.duckdb_events as duckdb_events

    customers_csv(tmp_path)
    frame = events_frame()
    if not padded:
        frame[KEY] = frame[KEY].str.strip()
    path = write_events(tmp_path, frame, "parquet")
    monkeypatch.setattr(duckdb_events, "MIN_PASS_CUSTOMERS", 10)
    monkeypatch.setattr(duckdb_events, "PASS_CUSTOMERS", 10)
    passes = []
    original = duckdb_events.DuckDBEngine.passes
    monkeypatch.setattr(duckdb_events.DuckDBEngine, "passes", lambda self, view: passes.append(original(self, view))
                        or passes[-1])
    pandas, duck = both(tmp_path, path, as_of=as_of)
    assert_same(pandas, duck)
    assert passes and passes[-1] >= 5  # ~60 customers, 10 a pass (approximate count)
    assert any("leading/trailing spaces" in w for w in duck.report.warnings) == padded


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_time_zones_are_converted_to_utc_like_pandas(tmp_path, form):
    customers_csv(tmp_path)
    frame = events_frame(seed=1)
    frame["Zeit"] = frame["Zeit"].dt.tz_localize("Asia/Kolkata")  # +05:30: moves events across as_of
    pandas, duck = both(tmp_path, write_events(tmp_path, frame, form), as_of="2024-06-30T12:00:00+02:00")
    assert_same(pandas, duck)
    naive = load_customers(config(tmp_path, write_events(tmp_path, events_frame(seed=1), form), "duckdb",
                                  as_of="2024-06-30T12:00:00+02:00"))
    assert not naive.frame.equals(duck.frame)  # the zone mattered


def test_date_only_and_mixed_offset_text_timestamps(tmp_path):
    customers_csv(tmp_path)
    rows = [("c001", "2024-06-30", 1.0), ("c001", "2024-06-02T01:00:00+02:00", 2.0), ("c002", "2024-05-31", 4.0),
            ("c002", "2024-07-01 00:00:00", 8.0), ("c003", "2024-06-30T23:59:59Z", 16.0)]
    pd.DataFrame(rows, columns=[KEY, "Zeit", VALUE]).to_csv(tmp_path / "e.csv", index=False)
    aggs = [{"agg": "sum", "column": VALUE, "window_days": 29}, {"agg": "sum", "column": VALUE}]
    pandas, duck = both(tmp_path, "e.csv", aggregations=aggs, as_of=AS_OF)
    assert_same(pandas, duck)
    assert duck.frame.loc["c001", f"calls_sum_{VALUE}_29d"] == 1.0  # 06-02T01:00+02 = 06-01T23:00Z: outside
    assert duck.frame.loc["c001", f"calls_sum_{VALUE}"] == 3.0 and duck.frame.loc["c003", f"calls_sum_{VALUE}"] == 16


def test_as_of_defaults_to_the_latest_event_and_population_from_events(tmp_path):
    customers_csv(tmp_path)
    write_events(tmp_path, events_frame(seed=2), "parquet")
    pandas, duck = both(tmp_path, "events.parquet", customers=False)
    assert_same(pandas, duck)
    assert "ghost1" in duck.frame.index and duck.report.tables["calls"]["as_of"] == \
        pandas.report.tables["calls"]["as_of"]


def _event_scans(monkeypatch) -> list[str]:
    """The statements that read the events (their raw, checked or cleaned views), as the engine runs them; not the
    look-ups of the first offending rows a warning or an error shows, nor a row count (of Parquet: its footers)."""
    from cxpredict.data.duckdb_events import DuckDBEngine

    seen: list[str] = []
    for method in ("run", "arrow"):
        original = getattr(DuckDBEngine, method)

        def recorded(self, sql, _original=original):
            reads = any(f'"{view}_' in sql for view in ("raw", "checked", "events"))
            counts = re.fullmatch(r'SELECT count\(\*\) FROM "\w+"', sql)
            if reads and not counts and not sql.startswith(("CREATE TEMP VIEW", "SELECT column_name")) and \
                    not sql.endswith("ORDER BY _row LIMIT 5"):
                seen.append(sql)
            return _original(self, sql)

        monkeypatch.setattr(DuckDBEngine, method, recorded)
    return seen


@pytest.mark.parametrize("as_of", [AS_OF, None])
def test_one_scan_of_the_events_checks_and_aggregates_them_when_as_of_is_set(tmp_path, monkeypatch, as_of):
    """With data.as_of the checks, the latest timestamp and the features come from one scan of the events; without
    it, or with a text value column (read as numbers or not after a check of the whole column), two. Padded IDs and
    a customer whose only event has an unreadable timestamp give the pandas path's results and errors."""
    customers_csv(tmp_path)
    frame = events_frame(seed=4)
    write_events(tmp_path, frame, "parquet")
    numeric = [a for a in AGGS if a.get("column") != KIND]
    for aggs, scans in ((numeric, 1 if as_of else 2), (AGGS, 2)):
        pandas = load_customers(config(tmp_path, "events.parquet", "pandas", aggs, as_of=as_of))
        seen = _event_scans(monkeypatch)
        duck = load_customers(config(tmp_path, "events.parquet", "duckdb", aggs, as_of=as_of))
        monkeypatch.undo()
        assert_same(pandas, duck)
        assert len(seen) == scans, seen
    frame[KEY] = frame[KEY].astype(object)
    frame.loc[0, KEY], frame["Zeit"] = "c999", frame["Zeit"].astype(object)
    frame.loc[0, "Zeit"] = "not a date"
    frame.astype({"Zeit": "str"}).to_csv(tmp_path / "bad.csv", index=False)
    errors = [[str(e) for e in validate_inputs(config(tmp_path, "bad.csv", engine, numeric, as_of=AS_OF))]
              for engine in ("pandas", "duckdb")]
    assert errors[0] == errors[1] and "not a date" in errors[1][0]


def test_extreme_and_infinite_numbers_are_missing_with_the_same_warning(tmp_path):
    customers_csv(tmp_path)
    frame = events_frame(seed=3)
    frame.loc[[5, 9], VALUE] = [np.inf, 1e16]
    frame[COUNT] = frame[COUNT].astype("int64")
    frame.loc[11, COUNT] = 10**15 + 1  # beyond 2**53 the pandas reader fails (arrow_extremes casts safely)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    nan = np.where(np.arange(len(frame)) % 7 == 0, np.nan, frame[VALUE].fillna(1.0))  # NaN, not null, in Parquet
    table = table.set_column(table.schema.get_field_index(VALUE), VALUE, pa.array(nan, from_pandas=False))
    assert table.column(VALUE).null_count == 0
    pq.write_table(table, tmp_path / "events.parquet")
    pandas, duck = both(tmp_path, "events.parquet", as_of=AS_OF)
    assert_same(pandas, duck)
    assert any("too large" in w and VALUE in w and COUNT in w for w in duck.report.warnings)


def test_infinite_numbers_written_as_text_in_a_csv(tmp_path):
    customers_csv(tmp_path)
    frame = events_frame(seed=6)
    frame[VALUE] = frame[VALUE].astype("object")
    frame.loc[[0, 1, 7], VALUE] = ["inf", "-inf", "1e16"]  # DuckDB sniffs text, pyarrow numbers: both missing
    write_events(tmp_path, frame, "csv")
    pandas, duck = both(tmp_path, "events.csv", as_of=AS_OF)
    assert_same(pandas, duck)
    warned = [w for w in duck.report.warnings if "too large" in w]
    assert len(warned) == 1 and f"'{VALUE}': 3 row(s), rows 2, 3, 9 (file lines" in warned[0], warned


def test_empty_and_bool_value_columns(tmp_path):
    customers_csv(tmp_path)
    pd.DataFrame({KEY: ["c001", "c001", "c002"], "Zeit": ["2024-06-01"] * 3, "leer": [None, None, None],
                  "flag": [True, False, True]}).to_csv(tmp_path / "e.csv", index=False)
    aggs = [{"agg": agg, "column": column} for agg in ("sum", "mean", "max", "count") for column in ("leer", "flag")]
    pandas, duck = both(tmp_path, "e.csv", aggregations=aggs, as_of=AS_OF)
    assert_same(pandas, duck)
    assert duck.frame.loc["c001", "calls_sum_flag"] == 1 and duck.frame.loc["c001", "calls_sum_leer"] == 0


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16"])  # DuckDB reads latin-1; pandas the others
def test_read_options_delimiter_missing_markers_and_encodings(tmp_path, encoding):
    customers_csv(tmp_path, sep=";")
    frame = events_frame(seed=4)
    frame[KIND] = frame[KIND].str.replace("✓", "é", regex=False)
    frame[VALUE] = frame[VALUE].astype("str").replace("nan", "-")
    frame = frame.rename(columns={KIND: "Typ é"})
    (tmp_path / "e.csv").write_bytes(frame.to_csv(index=False, sep=";").encode(encoding))
    aggs = [{"agg": "nunique", "column": "Typ é"}, {"agg": "count", "column": VALUE, "window_days": 30},
            {"agg": "sum", "column": VALUE}]
    read = {"delimiter": ";", "na_values": ["", "-"], "encoding": "utf-8" if encoding == "utf-16" else encoding}
    pandas, duck = both(tmp_path, "e.csv", aggregations=aggs, as_of=AS_OF, read=read)
    assert_same(pandas, duck)  # utf-16: its byte-order mark wins over utf-8, with the same warning
    assert duck.frame["calls_nunique_Typ é"].max() == 3 and duck.frame[f"calls_count_{VALUE}_30d"].sum() > 0


# --------------------------------------------------------------------------------------------- bad input
def errors_of(folder: Path, text: str, aggregations) -> list[list[str]]:
    (folder / "e.csv").write_text(text, encoding="utf-8")
    out = []
    for engine in ("pandas", "duckdb"):
        problems = validate_inputs(config(folder, "e.csv", engine, aggregations=aggregations, as_of=AS_OF))
        assert all(isinstance(p, InputError) for p in problems)
        out.append([str(p) for p in problems])
    return out


def test_bad_timestamps_text_sums_and_empty_ids_are_the_same_errors(tmp_path):
    customers_csv(tmp_path)
    bad = f"{KEY},Zeit,kind\nc001,2024-06-01,call\nc001,not a date,chat\n"
    pandas, duck = errors_of(tmp_path, bad, [{"agg": "sum", "column": "kind"}])
    assert len(pandas) == len(duck) == 2
    assert any("'kind'" in m and "needs numbers" in m for m in duck)
    assert any("'Zeit'" in m and "row 3" in m and "'not a date'" in m and "e.csv" in m for m in duck)
    pandas, duck = errors_of(tmp_path, bad, [{"agg": "count"}])  # no text column: checked in the features' scan
    assert len(duck) == 1 and "'not a date'" in duck[0] and pandas == duck
    pandas, duck = errors_of(tmp_path, f"{KEY},Zeit\nc001,2024-06-01\n  ,2024-06-02\n", [{"agg": "count"}])
    assert len(duck) == 1 and "is empty at row 3" in duck[0] and pandas == duck
    mixed = f"{KEY},Zeit,n\n" + "".join(f"c001,2024-06-01,{i}\n" for i in range(8)) + "c001,2024-06-01,x\n"
    pandas, duck = errors_of(tmp_path, mixed, [{"agg": "nunique", "column": "n"}])
    assert len(duck) == 1 and "mixes numbers and text" in duck[0] and "row 10" in duck[0]


def test_a_late_value_unlike_the_sniffed_type_is_an_input_error(tmp_path):
    customers_csv(tmp_path)
    rows = "".join(f"c{i % 50:03d},2024-06-01,{i}\n" for i in range(30_000))  # past DuckDB's type sample
    (tmp_path / "e.csv").write_text(f"{KEY},Zeit,n\n{rows}c001,2024-06-02,oops\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"e.csv: .*\"oops\".*data.read.na_values"):
        load_customers(config(tmp_path, "e.csv", "duckdb", aggregations=[{"agg": "sum", "column": "n"}]))


def test_numeric_ids_in_parquet_match_the_text_ids_of_the_customer_table(tmp_path):
    (tmp_path / "customers.csv").write_text(f"{KEY},plan\n7,a\n8,b\n0042,c\n", encoding="utf-8")
    (tmp_path / "outcomes.csv").write_text(f"{KEY},churned\n7,0\n8,1\n", encoding="utf-8")
    at = pd.to_datetime(["2024-06-01", "2024-06-02", "2024-06-03", "2024-06-04"])
    pd.DataFrame({KEY: [7, 7, 8, 42], "Zeit": at}).to_parquet(tmp_path / "ints.parquet")
    pd.DataFrame({KEY: [7.0, 7.0, 8.5, 42.0], "Zeit": at}).to_parquet(tmp_path / "floats.parquet")
    for path in ("ints.parquet", "floats.parquet"):
        pandas, duck = both(tmp_path, path, aggregations=[{"agg": "count"}], as_of=AS_OF)
        assert_same(pandas, duck)
        assert duck.frame["calls_count"].tolist() == [2, 1 if path == "ints.parquet" else 0, 0]


def test_a_header_without_rows_is_the_same_error(tmp_path):
    customers_csv(tmp_path)
    pandas, duck = errors_of(tmp_path, f"{KEY},Zeit\n", [{"agg": "count"}])
    assert pandas == duck and len(duck) == 1 and "no data rows" in duck[0]


def test_missing_column_names_the_file_and_the_fix(tmp_path):
    customers_csv(tmp_path)
    write_events(tmp_path, events_frame(), "parquet")
    with pytest.raises(InputError, match=r"events.parquet.*missing column.*'Minuten'"):
        load_customers(config(tmp_path, "events.parquet", "duckdb", aggregations=[{"agg": "sum",
                                                                                  "column": "Minuten"}]))


# --------------------------------------------------------------------------------------------- engine
def test_spill_folder_is_removed_on_success_and_on_error(tmp_path):
    spill = tmp_path / "spill"
    with duckdb_engine(DuckDBSettings(memory_limit="200MB", temp_directory=str(spill)), tmp_path, threads=1) as e:
        assert e.run("SELECT current_setting('threads')")[0][0] == 1
        assert e.run("SELECT current_setting('memory_limit')")[0][0] == "190.7 MiB"  # 200 MB
        assert e.run("SELECT current_setting('enable_progress_bar')")[0][0] is False  # no bars in batch logs
        assert len(list(spill.iterdir())) == 1
    assert list(spill.iterdir()) == []
    with pytest.raises(RuntimeError):
        with duckdb_engine(DuckDBSettings(), tmp_path) as e:
            folder = e.run("SELECT current_setting('temp_directory')")[0][0]
            assert Path(folder).parent == Path(tempfile.gettempdir())
            raise RuntimeError("boom")
    assert not Path(folder).exists()


def test_a_memory_limit_spills_and_still_gives_the_reference(tmp_path):
    customers_csv(tmp_path, n_customers=60)
    frame = events_frame(n_events=200_000, seed=5)
    frame[KEY] = frame[KEY] + "-" + pd.Series(np.arange(len(frame)) % 5000, dtype="str")  # many groups
    write_events(tmp_path, frame, "parquet")
    settings = {"memory_limit": "40MB", "temp_directory": "spill"}
    aggs = [{"agg": "nunique", "column": VALUE}, {"agg": "sum", "column": VALUE, "window_days": 30}]
    pandas, duck = both(tmp_path, "events.parquet", customers=False, aggregations=aggs, as_of=AS_OF,
                        duckdb=settings)
    assert_same(pandas, duck)
    assert len(duck.frame) > 100_000 and list((tmp_path / "spill").iterdir()) == []


def test_out_of_memory_is_a_resource_error_naming_the_limit_threads_and_fix(tmp_path):
    customers_csv(tmp_path, n_customers=60)
    frame = events_frame(n_events=200_000, seed=5)
    frame[KEY] = frame[KEY] + "-" + pd.Series(np.arange(len(frame)), dtype="str")  # a group per event
    write_events(tmp_path, frame, "parquet")
    cfg = config(tmp_path, "events.parquet", "duckdb", customers=False, aggregations=[{"agg": "count"}],
                 as_of=AS_OF, duckdb={"memory_limit": "1MB", "temp_directory": "spill"})
    with pytest.raises(ResourceError) as got:
        load_customers(cfg)
    message = str(got.value)
    assert got.value.exit_code == 8 and "Out of Memory" in message and "cannot read" not in message
    assert "data.duckdb.memory_limit 1MB" in message and re.search(r"and \d+ threads", message)
    assert "CXPREDICT_THREADS=1" in message and "Nothing was written" in message
    assert list((tmp_path / "spill").iterdir()) == []  # the spill folder is removed on this exit too


def test_bad_engine_settings_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"data.duckdb.memory_limit 'lots'.*e.g. 4GB"):
        with duckdb_engine(DuckDBSettings(memory_limit="lots"), tmp_path):
            pass
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"data.duckdb.temp_directory: cannot make a spill folder"):
        with duckdb_engine(DuckDBSettings(temp_directory="file/spill"), tmp_path):
            pass


def test_engine_is_settable_and_pandas_starts_no_duckdb(tmp_path, monkeypatch):
    import cxpredict.data.duckdb_events as duckdb_events

    customers_csv(tmp_path)
    write_events(tmp_path, events_frame(), "csv")
    cfg = config(tmp_path, "events.csv", "pandas")
    assert cfg.data.engine == "pandas" and config(tmp_path, "events.csv", "duckdb").data.engine == "duckdb"

    def no_duckdb(*args, **kwargs):
        raise AssertionError("engine: pandas started DuckDB")

    monkeypatch.setattr(duckdb_events, "duckdb_engine", no_duckdb)
    report = DataReport()
    assert validate_inputs(cfg, report) == [] and report.tables["calls"]["rows"] == 2000
    with pytest.raises(AssertionError, match="started DuckDB"):
        load_customers(config(tmp_path, "events.csv", "duckdb"))


# --------------------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_train_and_score_on_the_demo_give_identical_files_with_either_engine(fast_demo_config_path, tmp_path):
    from cxpredict.cli.app import main

    scored = {}
    for engine in ("pandas", "duckdb"):
        config, model, out = str(fast_demo_config_path), tmp_path / engine / "model", tmp_path / engine / "scored.csv"
        assert main(["train", config, "--out", str(model), "--no-tracking", "--set", f"data.engine={engine}"]) == 0
        assert main(["score", config, "--model", str(model), "--out", str(out), "--no-tracking",
                     "--set", f"data.engine={engine}"]) == 0
        scored[engine] = out.read_bytes()
    assert len(scored["duckdb"]) > 1000 and scored["pandas"] == scored["duckdb"]
