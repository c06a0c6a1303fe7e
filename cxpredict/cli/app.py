"""`cxpredict` command line: thin commands over the library. Exit codes are part of the interface:

0 ok · 1 unexpected error (traceback in the log) · 2 bad input or config · 3 drift beyond the threshold with
--fail-on-drift · 4 model bundle problem · 5 cannot write the outputs · 6 another run holds the output folder ·
130 / 143 stopped by Ctrl-C / SIGTERM.

Every command that writes holds its output folder's lock (io.outputs.output_lock) and turns SIGTERM into a clean
stop (temporary files removed, previous outputs untouched) for as long as it works.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from cxpredict.cli.flags import FlagWordsGroup
from cxpredict.cli.options import (
    FormatOpt,
    Run,
    TrackingUriOpt,
    flag,
    number,
    load,
    print_version,
    shared,
)
from cxpredict.errors import CxError

log = logging.getLogger("cxpredict")

app = typer.Typer(
    name="cxpredict",
    cls=FlagWordsGroup,  # `--log-json true` reads like `--log-json` on every command
    help="Predict NPS, dissatisfaction drivers, churn risk and next actions for every customer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _main(
    log_json: Annotated[bool, flag("--log-json", help="Log one JSON object per line (for collectors).")] = False,
    verbose: Annotated[bool, flag("--verbose", "-v", help="Debug logging.")] = False,
    version: Annotated[bool, flag("--version", callback=print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    from cxpredict.cli.logs import setup_logging

    setup_logging(json_lines=log_json, verbose=verbose)


@app.command()
@shared("config", "set")
def validate(run: Run) -> None:
    """Check the config and every input table; report all problems at once (exit 2 if any)."""
    from cxpredict.workflows.validate import check_inputs

    config = run.config_path
    problems, warnings = check_inputs(run.config())
    for warning in warnings:  # usable but repaired: training logs the same lines
        typer.echo(f"warning: {warning}", err=True)
    if problems:
        for p in problems:
            typer.echo(f"error: {p}", err=True)
        typer.echo(f"{len(problems)} problem(s) found in the inputs of {config}", err=True)
        raise typer.Exit(2)
    typer.echo(f"ok: {config} and its input tables are valid")


@app.command()
@shared("wait")
def generate(
    run: Run,
    out: Annotated[Path, typer.Option("--out", help="Folder for the synthetic tables.")] = Path("data/demo"),
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    response_rate: Annotated[float, typer.Option(help="Expected share of survey respondents.")] = 0.10,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    text: Annotated[Optional[str], typer.Option(help="Write comments and ticket notes: en, zh or mixed.")] = None,
) -> None:
    """Write synthetic CX tables with planted truth (survey, behaviour, events, outcomes, truth)."""
    from cxpredict.synthetic.customers import generate as make
    from cxpredict.synthetic.tables import write_tables

    with run.writing(out):
        data = make(n_customers=customers, seed=seed, response_rate=response_rate, text=text)
        paths = write_tables(data, out, fmt=fmt)
    typer.echo(f"wrote {len(paths)} tables to {out} (true population NPS {data.true_population_nps:.1f})")


@app.command()
@shared("config", "set", "as_of", "features", "tracking", "wait")
def train(
    run: Run,
    out: Annotated[Optional[Path], typer.Option("--out", help="Model bundle folder.",
                                                show_default="outputs/<name>/model")] = None,
    register: Annotated[bool, flag(
        "--register", help="Register the bundle in MLflow as a new version of tracking.registered_model (a pyfunc "
                           "model: mlflow.pyfunc.load_model / spark_udf on models:/<name>@<alias>).")] = False,
    alias: Annotated[str, typer.Option(help="Alias of the registered version (models:/<name>@<alias>).")] = "champion",
) -> None:
    """Train every model on the config's data and write a model bundle."""
    cfg = run.config()
    from cxpredict.io.tracking import require_enabled
    from cxpredict.workflows.pyfunc import log_trained_bundle
    from cxpredict.workflows.train import default_bundle_path
    from cxpredict.workflows.train import train as run_train

    if register:
        require_enabled(cfg, "--register", run.no_tracking)
    out = out or default_bundle_path(cfg)
    with run.writing(out.absolute().parent), run.tracked(cfg, "train"):
        result = run_train(cfg, out)
        version = log_trained_bundle(result.bundle_path, result.metrics,
                                     register=cfg.tracking.registered_model if register else None, alias=alias)
    if version:
        log.info("registered models:/%s@%s (version %s)", cfg.tracking.registered_model, alias, version)
    run.done("train.finished", f"trained {result.bundle_path}", rows=result.metrics.get("n_customers"),
             output=str(result.bundle_path), as_of=cfg.data.as_of,
             registered=f"models:/{cfg.tracking.registered_model}/{version}" if version else None)
    typer.echo(str(result.bundle_path))


@app.command()
@shared("config", "set", "as_of", "wait")
def features(
    run: Run,
    out: Annotated[Path, typer.Option("--out", help="Feature table (.parquet); <stem>.manifest.json beside it.")],
) -> None:
    """Build the per-customer feature table (data.engine aggregates the event tables) and write it as Parquet."""
    cfg = run.config()
    from cxpredict.workflows.features import materialise_features

    with run.writing(out.absolute().parent):
        result = materialise_features(cfg, out)
    run.done("features.finished", f"wrote {result.rows} customers' features to {result.path}",
             rows=result.rows, output=str(result.path), engine=cfg.data.engine,
             features_hash=result.manifest["features_hash"])
    typer.echo(str(result.path))


@app.command()
@shared("config", "set", "as_of", "features", "tracking", "wait")
def score(
    run: Run,
    model: Annotated[str, typer.Option("--model", help="Model bundle folder (or models:/name@alias).")],
    out: Annotated[Path, typer.Option("--out", help="Scored file: .csv (Excel, LibreOffice), .xlsx or .parquet; "
                                                    "the other files go beside it.")],
    fail_on_drift: Annotated[bool, flag(
        "--fail-on-drift", help="Exit 3 when drift passes the scoring.drift thresholds (outputs still written).",
    )] = False,
    campaign_id: Annotated[Optional[str], typer.Option(
        "--campaign-id", help="Campaign the control groups are drawn for (default: strategy.holdout.campaign_id, "
                              "else <name>-<as_of>).")] = None,
    fmt: FormatOpt = None,
) -> None:
    """Score every customer; the scored file, manifest.json and the people files appear together when complete.

    SIGTERM or Ctrl-C removes the temporary files, leaves previous outputs untouched and exits 143 / 130.
    """
    cfg = run.config()
    from cxpredict.io.registry import resolved_bundle
    from cxpredict.io.run_log import log_score_outputs
    from cxpredict.workflows.score import score as run_score

    with run.writing(out.absolute().parent), run.tracked(cfg, "score"), \
            resolved_bundle(model, cfg, run.tracking_uri) as (bundle, origin):
        result = run_score(cfg, bundle, out, fail_on_drift=fail_on_drift, fmt=fmt, origin=origin,
                            campaign_id=campaign_id)
        log_score_outputs(result.manifest, result.manifest_path, result.sample)
    run.done("score.finished", f"scored {result.rows} rows into {result.path}", rows=result.rows,
             rows_per_s=result.manifest.get("rows_per_s"), output=str(result.path),
             manifest=str(result.manifest_path), as_of=result.manifest.get("as_of"),
             drift=(result.manifest.get("drift") or {}).get("status"))
    typer.echo(str(result.path))


@app.command()
@shared("config", "set", "tracking", "wait")
def learn(
    run: Run,
    results: Annotated[Path, typer.Option("--results", help="Campaign results file (.csv or .parquet).")],
    model: Annotated[Path, typer.Option("--model", help="The model bundle the campaign was scored with.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for effects, verdicts, the reviewed playbook and the "
                                                    "bundle extended with uplift models.")],
    assignments: Annotated[Optional[Path], typer.Option(
        "--assignments", help="Assignment log that `score` wrote (default: campaign.assignments).")] = None,
    feed_answers: Annotated[Optional[str], typer.Option(
        "--feed-answers", help="none, control or all: campaign survey answers written to survey_next.csv for the "
                               "next training round (default: campaign.feed_answers).")] = None,
) -> None:
    """Measure what a campaign did (treated vs control), learn uplift per strategy, retire what does not work.

    Writes a reviewed playbook (the original is never edited) and a bundle that ranks by expected uplift."""
    cfg = run.config()
    if feed_answers not in (None, "none", "control", "all"):
        from cxpredict.errors import ConfigError

        raise ConfigError(f"--feed-answers must be none, control or all, got '{feed_answers}'")
    from cxpredict.io.bundle import load_bundle
    from cxpredict.io.run_log import log_learn_outputs
    from cxpredict.workflows.learn import learn as run_learn

    bundle = load_bundle(model)
    with run.writing(out), run.tracked(cfg, "learn"):
        result = run_learn(cfg, bundle, results, assignments, out, feed_answers=feed_answers)
        log_learn_outputs(result.manifest, result.paths)
    for r in result.verdicts[result.verdicts["level"] == "strategy"].itertuples():
        typer.echo(f"{r.strategy:<12} {r.verdict:<13} {r.evidence}")
    typer.echo(str(result.paths["reviewed_playbook"]))


@app.command()
@shared("config", "set", "tracking", "wait")
def evaluate(
    run: Run,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for evaluation.json.",
                                                show_default="outputs/<name>/evaluation")] = None,
    holdout: Annotated[float, typer.Option(callback=number("--holdout", "0.3", gt=0, lt=1),
                                           help="Share of respondents hidden to play the silent customers.")] = 0.3,
) -> None:
    """Hide a share of the answers, train on the rest, and report metrics on the hidden customers."""
    cfg = run.config()
    from cxpredict.io.tracking import log_artifact, log_metrics
    from cxpredict.workflows.evaluate import evaluate as run_evaluate

    out = out or Path("outputs") / cfg.name / "evaluation"
    with run.writing(out), run.tracked(cfg, "evaluate"):
        report = run_evaluate(cfg, out, holdout=holdout)
        log_metrics({"holdout": report["metrics"], "n_holdout": report["n_holdout"]})
        log_artifact(out / "evaluation.json", "evaluation")
    m = report["metrics"]
    typer.echo(f"detractor AUC {m['detractor_auc']:.3f}  QWK {m['qwk']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
               f"score MAE {m['score_mae']:.2f}  ({report['n_holdout']} hold-out customers)")
    typer.echo(str(out / "evaluation.json"))


@app.command()
@shared("set", "tracking", "wait")
def demo(
    run: Run,
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo run's outputs.")] = Path("outputs/demo"),
    data: Annotated[Path, typer.Option("--data", help="Folder the synthetic tables are written to.")] = Path("data/demo"),
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="Config to run instead of the packaged demo config (its data.dir gets the tables).")] = None,
    customers: Annotated[int, typer.Option(help="Synthetic customers to generate.")] = 20_000,
    two_rounds: Annotated[bool, flag(
        "--two-rounds/--one-round", help="Also simulate the campaign, learn from it and score a second round.")] = True,
    fmt: Annotated[str, typer.Option("--format", help="Format of the people files: csv, xlsx or parquet.")] = "csv",
) -> None:
    """Generate the synthetic demo data, train, score, write report.html, and print where the outputs are.

    Runs from any folder with the config shipped in the package (tables into --data, outputs into --out).
    With two rounds (the default): round 1's control groups and simulated results (planted effects) go through
    `learn`, and round 2 scores with the reviewed playbook and the uplift models; the changes are printed.

    Tracked as one MLflow run (metrics, the bundle registered as the pyfunc model
    models:/<tracking.registered_model>@champion, scoring outputs and the report) in the user's store; see the
    README for `mlflow ui`."""
    from cxpredict.analyst.report import write_report
    from cxpredict.config import demo_config
    from cxpredict.io.tracking import log_artifact
    from cxpredict.workflows.demo import demo as run_demo

    cfg = load(config, run.overrides) if config is not None else demo_config(data, run.overrides)
    with run.writing(out), run.tracked(cfg, "demo"):
        result = run_demo(cfg, out, customers, two_rounds, fmt)
        report = write_report(out, out / "report.html")
        log_artifact(report)
    scored = result.scored
    run.done("demo.finished", f"demo outputs in {out}", rows=scored.rows,
             rows_per_s=scored.manifest.get("rows_per_s"), output=str(report))
    if result.second is not None:
        typer.echo(result.second.describe())
    typer.echo(f"report:       {report}  (open it in a browser)")
    typer.echo(f"model bundle: {result.trained.bundle_path}")
    typer.echo(f"manifest:     {scored.manifest_path}")
    typer.echo(f"scored file:  {scored.path}")
    if not run.no_tracking and cfg.tracking.enabled:
        from cxpredict.io.tracking import resolve_tracking_uri

        uri = resolve_tracking_uri(cfg, run.tracking_uri)
        if uri.startswith("sqlite:"):
            typer.echo(f"MLflow:       mlflow ui --backend-store-uri {uri}  (then the 'Model training' pages)")
        else:
            typer.echo(f"MLflow:       {uri}")


@app.command()
@shared("config", "set", "tracking", "wait")
def tune(
    run: Run,
    trials: Annotated[int, typer.Option(callback=number("--trials", "50", ge=1), help=(
        "Finished trials per model; a rerun tops the stored study up to this."))] = 50,
    timeout: Annotated[Optional[float], typer.Option(callback=number("--timeout", "600", gt=0), help=(
        "Stop starting new trials after this many seconds."))] = None,
    model: Annotated[str, typer.Option(help="nps, churn or all.")] = "all",
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Tuned config to write (default: <config>.tuned.yaml beside CONFIG).")] = None,
) -> None:
    """Optuna search over the NPS/churn LightGBM parameters and NPS formulation; writes a config to train from."""
    cfg, config = run.config(), run.config_path
    from cxpredict.workflows.tune import MODELS
    from cxpredict.workflows.tune import tune as run_tune

    with run.writing((out or config).absolute().parent), run.tracked(cfg, "tune"):
        result = run_tune(cfg, config, trials, timeout, MODELS if model == "all" else (model,), out)
    for s in result.studies.values():
        typer.echo(f"{s.model}: cross-validated {s.metric} {s.default_value or float('nan'):.4f} (config as given) "
                   f"-> {s.best_value or float('nan'):.4f} (best of {s.n_complete} complete trials; study "
                   f"{s.study_name})")
    typer.echo(str(result.config_path))


@app.command()
@shared("wait")
def report(
    options: Run,
    run: Annotated[str, typer.Argument(help="Output folder of demo/train/score, or an MLflow run id.",
                                       show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write.",
                                                show_default="RUN/report.html, or report-<run id>.html")] = None,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Write one self-contained HTML report of a run (plots embedded) for non-specialists.

    Open it in any browser. Earlier runs of the same config (their manifests in RUN/history) give the trend."""
    import tempfile

    from cxpredict.analyst.report import write_report
    from cxpredict.io.tracking import download_run_outputs

    folder = Path(run)
    run_id = None if folder.is_dir() else run.removeprefix("runs:/").strip("/")
    target = out or (folder / "report.html" if run_id is None else Path(f"report-{run_id}.html"))
    with options.writing(target.absolute().parent):
        if run_id is None:
            path = write_report(folder, target)
        else:
            with tempfile.TemporaryDirectory(prefix="cxpredict-run-") as tmp:
                path = write_report(download_run_outputs(run_id, tmp, tracking_uri), target)
    typer.echo(str(path))


@app.command("survey-plan")
@shared("config", "set", "wait")
def survey_plan(
    run: Run,
    model: Annotated[Path, typer.Option("--model", help="Model bundle folder (from `cxpredict train`).")],
    out: Annotated[Path, typer.Option("--out", help="Invitation log to write (.csv or .parquet); survey_plan.json "
                                                    "goes beside it. Point data.invitations at it for the next "
                                                    "training.")],
    budget: Annotated[Optional[float], typer.Option(
        "--budget", callback=number("--budget", "500", gt=0),
        help="Invitations to send (expected number: each customer is drawn independently).")] = None,
    target_halfwidth: Annotated[Optional[float], typer.Option(
        "--target-halfwidth", callback=number("--target-halfwidth", "3", gt=0),
        help="Say how many answers and invitations a +-H point interval on the population NPS (and per segment) "
             "needs; without --budget, invite that many.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the draw (default: the config's seed).")] = None,
) -> None:
    """Choose whom to invite to the survey next: a uniform probe share plus invitations where answers teach most."""
    cfg = run.config()
    from cxpredict.io.bundle import load_bundle
    from cxpredict.workflows.survey_plan import plan_lines
    from cxpredict.workflows.survey_plan import survey_plan as run_plan

    bundle = load_bundle(model)
    with run.writing(out.absolute().parent):
        result = run_plan(cfg, bundle, out, budget=budget, target_half_width=target_halfwidth, seed=seed)
    for line in plan_lines(result.plan):
        typer.echo(line)
    written = result.invites_path or result.plan_path  # no log when nobody is to be invited
    run.done("survey_plan.finished", f"planned {len(result.invites)} invitations into {written}",
             rows=len(result.invites), output=str(written))
    typer.echo(str(written))


playbook_app = typer.Typer(help="Check a playbook (segment -> action rules) against a scored file.",
                           no_args_is_help=True)
app.add_typer(playbook_app, name="playbook")


@playbook_app.command("check")
def playbook_check(
    playbook: Annotated[Path, typer.Argument(help="Playbook YAML (the packaged default: cxpredict/resources/"
                                                  "playbook.yaml).", show_default=False)],
    scored: Annotated[Path, typer.Option("--scored", help="Scored file (.csv or .parquet) from `cxpredict score`.")],
    as_json: Annotated[bool, flag("--json", help="Print counts, overlaps and warnings as JSON.")] = False,
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

    Click itself handles usage errors (exit 2) and --help (exit 0) in standalone mode. SIGXFSZ is ignored so that
    a file-size limit (`ulimit -f`) surfaces as EFBIG, a clean exit 5, instead of killing the process mid-write.
    """
    from cxpredict.io.outputs import WRITE_ONLY_ERRNOS, output_error

    if hasattr(signal, "SIGXFSZ"):
        with contextlib.suppress(ValueError):  # off the main thread (an embedding program): leave it be
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    started = time.perf_counter()
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except CxError as e:
        log.error("%s", e, extra={"fields": {"event": "failed", "exit_code": e.exit_code, "error": type(e).__name__,
                                             "duration_s": round(time.perf_counter() - started, 3)}})
        return e.exit_code
    except OSError as e:
        if e.errno not in WRITE_ONLY_ERRNOS:  # disk full, read-only, file too large: only a write causes them
            log.exception("unexpected error: %s", e)
            return 1
        error = output_error(e.filename or "the outputs", e)
        log.error("%s", error)
        return error.exit_code
    except Exception as e:  # noqa: BLE001 - the documented catch-all: exit 1 with a traceback in the log
        log.exception("unexpected error: %s", e, extra={"fields": {
            "event": "failed", "exit_code": 1, "error": type(e).__name__,
            "duration_s": round(time.perf_counter() - started, 3)}})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
