"""xlsx workbooks for spreadsheet users: readable headers, a number format per column kind (percent, currency,
dates), a frozen header row, filters on every column, and a "Columns" sheet holding the column dictionary.

Why XlsxWriter rather than openpyxl: we only ever write workbooks, and XlsxWriter's `constant_memory` mode streams
rows to disk, so a large scored file needs no more memory than one batch (openpyxl's write-only mode does this too
but is several times slower per cell); it writes native number formats, freeze panes and autofilters, treats text
starting with '=' as text when asked (no formula injection), is pure Python without dependencies, and is
actively maintained. A sheet holds at most 1,048,576 rows including its header; longer tables continue on
"Customers (2)", "Customers (3)", ... each with the same header, filters and frozen row.

Like every output, the workbook is written under a temporary name and renamed into place when complete (or filled
into a `StagedOutputs` path and published with the other files of a scoring run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxpredict.columns import Column, describe
from cxpredict.io.outputs import StagedOutputs, atomic_path

MAX_ROWS = 1_048_576  # Excel's and LibreOffice's row limit per sheet
DICTIONARY_SHEET = "Columns"
FIT_WIDTH_COLUMNS = 20  # sheets with at most this many columns print one page wide
_NUMBER_FORMATS = {"bool": '"yes";"yes";"no"', "prob": "0.0%", "share": "0.0%", "int": "0", "score": "0", "hours": "0", "number": "0.00",
                   "points": "0.0", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm"}
_WIDTHS = {"id": 12, "bool": 10, "date": 12, "datetime": 17, "prob": 11, "share": 11, "money": 14}


def money_format(currency: str | None) -> str:
    """'#,##0.00 "EUR"': the currency after the amount, readable in every locale."""
    return f'#,##0.00 "{currency}"' if currency else "#,##0.00"


class XlsxTableWriter:
    """Append DataFrame batches to one sheet (continued on numbered sheets past the row limit); same use as
    tables.TableWriter: a context manager whose file appears only when the block succeeds."""

    def __init__(self, path: str | Path, staged: StagedOutputs | None = None, sheet: str = "Customers",
                 currency: str | None = None, header: Callable[[Column], str] | None = None,
                 max_rows: int = MAX_ROWS):
        self.path, self.staged, self.sheet_name = Path(path), staged, sheet
        self.currency, self.max_rows = currency, max_rows
        self.header = header or (lambda column: column.header)
        self.rows = 0
        self.columns: list[Column] = []
        self._sheets: list[Any] = []
        self._row = 0  # next row on the current sheet

    def __enter__(self) -> XlsxTableWriter:
        import xlsxwriter

        self._ctx = atomic_path(self.path) if self.staged is None else contextlib.nullcontext(
            self.staged.path(self.path))
        self.tmp = self._ctx.__enter__()
        self.book = xlsxwriter.Workbook(str(self.tmp), {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
            "strings_to_numbers": False, "default_date_format": "yyyy-mm-dd"})
        self._header_format = self.book.add_format({"bold": True, "text_wrap": True, "valign": "top",
                                                    "bg_color": "#E2E8F0", "bottom": 1})
        return self

    def _format(self, kind: str):
        spec = money_format(self.currency) if kind == "money" else _NUMBER_FORMATS.get(kind)
        return self.book.add_format({"num_format": spec}) if spec else None

    def _new_sheet(self) -> None:
        name = self.sheet_name if not self._sheets else f"{self.sheet_name} ({len(self._sheets) + 1})"
        sheet = self.book.add_worksheet(name[:31])
        for j, width in enumerate(self._widths):
            sheet.set_column(j, j, width)
        sheet.set_row(0, 32)
        sheet.write_row(0, 0, [self.header(c) for c in self.columns], self._header_format)
        sheet.freeze_panes(1, 0)
        sheet.set_landscape()  # printed or saved as PDF: the header on every page, narrow tables one page wide
        sheet.repeat_rows(0)
        if len(self.columns) <= FIT_WIDTH_COLUMNS:
            sheet.fit_to_pages(1, 0)
        self._sheets.append(sheet)
        self._row = 1

    def write(self, frame: pd.DataFrame) -> None:
        if not self.columns:
            self.columns = [describe(str(c)) for c in frame.columns]
            self._formats = [self._format(c.kind) for c in self.columns]
            self._widths = [_width(column, frame[name], self.header(column))
                           for column, name in zip(self.columns, frame.columns)]
            self._new_sheet()
        cells = [_cell_writer(frame[c], col.kind) for c, col in zip(frame.columns, self.columns)]
        values = [_values(frame[c]) for c in frame.columns]
        for i in range(len(frame)):
            if self._row >= self.max_rows:
                self._finish_sheet()
                self._new_sheet()
            sheet, r = self._sheets[-1], self._row
            for j, (put, column) in enumerate(zip(cells, values)):
                value = column[i]
                if value is not None:
                    put(sheet, r, j, value, self._formats[j])
            self._row += 1
        self.rows += len(frame)

    def _finish_sheet(self) -> None:
        if self._sheets and self.columns:
            self._sheets[-1].autofilter(0, 0, max(self._row - 1, 0), len(self.columns) - 1)

    def add_dictionary(self, columns: list[Column], note: str = "") -> None:
        """A sheet listing every column: header, name, kind and meaning (the column dictionary)."""
        sheet = self.book.add_worksheet(DICTIONARY_SHEET)
        sheet.set_column(0, 0, 28)
        sheet.set_column(1, 2, 20)
        sheet.set_column(3, 3, 100)
        sheet.write_row(0, 0, ["Header", "Column", "Kind", "Meaning"], self._header_format)
        sheet.freeze_panes(1, 0)
        for i, column in enumerate(columns, start=1):
            sheet.write_row(i, 0, [self.header(column), column.name, column.kind, column.meaning])
        if note:
            sheet.write_string(len(columns) + 2, 0, note)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            if not self._sheets:  # an empty table still gets its (empty) sheet
                self._new_sheet()
            self._finish_sheet()
            if len(self._sheets) > 1:
                note = f"{self.rows:,} rows: more than one sheet holds ({MAX_ROWS - 1:,} rows per sheet)."
            else:
                note = ""
            self.add_dictionary(self.columns, note)
            self.book.close()
        return self._ctx.__exit__(exc_type, exc, tb)


def _width(column: Column, values: pd.Series, header: str, widest: int = 60) -> int:
    """Column width in characters: the header, or the longest of the first text values (at most `widest`)."""
    width = max(_WIDTHS.get(column.kind, 12), min(len(header) + 2, 28))
    if column.kind in ("text", "id") and len(values):
        width = max(width, min(int(values.head(200).astype("str").str.len().max() or 0) + 2, widest))
    return width


def _values(series: pd.Series) -> list[Any]:
    """Python values with every kind of missing (NaN, NA, NaT, None) as None."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    missing = series.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(series):
        raw = list(series.dt.tz_localize(None).dt.to_pydatetime()) if series.dt.tz is not None \
            else list(series.dt.to_pydatetime())
    else:
        raw = series.to_numpy(dtype=object).tolist()
    return [None if m else v for v, m in zip(raw, missing)]


def _cell_writer(series: pd.Series, kind: str) -> Callable[..., Any]:
    """The XlsxWriter call for a column: numbers stay numbers, dates dates, text text."""
    if pd.api.types.is_bool_dtype(series) or kind == "bool":  # 1/0 shown as yes/no: filterable in any locale
        return lambda s, r, c, v, f: s.write_number(r, c, int(bool(v) and str(v).lower() not in ("false", "0")), f)
    if pd.api.types.is_datetime64_any_dtype(series) or kind in ("date", "datetime"):
        return _write_date
    if pd.api.types.is_numeric_dtype(series):
        return _write_number
    return lambda s, r, c, v, f: s.write_string(r, c, str(v), f)


def _write_number(sheet, r: int, c: int, value: Any, fmt) -> None:
    number = float(value)
    if math.isfinite(number):
        sheet.write_number(r, c, number, fmt)


def _write_date(sheet, r: int, c: int, value: Any, fmt) -> None:
    if isinstance(value, str):
        value = pd.Timestamp(value).to_pydatetime()
    if isinstance(value, (dt.date, np.datetime64, pd.Timestamp)):
        sheet.write_datetime(r, c, pd.Timestamp(value).to_pydatetime(), fmt)


def write_xlsx(frame: pd.DataFrame, path: str | Path, staged: StagedOutputs | None = None, sheet: str = "Sheet",
               currency: str | None = None, header: Callable[[Column], str] | None = None) -> Path:
    """Write a whole table as a workbook (one sheet plus the dictionary)."""
    with XlsxTableWriter(path, staged, sheet=sheet, currency=currency, header=header) as writer:
        writer.write(frame)
    return Path(path)


def sheet_labels(labels: Mapping[str, str]) -> Callable[[Column], str]:
    """Headers: the config's `outputs.labels` for a column name when given, else the dictionary's header."""
    return lambda column: labels.get(column.name, column.header)
