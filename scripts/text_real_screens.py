"""Issue 22's before/after pictures: the report's text section and drivers table on the Yelp reviews (one review per
customer, a random 10% answered, as scripts/bench_text_real.py builds them), from `train`, `score` and `report` of
a given checkout of cxpredict (run with this venv, PYTHONPATH pointing at the checkout).

    python scripts/text_real_screens.py --data DATA --name after --out experiments/text_real/screens
    python scripts/text_real_screens.py --data DATA --name before --code /tmp/before22 --layout events \\
        --out experiments/text_real/screens

--layout customer: the config a user writes today (the text a column of the customer table, see
experiments/text_real/README.md). --layout events: the config the code before issue 22 needed: the reviews in a
dated events table with an aggregation and data.as_of; Yelp has no review dates, so every review is dated on the
invented day EVENT_DAY (as users did), inside the 90-day text window, and their line breaks made spaces (that
code's CSV reader rejected quoted line breaks). The run folder (config, data, model, scored
files, report.html) is kept under --work/<name> for reading the scored headers and warnings."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from bench_text_real import read_dataset, write_project
from report_screens import shoot

ROOT = Path(__file__).resolve().parents[1]
SHOTS = {"text": "text_section", "drivers": "drivers_table"}  # report section id -> picture name
WIDTH = 1100
EVENT_DAY, AS_OF = "2026-11-30", "2026-11-30"  # invented: Yelp's file has no review dates


def events_layout(folder: Path, config: Path) -> None:
    """Rewrite write_project's customer-table project as the code before issue 22 needed it: the reviews moved to
    a dated events table `reviews` (customer_id, reviewed_at, review) with a count aggregation, data.as_of set."""
    import pandas as pd

    customers = pd.read_csv(folder / "customers.csv")
    # that code's CSV reader rejects quoted line breaks ("Expected 3 columns, got 2"; no option turned them on):
    # like its users, the reviews' line breaks are made spaces
    flat = customers["review"].str.replace(r"\s*[\r\n]+\s*", " ", regex=True)
    reviews = customers[["customer_id"]].assign(reviewed_at=EVENT_DAY, review=flat)
    reviews[["customer_id", "reviewed_at", "review"]].to_csv(folder / "reviews.csv", index=False)
    customers.drop(columns=["review"]).to_csv(folder / "customers.csv", index=False)
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    cfg["data"]["as_of"] = AS_OF
    cfg["data"]["behaviour"].append({"name": "reviews", "path": "reviews.csv", "kind": "events",
                                     "timestamp": "reviewed_at", "aggregations": [{"agg": "count"}]})
    cfg["text"]["columns"] = [{**c, "table": "reviews"} for c in cfg["text"]["columns"]]
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")


def cxpredict(code: Path, *args: str) -> None:
    """One CLI command of the checkout at `code` (its own `cxpredict` package, this venv)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    # -P: the working directory (maybe another checkout) is not put before PYTHONPATH; the package is checked
    run = ("import sys, cxpredict; from pathlib import Path; from cxpredict.cli.app import main\n"
           f"if Path(cxpredict.__file__).parent != Path({str(code / 'cxpredict')!r}): "
           "sys.exit(f'imported {cxpredict.__file__}, not the checkout')\n"
           "sys.exit(main(sys.argv[1:]))")
    print("+ PYTHONPATH=" + str(code), "cxpredict", *args, flush=True)
    subprocess.run([sys.executable, "-P", "-c", run, *args], env=env, check=True)


def run_project(data: Path, folder: Path, code: Path, layout: str, seed: int) -> Path:
    """Yelp's tables and config in folder/project; train, score and report into folder/outputs (the model in
    outputs/model beside the scored files, as `cxpredict demo` lays them out, so `report` finds both)."""
    frame, language = read_dataset(data, "yelp_en")
    project, outputs = folder / "project", folder / "outputs"
    project.mkdir(parents=True, exist_ok=True)
    config, _ = write_project(project, frame, language, seed)
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    del cfg["text"]["method"]  # the user's config: the product's default method, as README shows it
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    if layout == "events":
        events_layout(project, config)
    cxpredict(code, "train", str(config), "--out", str(outputs / "model"), "--no-tracking")
    cxpredict(code, "score", str(config), "--model", str(outputs / "model"), "--out", str(outputs / "scored.csv"),
              "--no-tracking")
    cxpredict(code, "report", str(outputs))
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with yelp.csv (see the README's Data)")
    parser.add_argument("--name", required=True, help="picture prefix: before, after")
    parser.add_argument("--code", type=Path, default=ROOT, help="the cxpredict checkout to run (default: this one)")
    parser.add_argument("--layout", choices=["customer", "events"], default="customer")
    parser.add_argument("--work", type=Path, default=Path("/tmp/text_real_screens"),
                        help="run folders are kept here, under <name>/")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/text_real/screens")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run = run_project(args.data, args.work / args.name, args.code.resolve(), args.layout, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    shots = [shoot(run / "report.html", WIDTH, args.out / f"{args.name}_{picture}.png", args.work / args.name, key)
             for key, picture in SHOTS.items()]
    print(json.dumps(shots, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
