"""CSV text exactly as pandas' `to_csv` writes it, made in C rather than one Python call per value.

pandas formats a float column with a `float_format` such as '%.6f', or with a ',' decimal mark, through five
Python calls per value, without either through numpy's slow shortest-digits `astype(str)`, and then hands every
cell to the csv module row by row. Here '%.Nf' runs as one `%` call over a whole chunk of the same Python floats
('%.6f\\n%.6f\\n...' % values), once per distinct value (Arrow text taken per row), shortest digits come from
Arrow's cast (or `repr`) where the layouts agree, and the rows of text, integer, flag and formatted float columns
are joined by Arrow with the csv module's own quoting rule. Every byte is what pandas would write
(tests/io/test_csvcells.py compares them on random frames); other formats and column kinds are left to pandas.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FIXED_FORMAT = re.compile(r"%\.\d{1,2}f")  # '%.6f': one '.' at most per cell, so the decimal mark swaps cleanly
CHUNK = 1 << 17  # values per formatting call: bounds the temporary format string and text


def _fixed(values: np.ndarray, float_format: str) -> str:
    """'%.Nf' text of `values` (Python floats, exactly as pandas passes them to `%`), one per line."""
    parts = []
    for start in range(0, len(values), CHUNK):
        chunk = values[start:start + CHUNK].tolist()
        parts.append((float_format + "\n") * len(chunk) % tuple(chunk))
    return "".join(parts)


def _shortest(values: np.ndarray, missing: np.ndarray, na_rep: str) -> np.ndarray:
    """str of each float64 as numpy (and pandas) writes it: the shortest round-trip digits, which Python's repr
    and Arrow's cast (double-conversion) both give. Arrow is used where its layout is positional as Python's
    (0 and 1e-4 <= |x| < 1e15 without an exponent, adding the '.0' it leaves off whole numbers); repr, one call a
    chunk, elsewhere."""
    size = np.abs(values)
    arrow = np.flatnonzero(((size >= 1e-4) & (size < 1e15)) | (values == 0))
    cells = np.full(len(values), na_rep, dtype=object)
    rest = ~missing
    if len(arrow):
        text = pc.cast(pa.array(values[arrow]), pa.string())
        plain = ~pc.match_substring(text, "e").to_numpy(zero_copy_only=False)  # Arrow goes 'e' on long digits
        whole = pc.invert(pc.match_substring(text, "."))
        text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text).to_numpy(zero_copy_only=False)
        cells[arrow[plain]] = text[plain]
        rest[arrow[plain]] = False
    if rest.any():
        cells[rest] = _fixed(values[rest], "%r").split("\n")[:-1]
    return cells


def _fixed_cells(values: np.ndarray, float_format: str, decimal: str, na_rep: str) -> pa.Array:
    """'%.Nf' cells of `values` (missing as na_rep), each distinct value formatted once: rounded columns (uplift,
    money) repeat few values, and the Python `%` per value is the slow part. Distinct by bit pattern, so -0.0 and
    0.0 keep their own text."""
    bits = np.ascontiguousarray(values).view(f"i{values.dtype.itemsize}")
    inverse, unique = pd.factorize(bits)  # a hash table: no sort of the whole column
    unique = np.asarray(unique).view(values.dtype)
    lines = _fixed(unique, float_format)
    if decimal != ".":  # each cell has one '.' at most ('inf', '3' with '%.0f')
        lines = lines.replace(".", decimal)
    cells = np.array(lines.split("\n")[:-1], dtype=object)
    cells[np.isnan(unique)] = na_rep
    return pa.array(cells, pa.large_string()).take(pa.array(inverse))


def float_text(values: np.ndarray, float_format: str | None, decimal: str, na_rep: str = ""
               ) -> np.ndarray | pa.Array | None:
    """Cell text of a numpy float column as `to_csv` writes it (an object array, or an Arrow text array), or None
    where the format is not '%.<digits>f' or None (pandas then formats it as before)."""
    if not len(values):
        return None
    if float_format is not None:
        return _fixed_cells(values, float_format, decimal, na_rep) if FIXED_FORMAT.fullmatch(float_format) else None
    missing = np.isnan(values)
    if values.dtype != np.float64:  # str(float32) is shorter than the float64 repr
        text = values.astype(str)
        if decimal != ".":
            text = np.strings.replace(text, ".", decimal, 1)
        cells = text.astype(object)
    else:
        cells = _shortest(values, missing, na_rep)
        if decimal != ".":  # each cell has one '.' at most ('1.5e-07', 'inf')
            cells = np.strings.replace(cells.astype(str), ".", decimal, 1).astype(object)
    cells[missing] = na_rep
    return cells


def with_float_text(frame: pd.DataFrame, float_format: str | None, decimal: str) -> pd.DataFrame:
    """`frame` (a shallow copy) with its numpy float columns as the text `to_csv` would write for them."""
    out = frame.copy(deep=False)
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
            cells = float_text(s.to_numpy(), float_format, decimal)
            if isinstance(cells, pa.Array):
                out.isetitem(i, pd.Series(pd.arrays.ArrowStringArray(cells), index=out.index, copy=False))
            elif cells is not None:
                out.isetitem(i, pd.Series(cells, index=out.index, dtype=object, copy=False))
    return out


# --------------------------------------------------------------------------------------------- whole rows
ROWS = 1 << 16  # rows joined at a time: bounds the Arrow text held at once


def _quoted(sep: str) -> list[str]:
    """The characters that make Python's csv module (as pandas calls it) quote a cell, asked of the module itself
    (whether a '\\r' does may differ between Python versions)."""
    chars = []
    for char in dict.fromkeys([sep, '"', "\n", "\r"]):
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=sep, lineterminator="\n").writerow(["a" + char + "b", "x"])
        if buffer.getvalue().startswith('"'):
            chars.append(char)
    return chars


def _column_text(s: pd.Series) -> pa.Array | None:
    """The cells of one column as `to_csv` writes them (missing as ''), before quoting; None for a column whose
    cells pandas makes in a way not reproduced here (dates, categories of numbers, mixed objects, ...)."""
    kind = s.dtype.kind if isinstance(s.dtype, np.dtype) else ""
    if kind and kind in "iu":
        return pc.cast(pa.array(s.to_numpy()), pa.large_string())
    if isinstance(s.dtype, (pd.Int64Dtype, pd.Int32Dtype)):  # whole numbers of the people files, missing as ''
        return pc.fill_null(pc.cast(pa.array(s), pa.large_string()), "")
    if kind == "b":
        return pa.array(np.where(s.to_numpy(), "True", "False"), pa.large_string())
    if not (kind == "O" or pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype)):
        return None
    values = s.astype(object).to_numpy() if isinstance(s.dtype, pd.CategoricalDtype) else s
    try:  # inferred, not cast: bytes or numbers among the text are written by pandas as str() of them
        text = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, UnicodeError):
        return None
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type) or pa.types.is_null(text.type)):
        return None
    return pc.fill_null(text.cast(pa.large_string()), "")


def csv_rows(frame: pd.DataFrame, sep: str) -> Iterator[str] | None:
    """The data rows of `frame` (its float columns already text, `with_float_text`) as CSV text the way pandas'
    `to_csv` writes them with minimal quoting and '\\n' line ends, a block of rows at a time; None when a column is
    of a kind left to pandas, or the frame has fewer than two columns (the csv module quotes a row that is one
    empty cell)."""
    if frame.shape[1] < 2 or isinstance(frame.columns, pd.MultiIndex):
        return None
    quoted = _quoted(sep)
    pattern = "[" + re.escape("".join(quoted)) + "]"
    columns = []
    for i in range(frame.shape[1]):
        text = _column_text(frame.iloc[:, i])
        if text is None:
            return None
        if isinstance(text, pa.ChunkedArray):  # pandas' Arrow-backed text of several pieces
            text = text.combine_chunks()
        if _contains_any(text, quoted):  # a byte search first: the regex per cell is slow, quoting rare
            risky = pc.match_substring_regex(text, pattern)
            quote, nothing = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
            doubled = pc.replace_substring(text, '"', '""')
            text = pc.if_else(risky, pc.binary_join_element_wise(quote, doubled, quote, nothing), text)
        columns.append(text)
    return _joined(columns, sep)


def _contains_any(text: pa.Array, chars: list[str]) -> bool:
    """Whether any cell of a large_string array holds one of `chars` (UTF-8: a character's bytes never occur
    inside another's)."""
    _, offsets, data = text.buffers()
    if not len(text) or data is None:
        return False
    offsets = np.frombuffer(offsets, np.int64)[text.offset:text.offset + len(text) + 1]
    data = memoryview(data)[offsets[0]:offsets[-1]].tobytes()
    return any(char.encode() in data for char in chars)


def _joined(columns: list[pa.Array], sep: str) -> Iterator[str]:
    for start in range(0, len(columns[0]), ROWS):
        block = [c.slice(start, ROWS) for c in columns]
        line = pc.binary_join_element_wise(*block, pa.scalar(sep, pa.large_string()))
        rows = pc.binary_join_element_wise(line, pa.scalar("", pa.large_string()), pa.scalar("\n", pa.large_string()))
        if len(rows):
            offsets = np.frombuffer(rows.buffers()[1], np.int64)[rows.offset:rows.offset + len(rows) + 1]
            yield rows.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]].decode()


def to_csv(frame: pd.DataFrame, handle: TextIO, options: dict[str, Any], header: bool = True,
           index: bool = False) -> None:
    """`frame.to_csv(handle, **options)` ('\\n' line ends) to a text file, its float cells formatted in C and, when
    every column allows it, its rows joined by Arrow; the bytes are the same either way."""
    cells = with_float_text(frame, options["float_format"], options["decimal"])
    rows = None if index else csv_rows(cells, options["sep"])
    if rows is None:
        cells.to_csv(handle, index=index, header=header, lineterminator="\n", **options)
        return
    if header:
        cells.iloc[:0].to_csv(handle, index=False, lineterminator="\n", **options)
    for text in rows:
        handle.write(text)
