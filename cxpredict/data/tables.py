"""Reading tables from files: CSV, a Parquet file or a folder of Parquet parts, whole or in record batches.

Every read goes through pyarrow (fast, typed, streamable) and every failure becomes an InputError that names
the file and the fix (wrong encoding, wrong delimiter, empty file, missing columns, a late type change), so the
callers (data.py's table fusion, scoring's population stream) never see a raw Arrow exception.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads

from cxpredict.config import ReadOptions
from cxpredict.errors import InputError, first_rows
from cxpredict.provenance import fingerprint_path

PARQUET_SUFFIXES = (".parquet", ".pq")


def table_kind(path: Path) -> str:
    """'csv', 'parquet' or 'folder' (of Parquet parts), from the path alone."""
    if path.is_dir():
        return "folder"
    return "parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "csv"


def parquet_parts(folder: Path) -> list[Path]:
    """Parquet files of a folder dataset; hidden and '_'-prefixed entries (e.g. _SUCCESS) are skipped like Spark."""
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES
        and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
    )


def fingerprint_file(path: str | Path) -> str:
    """Fingerprint of a table: a file's bytes, or a Parquet folder's parts (hidden and '_' files do not count)."""
    path = Path(path)
    return fingerprint_path(path, parts=parquet_parts(path) if path.is_dir() else None)


def rows_text(path: Path, positions: Iterable[int]) -> str:
    """Offending rows (0-based data positions) as file lines (CSV: header = line 1) or 1-based row numbers."""
    if table_kind(path) == "csv":
        return f"{first_rows(int(p) + 2 for p in positions)} (file lines, header = line 1)"
    return f"{first_rows(int(p) + 1 for p in positions)} (1-based row numbers)"


def _encoding_error(path: Path, read: ReadOptions, detail: str) -> InputError:
    return InputError(
        f"{path}: cannot decode the file as {read.encoding!r} ({detail}). "
        "Set data.read.encoding to the file's real encoding, e.g. 'latin-1' or 'cp1252'."
    )


@contextmanager
def _arrow_errors(path: Path, read: ReadOptions):
    """Turn pyarrow's parse and decode failures into InputErrors that name the file and the fix."""
    try:
        yield
    except UnicodeDecodeError as e:
        raise _encoding_error(path, read, str(e)) from None
    except (pa.ArrowException, OSError) as e:
        text = str(e)
        if "Empty CSV file" in text:
            raise InputError(f"{path}: the file is empty (no header, no rows). Export it again.") from None
        if "UTF8" in text or "UTF-8" in text:
            raise _encoding_error(path, read, text) from None
        if "conversion error" in text:  # streaming: a later block disagrees with the types of the first block
            raise InputError(
                f"{path}: {text}. The value does not fit the type inferred from the start of the file: fix it, add "
                f"it to data.read.na_values (now {read.na_values}), or pin the column's type (column_types)."
            ) from None
        raise InputError(
            f"{path}: cannot read the file: {text}. Check data.read.delimiter (now {read.delimiter!r}) "
            "and that the file is a complete CSV or Parquet file."
        ) from None


def _csv_options(read: ReadOptions, columns: list[str] | None, column_types: Mapping[str, str | pa.DataType]):
    return dict(
        read_options=pacsv.ReadOptions(encoding=read.encoding),
        parse_options=pacsv.ParseOptions(delimiter=read.delimiter),
        convert_options=pacsv.ConvertOptions(
            null_values=list(read.na_values), strings_can_be_null=True, include_columns=list(columns or []),
            column_types={name: _arrow_type(t) for name, t in column_types.items()},
        ),
    )


def _arrow_type(t: str | pa.DataType) -> pa.DataType:
    return t if isinstance(t, pa.DataType) else pa.type_for_alias(t)


def _parquet_dataset(path: Path) -> pads.Dataset:
    if not path.is_dir():
        return pads.dataset(str(path), format="parquet")
    parts = parquet_parts(path)
    if not parts:
        raise InputError(f"{path}: the folder holds no .parquet files. Point the config at a CSV, a Parquet file "
                         "or a folder of Parquet files.")
    return pads.dataset([str(p) for p in parts], format="parquet", partitioning="hive", partition_base_dir=str(path))


def check_source(path: Path) -> None:
    """Fail early, before any reading, on a missing or zero-byte file."""
    if not path.exists():
        raise InputError(f"{path}: file not found. Check data.dir and the table's 'path' in the config.")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes). Export it again with a header and data rows.")


def table_columns(path: str | Path, read: ReadOptions) -> list[str]:
    """Column names without reading the whole file (CSV: first block only; Parquet: the schema)."""
    path = Path(path)
    with _arrow_errors(path, read):
        if table_kind(path) != "csv":
            names = list(_parquet_dataset(path).schema.names)
        else:
            reader = pacsv.open_csv(path, **_csv_options(read, None, {}))
            names = list(reader.schema.names)
            reader.close()
    if any("\ufffd" in n for n in names):
        raise _encoding_error(path, read, "the header holds bytes that are not valid text")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{path}: repeated column names {repeated}. Give every column a unique name.")
    return names


def require_columns(path: Path, names: list[str], wanted: Iterable[str], what: str) -> None:
    """InputError listing the missing columns, the columns present and close matches (a typo or a delimiter)."""
    missing = [c for c in dict.fromkeys(wanted) if c not in names]
    if not missing:
        return
    lower = {n.lower(): n for n in names}
    hints = []
    for m in missing:
        close = difflib.get_close_matches(m.lower(), list(lower), n=1, cutoff=0.6)
        if close:
            hints.append(f"{m!r} -> did you mean {lower[close[0]]!r}?")
    if len(names) == 1 and any(d in names[0] for d in ";\t|,"):
        hints.append("The header was read as one column: check data.read.delimiter.")
    shown = names[:40] + (["..."] if len(names) > 40 else [])
    raise InputError(
        f"{path}: missing column{'s' if len(missing) > 1 else ''} {missing} ({what}). "
        f"Columns in the file: {shown}. " + (" ".join(hints) + " " if hints else "")
        + "Fix the column name in the config or in the file."
    )


def _to_pandas(table: pa.Table, path: Path, read: ReadOptions, column_types: Mapping) -> pd.DataFrame:
    """Arrow -> pandas with stable dtypes: undecodable text is an error, all-empty and nullable-bool columns float."""
    for i, (name, col) in enumerate(zip(table.column_names, table.columns)):
        if name in column_types and col.type != _arrow_type(column_types[name]):
            table = table.set_column(i, name, col.cast(_arrow_type(column_types[name])))
        elif pa.types.is_binary(col.type):
            raise _encoding_error(path, read, f"column {name!r} holds bytes that are not valid {read.encoding}")
        elif pa.types.is_null(col.type) or (pa.types.is_boolean(col.type) and col.null_count):
            table = table.set_column(i, name, col.cast(pa.float64()))
    return table.to_pandas(date_as_object=False)


def read_table(path: str | Path, read: ReadOptions, columns: list[str] | None = None,
               column_types: Mapping[str, str | pa.DataType] | None = None,
               what: str = "requested columns") -> pd.DataFrame:
    """Read a CSV, Parquet file or folder of Parquet files through pyarrow. `column_types` pins arrow types
    (e.g. {"id": "string"}) where inference would be wrong (IDs with leading zeros); `what` says in errors
    which part of the config asked for the columns."""
    path = Path(path)
    check_source(path)
    columns = list(dict.fromkeys(columns)) if columns is not None else None
    names = table_columns(path, read)
    if columns is not None:
        require_columns(path, names, columns, what)
    with _arrow_errors(path, read):
        if table_kind(path) == "csv":
            table = pacsv.read_csv(path, **_csv_options(read, columns, column_types or {}))
        else:
            table = _parquet_dataset(path).to_table(columns=columns)
        frame = _to_pandas(table, path, read, column_types or {})
    if len(frame) == 0:
        raise InputError(f"{path}: no data rows (only a header). Export the table again with its rows.")
    return frame


def _rebatch(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    buffer: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        buffer.append(batch)
        rows += batch.num_rows
        while rows >= size:
            table = pa.Table.from_batches(buffer)
            yield table.slice(0, size)
            rest = table.slice(size)
            buffer, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield pa.Table.from_batches(buffer)


def iter_table_batches(path: str | Path, read: ReadOptions, batch_size: int, columns: list[str] | None = None,
                       column_types: Mapping[str, str | pa.DataType] | None = None) -> Iterator[pd.DataFrame]:
    """Stream a table as DataFrames of `batch_size` rows (the last may be shorter) in bounded memory.

    CSV types are inferred from the first block; pass `column_types` (e.g. from the training manifest) when a
    column could look different later in the file."""
    path = Path(path)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    check_source(path)  # checked now, not at the first next(), so a bad path fails before any output
    names = table_columns(path, read)
    if columns is not None:
        columns = list(dict.fromkeys(columns))
        require_columns(path, names, columns, "requested columns")
    return _stream(path, read, batch_size, columns, column_types or {})


def _stream(path: Path, read: ReadOptions, batch_size: int, columns: list[str] | None,
            column_types: Mapping) -> Iterator[pd.DataFrame]:
    any_rows = False
    with _arrow_errors(path, read):
        if table_kind(path) == "csv":
            batches = pacsv.open_csv(path, **_csv_options(read, columns, column_types))
        else:
            # use_threads=False: with threads the scanner decodes ahead of a slow consumer without bound (measured
            # +400 MB on 3M rows while scoring); single-threaded it still reads ~0.7M rows/s, in scoring's reader thread
            batches = _parquet_dataset(path).to_batches(
                columns=columns, batch_size=min(batch_size, 1 << 17), batch_readahead=1, fragment_readahead=1,
                use_threads=False)
        for table in _rebatch(batches, batch_size):
            any_rows = True
            yield _to_pandas(table, path, read, column_types)
    if not any_rows:
        raise InputError(f"{path}: no data rows (only a header). Export the table again with its rows.")


