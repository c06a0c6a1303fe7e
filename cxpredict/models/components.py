"""Metadata of a saved model component (nps/, response/, churn/, reasons/): one reader, one set of bundle errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cxpredict.errors import BundleError


def read_component_meta(path: str | Path, what: str, version: int) -> dict[str, Any]:
    """Read a component's JSON metadata; unreadable files or another format version are a BundleError (exit 4)."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{path}: unreadable {what} metadata ({e}); retrain or restore the bundle") from e
    found = meta.get("format_version")
    if found != version:
        raise BundleError(f"{path.parent}: {what} format {found!r} is not the supported {version}; "
                          "retrain with this cxpredict version")
    return meta
