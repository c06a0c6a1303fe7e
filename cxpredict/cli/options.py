"""The options `cxpredict` commands share, written once: the config argument, --set, --as-of, --features,
--tracking-uri, --no-tracking, --wait (Annotated types), given to a command as one `Run` by `@shared(...)`; and
the steps around a command's one workflow call (load the config, hold the output folder, open the MLflow run,
log the closing line). Logging (--log-json, --verbose) is the root callback's, in cli/app.py."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

log = logging.getLogger("cxpredict")


def flag(*names: str, **options):
    """A yes/no option: `--x` or `--x true/false` (cli.flags reads the word), so help shows no <bool>."""
    return typer.Option(*names, metavar="", **options)


ConfigArg = Annotated[Path, typer.Argument(help="YAML config file (e.g. configs/telco.yaml).", show_default=False)]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Override a config value, e.g. --set nps.params.num_leaves=63 (repeatable)."),
]
TrackingUriOpt = Annotated[Optional[str], typer.Option(
    "--tracking-uri", help="MLflow tracking URI; else tracking.uri, MLFLOW_TRACKING_URI, then the user's store.",
    show_default="~/.cxpredict/mlflow.db")]
NoTrackingOpt = Annotated[bool, flag("--no-tracking", help="Do not log this run to MLflow.")]


def number(option: str, example: str, **limits: float):
    """An option callback: the number goes through config.check_number (finite, in range; exit 2 naming it)."""
    def check(value):
        from cxpredict.config import check_number

        return check_number(option, value, example, **limits)
    return check


WaitOpt = Annotated[float, typer.Option(
    "--wait", callback=number("--wait", "30", ge=0),
    help="Seconds to wait while another run writes into the same output folder (0: fail at once, exit 6).")]


@contextlib.contextmanager
def writing(folder: Path, wait: float):
    """One run per output folder (fail fast, or queue for `wait` seconds), and SIGTERM/Ctrl-C as a clean stop.

    Fail fast by default: a scheduler that started a second run into the same folder has a bug or an overlap
    worth seeing (exit 6, nothing written), not one to hide by queueing; `--wait` queues on purpose."""
    from cxpredict.io.outputs import (
        WRITE_ONLY_ERRNOS,
        output_errors,
        output_lock,
        terminate_gracefully,
    )

    with output_errors(folder, WRITE_ONLY_ERRNOS), terminate_gracefully(), output_lock(folder, wait):
        yield
AsOfOpt = Annotated[Optional[str], typer.Option(
    "--as-of", help="The day the data describes (YYYY-MM-DD, e.g. Airflow's {{ ds }}): event windows end on it, "
                    "due dates count from it; the same as --set data.as_of=DATE.", show_default="data.as_of")]
FeaturesOpt = Annotated[Optional[Path], typer.Option(
    "--features", help="Feature table written by `cxpredict features` (.parquet, its manifest beside it), read "
                       "instead of the behaviour tables; the same as --set data.features=PATH.",
    show_default="data.features")]
FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", help="Format of the people files: csv (Excel, LibreOffice), xlsx or parquet; must match the "
                     "--out extension.", show_default="the --out extension")]


def with_features(overrides: list[str], features: Path | None) -> list[str]:
    """--features PATH as the override data.features="PATH" (JSON-quoted: YAML reads it back verbatim)."""
    return overrides if features is None else [*overrides, f"data.features={json.dumps(str(features))}"]


def with_as_of(overrides: list[str] | None, as_of: str | None) -> list[str]:
    """--as-of DATE as the override data.as_of="DATE" (quoted: YAML would read a bare date as a date object)."""
    if as_of is None:
        return list(overrides or [])
    import datetime as dt

    try:
        dt.date.fromisoformat(as_of.strip())
    except ValueError:
        from cxpredict.errors import ConfigError

        raise ConfigError(f"--as-of {as_of!r} is not a date; use YYYY-MM-DD, e.g. --as-of 2027-06-30") from None
    return [*(overrides or []), f'data.as_of="{as_of.strip()}"']


def done(event: str, started: float, message: str, **fields) -> None:
    """The closing log line of a command, with structured fields for --log-json collectors."""
    duration = time.perf_counter() - started
    log.info("%s (%.1f s)", message, duration,
             extra={"fields": {"event": event, "duration_s": round(duration, 3), "exit_code": 0, **fields}})


def tracked(cfg, kind: str, uri: str | None, off: bool):
    """MLflow run around a command (a no-op with --no-tracking); see cxpredict.io.tracking."""
    from cxpredict.io.tracking import start_run

    return start_run(cfg, kind, uri=uri, enabled=False if off else None)


def load(config: Path, overrides: list[str] | None):
    from cxpredict.config import load_config

    return load_config(config, overrides)


def print_version(value: bool) -> None:
    if value:
        from cxpredict._version import __version__

        typer.echo(f"cxpredict {__version__}")
        raise typer.Exit()


# the parameters each shared option adds to a command's signature (typer reads them), by the name `shared` takes
SHARED: dict[str, tuple[inspect.Parameter, ...]] = {
    "config": (inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=ConfigArg),),
    "set": (inspect.Parameter("set_", inspect.Parameter.KEYWORD_ONLY, annotation=SetOpt, default=None),),
    "as_of": (inspect.Parameter("as_of", inspect.Parameter.KEYWORD_ONLY, annotation=AsOfOpt, default=None),),
    "features": (inspect.Parameter("features", inspect.Parameter.KEYWORD_ONLY, annotation=FeaturesOpt,
                                   default=None),),
    "tracking": (inspect.Parameter("tracking_uri", inspect.Parameter.KEYWORD_ONLY, annotation=TrackingUriOpt,
                                   default=None),
                 inspect.Parameter("no_tracking", inspect.Parameter.KEYWORD_ONLY, annotation=NoTrackingOpt,
                                   default=False)),
    "wait": (inspect.Parameter("wait", inspect.Parameter.KEYWORD_ONLY, annotation=WaitOpt, default=0.0),),
}


@dataclass
class Run:
    """What the shared options say about one command run: the config (with --set, --as-of and --features as
    overrides), MLflow (--tracking-uri, --no-tracking), --wait, and when it started."""

    config_path: Path | None = None
    overrides: list[str] = field(default_factory=list)
    tracking_uri: str | None = None
    no_tracking: bool = False
    wait: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def of(cls, config: Path | None = None, set_: list[str] | None = None, as_of: str | None = None,
           features: Path | None = None, tracking_uri: str | None = None, no_tracking: bool = False,
           wait: float = 0.0) -> Run:
        return cls(config, with_features(with_as_of(set_, as_of), features), tracking_uri, no_tracking, wait)

    def config(self):
        """The config file with the overrides applied (a bad key or value: exit 2)."""
        return load(self.config_path, self.overrides)

    def writing(self, folder: Path):
        return writing(folder, self.wait)

    def tracked(self, cfg, kind: str):
        return tracked(cfg, kind, self.tracking_uri, self.no_tracking)

    def done(self, event: str, message: str, **fields) -> None:
        done(event, self.started, message, **fields)


def shared(*names: str):
    """A command that takes the shared options `names` (keys of SHARED) as one `Run`, its first parameter.

    The options are added to the command's signature once here, so each command lists only its own; the config
    argument comes first, the other shared options after the command's own (the order --help shows)."""
    unknown = sorted(set(names) - set(SHARED))
    if unknown:
        raise ValueError(f"unknown shared options {unknown}; known: {list(SHARED)}")

    def wrap(command):
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]  # the Run goes first
        added = [p for name in names for p in SHARED[name]]
        first = [p for p in added if p.name == "config"]
        parameters = [*first, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own),
                      *(p for p in added if p.name != "config")]

        @functools.wraps(command)
        def run_command(**options: Any):
            run = Run.of(**{p.name: options.pop(p.name) for p in added})
            return command(run, **options)

        run_command.__signature__ = inspect.Signature(parameters)
        run_command.__annotations__ = {p.name: p.annotation for p in parameters}
        return run_command
    return wrap
