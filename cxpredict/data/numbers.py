"""One policy for non-finite and extreme numbers, for the whole package: `inf`, `-inf` and numbers beyond +-1e15
(`MAX_ABS`) are missing values, with one warning naming the file or table, the column and the rows.

Why missing, and why 1e15: no customer-level quantity (money, counts, durations) comes near 1e15, while
products and sums of such numbers (value x months, value at risk summed over millions of customers, integers
in a reason text) overflow or lose every digit downstream. As missing values the models treat them like any
other gap, and every later use (features, value at risk, work-order text, plots, the report, CSV files) only
ever sees finite numbers. The table reader applies the policy to everything read from files (`arrow_extremes`);
the feature transform and the value column apply `extreme_mask` to frames that never came from a file (API,
pyfunc, Spark).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pacompute

MAX_ABS = 1e15
Warn = Callable[[str], None]


def extreme_mask(values: np.ndarray) -> np.ndarray:
    """Positions that are +-inf or beyond +-MAX_ABS (NaN is already missing and not counted)."""
    with np.errstate(invalid="ignore"):
        return np.isinf(values) | (np.abs(values) > MAX_ABS)


class ExtremeCounts:
    """Rows per column whose numbers were made missing (non-finite or beyond MAX_ABS), over one or more batches."""

    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {}  # column -> 0-based row positions (first few kept for the message)
        self.counts: dict[str, int] = {}

    def add(self, column: str, positions: np.ndarray, start: int = 0) -> None:
        self.counts[column] = self.counts.get(column, 0) + len(positions)
        kept = self.rows.setdefault(column, [])
        kept.extend(int(p) + start for p in positions[: max(0, 5 - len(kept))])

    def message(self, where: str, rows: Callable[[list[int], int], str]) -> str | None:
        if not self.counts:
            return None
        parts = "; ".join(f"column {col!r}: {n} row(s), {rows(self.rows[col], n)}" for col, n in self.counts.items())
        return (f"{where}: infinite or too large numbers (beyond +-{MAX_ABS:.0e}) were read as missing values: "
                f"{parts}. Fix them at the source if they are errors (e.g. a division by zero in an export).")


def arrow_extremes(table: pa.Table, counts: ExtremeCounts, start: int) -> pa.Table:
    """Null out non-finite and extreme numbers of every numeric column (the one policy, see module docstring)."""
    for i, (name, col) in enumerate(zip(table.column_names, table.columns)):
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            continue
        values = col.to_numpy(zero_copy_only=False)
        values = values.astype("float64") if values.dtype.kind in "iu" else values
        bad = extreme_mask(values)
        if bad.any():
            counts.add(name, np.flatnonzero(bad), start)
            col = col.cast(pa.float64()) if not pa.types.is_floating(col.type) else col
            table = table.set_column(i, name, pacompute.if_else(pa.array(bad), pa.scalar(None, col.type), col))
    return table
