"""Reading tables from files: CSV, a Parquet file or a folder of Parquet parts, whole or in record batches.

Every read goes through pyarrow (fast, typed, streamable) and every failure becomes an InputError that names
the file and the fix (wrong encoding, wrong delimiter, empty file, missing columns, a late type change), so the
callers (data.py's table fusion, scoring's population stream) never see a raw Arrow exception.

What the reader settles once for the whole package:
- Encoding: a byte-order mark (UTF-8, UTF-16 or UTF-32, little or big endian) names the file's encoding beyond
  doubt, so it wins over data.read.encoding (with a warning naming both); a file full of NUL bytes without a
  mark is diagnosed as UTF-16/32, not as a delimiter problem.
- Quoted line breaks: a quoted field may hold line breaks anywhere, also across a read block's boundary; the
  rows read are Python's csv module's (scripts/fuzz_csv.py), and messages name the line a row starts on
  (csv_bytes.py: the byte-level stream under pyarrow, and the line count).
- Long fields: a field longer than pyarrow's CSV block is read by retrying with larger blocks (up to the file's
  size), instead of failing with "straddling object straddles two block boundaries".
- Non-finite and extreme numbers become missing values, with one warning per table naming the file, the column
  and the rows (the policy and its reasons: numbers.py).
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pacompute
import pyarrow.csv as pacsv
import pyarrow.dataset as pads

from cxpredict.config import ReadOptions
from cxpredict.data.csv_bytes import CsvInput, record_lines, undecodable
from cxpredict.data.numbers import ExtremeCounts, Warn, arrow_extremes
from cxpredict.errors import InputError, first_rows
from cxpredict.provenance import fingerprint_path

PARQUET_SUFFIXES = (".parquet", ".pq")
BLOCK_SIZE = 1 << 20  # pyarrow's default CSV block; a longer field triggers a retry with larger blocks
MAX_BLOCK_SIZE = 1 << 30
# byte-order marks, longest first (UTF-32 LE starts like UTF-16 LE); codecs that consume the mark
BOMS = ((b"\xff\xfe\x00\x00", "utf-32", "UTF-32 LE"), (b"\x00\x00\xfe\xff", "utf-32", "UTF-32 BE"),
        (b"\xef\xbb\xbf", "utf-8", "UTF-8"), (b"\xff\xfe", "utf-16", "UTF-16 LE"), (b"\xfe\xff", "utf-16", "UTF-16 BE"))


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


def rows_text(path: Path, positions: Iterable[int], quote_char: str = '"') -> str:
    """Offending rows (0-based data positions) as file lines (CSV: header = line 1) or 1-based row numbers."""
    positions = [int(p) for p in positions]
    if table_kind(path) == "csv":
        try:
            bom = byte_order_mark(path)
            shown = record_lines(path, positions[:5], quote_char, bom[0] if bom else None)
        except OSError:  # not (or no longer) a readable file, e.g. a frame handed over in memory: one row, one line
            shown = {p: p + 2 for p in positions[:5]}
        return f"{first_rows([shown[p] for p in positions[:5]] + positions[5:])} (file lines, header = line 1)"
    return f"{first_rows(p + 1 for p in positions)} (1-based row numbers)"


def byte_order_mark(path: Path) -> tuple[str, str] | None:
    """(codec, name) of the byte-order mark the file starts with, e.g. ("utf-16", "UTF-16 LE"), or None."""
    if table_kind(path) != "csv":
        return None
    with open(path, "rb") as f:
        head = f.read(4)
    return next(((codec, name) for mark, codec, name in BOMS if head.startswith(mark)), None)


def effective_read(path: Path, read: ReadOptions, warn: Warn | None = None) -> ReadOptions:
    """`read` with the encoding the file's byte-order mark names (a warning when it differs from the config)."""
    bom = byte_order_mark(path)
    if bom is None:
        return read
    codec, name = bom
    configured = codecs.lookup(read.encoding).name
    if configured.startswith(codec):  # e.g. utf-16-le for a UTF-16 LE mark: the same family, read past the mark
        return read if configured == codec else read.model_copy(update={"encoding": codec})
    if warn is not None:
        warn(f"{path}: the file starts with a {name} byte-order mark, so it was read as {name} although "
             f"data.read.encoding is {read.encoding!r}; set data.read.encoding: {codec} to say so")
    return read.model_copy(update={"encoding": codec})


def _looks_wide(path: Path) -> str:
    """' It looks like UTF-16/32 without a byte-order mark ...' when the start of the file is full of NUL bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return ""
    if head and head.count(0) > len(head) // 4:
        return (" Many bytes are NUL, as in UTF-16 or UTF-32 text without a byte-order mark: set "
                "data.read.encoding to utf-16-le, utf-16-be, utf-32-le or utf-32-be.")
    return ""


def _encoding_error(path: Path, read: ReadOptions, detail: str) -> InputError:
    return InputError(
        f"{path}: cannot decode the file as {read.encoding!r} ({detail}). "
        "Set data.read.encoding to the file's real encoding, e.g. 'latin-1' or 'cp1252'." + _looks_wide(path)
    )


@contextlib.contextmanager
def _arrow_errors(path: Path, read: ReadOptions):
    """Turn pyarrow's parse and decode failures into InputErrors that name the file and the fix."""
    try:
        yield
    except UnicodeError as e:  # UnicodeDecodeError, and codecs' own (e.g. "UTF-16 stream does not start with BOM")
        raise _encoding_error(path, read, str(e)) from None
    except (pa.ArrowException, OSError) as e:
        text = str(e)
        if "Empty CSV file" in text:
            raise InputError(f"{path}: the file is empty (no header, no rows). Export it again.") from None
        if "UTF8" in text or "UTF-8" in text:
            raise _encoding_error(path, read, text) from None
        row = text.split(" columns, got ", 1)[-1] if "Expected" in text else ""
        if read.quote_char and read.quote_char in row and "\n" in row.strip():  # one "row" spanning lines
            raise InputError(
                f"{path}: a quote character (data.read.quote_char, now {read.quote_char!r}) opens a field that never "
                f"closes, so the following lines were read as part of one row: {row.strip()[:120]!r}... Fix the "
                "quoting in the file, or set data.read.quote_char: '' if the file does not quote fields.") from None
        if "straddling object" in text or text.startswith(LONG_FIELD):  # a field longer than the first block
            raise InputError(
                f"{path}: a field runs on for more than {BLOCK_SIZE >> 20} MiB"
                f"{', then: ' + text.removeprefix(LONG_FIELD) if text.startswith(LONG_FIELD) else ''}. Most likely "
                f"a quote character (data.read.quote_char, now {read.quote_char!r}) opens a field that never closes: "
                "fix the quoting in the file, or set data.read.quote_char: '' if the file does not quote fields."
            ) from None
        if "conversion error" in text:  # streaming: a later block disagrees with the types of the first block
            raise InputError(
                f"{path}: {_named_column(path, read, text)}{text}. The value does not fit the type inferred from the start of the file: fix it, add "
                f"it to data.read.na_values (now {read.na_values}), or pin the column's type (column_types)."
            ) from None
        wide = _looks_wide(path)
        raise InputError(
            f"{path}: cannot read the file ({text})." + wide if wide else
            f"{path}: cannot read the file: {text}. Check data.read.delimiter (now {read.delimiter!r}) "
            "and that the file is a complete CSV or Parquet file."
        ) from None


def _named_column(path: Path, read: ReadOptions, text: str) -> str:
    """"column 'age': " for pyarrow's "In CSV column #5" (0-based, in the header's order), else ""."""
    found = re.search(r"CSV column #(\d+)", text)
    with contextlib.suppress(InputError, IndexError):  # unreadable header: keep the number
        return f"column {table_columns(path, read)[int(found.group(1))]!r}: " if found else ""
    return ""


def _csv_options(read: ReadOptions, columns: list[str] | None, column_types: Mapping[str, str | pa.DataType],
                 block_size: int = BLOCK_SIZE):
    return dict(
        read_options=pacsv.ReadOptions(encoding="utf8", block_size=block_size),  # CsvInput decodes
        # newlines_in_values: a quoted field may hold line breaks (comments, ticket notes); without it pyarrow cuts
        # blocks at any line break and splits such a field at a block boundary (a garbled row or a parse error)
        parse_options=pacsv.ParseOptions(delimiter=read.delimiter, quote_char=read.quote_char or False,
                                         newlines_in_values=bool(read.quote_char)),
        convert_options=pacsv.ConvertOptions(
            null_values=list(read.na_values), strings_can_be_null=True, include_columns=list(columns or []),
            column_types={name: _arrow_type(t) for name, t in column_types.items()},
        ),
    )


def _arrow_type(t: str | pa.DataType) -> pa.DataType:
    return t if isinstance(t, pa.DataType) else pa.type_for_alias(t)


def _block_sizes(path: Path) -> list[int]:
    """CSV block sizes to try: the default, then 16x larger each time, up to one block for the whole file."""
    limit = min(max(path.stat().st_size + 1, BLOCK_SIZE), MAX_BLOCK_SIZE)
    sizes = [BLOCK_SIZE]
    while sizes[-1] < limit:
        sizes.append(min(sizes[-1] * 16, limit))
    return sizes


LONG_FIELD = "after a field longer than a block: "


def _retry(error: pa.ArrowInvalid, size: int, sizes: list[int]) -> bool:
    """True when a larger block may help: the error is a field longer than the block, and larger blocks remain.
    An error after such a retry is marked (LONG_FIELD): an unclosed quote is the likely cause, not the delimiter."""
    if "straddling object" in str(error) and size != sizes[-1]:
        return True
    if size != sizes[0]:
        raise pa.ArrowInvalid(LONG_FIELD + str(error)) from None
    return False


def _swallowed_rows(table: pa.Table | pa.RecordBatch, read: ReadOptions) -> None:
    """After a retry with larger blocks: a text field over a block long made of lines that look like the file's
    rows is an unclosed quote that swallowed them, not a long field (ArrowInvalid marked LONG_FIELD)."""
    rowlike = read.delimiter * (table.num_columns - 1)
    for name, col in zip(table.schema.names, table.columns):
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            continue
        long = pacompute.filter(col, pacompute.greater(pacompute.utf8_length(col), BLOCK_SIZE))
        for value in long.to_pylist():
            lines = sum(line.count(read.delimiter) == len(rowlike) for line in value.splitlines()[:1000])
            if lines >= 10:
                raise pa.ArrowInvalid(f"{LONG_FIELD}column {name!r} holds one value of {len(value):,} characters "
                                      f"whose lines look like rows of the file ({lines} of its first lines)")


def _read_csv(path: Path, read: ReadOptions, columns, column_types) -> pa.Table:
    sizes = _block_sizes(path)
    for size in sizes:
        try:
            with CsvInput(path, read.encoding) as source:
                table = pacsv.read_csv(source, **_csv_options(read, columns, column_types, size))
        except pa.ArrowInvalid as e:
            if not _retry(e, size, sizes):
                raise
            continue
        if size != sizes[0]:
            _swallowed_rows(table, read)
        return table
    raise AssertionError("unreachable: the last block size re-raises")


def _csv_schema(path: Path, read: ReadOptions) -> pa.Schema:
    sizes = _block_sizes(path)
    for size in sizes:
        try:
            with CsvInput(path, read.encoding) as source, \
                    contextlib.closing(pacsv.open_csv(source, **_csv_options(read, None, {}, size))) as reader:
                return reader.schema
        except pa.ArrowInvalid as e:
            if not _retry(e, size, sizes):
                raise
    raise AssertionError("unreachable: the last block size re-raises")


def _csv_batches(path: Path, read: ReadOptions, columns, column_types) -> Iterator[pa.RecordBatch]:
    """Stream CSV record batches; a field longer than the block restarts the stream with larger blocks and skips
    the rows already delivered (the same rows: CSV parsing does not depend on the block size)."""
    delivered = 0
    sizes = _block_sizes(path)
    for size in sizes:
        skip = delivered
        try:
            with CsvInput(path, read.encoding) as source, \
                    contextlib.closing(pacsv.open_csv(source, **_csv_options(read, columns, column_types, size))) as reader:
                for batch in reader:
                    if skip:
                        take = min(skip, batch.num_rows)
                        batch, skip = batch.slice(take), skip - take
                    if batch.num_rows:
                        if size != sizes[0]:
                            _swallowed_rows(batch, read)
                        delivered += batch.num_rows
                        yield batch
            return
        except pa.ArrowInvalid as e:
            if not _retry(e, size, sizes):
                raise


def _parquet_dataset(path: Path) -> pads.Dataset:
    if not path.is_dir():
        return pads.dataset(str(path), format="parquet")
    parts = parquet_parts(path)
    if not parts:
        raise InputError(f"{path}: the folder holds no .parquet files. Point the config at a CSV, a Parquet file "
                         "or a folder of Parquet files.")
    return pads.dataset([str(p) for p in parts], format="parquet", partitioning="hive", partition_base_dir=str(path))


def check_source(path: Path, what: str = "a table of the config") -> None:
    """Fail early, before any reading, on a missing or zero-byte file."""
    if not path.exists():
        raise InputError(f"{path}: file not found ({what}). Check data.dir and the table's 'path' in the config.")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes). Export it again with a header and data rows.")


def table_columns(path: str | Path, read: ReadOptions) -> list[str]:
    """Column names without reading the whole file (CSV: first block only; Parquet: the schema)."""
    path = Path(path)
    with _arrow_errors(path, read):
        read = effective_read(path, read)
        if table_kind(path) != "csv":
            names = list(_parquet_dataset(path).schema.names)
        else:
            names = list(_csv_schema(path, read).names)
    if any("\ufffd" in n for n in names):
        raise _encoding_error(path, read, "the header holds bytes that are not valid text")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{path}: repeated column names {repeated}. Give every column a unique name.")
    return names


def unread_bytes_warning(path: str | Path, read: ReadOptions) -> str | None:
    """A note for `validate` when a CSV holds bytes its encoding cannot decode in a column the config does not
    read (harmless now, an error once the column is read; a read column with them is an error already)."""
    path = Path(path)
    read = effective_read(path, read)
    if table_kind(path) != "csv" or codecs.lookup(read.encoding).name.startswith(("utf-16", "utf-32")):
        return None
    found = undecodable(path, read.encoding, read.delimiter, read.quote_char)
    if found is None:
        return None
    line, field, text = found
    names = table_columns(path, read)
    column = f"column {names[field]!r}" if field < len(names) else f"field {field + 1}"
    return (f"{path}: line {line} ({column}) holds bytes that are not valid {read.encoding} (shown as \ufffd: "
            f"{text.strip()[:80]!r}); the config does not read that column, so nothing changes now, but the file "
            "is probably in another encoding (e.g. cp1252): set data.read.encoding before you use the column.")


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


def _to_pandas(table: pa.Table, path: Path, read: ReadOptions, column_types: Mapping,
               extremes: ExtremeCounts | None = None, start: int = 0) -> pd.DataFrame:
    """Arrow -> pandas with stable dtypes: undecodable text is an error, all-empty and nullable-bool columns float,
    non-finite and extreme numbers missing (counted in `extremes`)."""
    if extremes is not None:
        table = arrow_extremes(table, extremes, start)
    for i, (name, col) in enumerate(zip(table.column_names, table.columns)):
        if name in column_types and col.type != _arrow_type(column_types[name]):
            table = table.set_column(i, name, col.cast(_arrow_type(column_types[name])))
        elif pa.types.is_binary(col.type):
            raise _encoding_error(path, read, f"column {name!r} holds bytes that are not valid {read.encoding}")
        elif pa.types.is_null(col.type) or (pa.types.is_boolean(col.type) and col.null_count):
            table = table.set_column(i, name, col.cast(pa.float64()))
    return table.to_pandas(date_as_object=False)


def _warn_extremes(path: Path, extremes: ExtremeCounts, warn: Warn | None) -> None:
    message = extremes.message(str(path), lambda rows, n: rows_text(path, rows) + (" ..." if n > len(rows) else ""))
    if message and warn is not None:
        warn(message)


def read_table(path: str | Path, read: ReadOptions, columns: list[str] | None = None,
               column_types: Mapping[str, str | pa.DataType] | None = None,
               what: str = "requested columns", warn: Warn | None = None) -> pd.DataFrame:
    """Read a CSV, Parquet file or folder of Parquet files through pyarrow. `column_types` pins arrow types
    (e.g. {"id": "string"}) where inference would be wrong (IDs with leading zeros); `what` says in errors
    which part of the config asked for the columns; `warn` receives what was repaired (a byte-order mark that
    overrides the encoding, numbers read as missing)."""
    path = Path(path)
    check_source(path, what)
    columns = list(dict.fromkeys(columns)) if columns is not None else None
    names = table_columns(path, read)
    if columns is not None:
        require_columns(path, names, columns, what)
    read = effective_read(path, read, warn)
    extremes = ExtremeCounts()
    with _arrow_errors(path, read):
        if table_kind(path) == "csv":
            table = _read_csv(path, read, columns, column_types or {})
        else:
            table = _parquet_dataset(path).to_table(columns=columns)
        frame = _to_pandas(table, path, read, column_types or {}, extremes)
    if len(frame) == 0:
        raise InputError(f"{path}: no data rows (only a header). Export the table again with its rows.")
    _warn_extremes(path, extremes, warn)
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
                       column_types: Mapping[str, str | pa.DataType] | None = None,
                       warn: Warn | None = None) -> Iterator[pd.DataFrame]:
    """Stream a table as DataFrames of `batch_size` rows (the last may be shorter) in bounded memory.

    CSV types are inferred from the first block; pass `column_types` (e.g. from the training manifest) when a
    column could look different later in the file. `warn` gets a byte-order mark note at once and the numbers
    read as missing, summed over the whole file, when the stream ends."""
    path = Path(path)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    check_source(path)  # checked now, not at the first next(), so a bad path fails before any output
    names = table_columns(path, read)
    if columns is not None:
        columns = list(dict.fromkeys(columns))
        require_columns(path, names, columns, "requested columns")
    return _stream(path, effective_read(path, read, warn), batch_size, columns, column_types or {}, warn)


def _stream(path: Path, read: ReadOptions, batch_size: int, columns: list[str] | None,
            column_types: Mapping, warn: Warn | None) -> Iterator[pd.DataFrame]:
    any_rows = False
    extremes, start = ExtremeCounts(), 0
    with _arrow_errors(path, read):
        if table_kind(path) == "csv":
            batches = _csv_batches(path, read, columns, column_types)
        else:
            # use_threads=False: with threads the scanner decodes ahead of a slow consumer without bound (measured
            # +400 MB on 3M rows while scoring); single-threaded it still reads ~0.7M rows/s, in scoring's reader thread
            batches = _parquet_dataset(path).to_batches(
                columns=columns, batch_size=min(batch_size, 1 << 17), batch_readahead=1, fragment_readahead=1,
                use_threads=False)
        for table in _rebatch(batches, batch_size):
            any_rows = True
            yield _to_pandas(table, path, read, column_types, extremes, start)
            start += table.num_rows
    if not any_rows:
        raise InputError(f"{path}: no data rows (only a header). Export the table again with its rows.")
    _warn_extremes(path, extremes, warn)


