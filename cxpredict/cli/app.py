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



def _flag(*names: str, **options):
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
NoTrackingOpt = Annotated[bool, _flag("--no-tracking", help="Do not log this run to MLflow.")]


def _number(option: str, example: str, **limits: float):
    """An option callback: the number goes through config.check_number (finite, in range; exit 2 naming it)."""
    def check(value):
        from cxpredict.config import check_number

        return check_number(option, value, example, **limits)
    return check


WaitOpt = Annotated[float, typer.Option(
    "--wait", callback=_number("--wait", "30", ge=0),
    help="Seconds to wait while another run writes into the same output folder (0: fail at once, exit 6).")]


@contextlib.contextmanager
def _writing(folder: Path, wait: float):
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
FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", help="Format of the people files: csv (Excel, LibreOffice), xlsx or parquet; must match the "
                     "--out extension.", show_default="the --out extension")]


def _with_as_of(overrides: list[str] | None, as_of: str | None) -> list[str]:
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


def _done(event: str, started: float, message: str, **fields) -> None:
    """The closing log line of a command, with structured fields for --log-json collectors."""
    duration = time.perf_counter() - started
    log.info("%s (%.1f s)", message, duration,
             extra={"fields": {"event": event, "duration_s": round(duration, 3), "exit_code": 0, **fields}})


def _tracked(cfg, kind: str, uri: str | None, off: bool):
    """MLflow run around a command (a no-op with --no-tracking); see cxpredict.io.tracking."""
    from cxpredict.io.tracking import start_run

    return start_run(cfg, kind, uri=uri, enabled=False if off else None)


def _print_version(value: bool) -> None:
    if value:
        from cxpredict._version import __version__

        typer.echo(f"cxpredict {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    log_json: Annotated[bool, _flag("--log-json", help="Log one JSON object per line (for collectors).")] = False,
    verbose: Annotated[bool, _flag("--verbose", "-v", help="Debug logging.")] = False,
    version: Annotated[bool, _flag("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
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
    from cxpredict.actions.strategy import configured_playbook
    from cxpredict.data.customers import DataReport, validate_inputs

    configured_playbook(cfg)  # strategy.playbook: present and valid (ConfigError naming the key otherwise)
    report = DataReport()
    problems = validate_inputs(cfg, report)
    for warning in report.warnings:  # usable but repaired: training logs the same lines
        typer.echo(f"warning: {warning}", err=True)
    if not problems and cfg.data.invitations:  # the invitation logs are checked against the customers they name
        from cxpredict.data.customers import load_customers
        from cxpredict.data.invitations import load_invitations
        from cxpredict.errors import CxError

        try:
            load_invitations(cfg, load_customers(cfg).frame.index)
        except CxError as e:
            problems.append(e)
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
    wait: WaitOpt = 0.0,
) -> None:
    """Write synthetic CX tables with planted truth (survey, behaviour, events, outcomes, truth)."""
    from cxpredict.synthetic.customers import generate as make
    from cxpredict.synthetic.tables import write_tables

    with _writing(out, wait):
        data = make(n_customers=customers, seed=seed, response_rate=response_rate, text=text)
        paths = write_tables(data, out, fmt=fmt)
    typer.echo(f"wrote {len(paths)} tables to {out} (true population NPS {data.true_population_nps:.1f})")


@app.command()
def train(
    config: ConfigArg,
    out: Annotated[Optional[Path], typer.Option("--out", help="Model bundle folder.",
                                                show_default="outputs/<name>/model")] = None,
    set_: SetOpt = None,
    as_of: AsOfOpt = None,
    register: Annotated[bool, _flag(
        "--register", help="Register the bundle in MLflow as a new version of tracking.registered_model (a pyfunc "
                           "model: mlflow.pyfunc.load_model / spark_udf on models:/<name>@<alias>).")] = False,
    alias: Annotated[str, typer.Option(help="Alias of the registered version (models:/<name>@<alias>).")] = "champion",
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Train every model on the config's data and write a model bundle."""
    started = time.perf_counter()
    cfg = _load(config, _with_as_of(set_, as_of))
    from cxpredict.io.tracking import require_enabled
    from cxpredict.workflows.pyfunc import log_trained_bundle
    from cxpredict.workflows.train import default_bundle_path
    from cxpredict.workflows.train import train as run_train

    if register:
        require_enabled(cfg, "--register", no_tracking)
    from cxpredict.actions.strategy import configured_playbook

    configured_playbook(cfg)  # a missing or broken strategy.playbook fails now, not after the models are fitted
    out = out or default_bundle_path(cfg)
    with _writing(out.absolute().parent, wait), _tracked(cfg, "train", tracking_uri, no_tracking):
        result = run_train(cfg, out)
        version = log_trained_bundle(result.bundle_path, result.metrics,
                                     register=cfg.tracking.registered_model if register else None, alias=alias)
    if version:
        log.info("registered models:/%s@%s (version %s)", cfg.tracking.registered_model, alias, version)
    _done("train.finished", started, f"trained {result.bundle_path}", rows=result.metrics.get("n_customers"),
          output=str(result.bundle_path), as_of=cfg.data.as_of,
          registered=f"models:/{cfg.tracking.registered_model}/{version}" if version else None)
    typer.echo(str(result.bundle_path))


@app.command()
def features(
    config: ConfigArg,
    out: Annotated[Path, typer.Option("--out", help="Feature table (.parquet); <stem>.manifest.json beside it.")],
    set_: SetOpt = None,
    as_of: AsOfOpt = None,
    wait: WaitOpt = 0.0,
) -> None:
    """Build the per-customer feature table (data.engine aggregates the event tables) and write it as Parquet."""
    started = time.perf_counter()
    cfg = _load(config, _with_as_of(set_, as_of))
    from cxpredict.workflows.features import materialise_features

    with _writing(out.absolute().parent, wait):
        result = materialise_features(cfg, out)
    _done("features.finished", started, f"wrote {result.rows} customers' features to {result.path}",
          rows=result.rows, output=str(result.path), engine=cfg.data.engine,
          features_hash=result.manifest["features_hash"])
    typer.echo(str(result.path))


@app.command()
def score(
    config: ConfigArg,
    model: Annotated[str, typer.Option("--model", help="Model bundle folder (or models:/name@alias).")],
    out: Annotated[Path, typer.Option("--out", help="Scored file: .csv (Excel, LibreOffice), .xlsx or .parquet; "
                                                    "the other files go beside it.")],
    fail_on_drift: Annotated[bool, _flag(
        "--fail-on-drift", help="Exit 3 when drift passes the scoring.drift thresholds (outputs still written).",
    )] = False,
    campaign_id: Annotated[Optional[str], typer.Option(
        "--campaign-id", help="Campaign the control groups are drawn for (default: strategy.holdout.campaign_id, "
                              "else <name>-<as_of>).")] = None,
    set_: SetOpt = None,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = None,
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Score every customer; the scored file, manifest.json and the people files appear together when complete.

    SIGTERM or Ctrl-C removes the temporary files, leaves previous outputs untouched and exits 143 / 130.
    """
    import tempfile

    started = time.perf_counter()
    cfg = _load(config, _with_as_of(set_, as_of))
    from cxpredict.io.bundle import load_bundle
    from cxpredict.io.run_log import log_score_outputs
    from cxpredict.io.tracking import (
        describe_model,
        download_bundle,
        is_tracking_uri,
        log_tags,
        run_origin,
    )
    from cxpredict.workflows.score import score as run_score

    registered = is_tracking_uri(model)  # models:/name@alias: fetched into a folder that lives as long as the run
    with _writing(out.absolute().parent, wait), contextlib.ExitStack() as stack, \
            _tracked(cfg, "score", tracking_uri, no_tracking):
        fetched = stack.enter_context(tempfile.TemporaryDirectory(prefix="cxpredict-model-")) if registered else None
        bundle = load_bundle(download_bundle(model, fetched, tracking_uri, cfg) if registered else Path(model))
        log_tags({"cxpredict.model": model})
        origin = {"mlflow": run_origin(cfg)}
        if registered:  # the fetched folder is temporary: the manifest names the registered version instead
            origin["bundle"] = {"path": None, "model": describe_model(model, tracking_uri, cfg)}
        result = run_score(cfg, bundle, out, fail_on_drift=fail_on_drift, fmt=fmt, origin=origin,
                            campaign_id=campaign_id)
        log_score_outputs(result.manifest, result.manifest_path, result.sample)
    _done("score.finished", started, f"scored {result.rows} rows into {result.path}", rows=result.rows,
          rows_per_s=result.manifest.get("rows_per_s"), output=str(result.path),
          manifest=str(result.manifest_path), as_of=result.manifest.get("as_of"),
          drift=(result.manifest.get("drift") or {}).get("status"))
    typer.echo(str(result.path))


@app.command()
def learn(
    config: ConfigArg,
    results: Annotated[Path, typer.Option("--results", help="Campaign results file (.csv or .parquet).")],
    model: Annotated[Path, typer.Option("--model", help="The model bundle the campaign was scored with.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for effects, verdicts, the reviewed playbook and the "
                                                    "bundle extended with uplift models.")],
    assignments: Annotated[Optional[Path], typer.Option(
        "--assignments", help="Assignment log that `score` wrote (default: campaign.assignments).")] = None,
    feed_answers: Annotated[Optional[str], typer.Option(
        "--feed-answers", help="none, control or all: campaign survey answers written to survey_next.csv for the "
                               "next training round (default: campaign.feed_answers).")] = None,
    set_: SetOpt = None,
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Measure what a campaign did (treated vs control), learn uplift per strategy, retire what does not work.

    Writes a reviewed playbook (the original is never edited) and a bundle that ranks by expected uplift."""
    cfg = _load(config, set_)
    if feed_answers not in (None, "none", "control", "all"):
        from cxpredict.errors import ConfigError

        raise ConfigError(f"--feed-answers must be none, control or all, got '{feed_answers}'")
    from cxpredict.io.bundle import load_bundle
    from cxpredict.io.run_log import log_learn_outputs
    from cxpredict.workflows.learn import learn as run_learn

    bundle = load_bundle(model)
    with _writing(out, wait), _tracked(cfg, "learn", tracking_uri, no_tracking):
        result = run_learn(cfg, bundle, results, assignments, out, feed_answers=feed_answers)
        log_learn_outputs(result.manifest, result.paths)
    for r in result.verdicts[result.verdicts["level"] == "strategy"].itertuples():
        typer.echo(f"{r.strategy:<12} {r.verdict:<13} {r.evidence}")
    typer.echo(str(result.paths["reviewed_playbook"]))


@app.command()
def evaluate(
    config: ConfigArg,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for evaluation.json.",
                                                show_default="outputs/<name>/evaluation")] = None,
    holdout: Annotated[float, typer.Option(callback=_number("--holdout", "0.3", gt=0, lt=1),
                                           help="Share of respondents hidden to play the silent customers.")] = 0.3,
    set_: SetOpt = None,
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Hide a share of the answers, train on the rest, and report metrics on the hidden customers."""
    cfg = _load(config, set_)
    from cxpredict.io.tracking import log_artifact, log_metrics
    from cxpredict.workflows.evaluate import evaluate as run_evaluate

    out = out or Path("outputs") / cfg.name / "evaluation"
    with _writing(out, wait), _tracked(cfg, "evaluate", tracking_uri, no_tracking):
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
    data: Annotated[Path, typer.Option("--data", help="Folder the synthetic tables are written to.")] = Path("data/demo"),
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="Config to run instead of the packaged demo config (its data.dir gets the tables).")] = None,
    customers: Annotated[int, typer.Option(help="Synthetic customers to generate.")] = 20_000,
    two_rounds: Annotated[bool, _flag(
        "--two-rounds/--one-round", help="Also simulate the campaign, learn from it and score a second round.")] = True,
    set_: SetOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="Format of the people files: csv, xlsx or parquet.")] = "csv",
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Generate the synthetic demo data, train, score, write report.html, and print where the outputs are.

    Runs from any folder with the config shipped in the package (tables into --data, outputs into --out).
    With two rounds (the default): round 1's control groups and simulated results (planted effects) go through
    `learn`, and round 2 scores with the reviewed playbook and the uplift models; the changes are printed.

    Tracked as one MLflow run (metrics, the bundle registered as the pyfunc model
    models:/<tracking.registered_model>@champion, scoring outputs and the report) in the user's store; see the
    README for `mlflow ui`."""
    from cxpredict.config import demo_config
    from cxpredict.io.bundle import load_bundle
    from cxpredict.synthetic.customers import generate as make
    from cxpredict.synthetic.tables import write_tables
    from cxpredict.workflows.score import score as run_score
    from cxpredict.workflows.train import train as run_train

    started = time.perf_counter()
    cfg = _load(config, set_) if config is not None else demo_config(data, set_)
    data_dir = cfg.resolve(cfg.data.dir)
    from cxpredict.analyst.report import write_report
    from cxpredict.io.run_log import log_score_outputs
    from cxpredict.io.tracking import log_artifact, run_origin
    from cxpredict.workflows.pyfunc import log_trained_bundle

    with _writing(out, wait), _tracked(cfg, "demo", tracking_uri, no_tracking):
        tables = make(n_customers=customers, seed=cfg.seed, response_rate=0.10,
                      text="mixed" if cfg.text.active else None)
        write_tables(tables, data_dir)
        log.info("demo data: %d customers in %s", customers, data_dir)
        result = run_train(cfg, out / "model")
        log_trained_bundle(result.bundle_path, result.metrics, register=cfg.tracking.registered_model)
        scored = run_score(cfg, load_bundle(result.bundle_path), out / f"scored.{fmt}", fmt=fmt,
                           origin={"mlflow": run_origin(cfg)})
        log_score_outputs(scored.manifest, scored.manifest_path, scored.sample)
        if two_rounds:  # simulated campaign results -> learn -> score with the reviewed playbook
            from cxpredict.workflows.closed_loop import second_round

            loop = second_round(cfg, tables, load_bundle(result.bundle_path), scored, out)
            log_artifact(loop.learned.paths["reviewed_playbook"], "playbook")
        report = write_report(out, out / "report.html")
        log_artifact(report)
    _done("demo.finished", started, f"demo outputs in {out}", rows=scored.rows,
          rows_per_s=scored.manifest.get("rows_per_s"), output=str(report))
    if two_rounds:
        typer.echo(loop.describe())
    typer.echo(f"report:       {report}  (open it in a browser)")
    typer.echo(f"model bundle: {result.bundle_path}")
    typer.echo(f"manifest:     {scored.manifest_path}")
    typer.echo(f"scored file:  {scored.path}")
    if not no_tracking and cfg.tracking.enabled:
        from cxpredict.io.tracking import resolve_tracking_uri

        uri = resolve_tracking_uri(cfg, tracking_uri)
        if uri.startswith("sqlite:"):
            typer.echo(f"MLflow:       mlflow ui --backend-store-uri {uri}  (then the 'Model training' pages)")
        else:
            typer.echo(f"MLflow:       {uri}")


@app.command()
def tune(
    config: ConfigArg,
    trials: Annotated[int, typer.Option(callback=_number("--trials", "50", ge=1), help=(
        "Finished trials per model; a rerun tops the stored study up to this."))] = 50,
    timeout: Annotated[Optional[float], typer.Option(callback=_number("--timeout", "600", gt=0), help=(
        "Stop starting new trials after this many seconds."))] = None,
    model: Annotated[str, typer.Option(help="nps, churn or all.")] = "all",
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Tuned config to write (default: <config>.tuned.yaml beside CONFIG).")] = None,
    set_: SetOpt = None,
    tracking_uri: TrackingUriOpt = None,
    no_tracking: NoTrackingOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Optuna search over the NPS/churn LightGBM parameters and NPS formulation; writes a config to train from."""
    cfg = _load(config, set_)
    from cxpredict.workflows.tune import MODELS
    from cxpredict.workflows.tune import tune as run_tune

    with _writing((out or config).absolute().parent, wait), _tracked(cfg, "tune", tracking_uri, no_tracking):
        result = run_tune(cfg, config, trials, timeout, MODELS if model == "all" else (model,), out)
    for s in result.studies.values():
        typer.echo(f"{s.model}: cross-validated {s.metric} {s.default_value or float('nan'):.4f} (config as given) "
                   f"-> {s.best_value or float('nan'):.4f} (best of {s.n_complete} complete trials; study "
                   f"{s.study_name})")
    typer.echo(str(result.config_path))


@app.command()
def report(
    run: Annotated[str, typer.Argument(help="Output folder of demo/train/score, or an MLflow run id.",
                                       show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write.",
                                                show_default="RUN/report.html, or report-<run id>.html")] = None,
    tracking_uri: TrackingUriOpt = None,
    wait: WaitOpt = 0.0,
) -> None:
    """Write one self-contained HTML report of a run (plots embedded) for non-specialists.

    Open it in any browser. Earlier runs of the same config (their manifests in RUN/history) give the trend."""
    import tempfile

    from cxpredict.analyst.report import write_report
    from cxpredict.io.tracking import download_run_outputs

    folder = Path(run)
    run_id = None if folder.is_dir() else run.removeprefix("runs:/").strip("/")
    target = out or (folder / "report.html" if run_id is None else Path(f"report-{run_id}.html"))
    with _writing(target.absolute().parent, wait):
        if run_id is None:
            path = write_report(folder, target)
        else:
            with tempfile.TemporaryDirectory(prefix="cxpredict-run-") as tmp:
                path = write_report(download_run_outputs(run_id, tmp, tracking_uri), target)
    typer.echo(str(path))


@app.command("survey-plan")
def survey_plan(
    config: ConfigArg,
    model: Annotated[Path, typer.Option("--model", help="Model bundle folder (from `cxpredict train`).")],
    out: Annotated[Path, typer.Option("--out", help="Invitation log to write (.csv or .parquet); survey_plan.json "
                                                    "goes beside it. Point data.invitations at it for the next "
                                                    "training.")],
    budget: Annotated[Optional[float], typer.Option(
        "--budget", callback=_number("--budget", "500", gt=0),
        help="Invitations to send (expected number: each customer is drawn independently).")] = None,
    target_halfwidth: Annotated[Optional[float], typer.Option(
        "--target-halfwidth", callback=_number("--target-halfwidth", "3", gt=0),
        help="Say how many answers and invitations a +-H point interval on the population NPS (and per segment) "
             "needs; without --budget, invite that many.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the draw (default: the config's seed).")] = None,
    set_: SetOpt = None,
    wait: WaitOpt = 0.0,
) -> None:
    """Choose whom to invite to the survey next: a uniform probe share plus invitations where answers teach most."""
    started = time.perf_counter()
    cfg = _load(config, set_)
    from cxpredict.io.bundle import load_bundle
    from cxpredict.workflows.survey_plan import plan_lines
    from cxpredict.workflows.survey_plan import survey_plan as run_plan

    bundle = load_bundle(model)
    with _writing(out.absolute().parent, wait):
        result = run_plan(cfg, bundle, out, budget=budget, target_half_width=target_halfwidth, seed=seed)
    for line in plan_lines(result.plan):
        typer.echo(line)
    written = result.invites_path or result.plan_path  # no log when nobody is to be invited
    _done("survey_plan.finished", started, f"planned {len(result.invites)} invitations into {written}",
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
    as_json: Annotated[bool, _flag("--json", help="Print counts, overlaps and warnings as JSON.")] = False,
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
