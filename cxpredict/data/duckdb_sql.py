"""DuckDB SQL text of the event checks and cleaning (duckdb_events.py; spark_events.py and postgres_events.py
reuse parts): quoted names and strings, the test for numbers read as missing, IDs trimmed as str.strip trims them;
and DuckDB's failures while running it as the project's errors.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import sqlglot.expressions as exp

from cxpredict.config import ReadOptions
from cxpredict.data.numbers import MAX_ABS
from cxpredict.errors import InputError, Interrupted


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
    table is read (scoring a population table never needs it)."""
    return "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())


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
