"""`cxpredict` command line: thin commands over the library. Exit codes are part of the interface:

0 ok · 1 unexpected error (traceback in the log) · 2 bad input or config · 3 drift beyond the threshold with
--fail-on-drift · 4 model bundle problem.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cxpredict.errors import CxError

log = logging.getLogger("cxpredict")

app = typer.Typer(
    name="cxpredict",
    help="Predict NPS, dissatisfaction drivers, churn risk and next actions for every customer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigArg = Annotated[Path, typer.Argument(help="YAML config file (see configs/).", show_default=False)]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Override a config value, e.g. --set nps.params.num_leaves=63 (repeatable)."),
]
TrackingUriOpt = Annotated[Optional[str], typer.Option(
    "--tracking-uri", help="MLflow tracking URI (default: tracking.uri, MLFLOW_TRACKING_URI, sqlite:///./mlflow.db).")]
NoTrackingOpt = Annotated[bool, typer.Option("--no-tracking", help="Do not log this run to MLflow.")]


def _tracked(cfg, kind: str, uri: str | None, off: bool):
    """MLflow run around a command (a no-op with --no-tracking); see cxpredict.io.tracking."""
    from cxpredict.io.tracking import start_run

    return start_run(cfg, kind, uri=uri, enabled=False if off else None)


@app.callback()
def _main(
    log_json: Annotated[bool, typer.Option("--log-json", help="Log one JSON object per line (for collectors).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    from cxpredict.cli.logs import setup_logging

    setup_logging(json_lines=log_json, verbose=verbose)


def _load(config: Path, overrides: list[str] | None):
    from cxpredict.config import load_config

    return load_config(config, overrides)


@app.command()
def validate(config: ConfigArg, set_: SetOpt = None) -> None:
    """Check the config and every input table; report all problems at once (exit 2 if any)."""
    cfg = _load(config, set_)
    from cxpredict.data.customers import validate_inputs

    problems = validate_inputs(cfg)
    if problems:
        for p in problems:
            typer.echo(f"error: {p}", err=True)
        typer.echo(f"{len(problems)} problem(s) found in the inputs of {config}", err=True)
        raise typer.Exit(2)
    typer.echo(f"ok: {config} and its input tables are valid")


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the synthetic tables.")] = Path("data/demo"),
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    response_rate: Annotated[float, typer.Option(help="Expected share of survey respondents.")] = 0.10,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    text: Annotated[Optional[str], typer.Option(help="Write comments and ticket notes: en, zh or mixed.")] = None,
) -> None:
    """Write synthetic CX tables with planted truth (survey, behaviour, events, outcomes, truth)."""
    from cxpredict.data.synthetic import generate as make
    from cxpredict.io.synthetic_tables import write_tables

    data = make(n_customers=customers, seed=seed, response_rate=response_rate, text=text)
    paths = write_tables(data, out, fmt=fmt)
    typer.echo(f"wrote {len(paths)} tables to {out} (true population NPS {data.true_population_nps:.1f})")


@app.command()
def train(
    config: ConfigArg,
    out: Annotated[Optional[Path], typer.Option("--out", help="Model bundle folder [outputs/<name>/model].")] = None,
    set_: SetOpt = None,
    register: Annotated[bool, typer.Option(
        "--register", help="Register the bundle in MLflow as a new version of tracking.registered_model.")] = False,
    alias: Annotated[str, typer.Option(help="Alias of the registered version (models:/<name>@<alias>).")] = "champion",
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
) -> None:
    """Train every model on the config's data and write a model bundle."""
    cfg = _load(config, set_)
    from cxpredict.io.tracking import log_train_outputs, require_enabled
    from cxpredict.workflows.train import train as run_train

    if register:
        require_enabled(cfg, "--register", no_tracking)
    out = out or Path("outputs") / cfg.name / "model"
    with _tracked(cfg, "train", tracking_uri, no_tracking):
        result = run_train(cfg, out)
        version = log_train_outputs(result.bundle_path, result.metrics,
                                    register=cfg.tracking.registered_model if register else None, alias=alias)
    if version:
        log.info("registered models:/%s@%s (version %s)", cfg.tracking.registered_model, alias, version)
    typer.echo(str(result.bundle_path))


@app.command()
def score(
    config: ConfigArg,
    model: Annotated[str, typer.Option("--model", help="Model bundle folder (or models:/name@alias).")],
    out: Annotated[Path, typer.Option("--out", help="Scored file: .csv (Excel) or .parquet.")],
    fail_on_drift: Annotated[bool, typer.Option(
        "--fail-on-drift", help="Exit 3 when drift passes the scoring.drift thresholds (outputs still written).",
    )] = False,
    set_: SetOpt = None,
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
) -> None:
    """Score every customer; the scored file, manifest.json and the people files appear together when complete.

    SIGTERM or Ctrl-C removes the temporary files, leaves previous outputs untouched and exits 143 / 130.
    """
    import contextlib
    import tempfile

    cfg = _load(config, set_)
    from cxpredict.io.bundle import load_bundle
    from cxpredict.io.outputs import terminate_gracefully
    from cxpredict.io.tracking import (
        download_bundle,
        is_tracking_uri,
        log_score_outputs,
        log_tags,
    )
    from cxpredict.workflows.score import score as run_score

    registered = is_tracking_uri(model)  # models:/name@alias: fetched into a folder that lives as long as the run
    with terminate_gracefully(), contextlib.ExitStack() as stack, _tracked(cfg, "score", tracking_uri, no_tracking):
        fetched = stack.enter_context(tempfile.TemporaryDirectory(prefix="cxpredict-model-")) if registered else None
        bundle = load_bundle(download_bundle(model, fetched, tracking_uri, cfg) if registered else Path(model))
        log_tags({"cxpredict.model": model})
        result = run_score(cfg, bundle, out, fail_on_drift=fail_on_drift)
        log_score_outputs(result.manifest, result.manifest_path)
    typer.echo(str(result.path))


@app.command()
def evaluate(
    config: ConfigArg,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for evaluation.json [outputs/<name>/evaluation].")] = None,
    holdout: Annotated[float, typer.Option(help="Share of respondents hidden to play the silent customers.")] = 0.3,
    set_: SetOpt = None,
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
) -> None:
    """Hide a share of the answers, train on the rest, and report metrics on the hidden customers."""
    cfg = _load(config, set_)
    from cxpredict.io.tracking import log_artifact, log_metrics
    from cxpredict.workflows.evaluate import evaluate as run_evaluate

    out = out or Path("outputs") / cfg.name / "evaluation"
    with _tracked(cfg, "evaluate", tracking_uri, no_tracking):
        report = run_evaluate(cfg, out, holdout=holdout)
        log_metrics({"holdout": report["metrics"], "n_holdout": report["n_holdout"]})
        log_artifact(out / "evaluation.json", "evaluation")
    m = report["metrics"]
    typer.echo(f"detractor AUC {m['detractor_auc']:.3f}  QWK {m['qwk']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
               f"score MAE {m['score_mae']:.2f}  ({report['n_holdout']} hold-out customers)")
    typer.echo(str(out / "evaluation.json"))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo run's outputs.")] = Path("outputs/demo"),
    config: Annotated[Path, typer.Option("--config", help="Demo config.")] = Path("configs/demo.yaml"),
    customers: Annotated[int, typer.Option(help="Synthetic customers to generate.")] = 20_000,
    set_: SetOpt = None,
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
) -> None:
    """Generate the synthetic demo data, train, score, write report.html, and print where the outputs are.

    Tracked as one MLflow run (metrics, bundle registered as models:/<tracking.registered_model>@champion,
    scoring outputs and the report); `mlflow ui` in this folder shows it."""
    from cxpredict.data.synthetic import generate as make
    from cxpredict.io.bundle import load_bundle
    from cxpredict.io.synthetic_tables import write_tables
    from cxpredict.workflows.score import score as run_score
    from cxpredict.workflows.train import train as run_train

    cfg = _load(config, set_)
    data_dir = cfg.resolve(cfg.data.dir)
    data = make(n_customers=customers, seed=cfg.seed, response_rate=0.10, text="mixed" if cfg.text.active else None)
    write_tables(data, data_dir)
    log.info("demo data: %d customers in %s", customers, data_dir)
    from cxpredict.analyst.report import write_report
    from cxpredict.io.tracking import log_artifact, log_score_outputs, log_train_outputs

    with _tracked(cfg, "demo", tracking_uri, no_tracking):
        result = run_train(cfg, out / "model")
        log_train_outputs(result.bundle_path, result.metrics, register=cfg.tracking.registered_model)
        scored = run_score(cfg, load_bundle(result.bundle_path), out / "scored.csv")
        log_score_outputs(scored.manifest, scored.manifest_path)
        report = write_report(out, out / "report.html")
        log_artifact(report)
    typer.echo(f"report:       {report}")
    typer.echo(f"model bundle: {result.bundle_path}")
    typer.echo(f"manifest:     {scored.manifest_path}")
    typer.echo(f"scored file:  {scored.path}")


@app.command()
def tune(
    config: ConfigArg,
    trials: Annotated[int, typer.Option(help="Finished trials per model; a rerun tops the stored study up to this.")] = 50,
    timeout: Annotated[Optional[float], typer.Option(help="Stop starting new trials after this many seconds.")] = None,
    model: Annotated[str, typer.Option(help="nps, churn or all.")] = "all",
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Tuned config to write (default: <config>.tuned.yaml beside CONFIG).")] = None,
    set_: SetOpt = None,
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
) -> None:
    """Optuna search over the NPS/churn LightGBM parameters and NPS formulation; writes a config to train from."""
    cfg = _load(config, set_)
    from cxpredict.workflows.tune import MODELS
    from cxpredict.workflows.tune import tune as run_tune

    with _tracked(cfg, "tune", tracking_uri, no_tracking):
        result = run_tune(cfg, config, trials, timeout, MODELS if model == "all" else (model,), out)
    for s in result.studies.values():
        typer.echo(f"{s.model}: cross-validated {s.metric} {s.default_value or float('nan'):.4f} (config as given) "
                   f"-> {s.best_value or float('nan'):.4f} (best of {s.n_complete} complete, {s.n_pruned} pruned "
                   f"trials; study {s.study_name})")
    typer.echo(str(result.config_path))


@app.command()
def report(
    run: Annotated[str, typer.Argument(help="Output folder of demo/train/score, or an MLflow run id.",
                                       show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Write one self-contained HTML report (plots embedded) of a run, readable by a non-specialist."""
    import tempfile

    from cxpredict.analyst.report import write_report
    from cxpredict.io.tracking import download_run_outputs

    folder = Path(run)
    if folder.is_dir():
        path = write_report(folder, out)
    else:
        with tempfile.TemporaryDirectory(prefix="cxpredict-run-") as tmp:
            path = write_report(download_run_outputs(run.removeprefix("runs:/").strip("/"), tmp, tracking_uri), out)
    typer.echo(str(path))


playbook_app = typer.Typer(help="Check a playbook (segment -> action rules) against a scored file.",
                           no_args_is_help=True)
app.add_typer(playbook_app, name="playbook")


@playbook_app.command("check")
def playbook_check(
    playbook: Annotated[Path, typer.Argument(help="Playbook YAML (see configs/playbook.yaml).", show_default=False)],
    scored: Annotated[Path, typer.Option("--scored", help="Scored file (.csv or .parquet) from `cxpredict score`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print counts, overlaps and warnings as JSON.")] = False,
) -> None:
    """Validate PLAYBOOK against a scored file and print the customers per rule (unknown column: exit 2)."""
    from cxpredict.actions.playbook import check_playbook, describe, load_playbook
    from cxpredict.errors import InputError
    from cxpredict.io.outputs import to_json_text
    from cxpredict.io.people import load_scored

    book = load_playbook(playbook)
    if not scored.is_file():
        raise InputError(f"scored file not found: {scored}; write one with `cxpredict score CONFIG --out FILE`")
    result = check_playbook(book, load_scored(scored), source=str(scored))
    if as_json:
        typer.echo(to_json_text(describe(result)), nl=False)
    else:
        typer.echo(result.counts.to_string(index=False))
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"ok: {playbook} is valid for {scored} ({len(result.warnings)} warning(s))", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: map typed errors to exit codes; anything unexpected is exit 1 with a traceback in the log.

    Click itself handles usage errors (exit 2) and --help (exit 0) in standalone mode.
    """
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except CxError as e:
        log.error("%s", e)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the documented catch-all: exit 1 with a traceback in the log
        log.exception("unexpected error: %s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
