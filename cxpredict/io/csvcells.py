"""The text of float cells in a CSV file, made in C rather than one Python call per value.

pandas' `to_csv` formats a float column with a `float_format` such as '%.6f', or with a ',' decimal mark, through
five Python calls per value, and without either through numpy's slow shortest-digits `astype(str)`. Here the same
`%` formatting of the same Python floats runs as one call over a whole chunk ('%.6f\\n%.6f\\n...' % values), and a
float64 without a format as its `repr` the same way (the same shortest round-trip digits), so every cell is byte
for byte what pandas would write (tests/io/test_csvcells.py compares them on random frames); formats other than
'%.<digits>f' and None are left to pandas.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

FIXED_FORMAT = re.compile(r"%\.\d{1,2}f")  # '%.6f': one '.' at most per cell, so the decimal mark swaps cleanly
CHUNK = 1 << 17  # values per formatting call: bounds the temporary format string and text


def _fixed(values: np.ndarray, float_format: str) -> str:
    """'%.Nf' text of `values` (Python floats, exactly as pandas passes them to `%`), one per line."""
    parts = []
    for start in range(0, len(values), CHUNK):
        chunk = values[start:start + CHUNK].tolist()
        parts.append((float_format + "\n") * len(chunk) % tuple(chunk))
    return "".join(parts)


def float_cells(values: np.ndarray, float_format: str | None, decimal: str, na_rep: str = "") -> np.ndarray | None:
    """Cell text (an object array) of a numpy float column as `to_csv` writes it, or None where the format is not
    '%.<digits>f' or None (pandas then formats it as before)."""
    if not len(values):
        return None
    missing = np.isnan(values)
    if float_format is None and values.dtype != np.float64:  # str(float32) is shorter than the float64 repr
        text = values.astype(str)
        if decimal != ".":
            text = np.strings.replace(text, ".", decimal, 1)
        cells = text.astype(object)
    elif float_format is None or FIXED_FORMAT.fullmatch(float_format):
        # pandas writes str(np.float64) there: the shortest round-trip digits, as Python's repr of the float
        lines = _fixed(values[~missing], float_format or "%r")
        if decimal != ".":  # each cell has one '.' at most ('1.5e-07', 'inf', '3')
            lines = lines.replace(".", decimal)
        cells = np.full(len(values), na_rep, dtype=object)
        cells[~missing] = lines.split("\n")[:-1]
    else:
        return None
    cells[missing] = na_rep
    return cells


def with_float_text(frame: pd.DataFrame, float_format: str | None, decimal: str) -> pd.DataFrame:
    """`frame` (a shallow copy) with its numpy float columns as the text `to_csv` would write for them."""
    out = frame.copy(deep=False)
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
            cells = float_cells(s.to_numpy(), float_format, decimal)
            if cells is not None:
                out.isetitem(i, pd.Series(cells, index=out.index, dtype=object, copy=False))
    return out
