"""Scored batches appended to one CSV or Parquet file that is complete or absent (io/outputs.py's rules)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cxpredict import threads
from cxpredict.errors import ConfigError
from cxpredict.io.csvcells import to_csv
from cxpredict.io.outputs import (CSV_ENCODING, CsvDialect, StagedOutputs, atomic_path, dictionary_columns, excel_safe,
                                  output_errors)


class TableWriter:
    """Append scored batches to a CSV or Parquet file that appears under its final name only when complete.

    Use as a context manager: on an exception (or a kill) the temporary file is removed and any previous
    output under the final name is left untouched. With `staged`, the file is one of a set that appears together:
    the writer only fills its temporary path and `staged.commit()` publishes it with the others.

    Parquet batches are converted to Arrow and encoded on a background thread (pyarrow releases the GIL) while the
    caller prepares the next: one batch in flight, the same bytes as writing them in turn; a write error surfaces at
    the next call. The caller hands a batch over: it must not change the frame after `write`.
    """

    def __init__(self, path: str | Path, staged: StagedOutputs | None = None, dialect: CsvDialect | None = None):
        self.path = Path(path)
        self.staged = staged
        self.dialect = dialect or CsvDialect()
        self.format = self.path.suffix.lower().lstrip(".")
        if self.format not in ("csv", "parquet"):
            raise ConfigError(f"output '{path}': unknown extension; use .csv (Excel) or .parquet")
        self.rows = 0
        self._schema: pa.Schema | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._csv = None
        self._background: threads.ThreadPoolExecutor | None = None
        self._pending: threads.Future | None = None

    def __enter__(self) -> TableWriter:
        staged = self.staged
        self._ctx = atomic_path(self.path) if staged is None else contextlib.nullcontext(staged.path(self.path))
        self.tmp = self._ctx.__enter__()
        if self.format == "csv":
            with output_errors(self.path):
                self._csv = open(self.tmp, "w", encoding=CSV_ENCODING, newline="")
        return self

    def write(self, frame: pd.DataFrame) -> None:
        with output_errors(self.path):
            self._write(frame)

    def _write(self, frame: pd.DataFrame) -> None:
        if self.format == "csv":
            to_csv(excel_safe(frame), self._csv, self.dialect.options(), header=self.rows == 0)
        elif self._parquet is None:  # the first batch decides the schema and the dictionaries
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self._schema = table.schema
            self._parquet = pq.ParquetWriter(self.tmp, self._schema,
                                             use_dictionary=dictionary_columns(self._schema, table))
            self._background = threads.background("parquet-writer")
            self._pending = self._background.submit(self._parquet.write_table, table)
        else:
            self._finish_pending()
            self._pending = self._background.submit(self._encode, frame)
        self.rows += len(frame)

    def _encode(self, frame: pd.DataFrame) -> None:
        """On the writer's thread: the batch to Arrow in the first batch's schema, then Parquet."""
        self._parquet.write_table(pa.Table.from_pandas(frame, preserve_index=False).cast(self._schema))

    def _finish_pending(self) -> None:
        """Wait for the batch in flight; its write error (a full disk) is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            with output_errors(self.path):  # closing flushes the last buffered bytes: a full disk shows here
                if self._background is not None:  # the batch in flight first (after an error: only waited for)
                    self._background.shutdown(wait=True)
                    self._pending = self._pending if exc_type is None else None
                    self._finish_pending()
                if self._csv is not None:
                    self._csv.close()
                if self._parquet is not None:
                    self._parquet.close()
                elif self.format == "parquet" and exc_type is None:
                    pq.write_table(pa.table({}), self.tmp)
        except Exception as e:  # a full disk, or the last batch's conversion (on the writer's thread) failing
            if exc_type is None:
                self._ctx.__exit__(type(e), e, e.__traceback__)  # the temporary file removed all the same
                raise
        return self._ctx.__exit__(exc_type, exc, tb)
