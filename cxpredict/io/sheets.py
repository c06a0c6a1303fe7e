"""How the people files look and are read back: the format (CSV, xlsx, Parquet), the CSV dialect, each column
rounded to its kind, the currency and business labels, and the run's dates, in one `PeopleStyle`.

- CSV (default): UTF-8 with BOM, the configured delimiter and decimal mark (`outputs.csv`; ';' and ',' for a
  European Excel), probabilities at 3 decimals, money at 2, counts as integers, ISO dates; text cells that a
  spreadsheet would run as a formula get a leading apostrophe (outputs.excel_safe).
- xlsx (`--format xlsx`): readable headers, native number formats, a frozen header, filters and a dictionary sheet
  (io/xlsx.py). Parquet keeps full precision.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cxpredict.columns import COLUMNS, describe, prettify
from cxpredict.io.outputs import (
    CSV_ENCODING,
    CsvDialect,
    StagedOutputs,
    write_table,
)
from cxpredict.io.tables import TableWriter
from cxpredict.io.xlsx import XlsxTableWriter, sheet_labels, write_xlsx

FORMATS = ("csv", "xlsx", "parquet")
DECIMALS = {"prob": 3, "share": 3, "number": 3, "points": 1, "money": 2}
SHEETS = {"scored": "Customers", "work_orders": "Work orders", "work_orders_deferred": "Deferred work orders",
          "segment_summary": "Segments", "columns": "Columns"}


@dataclass(frozen=True)
class PeopleStyle:
    """How the people files look (format, CSV dialect, currency, labels) and the run's dates."""

    fmt: str = "csv"
    delimiter: str = ","
    decimal: str = "."
    currency: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    as_of: dt.date | None = None  # the day the data describes; due dates count from its end
    scored_on: dt.date = field(default_factory=dt.date.today)
    files_per_team: bool = False

    @classmethod
    def from_config(cls, cfg, fmt: str = "csv", scored_on: dt.date | None = None) -> PeopleStyle:
        out = cfg.outputs
        return cls(fmt=fmt, delimiter=out.csv.delimiter, decimal=out.csv.decimal, currency=out.currency,
                   labels=dict(out.labels), as_of=parse_date(cfg.data.as_of),
                   scored_on=scored_on or dt.date.today(), files_per_team=out.files_per_team)

    def as_csv(self) -> PeopleStyle:
        """The same style for the files that are always CSV (columns.csv, the key-driver tables)."""
        return dataclasses.replace(self, fmt="csv")

    @property
    def dialect(self) -> CsvDialect:
        return CsvDialect(sep=self.delimiter, decimal=self.decimal, float_format=None)

    def label(self, name: str) -> str:
        """Business label of a feature, driver, reason code or column: outputs.labels, else prettified."""
        name = str(name)
        if name in self.labels:
            return self.labels[name]
        return COLUMNS[name].header if name in COLUMNS else prettify(name)

    def money(self, value: float, digits: int = 0) -> str:
        text = f"{value:,.{digits}f}"
        return f"{text} {self.currency}" if self.currency else text

    @property
    def day(self) -> dt.date:
        """The reference day of the run: the as-of date, else the scoring day."""
        return self.as_of or self.scored_on

    # ---- writing
    def tidy(self, frame: pd.DataFrame) -> pd.DataFrame:
        """For CSV: each column rounded to its kind's decimals (integers as integers, -0.0 as 0), dates as ISO
        text. Numbers stay numbers, so the writer's decimal mark applies to them."""
        out = frame.copy()
        for name in out.columns:
            kind, s = describe(str(name)).kind, out[name]
            if kind in ("date", "datetime") and pd.api.types.is_datetime64_any_dtype(s):
                out[name] = s.dt.strftime("%Y-%m-%d" if kind == "date" else "%Y-%m-%d %H:%M")
            elif pd.api.types.is_float_dtype(s):
                if kind in ("int", "score", "hours"):
                    out[name] = s.round().astype("Int64")
                else:
                    out[name] = s.round(DECIMALS.get(kind, 3)) + 0.0
        return out

    def path(self, folder: str | Path, name: str) -> Path:
        return Path(folder) / f"{name}.{self.fmt}"

    def write(self, frame: pd.DataFrame, path: str | Path, sheet: str = "Sheet",
              staged: StagedOutputs | None = None) -> Path:
        """One whole people table in this style, atomically (to `staged`'s temporary path when given)."""
        target = staged.path(path) if staged is not None else Path(path)
        if self.fmt == "xlsx":
            write_xlsx(frame, target, sheet=sheet, currency=self.currency, header=sheet_labels(self.labels))
        elif self.fmt == "csv":
            write_table(self.tidy(frame), target, dialect=self.dialect)
        else:
            write_table(frame, target)
        return Path(path)

    def writer(self, path: str | Path, staged: StagedOutputs | None = None) -> TableWriter | XlsxTableWriter:
        """A streaming writer for the scored file in this style."""
        if self.fmt == "xlsx":
            return XlsxTableWriter(path, staged, sheet=SHEETS["scored"], currency=self.currency,
                                   header=sheet_labels(self.labels))
        return _TidyWriter(path, staged, self) if self.fmt == "csv" else TableWriter(path, staged)


class _TidyWriter(TableWriter):
    """TableWriter for CSV that rounds each batch by column kind first (PeopleStyle.tidy)."""

    def __init__(self, path, staged, style: PeopleStyle):
        super().__init__(path, staged, dialect=style.dialect)
        self.style = style

    def write(self, frame: pd.DataFrame) -> None:
        super().write(self.style.tidy(frame))


def parse_date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    return pd.Timestamp(str(value)).date()



def output_format(out: str | Path, fmt: str | None = None) -> str:
    """csv, xlsx or parquet: `fmt` (--format, outputs.format) when given, else the extension of `out`."""
    from cxpredict.errors import ConfigError

    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ConfigError(f"output '{out}': unknown extension '.{suffix}'; use .csv (Excel, LibreOffice), .xlsx or "
                          ".parquet")
    if fmt is not None and fmt != suffix:
        raise ConfigError(f"output '{out}' is .{suffix} but the format asked for is {fmt} (--format or "
                          f"outputs.format); name the file {Path(out).with_suffix('.' + fmt).name}")
    return suffix


# --------------------------------------------------------------------------------------------- reading back
def sniff_dialect(path: str | Path) -> CsvDialect:
    """The delimiter from the header line; ',' decimals with a ';' or tab delimiter (the European Excel dialect)."""
    with open(path, encoding=CSV_ENCODING) as f:
        header = f.readline()
    sep = max((";", "\t", ","), key=header.count) if header else ","
    return CsvDialect(sep=sep, decimal="," if sep != "," else ".", float_format=None)


def read_table(path: str | Path, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Read a people file (CSV in either dialect, Parquet) back, text cells as text, numbers as numbers."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        return pd.read_parquet(path, columns=[c for c in names if columns is None or c in columns])
    d = sniff_dialect(path)
    frame = pd.read_csv(path, encoding=CSV_ENCODING, sep=d.sep, decimal=d.decimal, keep_default_na=False,
                        na_values=[""], low_memory=False, usecols=(lambda c: c in columns) if columns else None)
    for col in frame.columns:
        if pd.api.types.is_string_dtype(frame[col]):
            if d.decimal != ".":  # a ';' file written with '.' decimals: numbers still parse
                as_number = pd.to_numeric(frame[col], errors="coerce")
                if as_number.notna().sum() == frame[col].notna().sum() and frame[col].notna().any():
                    frame[col] = as_number
                    continue
            frame[col] = frame[col].str.replace(r"^'(?=[=+\-@\t\r])", "", regex=True)  # undo the formula guard
    return frame
