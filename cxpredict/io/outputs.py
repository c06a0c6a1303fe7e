"""Writing outputs that are either complete or absent.

Every file is written to a temporary name in the destination folder and renamed into place only when complete,
so a killed run never leaves a partial file under the final name, and a previous output survives a failed rerun.
CSV files are for Excel users: UTF-8 with a byte-order mark, and text cells that Excel would run as a formula
(`=`, `+`, `-`, `@`, tab, carriage return first) are made inert with a leading apostrophe (OWASP advice).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_ENCODING = "utf-8-sig"
CSV_FLOAT_FORMAT = "%.6f"  # fixed decimals: no scientific notation in Excel, identical bytes on reruns


@dataclass(frozen=True)
class CsvDialect:
    """Separator, decimal mark and float format of a CSV file. The people files pass `float_format=None` after
    rounding each column to its own decimals (io/people.py); `sep=';', decimal=','` suits a European Excel."""

    sep: str = ","
    decimal: str = "."
    float_format: str | None = CSV_FLOAT_FORMAT

    def options(self) -> dict[str, Any]:
        return {"sep": self.sep, "decimal": self.decimal, "float_format": self.float_format}


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(final: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        with _hold_signals():  # a SIGTERM between creating and recording the file would leak it
            fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{suffix}", dir=final.parent)
            tmp = Path(tmp_name)
            os.close(fd)
            os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs are for others to read
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def neutralise_formula(value: Any) -> Any:
    """Prefix a text cell that a spreadsheet would evaluate with an apostrophe; leave everything else alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of `frame` whose text columns cannot inject formulas. Numeric columns are untouched."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            text = s.astype("str")
            risky = text.str.startswith(FORMULA_PREFIXES, na=False)
            if risky.any():
                out[col] = text.where(~risky, "'" + text)
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, index: bool = False, dialect: CsvDialect | None = None) -> Path:
    """Atomically write an Excel-friendly CSV (UTF-8 BOM, formula-safe, ISO dates, '.' decimal by default)."""
    with atomic_path(path) as tmp:
        excel_safe(frame).to_csv(tmp, index=index, encoding=CSV_ENCODING, lineterminator="\n",
                                 **(dialect or CsvDialect()).options())
    return Path(path)


def write_parquet(frame: pd.DataFrame, path: str | Path, index: bool = False) -> Path:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=index), tmp)
    return Path(path)


def write_table(frame: pd.DataFrame, path: str | Path, index: bool = False, dialect: CsvDialect | None = None) -> Path:
    """Write CSV or Parquet, chosen by the file extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return write_parquet(frame, path, index=index)
    if suffix in (".csv", ".txt"):
        return write_csv(frame, path, index=index, dialect=dialect)
    from cxpredict.errors import ConfigError

    raise ConfigError(f"output '{path}': unknown extension '{suffix}'; use .csv (Excel) or .parquet")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, (np.ndarray,)):
        return obj.tolist()
    if isinstance(obj, (Path,)):
        return str(obj)
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=_json_default, allow_nan=False) + "\n"


def write_json(data: Any, path: str | Path) -> Path:
    """Atomically write JSON (NaN becomes null, numpy types converted)."""
    text = to_json_text(_nan_to_none(data))
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_text(text: str, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _nan_to_none(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(k): _nan_to_none(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_nan_to_none(v) for v in data]
    if isinstance(data, float) and (np.isnan(data) or np.isinf(data)):
        return None
    if isinstance(data, np.floating) and not np.isfinite(data):
        return None
    return data


class TableWriter:
    """Append scored batches to a CSV or Parquet file that appears under its final name only when complete.

    Use as a context manager: on an exception (or a kill) the temporary file is removed and any previous
    output under the final name is left untouched. With `staged`, the file is one of a set that appears together:
    the writer only fills its temporary path and `staged.commit()` publishes it with the others.
    """

    def __init__(self, path: str | Path, staged: StagedOutputs | None = None, dialect: CsvDialect | None = None):
        self.path = Path(path)
        self.staged = staged
        self.dialect = dialect or CsvDialect()
        self.format = self.path.suffix.lower().lstrip(".")
        if self.format not in ("csv", "parquet"):
            from cxpredict.errors import ConfigError

            raise ConfigError(f"output '{path}': unknown extension; use .csv (Excel) or .parquet")
        self.rows = 0
        self._schema: pa.Schema | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._csv = None

    def __enter__(self) -> TableWriter:
        staged = self.staged
        self._ctx = atomic_path(self.path) if staged is None else contextlib.nullcontext(staged.path(self.path))
        self.tmp = self._ctx.__enter__()
        if self.format == "csv":
            self._csv = open(self.tmp, "w", encoding=CSV_ENCODING, newline="")
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self.format == "csv":
            excel_safe(frame).to_csv(self._csv, index=False, header=self.rows == 0, lineterminator="\n",
                                     **self.dialect.options())
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self.tmp, self._schema)
            else:
                table = table.cast(self._schema)
            self._parquet.write_table(table)
        self.rows += len(frame)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._csv is not None:
            self._csv.close()
        if self._parquet is not None:
            self._parquet.close()
        elif self.format == "parquet" and exc_type is None:
            pq.write_table(pa.table({}), self.tmp)
        return self._ctx.__exit__(exc_type, exc, tb)


# --------------------------------------------------------------------------------------------- output sets
STAGE_MARK = ".cxpid"  # temporary names: .<final name>.cxpid<pid>.<random>.tmp<final suffix>


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _sweep_stale(final: Path) -> None:
    """Remove temporary files and folders of `final` left by a writer that no longer runs (killed by SIGKILL),
    including the temporary files of writers that filled a staged path through `atomic_path` ('..name')."""
    marker = f"{final.name}{STAGE_MARK}"
    for leftover in final.parent.glob(f".*{glob.escape(marker)}*.tmp*"):
        if not leftover.name.lstrip(".").startswith(marker):
            continue
        pid = leftover.name.lstrip(".")[len(marker):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


class _SignalGuard:
    """While `held`, SIGTERM/SIGINT are remembered instead of interrupting; `terminate_gracefully` raises them."""

    held = 0
    pending: int | None = None


@contextlib.contextmanager
def _hold_signals() -> Iterator[None]:
    _SignalGuard.held += 1
    try:
        yield
    finally:
        _SignalGuard.held -= 1
    if _SignalGuard.held == 0 and _SignalGuard.pending is not None:
        from cxpredict.errors import Interrupted

        signum, _SignalGuard.pending = _SignalGuard.pending, None
        raise Interrupted(signum)


@contextlib.contextmanager
def terminate_gracefully() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into an `Interrupted` error (exit 143 / 130) in the main thread, so every `with`
    block unwinds: staged files are removed and previous outputs stay as they were. A no-op off the main thread
    (signal handlers can only be set there) and outside the block (embedding programs keep their handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001 - the signal module's signature
        if _SignalGuard.held:
            _SignalGuard.pending = signum
            return
        from cxpredict.errors import Interrupted

        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class StagedOutputs:
    """Files of one run that appear together and complete, or not at all.

    `path(final)` gives a hidden temporary file beside `final` (same folder, so the rename is atomic; same
    extension, so `write_table` / `write_json` can fill it);
    `commit(last=...)` renames every staged file onto its final name, the `last` ones (the manifest) at the end,
    with SIGTERM/SIGINT held back so a kill cannot stop the renames half-way. Leaving the block without a commit
    (an error, SIGTERM) removes the temporary files and leaves the previous outputs untouched. A SIGKILL leaves
    only hidden temporary files; the next run for the same outputs removes those whose writer is gone.
    """

    def __init__(self) -> None:
        self.files: dict[Path, Path] = {}  # final -> temporary
        self.scratch: list[Path] = []
        self.committed = False

    def _temp_name(self, final: Path) -> dict[str, Any]:
        final.parent.mkdir(parents=True, exist_ok=True)
        _sweep_stale(final)
        return {"prefix": f".{final.name}{STAGE_MARK}{os.getpid()}.", "dir": final.parent}

    def path(self, final: str | Path) -> Path:
        final = Path(final).absolute()
        if final not in self.files:
            with _hold_signals():  # created and recorded at once, so discard() always finds it
                fd, name = tempfile.mkstemp(suffix=f".tmp{final.suffix}", **self._temp_name(final))
                self.files[final] = Path(name)
                os.close(fd)
                os.chmod(name, 0o666 & ~current_umask())
        return self.files[final]

    def commit(self, last: tuple[str | Path, ...] = ()) -> list[Path]:
        """Publish every staged file; returns the final paths in the order they were renamed."""
        tail = [Path(p).absolute() for p in last]
        order = [f for f in self.files if f not in tail] + [f for f in tail if f in self.files]
        with _hold_signals():
            for final in order:
                os.replace(self.files[final], final)
            self.committed = True
        return order

    def scratch_dir(self, final: str | Path) -> Path:
        """A hidden working folder beside `final` (e.g. a spool of scored batches), removed when the block ends."""
        with _hold_signals():
            folder = Path(tempfile.mkdtemp(suffix=".tmpdir", **self._temp_name(Path(final).absolute())))
            self.scratch.append(folder)
        return folder

    def discard(self) -> None:
        for tmp in self.files.values():
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self.committed:
            self.discard()
        for folder in self.scratch:
            shutil.rmtree(folder, ignore_errors=True)
        return False
