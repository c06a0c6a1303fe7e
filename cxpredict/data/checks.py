"""What reading an input table records and what makes it fail: the `DataReport` (tables read, warnings, where
each column came from), `Problems` (raised at the first for `load_customers`, collected for `validate_inputs`),
and the checks of a table's values as it is read: IDs, one row per key, text columns that are mostly numbers,
timestamps. Every problem names the file, the column, the first offending rows and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cxpredict.codes import increasing
from cxpredict.config import ReadOptions
from cxpredict.data.ids import KEY, clean_ids
from cxpredict.data.numbers import Warn
from cxpredict.data.tables import fingerprint_file, read_table, require_columns, rows_text
from cxpredict.errors import CxError, InputError


MIXED_NUMERIC_SHARE = 0.5  # a text column where more than this share of values are numbers "mixes types"
NUMERIC_AGGS = ("sum", "mean", "max", "min")


@dataclass
class DataReport:
    n_customers: int = 0
    n_respondents: int = 0  # customers in `frame` with a valid score (orphans and blank answers excluded)
    orphan_respondents: int = 0  # survey answers whose customer is absent from behaviour data (reported, not fatal)
    orphan_examples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tables: dict[str, dict] = field(default_factory=dict)  # name -> {"path", "kind", "rows", "columns", "fingerprint"}
    origin: dict[str, str] = field(default_factory=dict)  # behaviour column -> the table it came from

    def warn(self, message: str) -> None:
        """Collected, not logged here: the caller (pipeline, CLI) shows them once, at its own verbosity."""
        self.warnings.append(message)

    def record(self, name: str, path: Path, frame: pd.DataFrame, key: str, **extra) -> None:
        """What was read from one table: path, rows, columns (the key by its name in the file), fingerprint."""
        while name in self.tables:
            name = f"{name}_"
        columns = [key if c == KEY else str(c) for c in frame.columns]
        fingerprint = getattr(frame, "fingerprint", None) or fingerprint_file(path)  # a database table: its own
        self.tables[name] = {"path": str(path), "rows": int(len(frame)), "columns": columns,
                             "fingerprint": fingerprint, **extra}


class Problems:
    """Error sink: raises at once for load_customers, collects everything for validate_inputs."""

    def __init__(self, fail_fast: bool):
        self.fail_fast = fail_fast
        self.errors: list[CxError] = []

    def add(self, error: CxError) -> None:
        if self.fail_fast:
            raise error
        self.errors.append(error)


def examples(path: Path, values: pd.Series) -> str:
    """'rows 4, 9 (...), values '11', 'x'' for a Series of bad values indexed by 0-based row position."""
    shown = ", ".join(repr(str(v)) for v in values.iloc[:5])
    return f"{rows_text(path, values.index)}, values {shown}"


def read_keyed(path: Path, read: ReadOptions, key: str, wanted: list[str] | None, what: str,
               warn: Warn) -> pd.DataFrame:
    """Read key (+ wanted columns), key as trimmed text renamed to customer_id; empty IDs are an error."""
    columns = None if wanted is None else [key, *wanted]
    frame = read_table(path, read, columns, {key: "string"}, what=what, warn=warn)
    if columns is None:
        require_columns(path, list(frame.columns), [key], what)
    frame = frame.rename(columns={key: KEY})
    frame[KEY] = clean_ids(frame[KEY], path, key, what, warn)
    return frame


def dedupe(frame: pd.DataFrame, path: Path, key: str, what: str, problems: Problems, fix: str,
            id_col: str = KEY) -> pd.DataFrame:
    """Duplicate keys are a problem; the first row per key is kept so validation can go on."""
    if increasing(frame[id_col]) or pd.Index(frame[id_col]).is_unique:  # the usual cases: sorted IDs cost one
        return frame  # comparison per row, others a hash (a third of `duplicated`'s cost on text IDs)
    ids = frame[id_col].to_numpy()
    dup = frame[id_col].duplicated(keep=False).to_numpy()
    if not dup.any():
        return frame
    repeated = list(dict.fromkeys(ids[dup]))
    shown = "; ".join(f"{i!r} at {rows_text(path, frame.index[ids == i])}" for i in repeated[:5])
    problems.add(InputError(
        f"{path}: column {key!r} must identify one row per key ({what}), but {len(repeated)} IDs repeat: "
        f"{shown}{' ...' if len(repeated) > 5 else ''}. {fix}"))
    return frame.drop_duplicates(id_col, keep="first")


def mixed_types(frame: pd.DataFrame, path: Path, read: ReadOptions, columns: Iterable[str],
                 problems: Problems) -> set[str]:
    """Flag text columns that are mostly numbers: a stray word turned a numeric column into text."""
    flagged = set()
    for col in columns:
        if not pd.api.types.is_string_dtype(frame[col]):
            continue
        values = frame[col].dropna()
        sample = values.iloc[:: max(1, len(values) // 2000)]
        if sample.empty or pd.to_numeric(sample, errors="coerce").notna().mean() <= MIXED_NUMERIC_SHARE / 2:
            continue
        parsed = pd.to_numeric(values, errors="coerce")
        share = parsed.notna().mean()
        if MIXED_NUMERIC_SHARE < share < 1:
            flagged.add(col)
            bad = values[parsed.isna()]
            problems.add(InputError(
                f"{path}: column {col!r} mixes numbers and text: {share:.0%} of its values are numbers but "
                f"{len(bad)} are not, at {examples(path, bad)}. Fix those values, add them to data.read.na_values "
                f"(now {read.na_values}) if they mean 'missing', or leave the column out of the table's 'columns'."))
    return flagged


def timestamps(values: pd.Series, path: Path, column: str, problems: Problems,
                allow_empty: bool = False) -> pd.Series:
    """Parse a timestamp column to naive UTC datetimes; unparseable values (and empty ones, unless an empty cell
    means 'no event', as for churned_at of customers who stayed) are an error."""
    raw = values
    if not pd.api.types.is_datetime64_any_dtype(values):
        values = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")  # as DuckDB: any ISO form
    if getattr(values.dtype, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = values.isna() & (raw.notna() if allow_empty else True)
    if bad.any():
        problems.add(InputError(
            f"{path}: column {column!r} has empty or unreadable timestamps at {examples(path, raw[bad])}. "
            "Use ISO dates like 2024-06-30 or 2024-06-30T14:05:00, or remove those rows."))
    return values
