"""Which bundle a command scores with: a bundle folder, or a registered model (models:/name@alias) fetched from
the MLflow registry into a temporary folder that lives as long as the command needs it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cxpredict.config import Config
from cxpredict.io.bundle import Bundle, load_bundle
from cxpredict.io.tracking import describe_model, download_bundle, is_tracking_uri, log_tags, run_origin


@contextlib.contextmanager
def resolved_bundle(model: str, cfg: Config, tracking_uri: str | None = None
                    ) -> Iterator[tuple[Bundle, dict[str, Any]]]:
    """(the loaded bundle, its origin for the run manifest: the MLflow run and, for a registered model, which
    version). A registered model's temporary folder is removed when the block ends, so the manifest names the
    registered version instead of that folder."""
    registered = is_tracking_uri(model)
    with contextlib.ExitStack() as stack:
        fetched = stack.enter_context(tempfile.TemporaryDirectory(prefix="cxpredict-model-")) if registered else None
        bundle = load_bundle(download_bundle(model, fetched, tracking_uri, cfg) if registered else Path(model))
        log_tags({"cxpredict.model": model})
        origin: dict[str, Any] = {"mlflow": run_origin(cfg)}
        if registered:
            origin["bundle"] = {"path": None, "model": describe_model(model, tracking_uri, cfg)}
        yield bundle, origin
