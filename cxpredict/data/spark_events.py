"""Event tables aggregated by Spark (data.engine: spark): local mode on one machine, or the cluster of the active
SparkSession, reading the CSV, Parquet file or folder of Parquet parts where it lies. Only the per-customer
feature table comes back to the driver.

Why this shape: the checks and repairs are DuckDB's (duckdb_events._Checker: trimmed IDs, timestamps to naive
UTC, extreme numbers missing, text refused for numeric aggregations), written once in DuckDB SQL and transpiled
to Spark SQL by SQLGlot, so both engines clean the events with the same expressions and give the same warnings
and errors; the aggregation is event_plan.py's plan written in the spark dialect. What differs is only how a file
becomes a table: Spark's readers, with CSV columns read as text (the checker types them, as DuckDB's sniffing
would: numbers, true/false flags) and nanosecond Parquet timestamps (which Spark cannot read) converted here.

Spark's float sums are not compensated (DuckDB's fsum, pandas' groupby are): the engines agree within rounding.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
import sqlglot.expressions as exp

from cxpredict import threads as thread_policy
from cxpredict.config import BehaviourTable, ReadOptions
from cxpredict.data import event_plan as plan
from cxpredict.data.duckdb_events import EventScan, Warn, _Checker, open_events
from cxpredict.data.events import aggregation_name
from cxpredict.data.tables import parquet_parts
from cxpredict.errors import ConfigError, CxError, InputError

ORDER = ("_cx_file", "_cx_row")  # a row's place in the source (file, then position): first rows, first appearance
SPARK_TYPES = {"string": "VARCHAR", "boolean": "BOOLEAN", "tinyint": "TINYINT", "smallint": "SMALLINT",
               "int": "INTEGER", "bigint": "BIGINT", "float": "FLOAT", "double": "DOUBLE", "date": "DATE",
               "timestamp": "TIMESTAMP WITH TIME ZONE", "timestamp_ntz": "TIMESTAMP"}  # Spark -> DuckDB names
SESSION_CONF = {"spark.sql.session.timeZone": "UTC",  # a naive timestamp is UTC, as in the other engines
                "spark.sql.legacy.parquet.nanosAsLong": "true"}  # nanosecond timestamps as numbers (see _parquet)


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("spark")


def _s(text: str) -> str:
    return exp.Literal.string(text).sql("spark")


def _spark_sql(duckdb_sql: str) -> str:
    """DuckDB SQL (the checker's) as Spark SQL: SQLGlot's transpiler, plus isinf (Spark has none) and the source's
    row order for an unordered row_number()."""
    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.IsInf):
            return exp.EQ(this=exp.Abs(this=node.this), expression=exp.cast(exp.Literal.string("Infinity"), "DOUBLE"))
        if isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber) and not node.args.get("order"):
            node = node.copy()
            node.set("order", exp.Order(expressions=[exp.Ordered(this=exp.column(c)) for c in ORDER]))
        return node
    return sqlglot.parse_one(duckdb_sql, read="duckdb").transform(fix).sql(dialect="spark")


@contextmanager
def _spark_errors(path: Path) -> Iterator[None]:
    """Spark's failures while reading a file as InputErrors naming the file and the fix."""
    from pyspark.errors import PySparkException
    try:
        yield
    except PySparkException as e:
        detail = " ".join(str(e).split())[:400]
        raise InputError(f"{path}: Spark cannot read the file ({detail}). Check data.read and that the file is "
                         "complete, or set data.engine: duckdb.") from None


class SparkEngine:
    """A SparkSession for a run, with the interface of duckdb_events.DuckDBEngine that _Checker and EventScan use."""

    carried = ORDER  # columns the cleaned events keep (_Checker._view), for the order of first appearance

    def __init__(self, spark):
        self.spark = spark
        self._n = 0
        self.views: list[str] = []

    def run(self, sql: str) -> list[tuple]:
        """DuckDB SQL run by Spark; every row as a tuple."""
        return [tuple(row) for row in self.spark.sql(_spark_sql(sql)).collect()]

    def arrow(self, sql: str) -> pa.Table:
        return self.spark.sql(_spark_sql(sql)).toArrow()

    def name(self, prefix: str) -> str:
        self._n += 1
        view = f"cxpredict_{prefix}_{os.getpid()}_{self._n}"
        self.views.append(view)
        return view

    def scan(self, table: BehaviourTable, key: str, path: Path, read: ReadOptions, what: str,
             warn: Warn, problem: Callable[[CxError], None]) -> EventScan | None:
        """Check an events table where it lies and return its cleaned view, or None when the file's encoding is
        not UTF-8 or Latin-1 (the caller reads it with pandas, as with DuckDB)."""
        opened = open_events(table, key, path, read, what, warn)
        if opened is None:
            return None
        values, header, kind, encoding, read = opened
        raw = self.name("raw")
        with _spark_errors(path):
            frame = self._csv(path, read, encoding, header, key, table.timestamp) if kind == "csv" else \
                self._parquet(path, kind, table.timestamp)
            frame.createOrReplaceTempView(raw)
            types = {name: SPARK_TYPES.get(kind.split("(")[0], "VARCHAR") for name, kind in frame.dtypes}
            types.update({name: "DECIMAL" for name, kind in frame.dtypes if kind.startswith("decimal")})
            scan = _Checker(self, table, key, path, read, raw, types, values, what).check(warn, problem)
        return SparkEventScan(self, table, scan.view, scan.rows, scan.columns, scan.floats, scan.values, path, read)

    def _csv(self, path: Path, read: ReadOptions, encoding: str, header: list[str], key: str, timestamp: str):
        """Every column as text, the configured missing markers as null; columns holding only true/false as
        booleans (DuckDB's sniffer does the same; numbers are typed by the checker)."""
        from pyspark.sql import functions as F

        frame = (self.spark.read.option("header", True).option("sep", read.delimiter).option("quote", read.quote_char)
                 .option("escape", read.quote_char).option("multiLine", True).option("encoding", encoding)
                 .option("mode", "FAILFAST").csv(str(path)))
        frame = frame.toDF(*header)  # the reader's names (a byte-order mark or odd characters as pandas reads them)
        columns = [F.when(F.col(_q(c)).isin(list(read.na_values)), None).otherwise(F.col(_q(c))).alias(c)
                   for c in header]
        frame = frame.select(*columns)
        others = [c for c in header if c not in (key, timestamp)]
        if others:
            flags = frame.select(*[F.count(F.col(_q(c))) for c in others] + [
                F.count(F.when(F.lower(F.col(_q(c))).isin("true", "false"), 1)) for c in others]).first()
            boolean = {c for i, c in enumerate(others) if flags[i] and flags[i] == flags[len(others) + i]}
            frame = frame.select(*[(F.lower(F.col(_q(c))) == "true").alias(c) if c in boolean else F.col(_q(c))
                                   for c in header])
        return self._ordered(frame, F.lit(""))

    def _parquet(self, path: Path, kind: str, timestamp: str):
        """A Parquet file or folder (hive partitions as columns); nanosecond timestamps, which Spark reads as
        numbers, back to timestamps (to microseconds, Spark's resolution)."""
        from pyspark.sql import functions as F

        files = parquet_parts(path) if kind == "folder" else [path]
        if not files:
            raise InputError(f"{path}: the folder holds no .parquet files. Point the config at a CSV, a Parquet "
                             "file or a folder of Parquet files.")
        reader = self.spark.read.option("basePath", str(path)) if kind == "folder" else self.spark.read
        frame = reader.parquet(*[str(f) for f in files])
        schema = pq.read_schema(files[0])
        for field in schema:
            read_as = dict(frame.dtypes).get(field.name)  # INT96 (Spark's own writes) arrive as timestamps
            if pa.types.is_timestamp(field.type) and field.type.unit == "ns" and read_as == "bigint":
                c = _q(field.name)
                frame = frame.withColumn(field.name, F.expr(
                    f"timestamp_micros(IF({c} >= 0, {c} DIV 1000, -((999 - {c}) DIV 1000)))"))
        return self._ordered(frame, F.input_file_name())  # sorted paths: the order DuckDB reads parts in

    @staticmethod
    def _ordered(frame, rank):
        from pyspark.sql import functions as F
        return frame.withColumn(ORDER[0], rank).withColumn(ORDER[1], F.monotonically_increasing_id())


class SparkEventScan(EventScan):
    """EventScan whose features and first appearances Spark computes (event_plan.py in the spark dialect)."""

    engine: SparkEngine

    def latest(self) -> pd.Timestamp | None:
        with _spark_errors(self.path):
            return super().latest()

    def ids(self) -> pd.Series:
        """Customer IDs in order of first appearance in the source."""
        first = f"min(struct({', '.join(ORDER)}))"
        with _spark_errors(self.path):
            got = self.engine.spark.sql(f"SELECT {plan.ID} FROM {_q(self.view)} GROUP BY {plan.ID} "
                                        f"ORDER BY {first}").toArrow()
        return pd.Series(got.column(0).to_pylist(), dtype="str")

    def aggregate(self, as_of: pd.Timestamp, population: pd.Index, warn: Warn) -> pd.DataFrame:
        """The pandas path's aggregate_events, run by Spark: same features, warnings and order."""
        spark, aggs = self.engine.spark, self.table.aggregations
        per_customer, pop = self.engine.name("per_customer"), self.engine.name("population")
        ids = pa.table({plan.ID: pa.array(population.to_numpy(dtype=object), pa.string()),
                        plan.POS: np.arange(len(population), dtype=np.int64)})
        spark.createDataFrame(ids).createOrReplaceTempView(pop)
        values = [plan.value_name(self.values.index(a.column)) if a.column else None for a in aggs]
        floats = [self.floats[self.values.index(a.column)] if a.column else False for a in aggs]
        with _spark_errors(self.path):
            spark.sql(plan.per_customer_sql(aggs, values, floats, as_of, self.view, dialect="spark")) \
                .cache().createOrReplaceTempView(per_customer)
            try:
                self._warn_ignored(per_customer, pop, as_of, population, warn)
                got = spark.sql(plan.features_sql(aggs, per_customer, pop, dialect="spark")).toArrow()
            finally:
                spark.catalog.uncacheTable(per_customer)
        return pd.DataFrame({aggregation_name(self.table, a): got.column(plan.feature_name(i)).to_numpy()
                             .astype("float64") for i, a in enumerate(aggs)}, index=population)


LOG4J = Path(__file__).resolve().parents[1] / "resources" / "spark-log4j2.properties"  # errors only
# the local JVM: C1 JIT only (starts in about half the time; local-mode jobs here are short, so C2's later speed-up
# never pays), serial GC (no GC threads competing for the run's cores), Spark's WARN lines off
LOCAL_JAVA_OPTIONS = f"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j2.configurationFile=file:{LOG4J}"
# Spark's catalog folder (unused: cxpredict registers no tables) in the temp folder, not in the job's working folder
LOCAL_WAREHOUSE = str(Path(tempfile.gettempdir()) / "cxpredict-spark-warehouse")


def local_session(threads: int | None = None):
    """A local-mode SparkSession on the run's thread budget (cxpredict/threads.py), quiet, UI off."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("data.engine: spark needs pyspark (pip install 'cxpredict[spark]') and Java 17+; or set "
                          "data.engine: duckdb.") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    cores = str(thread_policy.count(threads))
    try:
        with quiet_pyspark():
            return (SparkSession.builder.master(f"local[{cores}]").appName("cxpredict")
                    .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                    .config("spark.sql.shuffle.partitions", cores)
                    .config("spark.default.parallelism", cores)
                    .config("spark.sql.warehouse.dir", LOCAL_WAREHOUSE)
                    .config("spark.driver.extraJavaOptions", LOCAL_JAVA_OPTIONS).getOrCreate())
    except Exception as e:  # noqa: BLE001 - Java missing or not startable: py4j/RuntimeError, re-raised as a fix
        raise ConfigError(f"data.engine: spark could not start Spark in local mode ({' '.join(str(e).split())[:300]}"
                          "). Install Java 17+ (or set JAVA_HOME), or set data.engine: duckdb.") from None


@contextmanager
def quiet_pyspark() -> Iterator[None]:
    """Without pyspark's notice that it does not fully support pandas 3 (printed at every session start and UDF;
    the parity tests are what says the values are right)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        yield


@contextmanager
def spark_engine(threads: int | None = None) -> Iterator[SparkEngine]:
    """The active SparkSession (a cluster's, or a test's) or a local one started here and stopped on exit; the
    session settings the engine needs are set for the run and restored, and its temp views dropped."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    spark = active or local_session(threads)
    before = {key: spark.conf.get(key, None) for key in SESSION_CONF}
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    engine = SparkEngine(spark)
    try:
        yield engine
    finally:
        for view in engine.views:
            spark.catalog.dropTempView(view)
        for key, value in before.items():
            spark.conf.unset(key) if value is None else spark.conf.set(key, value)
        if active is None:
            spark.stop()


class SparkTables:
    """data.source: spark: the tables and views of the active SparkSession (the user's, where they registered
    them), by name or `query: SELECT ...`, with the interface of database_source's databases. Each table a load
    reads is written by Spark, sorted by key and time like a database table, as Parquet parts into the load's
    private temp folder, and read from there as any folder of Parquet; events by the Spark engine itself (the
    config validator asks for data.engine: spark with this source). The folder must be one Spark's executors can
    write: any folder in local mode; on a cluster, set data.duckdb.temp_directory to shared storage."""

    def __init__(self):
        from pyspark.sql import SparkSession

        self.spark = SparkSession.getActiveSession()
        self.label = "the Spark session"
        if self.spark is None:
            raise ConfigError("data.source: spark reads the tables of the active SparkSession, and none is active. "
                              "Start one and register the tables (df.createOrReplaceTempView('events'), or the "
                              "session's catalog) before running cxpredict, or set data.source to a database or "
                              "remove it to read files.")

    def close(self) -> None:
        """The session is the user's: left running."""

    def stage(self, rel: str, dest: Path, what: str, order: list[str]) -> None:
        from pyspark.errors import PySparkException
        from pyspark.sql import functions as F

        try:
            frame = self.spark.sql(f"SELECT * FROM {rel} AS t")
            keys = [F.col(_q(c)).cast("string") for c in order if c in frame.columns]  # text in byte order
            with quiet_pyspark():
                (frame.orderBy(*keys) if keys else frame).write.parquet(str(dest))
        except PySparkException as e:
            detail = " ".join(str(e).split())[:400]
            raise InputError(f"{self.label}: cannot read {what} ({detail}). Check the table or view name (as "
                             "registered in the session, with its database) or the query in the config.") from None
