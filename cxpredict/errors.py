"""Typed errors. Each maps to one documented exit code so schedulers can react without parsing logs."""

from __future__ import annotations


class CxError(Exception):
    """Base of every error cxpredict raises on purpose."""

    exit_code = 1


class InputError(CxError):
    """Bad input data: wrong column, bad value, duplicate ID, empty file, bad encoding. Exit code 2."""

    exit_code = 2


class ConfigError(CxError):
    """Bad configuration or playbook. Exit code 2."""

    exit_code = 2


class DriftError(CxError):
    """Scoring data drifted beyond the configured threshold (only with --fail-on-drift). Exit code 3."""

    exit_code = 3


class BundleError(CxError):
    """Missing, tampered or incompatible model bundle. Exit code 4."""

    exit_code = 4


def first_rows(rows, limit: int = 5) -> str:
    """Format offending row numbers as 'rows 3, 7, 9 (and 12 more)' for error messages."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (and {len(rows) - limit} more)" if len(rows) > limit else ""
    return f"row{'s' if len(rows) != 1 else ''} {shown}{more}"
