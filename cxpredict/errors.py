"""Typed errors. Each maps to one documented exit code so schedulers can react without parsing logs."""

from __future__ import annotations


class CxError(Exception):
    """Base of every error cxpredict raises on purpose."""

    exit_code = 1


class InputError(CxError, ValueError):
    """Bad input data: wrong column, bad value, duplicate ID, empty file, bad encoding. Exit code 2.

    A ValueError too, as scikit-learn and Python code expect of bad values (the estimators raise it)."""

    exit_code = 2


class ConfigError(CxError, ValueError):
    """Bad configuration, playbook or estimator parameter. Exit code 2. A ValueError too."""

    exit_code = 2


class DriftError(CxError):
    """Scoring data drifted beyond the configured threshold (only with --fail-on-drift). Exit code 3."""

    exit_code = 3


class BundleError(CxError):
    """Missing, tampered or incompatible model bundle. Exit code 4."""

    exit_code = 4


class OutputError(CxError):
    """The outputs cannot be written: disk full, read-only file system, no permission, a path component that is a
    file, a file-size limit. Nothing partial is published and previous outputs are untouched. Exit code 5."""

    exit_code = 5


class BusyError(CxError):
    """Another cxpredict run holds the lock of the same output folder (see `--wait`). Nothing was written, so
    the scheduler can retry later. Exit code 6."""

    exit_code = 6


class SourceError(CxError):
    """The database named by data.source cannot be reached or refuses the login (server down, wrong host or port,
    wrong credentials). The message names the source without its password; nothing was written, so the scheduler
    can retry once the server is back or the credentials are fixed. Exit code 7."""

    exit_code = 7


class ResourceError(CxError):
    """The machine's resources ran out while building features: DuckDB exceeded data.duckdb.memory_limit even
    after spilling. The data and the config are valid, so rerunning with more memory, fewer threads or a spill
    disk with room succeeds; nothing was written. Exit code 8."""

    exit_code = 8


class Interrupted(CxError):
    """Stopped by SIGTERM or SIGINT (a scheduler's kill, Ctrl-C) after cleaning up: temporary files removed,
    previous outputs untouched. Exit code 128 + the signal number (143 for SIGTERM, 130 for SIGINT), as a shell
    reports a process ended by that signal."""

    exit_code = 143

    def __init__(self, signum: int = 15):
        import signal

        super().__init__(f"stopped by {signal.Signals(signum).name}: temporary files removed, previous outputs "
                         "left untouched; rerun the command to produce the outputs")
        self.exit_code = 128 + int(signum)


def first_rows(rows, limit: int = 5) -> str:
    """Format offending row numbers as 'rows 3, 7, 9 (and 12 more)' for error messages."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (and {len(rows) - limit} more)" if len(rows) > limit else ""
    return f"row{'s' if len(rows) != 1 else ''} {shown}{more}"


def did_you_mean(name: str, options) -> str:
    """' (did you mean 'x'?)' for the closest of `options`, or '' — the hint every unknown-name error carries."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
