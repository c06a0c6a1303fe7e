"""Writing outputs that are either complete or absent.

Every file is written to a temporary name in the destination folder and renamed into place only when complete,
so a killed run never leaves a partial file under the final name, and a previous output survives a failed rerun.
Temporary names carry the writer's process id (`.<final name>.cxpid<pid>.<random>.tmp...`), so the next run for
the same output removes what a SIGKILLed writer left behind (`_sweep_stale`, the one sweep for files, staged
sets and bundle folders). Writing failures the operating system reports (disk full, read-only file system, no
permission, a file where a folder should be, a file-size limit) become an `OutputError` (exit code 5) naming the
path, the cause and the fix. `output_lock` keeps two runs from writing into one folder at the same time.
CSV files are for Excel users: UTF-8 with a byte-order mark, and text cells that Excel would run as a formula
(`=`, `+`, `-`, `@`, tab, carriage return first) are made inert with a leading apostrophe (OWASP advice).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cxpredict.errors import BusyError, OutputError
from cxpredict.io.csvcells import to_csv

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


# --------------------------------------------------------------------------------------------- write failures
def _kind(path: Path) -> str:
    """'dir', 'file' or 'absent' (also when the path cannot even be asked about, e.g. a name too long)."""
    try:
        return "dir" if path.is_dir() else "file" if path.exists() else "absent"
    except OSError:
        return "absent"


def _blocker(path: Path) -> Path | None:
    """The first existing component of `path` that is not a folder (why mkdir fails with EEXIST / ENOTDIR)."""
    for part in [*reversed(path.parents), path]:
        kind = _kind(part)
        if kind != "dir":
            return part if kind == "file" else None
    return None


def _fix(code: int, path: Path) -> str:
    folder = path if _kind(path) == "dir" else path.parent
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"free space on the disk holding {folder} (see `df -h {folder}`), or write to another disk with --out"
    if code == errno.EROFS:
        return f"{folder} is on a read-only file system: point --out at a writable folder"
    if code in (errno.EACCES, errno.EPERM):
        return (f"this user may not write in {folder}: grant write permission (or lift an immutable attribute, see "
                "`lsattr`), or point --out at a folder you can write")
    if code in (errno.EEXIST, errno.ENOTDIR):
        blocker = _blocker(path)
        return (f"{blocker or path} is a file where a folder is needed: move it away, or choose another --out")
    if code == errno.EISDIR:
        return f"{path} is a folder where a file is needed: move it away, or choose another --out"
    if code == errno.EFBIG:
        return ("the file outgrew the file-size limit of this process or file system (`ulimit -f`): raise the "
                "limit, or write .parquet (several times smaller than CSV)")
    return "shorten the output path (a name or the whole path is too long for the file system)"


WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EEXIST,
                          errno.ENOTDIR, errno.EISDIR, errno.EFBIG, errno.ENAMETOOLONG})
# errors only a write can cause: mapped to exit code 5 wherever they are raised (cli.app.main)
WRITE_ONLY_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def output_error(path: str | Path, error: OSError) -> OutputError:
    """OutputError naming the path, the operating system's cause and the fix (exit code 5)."""
    path = Path(error.filename or path)
    name = errno.errorcode.get(error.errno, str(error.errno))
    return OutputError(f"cannot write the outputs: {path}: {os.strerror(error.errno)} ({name}). "
                       f"Fix: {_fix(error.errno, path)}. Nothing partial was published; previous outputs are "
                       "untouched.")


@contextlib.contextmanager
def output_errors(path: str | Path, errnos: frozenset[int] = WRITE_ERRNOS) -> Iterator[None]:
    """Turn the operating system's writing failures inside the block into an OutputError about `path`.
    Around a whole command (cli), `errnos=WRITE_ONLY_ERRNOS`: there a permission error may be about an input."""
    try:
        yield
    except OSError as e:
        if e.errno not in errnos:
            raise
        raise output_error(path, e) from e


def short_write(path: str | Path, detail: str) -> OutputError:
    """OutputError for a library that reports a short write in its own words (LightGBM: "Cannot write ..."):
    the disk is full or a file-size limit was hit; which one, the free space tells."""
    path = Path(path)
    free = shutil.disk_usage(path if _kind(path) == "dir" else path.parent).free
    code = errno.ENOSPC if free < (1 << 20) else errno.EFBIG
    return OutputError(f"cannot write the outputs: {path}: {detail} ({free:,} bytes free on its disk). "
                       f"Fix: {_fix(code, path)}. Nothing partial was published; previous outputs are untouched.")


def _make_folder(folder: Path) -> list[Path]:
    """mkdir -p `folder`; returns the folders it created, deepest first (for `output_lock` to remove if empty)."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    with output_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
    return missing


@contextlib.contextmanager
def atomic_path(final: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` only if the block succeeds."""
    final = Path(final)
    tmp = None
    with output_errors(final):
        try:
            with _hold_signals():  # a SIGTERM between creating and recording the file would leak it
                prefix = _temp_prefix(final)
                fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=f".tmp{suffix}", dir=final.parent)
                tmp = Path(tmp_name)
                os.close(fd)
                os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs are for others to read
            yield tmp
            os.replace(tmp, final)
        finally:
            if tmp is not None and tmp.exists():
                tmp.unlink()


@contextlib.contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Build a folder (a model bundle) under a temporary name beside `final`, then swap it into place; a failure
    leaves the previous folder intact, and a SIGKILLed build's folder is removed by the next one."""
    final = Path(final).absolute()
    tmp = None
    with output_errors(final):
        try:
            with _hold_signals():  # created and recorded at once, so the `finally` always finds it
                prefix = _temp_prefix(final)
                tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=final.parent))
            os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; bundles are shared with schedulers
            yield tmp
            old = None
            if final.exists():
                old = Path(tempfile.mkdtemp(prefix=prefix, suffix=".old.tmp", dir=final.parent))
                os.replace(final, old)
            os.replace(tmp, final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def neutralise_formula(value: Any) -> Any:
    """Prefix a text cell that a spreadsheet would evaluate with an apostrophe; leave everything else alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of `frame` whose text columns cannot inject formulas. Numeric columns are untouched."""
    out = frame.copy(deep=False)  # copy-on-write: replacing a column leaves `frame` as it was
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            text = s.astype("str")
            risky = text.str.startswith(FORMULA_PREFIXES, na=False)
            if risky.any():
                out.isetitem(i, text.where(~risky, "'" + text))
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, index: bool = False, dialect: CsvDialect | None = None) -> Path:
    """Atomically write an Excel-friendly CSV (UTF-8 BOM, formula-safe, ISO dates, '.' decimal by default)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding=CSV_ENCODING, newline="") as handle:
        to_csv(excel_safe(frame), handle, (dialect or CsvDialect()).options(), index=index)
    return Path(path)


DISTINCT_SAMPLE = 10_000  # rows of a text column looked at to tell IDs (mostly distinct) from repeating labels


def dictionary_columns(schema: pa.Schema, sample: pa.Table | None = None) -> list[str]:
    """The columns worth Parquet's dictionary encoding: all but floating point, and (given a `sample` of the rows)
    all but text that is mostly distinct there, such as customer IDs. Probabilities, scores and IDs are (nearly)
    all distinct, so pyarrow's default of trying a dictionary on every column only builds hash tables it then
    abandons: that try cost most of the scored file's write time (scripts/bench_parquet_write.py)."""
    def repeats(field: pa.Field) -> bool:
        if pa.types.is_floating(field.type):
            return False
        if sample is None or not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            return True
        values = sample.column(field.name).slice(0, DISTINCT_SAMPLE)
        return pc.count_distinct(values).as_py() <= len(values) // 2
    return [field.name for field in schema if repeats(field)]


def write_parquet(frame: pd.DataFrame, path: str | Path, index: bool = False) -> Path:
    table = pa.Table.from_pandas(frame, preserve_index=index)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, use_dictionary=dictionary_columns(table.schema, table))
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


# --------------------------------------------------------------------------------------------- output sets
STAGE_MARK = ".cxpid"  # temporary names: .<final name>.cxpid<pid>.<random>.tmp<final suffix>


def _temp_prefix(final: Path) -> str:
    """Prefix of a temporary name beside `final` (creating its folder), after removing stale leftovers."""
    final.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(final)
    return f".{final.name}{STAGE_MARK}{os.getpid()}."


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _sweep_stale(final: Path) -> None:
    """Remove temporary files and folders of `final` left by a writer that no longer runs (killed by SIGKILL):
    staged files, bundle folders being built or swapped out, and the temporary files of writers that filled a
    staged path through `atomic_path` ('..name')."""
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
        self.created: list[Path] = []  # folders made for staged files: removed again if the run is discarded
        self.committed = False

    def path(self, final: str | Path) -> Path:
        final = Path(final).absolute()
        if final not in self.files:
            missing = [d for d in (final.parent, *final.parent.parents) if not d.exists()]
            self.created.extend(missing)  # deepest first
            with output_errors(final), _hold_signals():  # created and recorded at once: discard() finds it
                fd, name = tempfile.mkstemp(prefix=_temp_prefix(final), suffix=f".tmp{final.suffix}",
                                            dir=final.parent)
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
                with output_errors(final):
                    os.replace(self.files[final], final)
            self.committed = True
        return order

    def scratch_dir(self, final: str | Path) -> Path:
        """A hidden working folder beside `final` (e.g. a spool of scored batches), removed when the block ends."""
        final = Path(final).absolute()
        with output_errors(final), _hold_signals():
            folder = Path(tempfile.mkdtemp(prefix=_temp_prefix(final), suffix=".tmpdir", dir=final.parent))
            self.scratch.append(folder)
        return folder

    def discard(self) -> None:
        for tmp in self.files.values():
            tmp.unlink(missing_ok=True)
        for folder in self.created:
            with contextlib.suppress(OSError):  # not empty (someone else wrote there) or already gone: keep it
                folder.rmdir()

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self.committed:
            self.discard()
        for folder in self.scratch:
            shutil.rmtree(folder, ignore_errors=True)
        return False


# --------------------------------------------------------------------------------------------- one run per folder
LOCK_NAME = ".cxpredict.lock"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']} ({info['command']}, since {info['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def output_lock(folder: str | Path, wait: float = 0.0) -> Iterator[Path]:
    """Hold an exclusive lock on `folder` (flock on `.cxpredict.lock` in it) for the block: a second run into the
    same folder fails at once with BusyError (exit 6), or waits up to `wait` seconds. The kernel drops a flock
    when its process dies, so a SIGKILLed run never leaves a lock that blocks; the lock file itself is removed
    on release (with an inode check on acquiring, so a waiter never locks a file that was just unlinked), and so
    are the folders the lock had to create when they stayed empty (a failed run leaves the tree as it was)."""
    folder = Path(folder).absolute()
    created = _make_folder(folder)
    path = folder / LOCK_NAME
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        with output_errors(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~current_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise BusyError(
                    f"{folder} is in use by {_holder(path)}: another cxpredict run is writing into this output "
                    f"folder. Wait for it to finish, pass --wait SECONDS to queue behind it, or choose another "
                    "--out.") from None
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.01)))
            continue
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder unlinked it between our open and our flock: lock the new file
    try:
        with output_errors(path):
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "command": " ".join(["cxpredict", *sys.argv[1:3]]),
                                     "started": time.strftime("%Y-%m-%dT%H:%M:%S")}).encode())
        yield path
    finally:
        path.unlink(missing_ok=True)  # while still holding the lock: see the inode check above
        os.close(fd)
        for made in created:
            try:
                made.rmdir()
            except OSError:
                break
