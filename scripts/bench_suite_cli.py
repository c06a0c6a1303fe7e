"""The benchmark suite's runs of the `cxpredict` command, as a new user makes them (scripts/bench_suite.py):
IBM telco as ONE flat CSV with its original column names through train, score and report, and the
fresh-process train and score timings. Every command runs in the venv of this worktree, in a temporary folder
(no shared data is copied into the repository), with --no-tracking.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from benchkit import (
    ProductResult,
    fit_plain,
    judge,
    population_fields,
    synthetic_raw_config,
    telco_respondents,
)

from cxpredict.config import DEFAULT_PLAYBOOK, load_config, read_yaml
from cxpredict.data.customers import load_customers
from cxpredict.data.features import FeatureManifest
from cxpredict.metrics import score_to_class
from cxpredict.synthetic.customers import generate
from cxpredict.synthetic.tables import write_tables

ROOT = Path(__file__).resolve().parents[1]
CXPREDICT = Path(sys.executable).parent / "cxpredict"  # the venv's command: it runs this worktree's code
TELCO_LEAKS = ["Satisfaction Score", "Customer Status", "Churn Label", "Churn Value", "Churn Score", "CLTV",
               "Churn Category", "Churn Reason"]  # labels and IBM model outputs (dataset README, "Traps")
Progress = Callable[[str], None]


def cli(args: list[str], cwd: Path) -> dict[str, Any]:
    """Run `cxpredict ARGS` in a fresh process; exit code, wall seconds, CPU seconds (user + system: less
    sensitive to a busy machine than wall time) and, on failure, the end of stderr."""
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([str(CXPREDICT), *args], cwd=cwd, capture_output=True, text=True)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {"command": "cxpredict " + " ".join(args), "exit_code": done.returncode,
           "seconds": time.perf_counter() - start,
           "cpu_seconds": used.ru_utime - cpu.ru_utime + used.ru_stime - cpu.ru_stime}
    if done.returncode != 0:
        out["error"] = done.stderr[-3000:]
    return out


def flat_telco_table(data_dir: Path, key: str) -> pd.DataFrame:
    """The five telco tables joined into one row per customer, original column names, each column once."""
    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(data_dir / f"Telco_customer_churn_{name}.csv", keep_default_na=False, na_values=[""])

    flat = read("demographics")
    for name in ("location", "services", "status"):
        table = read(name)
        flat = flat.merge(table[[key, *[c for c in table.columns if c not in flat.columns]]], on=key, how="left")
    return flat.merge(read("population")[["Zip Code", "Population"]], on="Zip Code", how="left")


def flat_telco_config(folder: Path, table: str, key: str, telco_config: Path) -> Path:
    """What a new user writes for the flat table: data, scale, leak exclusions, segments and driver groups in
    their own column names; every model setting left at the product's defaults."""
    telco = read_yaml(telco_config)
    raw = {"name": "telco-flat", "seed": 0,
           "data": {"dir": str(folder), "key": key, "read": {"na_values": [""]},
                    "survey": {"path": table, "score": "Satisfaction Score"},
                    "outcomes": {"path": table, "label": "Churn Value"},
                    "behaviour": [{"name": "customers", "path": table}]},
           "scale": telco["scale"], "features": {"exclude": TELCO_LEAKS},
           "population": {"segments": telco["population"]["segments"]},
           "drivers": {"groups": telco["drivers"]["groups"], "segments": telco["drivers"]["segments"]},
           "churn": {"horizon_days": 90, "value": {"column": "Monthly Charge", "months": 12}},
           "strategy": {"playbook": str(DEFAULT_PLAYBOOK)}}
    path = folder / "telco_flat.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def run_flat_telco(rate: float, mechanism: str, telco_config: Path, progress: Progress) -> dict[str, Any]:
    """`cxpredict train`, `score` and `report` on the flat table; judged like the other cases when scoring worked."""
    cfg = load_config(telco_config)
    key = cfg.data.key
    with tempfile.TemporaryDirectory(prefix="cxsuite-flat-") as tmp:
        folder = Path(tmp)
        flat = flat_telco_table(cfg.resolve(cfg.data.dir), key)
        order_ids = pd.read_csv(cfg.data_path(cfg.data.survey.path), usecols=[key])[key].astype("str").to_numpy()
        resp = telco_respondents(order_ids, flat.set_index(key), 0, rate, mechanism)
        true_score = flat["Satisfaction Score"].to_numpy(dtype=float)
        flat["Satisfaction Score"] = flat["Satisfaction Score"].astype("Int64").where(resp)  # the silent: blank
        flat.to_csv(folder / "telco_flat.csv", index=False)
        config = flat_telco_config(folder, "telco_flat.csv", key, telco_config)
        run = folder / "run"
        steps = {"train": cli(["train", str(config), "--out", str(run / "model"), "--no-tracking"], folder)}
        progress(f"flat telco: cxpredict train exit {steps['train']['exit_code']} "
                 f"({steps['train']['seconds']:.0f}s)")
        if steps["train"]["exit_code"] == 0:
            steps["score"] = cli(["score", str(config), "--model", str(run / "model"), "--out",
                                  str(run / "scored.csv"), "--no-tracking"], folder)
        if steps.get("score", {}).get("exit_code") == 0:
            steps["report"] = cli(["report", str(run), "--out", str(run / "report.html")], folder)
        ok = all(steps.get(s, {}).get("exit_code") == 0 for s in ("train", "score", "report"))
        out: dict[str, Any] = {"ok": ok, "n_columns": flat.shape[1], "columns": list(flat.columns),
                               "config": yaml.safe_load(config.read_text(encoding="utf-8")), "steps": steps,
                               "skipped": [s for s in ("score", "report") if s not in steps]}
        if steps.get("score", {}).get("exit_code") == 0:
            out["row"] = judge_flat(folder / "telco_flat.yaml", run, true_score, resp, flat[key], steps)
    return out


def judge_flat(config: Path, run: Path, true_score, resp, ids: pd.Series, steps) -> dict[str, Any]:
    """Scored file + the bundle's population estimate vs the truth; the plain baseline on the same features."""
    cfg = load_config(config)
    scored = pd.read_csv(run / "scored.csv")
    id_column = cfg.data.key if cfg.data.key in scored.columns else "customer_id"
    predictions = scored.set_index(scored[id_column].astype("str")).reindex(ids.astype("str").to_numpy())
    population_files = sorted(run.rglob("population.json"))
    population = (json.loads(population_files[0].read_text(encoding="utf-8")) if population_files else
                  json.loads((run / "model" / "metrics.json").read_text(encoding="utf-8"))["population_nps"])
    metrics = json.loads((run / "model" / "metrics.json").read_text(encoding="utf-8"))
    product = ProductResult(predictions=predictions.reset_index(drop=True), **population_fields(population),
                            train_s=steps["train"]["seconds"], score_s=steps["score"]["seconds"],
                            details={"reported_auc": metrics.get("nps_cv", {}).get("detractor_auc")})
    data = load_customers(cfg)
    X = FeatureManifest.fit(data.frame, cfg.features).transform(data.frame, source="flat telco")
    X = X.loc[ids.astype("str").to_numpy()]  # the order of `true_score` and `resp`
    plain, plain_s = fit_plain(X, score_to_class(true_score, cfg.scale), resp, 0, cfg.nps.params.n_jobs)
    return judge(true_score, resp, cfg.scale, product, plain, plain_s)


def timing(quick: bool, base: Path, progress: Progress) -> dict[str, Any]:
    """Fresh-process wall seconds of `cxpredict train` (10k / 1k and 130k / 6.5k) and `cxpredict score` (1,000),
    on synthetic CSV tables and the packaged demo config (bootstrap, churn and drivers as configured there)."""
    out: dict[str, Any] = {"what": "wall seconds of a fresh `cxpredict` process, imports included: train runs every "
                                   "stage (response, NPS, population interval, churn, reasons, drivers, bundle); "
                                   "score writes the scored file, drivers and people files",
                           "config": base.name, "data": "synthetic CSV tables (cxpredict.synthetic.customers.generate)"}
    with tempfile.TemporaryDirectory(prefix="cxsuite-timing-") as tmp:
        folder = Path(tmp)

        def config_for(name: str, n: int, rate: float, seed: int) -> Path:
            write_tables(generate(n_customers=n, seed=seed, response_rate=rate), folder / name, "csv")
            raw = synthetic_raw_config(base, folder / name, [], fmt="csv")
            raw["strategy"]["playbook"] = str(base.parent / raw["strategy"]["playbook"])
            path = folder / f"{name}.yaml"
            path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
            return path

        sizes = [("10k", 10_000, 0.10)] + ([] if quick else [("130k", 130_000, 0.05)])
        for label, n, rate in sizes:
            step = cli(["train", str(config_for(label, n, rate, 101)), "--out", str(folder / f"model_{label}"),
                        "--no-tracking"], folder)
            out[f"train_{label}"] = step | {"n_customers": n, "expected_respondents": round(n * rate)}
            progress(f"timing: train {label} exit {step['exit_code']} in {step['seconds']:.1f}s")
        if quick:
            out["train_130k"] = {"skipped": "--quick: the 130k / 6.5k training runs in full mode only"}
        if out["train_10k"]["exit_code"] == 0:
            step = cli(["score", str(config_for("score_1k", 1_000, 0.10, 102)), "--model", str(folder / "model_10k"),
                        "--out", str(folder / "scored_1k.csv"), "--no-tracking"], folder)
            out["score_1k"] = step | {"n_customers": 1_000, "model": "the 10k bundle"}
            progress(f"timing: score 1k exit {step['exit_code']} in {step['seconds']:.1f}s")
    return out
