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

from .errors import CxError

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


@app.callback()
def _main(
    log_json: Annotated[bool, typer.Option("--log-json", help="Log one JSON object per line (for collectors).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    from .logs import setup_logging

    setup_logging(json_lines=log_json, verbose=verbose)


def _load(config: Path, overrides: list[str] | None):
    from .config import load_config

    return load_config(config, overrides)


@app.command()
def validate(config: ConfigArg, set_: SetOpt = None) -> None:
    """Check the config and every input table; report all problems at once (exit 2 if any)."""
    cfg = _load(config, set_)
    from .data import validate_inputs

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
) -> None:
    """Write synthetic CX tables with planted truth (survey, behaviour, events, outcomes, truth)."""
    from .datasets import generate as make, write_tables

    data = make(n_customers=customers, seed=seed, response_rate=response_rate)
    paths = write_tables(data, out, fmt=fmt)
    typer.echo(f"wrote {len(paths)} tables to {out} (true population NPS {data.true_population_nps:.1f})")


@app.command()
def train(
    config: ConfigArg,
    out: Annotated[Optional[Path], typer.Option("--out", help="Model bundle folder [outputs/<name>/model].")] = None,
    set_: SetOpt = None,
) -> None:
    """Train every model on the config's data and write a model bundle."""
    cfg = _load(config, set_)
    from .pipeline import train as run_train

    out = out or Path("outputs") / cfg.name / "model"
    result = run_train(cfg, out)
    typer.echo(str(result.bundle_path))


@app.command()
def score(
    config: ConfigArg,
    model: Annotated[str, typer.Option("--model", help="Model bundle folder (or models:/name@alias).")],
    out: Annotated[Path, typer.Option("--out", help="Scored file: .csv (Excel) or .parquet.")],
    set_: SetOpt = None,
) -> None:
    """Score every customer and write the scored file with a manifest.json beside it."""
    cfg = _load(config, set_)
    from .bundle import load_bundle
    from .scoring import score as run_score

    bundle = load_bundle(model)
    result = run_score(cfg, bundle, out)
    typer.echo(str(result.path))


@app.command()
def evaluate(
    config: ConfigArg,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for evaluation.json [outputs/<name>/evaluation].")] = None,
    holdout: Annotated[float, typer.Option(help="Share of respondents hidden to play the silent customers.")] = 0.3,
    set_: SetOpt = None,
) -> None:
    """Hide a share of the answers, train on the rest, and report metrics on the hidden customers."""
    cfg = _load(config, set_)
    from .evaluation import evaluate as run_evaluate

    out = out or Path("outputs") / cfg.name / "evaluation"
    report = run_evaluate(cfg, out, holdout=holdout)
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
) -> None:
    """Generate the synthetic demo data, train, score, and print where the outputs are."""
    from .bundle import load_bundle
    from .datasets import generate as make, write_tables
    from .pipeline import train as run_train
    from .scoring import score as run_score

    cfg = _load(config, set_)
    data_dir = cfg.resolve(cfg.data.dir)
    data = make(n_customers=customers, seed=cfg.seed, response_rate=0.10)
    write_tables(data, data_dir)
    log.info("demo data: %d customers in %s", customers, data_dir)
    result = run_train(cfg, out / "model")
    scored = run_score(cfg, load_bundle(result.bundle_path), out / "scored.csv")
    typer.echo(f"model bundle: {result.bundle_path}")
    typer.echo(f"manifest:     {scored.manifest_path}")
    typer.echo(f"scored file:  {scored.path}")


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
    from .errors import InputError
    from .outputs import to_json_text
    from .people import load_scored
    from .playbook import check_playbook, describe, load_playbook

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
