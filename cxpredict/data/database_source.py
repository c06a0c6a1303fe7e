"""Tables that live in a database (data.source): a DuckDB database file or a PostgreSQL server.

With data.source set, every table's `path` names a table of that database (`sales.events` with a schema, spelled as
the database stores it) or is a query (`query: SELECT ...`). For one load the tables go where their checks work:
- an events table on PostgreSQL (with data.engine: duckdb) stays on the server: its checks and its windowed
  aggregations run there (event_plan.py's plan in the PostgreSQL dialect, postgres_events.py), and only one row per
  customer comes back (warehouse-native: the events never cross the network);
- an events table in a DuckDB database file (with data.engine: duckdb) is scanned in place: the run's DuckDB
  engine attaches the file read-only and checks and aggregates the table like a Parquet file, with no copy;
- every other table (one row per customer: customers, survey, outcomes, lookups; events on the pandas engine) is
  streamed as Arrow record batches into a Parquet file in a private temp folder, read and
  checked like any file, and the folder is removed when the load ends, whatever the exit.
Messages, warnings and the manifest name `<source> table 'name'` (or `query '...'`), never the temp file.

Why ADBC (adbc-driver-postgresql, from the Apache Arrow project) and not psycopg: it returns results as Arrow
through PostgreSQL's binary COPY (no Python object per value), streams them as record batches, and it goes through
libpq, so credentials come the standard way (PGPASSWORD, PGPASSFILE, ~/.pgpass, PGSERVICEFILE) and never from the
config. A data.source URL holding a password is refused, and no message shows one.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot.expressions as exp

from cxpredict.config import Config
from cxpredict.data.tables import fingerprint_file, require_columns
from cxpredict.errors import ConfigError, CxError, InputError, SourceError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
QUERY = "query:"
SPARK = "spark"  # data.source: the active SparkSession's tables (data/spark_events.py SparkTables)
PG_TYPE = b"POSTGRESQL:type"
CREDENTIALS_HINT = ("the password comes from the environment (PGPASSWORD, or a password file named by PGPASSFILE, "
                    "default ~/.pgpass), never from the config")


@dataclass(frozen=True)
class Source:
    kind: str  # "postgres" or "duckdb"
    location: str  # the URL (no password in it), or the database file's absolute path

    @property
    def dialect(self) -> str:
        return self.kind if self.kind in ("postgres", "spark") else "duckdb"


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc, query="").geturl()


def parse_source(cfg: Config) -> Source:
    """data.source as a Source (a URL holding a password was refused when the config was read)."""
    text = str(cfg.data.source).strip()
    if text.lower() == SPARK:
        return Source("spark", SPARK)
    if text.lower().startswith(POSTGRES_SCHEMES):
        return Source("postgres", text)
    if "://" in text:
        raise ConfigError(f"data.source {text}: unknown kind of source; give a postgresql:// URL or the path of a "
                          "DuckDB database file")
    path = cfg.resolve(text)
    if not path.is_file():
        raise InputError(f"data.source {path}: no such DuckDB database file. Check data.source (a path relative to "
                         "the config file, or a postgresql:// URL).")
    return Source("duckdb", str(path))


def relation(text: str, dialect: str) -> tuple[str, str]:
    """(SQL of the relation a table's `path` names, how messages name it): a table (with schema or catalog
    before dots, each part quoted as written) or `query: SELECT ...` (run as a subquery)."""
    text = text.strip()
    if text.lower().startswith(QUERY):
        query = text[len(QUERY):].strip().rstrip(";")
        if not query:
            raise ConfigError(f"{text!r}: give the SQL after 'query:', e.g. query: SELECT * FROM events")
        shown = " ".join(query.split())
        return f"({query})", f"query {shown[:120] + ('...' if len(shown) > 120 else '')!r}"
    parts = text.split(".")
    if len(parts) > 3 or not all(p.strip() for p in parts):
        raise ConfigError(f"{text!r}: a table of data.source is named 'table', 'schema.table' or "
                          "'catalog.schema.table' (or give 'query: SELECT ...')")
    table = exp.table_(parts[-1], db=parts[-2] if len(parts) > 1 else None,
                       catalog=parts[-3] if len(parts) > 2 else None, quoted=True)
    return table.sql(dialect), f"table {text!r}"


def _detail(error: Exception) -> str:
    """A driver's message on one line, without a password should a server ever echo one."""
    text = " ".join(str(error).split())
    secret = os.environ.get("PGPASSWORD")
    return text.replace(secret, "***") if secret else text


def _order_by(columns: list[str], dialect: str) -> str:
    """A database table has no row order (PostgreSQL returns its rows in storage order, which differs from the
    order they were loaded in): rows are read sorted by the key, then the timestamp, as text in byte order (no
    collation), so reruns see the same order and a table exported from files sorted by key reads like the files."""
    collate = ' COLLATE "C"' if dialect == "postgres" else ""
    keys = [f"CAST(t.{exp.to_identifier(c, quoted=True).sql(dialect)} AS TEXT){collate}" for c in columns]
    return f"ORDER BY {', '.join(keys)}" if keys else ""


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """PostgreSQL types Arrow has no type for (numeric, json, uuid...) arrive as opaque extensions over text:
    numeric as float64 (the file readers' type for numbers), the others as their text."""
    columns, fields = [], []
    for f, column in zip(batch.schema, batch.columns):
        if isinstance(f.type, pa.ExtensionType):
            column = column.storage
            if (f.metadata or {}).get(PG_TYPE) == b"numeric":
                column = column.cast(pa.float64())
        columns.append(column)
        fields.append(pa.field(f.name, column.type))
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


class PostgresDatabase:
    """One ADBC connection to the server for a load (autocommit: a failed statement leaves no aborted
    transaction behind); every failure is a CxError naming the source."""

    def __init__(self, source: Source):
        import adbc_driver_postgresql.dbapi as pg

        self.label, self._pg = _without_password(source.location), pg
        try:
            self.conn = pg.connect(source.location, autocommit=True)
        except pg.Error as e:
            raise SourceError(f"{self.label}: cannot connect to the PostgreSQL server ({_detail(e)}). Check that "
                              f"the server runs and the host, port, user and database in data.source; "
                              f"{CREDENTIALS_HINT}.") from None
        self.run("SET TIME ZONE 'UTC'", "the session's time zone")  # timestamptz -> naive UTC, like the files

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except self._pg.OperationalError as e:  # the connection broke: the server is gone, not the query wrong
            raise SourceError(f"{self.label}: the connection failed while reading {what} ({_detail(e)}); rerun "
                              "once the server is reachable.") from None
        except self._pg.Error as e:
            raise InputError(f"{self.label}: cannot read {what} ({_detail(e)[:400]}). Check the table name (as the "
                             "database spells it, with its schema) or the query in the config.") from None

    def run(self, sql: str, what: str) -> None:
        with self._errors(what), self.conn.cursor() as cur:
            cur.execute(sql)

    def arrow(self, sql: str, what: str) -> pa.Table:
        with self._errors(what), self.conn.cursor() as cur:
            cur.execute(sql)
            table = cur.fetch_arrow_table()
        return pa.Table.from_batches([_plain(b) for b in table.to_batches()]) if table.num_rows else table

    def schema(self, rel: str, what: str) -> pa.Schema:
        with self._errors(what), self.conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {rel} AS t LIMIT 0")
            return cur.fetch_arrow_table().schema

    def stage(self, rel: str, dest: Path, what: str, order: list[str]) -> None:
        """Stream the relation, sorted by the `order` columns, into a Parquet file, batch by batch (memory bounded
        by a batch)."""
        order = [c for c in order if c in self.schema(rel, what).names]  # a missing one: the reader names it
        with self._errors(what), self.conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {rel} AS t {_order_by(order, 'postgres')}")
            reader = cur.fetch_record_batch()
            writer = None
            try:
                for batch in reader:
                    batch = _plain(batch)
                    writer = writer or pq.ParquetWriter(dest, batch.schema)
                    writer.write_batch(batch)
                if writer is None:  # no rows: the columns alone, so the file reader says "no data rows"
                    empty = pa.RecordBatch.from_arrays([pa.array([], f.type) for f in reader.schema],
                                                       schema=reader.schema)
                    pq.write_table(pa.Table.from_batches([_plain(empty)]), dest)
            finally:
                if writer is not None:
                    writer.close()


class DuckDBDatabase:
    """A DuckDB database file, opened read-only (a run never changes the user's database)."""

    def __init__(self, source: Source):
        import duckdb

        from cxpredict.data.duckdb_sql import QUIET

        self.label, self._duckdb = source.location, duckdb
        try:
            self.con = duckdb.connect(source.location, read_only=True)
            self.con.execute(QUIET).fetchall()
        except duckdb.Error as e:
            raise InputError(f"{self.label}: cannot open the DuckDB database file ({_detail(e)[:300]}). data.source "
                             "must name a DuckDB database file that no other process is writing.") from None

    def close(self) -> None:
        self.con.close()

    @functools.cached_property
    def fingerprint(self) -> str:
        """The database file's bytes: the fingerprint of a table scanned in place (any change of the file changes
        it, which errs on the safe side)."""
        return fingerprint_file(self.label)

    def columns(self, rel: str, what: str) -> list[str]:
        try:
            return self.con.sql(f"SELECT * FROM {rel} AS t LIMIT 0").columns
        except self._duckdb.Error as e:
            raise InputError(f"{self.label}: cannot read {what} ({_detail(e)[:400]}). Check the table name (with "
                             "its schema) or the query in the config.") from None

    def stage(self, rel: str, dest: Path, what: str, order: list[str]) -> None:
        target = exp.Literal.string(str(dest)).sql("duckdb")
        order = [c for c in order if c in self.columns(rel, what)]
        try:
            self.con.execute(f"COPY (SELECT * FROM {rel} AS t {_order_by(order, 'duckdb')}) TO {target} "
                             "(FORMAT parquet)").fetchall()
        except self._duckdb.Error as e:
            raise InputError(f"{self.label}: cannot read {what} ({_detail(e)[:400]}). Check the table name (with "
                             "its schema) or the query in the config.") from None


class DuckDBFileEvents:
    """An events table of a DuckDB database file, scanned in place by the run's DuckDB engine (duckdb_events.py):
    the file attached read-only to the engine's connection, first in its search path (a query's tables resolve
    there), the table checked and aggregated where it lies, as a Parquet file would be."""

    ATTACHED = "cxpredict_source"

    def __init__(self, db: DuckDBDatabase, rel: str, path: Path, shown: str):
        """`path`: the name messages use for the table (relabelled to `<file> table 'name'`)."""
        self.db, self.relation, self.path, self.shown = db, rel, path, shown

    def columns(self) -> list[str]:
        return self.db.columns(self.relation, self.shown)

    def scan(self, engine, table, key: str, read, what: str, warn, problem):  # engine: duckdb_events.DuckDBEngine
        values = list(dict.fromkeys(a.column for a in table.aggregations if a.column))
        require_columns(self.path, self.columns(), [key, table.timestamp, *values], what)
        attached = [row[0] for row in engine.run("SELECT database_name FROM duckdb_databases()")]
        if self.ATTACHED not in attached:
            location = exp.Literal.string(self.db.label).sql("duckdb")
            engine.run(f"ATTACH {location} AS {self.ATTACHED} (READ_ONLY)")
            engine.run(f"USE {self.ATTACHED}")
        scan = engine.scan_relation(f"{self.relation} AS t", table, key, self.path, read, what, warn, problem)
        scan.fingerprint = self.db.fingerprint
        return scan


@dataclass
class DatabaseTables:
    """What a load reads with data.source: `cfg` with every table as a staged file, the events tables left in the
    database (`remote`, by the path `cfg` gives them), and the names messages use for the staged paths."""

    cfg: Config
    remote: dict[Path, object] = field(default_factory=dict)  # staged path -> postgres_events.PostgresEvents
    labels: dict[str, str] = field(default_factory=dict)  # staged path -> "<source> table 'name'"

    def relabel(self, text: str) -> str:
        for path, label in self.labels.items():
            text = text.replace(path, label)
        return text

    def relabel_report(self, report, errors: list[CxError]) -> None:
        """A DataReport's warnings and table paths, and collected errors, named after the database tables."""
        if report is not None:
            report.warnings[:] = [self.relabel(w) for w in report.warnings]
            for table in report.tables.values():
                table["path"] = self.relabel(table["path"])
        for error in errors:
            error.args = (self.relabel(str(error)),)


def _table_configs(raw: dict, only: set[str] | None) -> Iterator[tuple[str, dict, list[str]]]:
    """(name, the raw table config holding `path`, the columns its rows are sorted by) of the tables a load reads:
    'survey', 'outcomes' and the behaviour tables by name, all of them or `only` those."""
    data = raw["data"]
    tables = [(part, data[part]) for part in ("survey", "outcomes") if data.get(part)]
    tables += [(table["name"], table) for table in data["behaviour"]]
    for name, table in tables:
        if only is None or name in only:
            key = table.get("key") or (table.get("join_on") if table.get("kind") == "lookup" else data["key"])
            stamp = table.get("timestamp") or table.get("answered_at")
            yield name, table, [key, *([stamp] if stamp else [])]


def _spark_tables():
    from cxpredict.data.spark_events import SparkTables  # pyspark only for this source
    return SparkTables()


@contextmanager
def database_tables(cfg: Config, only: set[str] | None = None, fetch_events: bool = False
                    ) -> Iterator[DatabaseTables]:
    """Without data.source: `cfg` as it is. With it: the tables (`only` those named) fetched or left in the
    database (module docstring; `fetch_events`: fetch event tables too, e.g. for their text columns); errors raised
    inside name the database tables; the temp folder goes on every exit."""
    if cfg.data.source is None:
        yield DatabaseTables(cfg)
        return
    from cxpredict.data.postgres_events import PostgresEvents

    source = parse_source(cfg)
    scratch = cfg.data.duckdb.temp_directory  # the run's scratch space (the staged tables can be large)
    parent = cfg.resolve(scratch) if scratch else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="cxpredict-source-", dir=parent))
    tables, db = DatabaseTables(cfg), None
    try:
        db = PostgresDatabase(source) if source.kind == "postgres" else \
            _spark_tables() if source.kind == "spark" else DuckDBDatabase(source)
        raw = cfg.to_dict()
        raw["data"]["source"] = None  # staged paths are absolute: data.dir still places the other files
        staged: dict[str, str] = {}  # a table's path text -> its staged file name (a table read twice, staged once)
        for n, (name, table, order) in enumerate(_table_configs(raw, only)):
            rel, what = relation(table["path"], source.dialect)
            label = f"{db.label} {what}"
            if table.get("kind") == "events" and cfg.data.engine == "duckdb" and not fetch_events:
                # left in the database; a .parquet name, so messages count rows (not CSV lines)
                table["path"] = str(folder / f"{n:02d}-{name}.remote.parquet")
                tables.remote[Path(table["path"])] = PostgresEvents(db, rel, label, what) \
                    if source.kind == "postgres" else DuckDBFileEvents(db, rel, Path(table["path"]), what)
            elif table["path"] in staged:
                table["path"] = staged[table["path"]]
            else:
                staged[table["path"]] = file = str(folder / f"{n:02d}-{name}.parquet")
                db.stage(rel, Path(file), f"{what} ({name})", order)
                table["path"] = file
            tables.labels[table["path"]] = label
        tables.labels[str(folder)] = db.label
        tables.cfg = type(cfg).model_validate(raw)
        tables.cfg.base_dir = cfg.base_dir
        yield tables
    except CxError as e:
        e.args = (tables.relabel(str(e)),)
        raise
    finally:
        if db is not None:
            db.close()
        shutil.rmtree(folder, ignore_errors=True)
