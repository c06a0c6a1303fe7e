"""DuckDB SQL text of the event checks and cleaning (duckdb_events.py; spark_events.py and postgres_events.py
reuse parts): quoted names and strings, the test for numbers read as missing, IDs trimmed as str.strip trims them;
and DuckDB's failures while running it (unreadable files, out of memory) as the project's errors.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import sqlglot.expressions as exp

from cxpredict.config import ReadOptions
from cxpredict.data.numbers import MAX_ABS
from cxpredict.errors import InputError, Interrupted, ResourceError


QUIET = "SET enable_progress_bar = false"  # DuckDB draws a progress bar on long queries: noise in a scheduler's log


def quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def literal(text: str) -> str:
    return exp.Literal.string(text).sql("duckdb")


def extreme(column: str) -> str:
    """Infinite or beyond MAX_ABS (numbers.py); NaN is missing, not extreme (DuckDB sorts NaN above every number)."""
    cast = f"CAST({column} AS DOUBLE)"
    return f"(NOT isnan({cast}) AND (isinf({cast}) OR abs({cast}) > {MAX_ABS}))"


def cleaned(value: str, kind: str) -> str:
    """A value column as the features read it: NaN, infinite and extreme numbers missing."""
    if kind == "text":
        return value
    return f"CASE WHEN isnan(CAST({value} AS DOUBLE)) OR {extreme(value)} THEN NULL ELSE {value} END"


@functools.cache
def whitespace() -> str:
    """Every character str.strip removes; scanning all of Unicode is slow, so once, and only when an event
    table is read (scoring a population table never needs it); numpy's isspace (the same Unicode test as
    str.isspace) over every code point at once, a Python call per character being most of a small load."""
    codes = np.arange(sys.maxunicode + 1, dtype=np.uint32).view("<U1")
    return "".join(map(chr, np.flatnonzero(np.strings.isspace(codes)).tolist()))


def trimmed(column: str) -> str:
    """`column` without leading/trailing whitespace as str.strip sees it; trimming with a character set is ~10x
    slower than testing the first and last character, so only IDs that need it are trimmed."""
    space = literal(whitespace())
    return (f"(CASE WHEN contains({space}, left({column}, 1)) OR contains({space}, right({column}, 1)) "
            f"THEN trim({column}, {space}) ELSE {column} END)")


@contextmanager
def interrupts() -> Iterator[None]:
    """DuckDB stops a query on SIGTERM/SIGINT and raises 'Query interrupted', swallowing the exception the
    signal handler raised (terminate_gracefully's Interrupted, KeyboardInterrupt): raise that one again, so the
    command exits 143/130 and cleans up like anywhere else."""
    try:
        yield
    except RuntimeError as e:
        if "interrupted" not in str(e).lower():
            raise
        context = e.__context__
        raise context if isinstance(context, (Interrupted, KeyboardInterrupt)) else Interrupted() from None


@contextmanager
def duckdb_errors(path: Path, read: ReadOptions) -> Iterator[None]:
    """DuckDB's failures while scanning a file as InputErrors naming the file and the fix."""
    try:
        yield
    except duckdb.ConversionException as e:  # a CSV value unlike the type sniffed from the file's start
        detail = " ".join(" ".join(str(e).split("\n")[:4]).split()).rstrip(" .")
        raise InputError(f"{path}: {detail}. The value does not fit the type inferred from the start of the file: "
                         f"fix it, add it to data.read.na_values (now {read.na_values}), or export the table as "
                         "Parquet (typed columns).") from None
    except duckdb.Error as e:
        raise InputError(f"{path}: DuckDB cannot read the file ({' '.join(str(e).split())[:400]}). Check data.read "
                         f"(delimiter {read.delimiter!r}, quote {read.quote_char!r}) and that the file is complete, "
                         "or set data.engine: pandas.") from None


@contextmanager
def out_of_memory(con: duckdb.DuckDBPyConnection, configured: str | None) -> Iterator[None]:
    """DuckDB's Out of Memory as a ResourceError (exit 8) naming the limit (`configured`: data.duckdb.memory_limit),
    the threads and the fixes: the data is fine (not an InputError), the machine or the settings are short."""
    try:
        yield
    except duckdb.OutOfMemoryException as e:
        limit, threads, spill = con.execute("SELECT current_setting('memory_limit'), current_setting('threads'), "
                                            "current_setting('temp_directory')").fetchall()[0]
        detail = " ".join(str(e).split("\n")[0].split())
        raise ResourceError(
            f"DuckDB ran out of memory building the event features ({detail}) with data.duckdb.memory_limit "
            f"{configured + f' ({limit})' if configured else f'unset (DuckDB default: {limit}, 80% of the memory)'} "
            f"and {threads} threads. Raise data.duckdb.memory_limit (e.g. --set data.duckdb.memory_limit=8GB), run "
            f"with fewer threads (CXPREDICT_THREADS=1: each thread holds its own hash tables), or run on a larger "
            f"machine; DuckDB spills to {spill} (data.duckdb.temp_directory), which needs free disk space. Nothing "
            "was written.") from None


UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "KB": 10**3, "MB": 10**6, "GB": 10**9,
         "TB": 10**12}


def memory_bytes(size: str) -> int:
    """DuckDB's current_setting('memory_limit') ('4.6 GiB') in bytes."""
    number, unit = size.split()
    return int(float(number) * UNITS[unit])
