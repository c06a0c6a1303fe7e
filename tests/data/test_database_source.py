"""data.source: tables read from a real PostgreSQL server (started by the session fixture `postgres_server`) and
from a DuckDB database file give the same feature tables as the same data in files (integers exactly, floats
within 1e-9 relative), with the events aggregated on the server (duckdb engine) or fetched (pandas engine); a
down server, a wrong password, a missing table and a failing query are clear errors naming the source and the
table but never the password; the staging folder is removed on every exit."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cxpredict.config import config_from_dict
from cxpredict.data.customers import DataReport, load_customers, validate_inputs
from cxpredict.data.database_source import parse_source, relation
from cxpredict.errors import ConfigError, InputError, SourceError

def _cases():
    """The DuckDB engine's parity data (odd column names, NaN, padded IDs, time zones...), reused as is."""
    spec = importlib.util.spec_from_file_location("duckdb_cases", Path(__file__).with_name("test_duckdb_events.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_c = _cases()
AGGS, AS_OF, KEY, assert_same, customers_csv, events_frame = (
    _c.AGGS, _c.AS_OF, _c.KEY, _c.assert_same, _c.customers_csv, _c.events_frame)

EVENTS = "Anrufe 2024"  # a table name with a space and a digit


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Temp folders (the staging folder too) go under tmp_path/tmp, so a test can see that none is left."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def file_config(folder: Path, engine: str = "pandas", **data):
    return config_from_dict({"data": {
        "key": KEY, "engine": engine, "as_of": AS_OF, "outcomes": {"path": "outcomes.csv"},
        "behaviour": [{"name": "customers", "path": "customers.csv"},
                      {"name": "calls", "path": "events.parquet", "kind": "events", "timestamp": "Zeit",
                       "aggregations": AGGS}], **data}}, base_dir=folder)


def source_config(folder: Path, source: str, engine: str, events: str = EVENTS, features=None, **data):
    return config_from_dict({"data": {
        "key": KEY, "engine": engine, "as_of": AS_OF, "source": source, "outcomes": {"path": "outcomes"},
        "behaviour": [{"name": "customers", "path": "customers"},
                      {"name": "calls", "path": events, "kind": "events", "timestamp": "Zeit",
                       "aggregations": AGGS}], **data}, **({"features": features} if features else {})},
        base_dir=folder)


def tables(folder: Path, events: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The files of a project (customers.csv, outcomes.csv, events.parquet) and the same data as frames."""
    customers_csv(folder)
    events.to_parquet(folder / "events.parquet", index=False)
    return {"customers": pd.read_csv(folder / "customers.csv", dtype="str"),
            "outcomes": pd.read_csv(folder / "outcomes.csv", dtype={KEY: "str"}), EVENTS: events}


@pytest.fixture
def loaded(postgres, tmp_path):
    """The server holding the project's tables; the reference features from the files (pandas engine)."""
    frames = tables(tmp_path, events_frame())
    for name, frame in frames.items():
        postgres.load(name, frame)
    return load_customers(file_config(tmp_path))


def same_features(reference, candidate) -> None:
    """assert_same without the warnings, whose text names the file or the database table."""
    a, b = (DataReport(**{**vars(x.report), "warnings": []}) for x in (reference, candidate))
    assert_same(type(reference)(**{**vars(reference), "report": a}), type(candidate)(**{**vars(candidate),
                                                                                        "report": b}))


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_postgres_features_equal_the_files(postgres, loaded, tmp_path, private_tmp, engine):
    got = load_customers(source_config(tmp_path, postgres.url, engine))
    same_features(loaded, got)
    where = got.report.tables["calls"]["path"]
    assert where == f"{postgres.url} table {EVENTS!r}"  # the manifest names the database table, not a temp file
    assert any("after as_of" in w for w in got.report.warnings)
    assert any(w.startswith(where) and "leading/trailing spaces" in w for w in got.report.warnings)
    assert list(private_tmp.iterdir()) == []  # the staging folder is gone


def test_a_query_and_a_time_zone_on_the_server(postgres, tmp_path):
    frames = tables(tmp_path, events_frame(seed=1))
    shifted = frames[EVENTS].assign(Zeit=frames[EVENTS]["Zeit"].dt.tz_localize("Asia/Kolkata"))
    postgres.load("customers", frames["customers"])
    postgres.load("outcomes", frames["outcomes"])
    postgres.load("zoned", shifted)  # timestamptz on the server
    shifted.to_parquet(tmp_path / "events.parquet", index=False)
    reference = load_customers(file_config(tmp_path, as_of="2024-06-30T12:00:00+02:00"))
    query = f'query: SELECT * FROM zoned WHERE "{KEY}" IS NOT NULL'
    got = load_customers(source_config(tmp_path, postgres.url, "duckdb", events=query,
                                       as_of="2024-06-30T12:00:00+02:00"))
    same_features(reference, got)


def duckdb_file(path: Path, frames: dict[str, pd.DataFrame]) -> None:
    with duckdb.connect(str(path)) as con:
        for name, frame in frames.items():
            con.register("frame", frame)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM frame')
            con.unregister("frame")


def test_a_duckdb_database_file(tmp_path, private_tmp):
    frames = tables(tmp_path, events_frame())
    reference = load_customers(file_config(tmp_path))
    duckdb_file(tmp_path / "shop.duckdb", frames)
    for engine in ("duckdb", "pandas"):
        same_features(reference, load_customers(source_config(tmp_path, "shop.duckdb", engine)))
    assert list(private_tmp.iterdir()) == []


def test_a_duckdb_files_events_are_scanned_in_place(tmp_path, private_tmp, monkeypatch):
    """The duckdb engine reads the events table where it lies (the file attached read-only, no copy staged), in
    its database's search path (a query's table resolves), fingerprinted by the database file; pandas fetches it."""
    from cxpredict.data import database_source
    from cxpredict.data.tables import fingerprint_file

    frames = tables(tmp_path, events_frame(seed=5))
    reference = load_customers(file_config(tmp_path))
    duckdb_file(tmp_path / "shop.duckdb", frames)
    staged = []
    original = database_source.DuckDBDatabase.stage
    monkeypatch.setattr(database_source.DuckDBDatabase, "stage",
                        lambda self, rel, dest, what, order: staged.append(rel) or original(self, rel, dest, what, order))
    query = f'query: SELECT * FROM "{EVENTS}" WHERE "{KEY}" IS NOT NULL'
    for engine, events in (("duckdb", EVENTS), ("duckdb", query), ("pandas", EVENTS)):
        staged.clear()
        got = load_customers(source_config(tmp_path, "shop.duckdb", engine, events=events))
        same_features(reference, got)
        assert any(EVENTS in rel for rel in staged) == (engine == "pandas"), staged
    assert got.report.tables["calls"]["fingerprint"] != fingerprint_file(tmp_path / "shop.duckdb")  # staged copy
    got = load_customers(source_config(tmp_path, "shop.duckdb", "duckdb"))
    assert got.report.tables["calls"]["fingerprint"] == fingerprint_file(tmp_path / "shop.duckdb")
    assert list(private_tmp.iterdir()) == []


def test_a_missing_table_names_the_source_and_the_table(postgres, loaded, tmp_path, private_tmp):
    spill = {"temp_directory": "scratch"}  # DuckDB's spill folder and the staged tables: both removed on errors
    with pytest.raises(InputError) as e:
        load_customers(source_config(tmp_path, postgres.url, "duckdb", events="no_such_events", duckdb=spill))
    assert postgres.url in str(e.value) and "no_such_events" in str(e.value) and "does not exist" in str(e.value)
    assert list((tmp_path / "scratch").iterdir()) == []
    problems = validate_inputs(source_config(tmp_path, postgres.url, "pandas", events="no_such_events"))
    assert len(problems) == 1 and postgres.url in str(problems[0]) and "no_such_events" in str(problems[0])
    assert list(private_tmp.iterdir()) == []


def test_a_failing_query_and_a_missing_column(postgres, loaded, tmp_path):
    with pytest.raises(InputError, match="division by zero") as e:
        load_customers(source_config(tmp_path, postgres.url, "duckdb", events=f'query: SELECT *, 1/0 AS x FROM "{EVENTS}"'))
    assert postgres.url in str(e.value) and "query" in str(e.value)
    postgres.execute(f'CREATE OR REPLACE VIEW short AS SELECT "{KEY}", "Zeit" FROM "{EVENTS}"')
    with pytest.raises(InputError, match="missing column") as e:
        load_customers(source_config(tmp_path, postgres.url, "duckdb", events="short"))
    assert f"{postgres.url} table 'short'" in str(e.value)


def test_wrong_password_and_a_down_server_are_source_errors(postgres, loaded, tmp_path, monkeypatch, private_tmp):
    monkeypatch.setenv("PGPASSWORD", "not-the-password")
    with pytest.raises(SourceError, match="password authentication failed") as e:
        load_customers(source_config(tmp_path, postgres.url, "duckdb"))
    assert e.value.exit_code == 7 and postgres.url in str(e.value) and "PGPASSWORD" in str(e.value)
    monkeypatch.setenv("PGPASSWORD", postgres.password)
    down = postgres.url.replace(f":{postgres.port}/", ":1/")
    with pytest.raises(SourceError, match="cannot connect") as e:
        load_customers(source_config(tmp_path, down, "duckdb"))
    assert postgres.password not in str(e.value)
    assert list(private_tmp.iterdir()) == []


def test_a_password_in_the_url_is_refused_without_repeating_it(tmp_path):
    for url in ("postgresql://cx:s3cret-pw@db.example:5432/shop?sslmode=require",
                "postgresql://cx@db/shop?password=s3cret-pw"):
        with pytest.raises(ConfigError, match="holds a password") as e:
            source_config(tmp_path, url, "duckdb")
        assert "s3cret-pw" not in str(e.value) and "data.source" in str(e.value)
    assert parse_source(source_config(tmp_path, "postgresql://cx@db.example/shop", "duckdb")).kind == "postgres"


def test_relations_are_quoted_tables_or_queries():
    assert relation("sales.Events 2024", "postgres") == ('"sales"."Events 2024"', "table 'sales.Events 2024'")
    assert relation("query: SELECT 1;", "postgres")[0] == "(SELECT 1)"
    with pytest.raises(ConfigError):
        relation("a.b.c.d", "postgres")
    with pytest.raises(ConfigError):
        relation("query:  ", "postgres")


def test_float_sums_on_the_server_are_exact(postgres, tmp_path):
    """PostgreSQL's SUM of doubles is plain; the plan sums their exact values (event_plan._exact_numeric), so a
    sum is the correctly rounded exact sum whatever the order, and a mean that sum over the count."""
    from fractions import Fraction

    groups = {"a": [0.1] * 10 + [1e14, 1.0, -1e14, 3.3e-7, 2.675, -2.675, 1 / 3],
              "b": [0.1] * 10, "c": [1e-3, -7.77e12, 7.77e12, 123.456789]}
    rows = [(k, pd.Timestamp("2024-06-01") + pd.Timedelta(minutes=i), v)
            for k, vs in groups.items() for i, v in enumerate(vs)]
    postgres.load("exact", pd.DataFrame(rows, columns=["id", "at", "v"]))
    cfg = config_from_dict({"data": {"key": "id", "as_of": AS_OF, "source": postgres.url,
                                     "outcomes": {"path": "query: SELECT DISTINCT id, 0 AS churned FROM exact"},
                                     "behaviour": [{"name": "e", "path": "exact", "kind": "events", "timestamp": "at",
                                                    "aggregations": [{"agg": "sum", "column": "v", "name": "s"},
                                                                     {"agg": "mean", "column": "v", "name": "m"}]}]}},
                           base_dir=tmp_path)
    got = load_customers(cfg).frame
    for key, values in groups.items():
        exact = float(sum(Fraction(v) for v in values))
        assert got.loc[key, "s"] == exact and got.loc[key, "m"] == exact / len(values), key
    plain = 0.0
    for v in groups["b"]:
        plain += v
    assert plain != got.loc["b", "s"] == 1.0  # a plain sum would fail: 0.9999999999999999


def test_text_columns_are_read_from_the_database(postgres, text_demo_config):
    """Declared text columns (survey comments, ticket notes of an events table) read from PostgreSQL equal the
    files' (texts, customers, timestamps, languages); their warnings name the database table."""
    import pyarrow.csv as pacsv

    from cxpredict.data.text import load_texts, validate_texts

    cfg = text_demo_config
    raw = cfg.to_dict()
    data = raw["data"]
    for table in [data["survey"], data["outcomes"], *data["behaviour"]]:
        stem = table["path"].removesuffix(".csv")
        postgres.load(f"t_{stem}", pacsv.read_csv(cfg.data_path(table["path"]), parse_options=pacsv.ParseOptions(
            newlines_in_values=True), convert_options=pacsv.ConvertOptions(strings_can_be_null=True)))
        table["path"] = f"t_{stem}"
    data["source"] = postgres.url
    served = type(cfg).model_validate(raw)
    served.base_dir = cfg.base_dir
    files, got = load_texts(cfg), load_texts(served)
    assert [t.source for t in got.tables] == [t.source for t in files.tables] and len(got.tables) >= 2
    for a, b in zip(files.tables, got.tables):
        rows = lambda t: sorted(zip(t.customer, t.timestamp.astype("int64"), t.text, t.language))  # noqa: E731
        assert rows(a) == rows(b) and a.counts == b.counts  # the database's rows come sorted by key and time
    assert all(postgres.url in w for w in got.warnings) and len(got.warnings) == len(files.warnings)
    assert validate_texts(served) == []


def test_validate_reads_the_database_tables_headers(postgres, loaded, tmp_path):
    """A features.exclude entry naming a column of an input table (an outcome, an event column) is no typo; one
    naming nothing is, with the database tables' headers read through data.source."""
    excluded = {"exclude": ["churned", "Anzahl", "no_such_column"]}
    problems = validate_inputs(source_config(tmp_path, postgres.url, "duckdb", features=excluded))
    assert len(problems) == 1 and "no_such_column" in str(problems[0])


def test_the_password_may_come_from_a_password_file(postgres, loaded, tmp_path, monkeypatch):
    """libpq's password file (PGPASSFILE, mode 0600) instead of PGPASSWORD: the way a mounted secret is given."""
    secret = tmp_path / "pgpass"
    secret.write_text(f"127.0.0.1:{postgres.port}:*:{postgres.user}:{postgres.password}\n")
    secret.chmod(0o600)
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", str(secret))
    same_features(loaded, load_customers(source_config(tmp_path, postgres.url, "duckdb")))
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "absent"))
    with pytest.raises(SourceError, match="PGPASSFILE"):
        load_customers(source_config(tmp_path, postgres.url, "duckdb"))
