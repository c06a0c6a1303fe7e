"""Logging to stderr for people (plain lines) or for log collectors (`--log-json`, one JSON object a line).

A record logged with `extra={"fields": {...}}` carries structured fields (`event`, `rows`, `rows_per_s`,
`duration_s`, `exit_code`, `output`, ...), merged into its JSON object so a collector can filter and chart them
without parsing the message."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if v is not None and k not in entry})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(json_lines: bool = False, verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    # Configure our own logger tree only, so embedding applications (and pytest) keep their handlers.
    ours = logging.getLogger("cxpredict")
    ours.handlers[:] = [handler]
    ours.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("matplotlib", "alembic", "urllib3", "mlflow", "optuna", "shap", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
