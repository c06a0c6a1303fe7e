#!/usr/bin/env python
"""Benchmark of issue 20 (fast on busy machines and at real programme sizes): writes one JSON object to --out.

- Sizes (`--sizes 500k:25k,2m:100k`, customers:respondents): `cxpredict generate --format parquet` tables, then
  `cxpredict train` with the packaged demo config (drivers and churn on) in a subprocess, twice: idle, and with
  two CPU-bound competitor processes (a fixed busy loop) that this script starts on the same cores and stops at
  the end, also on error or SIGTERM. `contention_ratio` = contended / idle wall time.
- Each run's peak RSS is the child's own (`os.wait4` rusage, read by a small launcher: see PEAK_LAUNCHER); per-stage
  seconds come from its --log-json lines
  (`train.stage` and `train.substage` events).
- Reference: plain `LGBMClassifier()` (default parameters), 5-fold CV on the same respondents and features, same
  threads, timed in a subprocess just before and just after the idle training (`plain_cv.runs_s`; the reference
  is their mean, so a drift of the machine's speed over the minutes between them is shared by both sides of the
  ratio); `nps_fit_vs_plain_cv` = the NPS fit stage / that CV (wall);
  `nps_fit_vs_plain_cv_cpu` the same in CPU seconds (fairer on a shared machine; OpenMP's short spins count).
  Every run also records its CPU seconds (`cpu_s`) and the NPS stage's steps theirs (`stages_cpu_s`).
- Scoring (`--score-rows 1m,10m`): that many generated customers scored by the first size's bundle, with drivers
  and without (`--set drivers.enabled=false`); the with-drivers run explains the rows `--drivers-rows` names
  (drivers.rows, default `all`; recorded as `drivers_rows` in each score row). `--score-source population` (default): a population table
  (`data.population`, a folder of Parquet parts) generated and joined 250,000 customers at a time, streamed by
  `score` in batches: memory is bounded at any size, as for a warehouse's nightly export. `tables`: the raw
  generated tables, read and joined at once as for training (memory grows with the customers: not for 10M).
  Campaign learning (`cxpredict learn`) on simulated results of every scored size up to `--learn-max` customers.
- Target keys a run did not measure are null, with the reason under `not_measured`; nothing is extrapolated.

Usage: python scripts/bench_scale.py --out bench_scale.json [--sizes 500k:25k] [--score-rows 1m] [--quick]
       [--score-source population|tables]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_scoring import PEAK_LAUNCHER, demo_config, make_population  # noqa: E402

from cxpredict.io.outputs import write_json  # noqa: E402
from cxpredict.provenance import package_versions  # noqa: E402

TARGETS = {"contention_ratio": ("<=", 2.5), "train_s_500k_25k": ("<=", 60), "train_s_2m_100k": ("<=", 240),
           "nps_fit_vs_plain_cv": ("<=", 4), "score_rows_per_s_10m": (">=", 40_000),
           "score_rows_per_s_10m_no_drivers": (">=", 100_000), "score_peak_rss_mb_1m": ("<=", 2_000),
           "score_peak_rss_mb_10m": ("<=", 2_000), "learn_s_1m": ("<=", 30)}
# where each target key is read: (section, size label, field)
TARGET_SOURCES = {"contention_ratio": ("train", "500k_25k", "contention_ratio"),
                  "train_s_500k_25k": ("train", "500k_25k", "idle_s"),
                  "train_s_2m_100k": ("train", "2m_100k", "idle_s"),
                  "nps_fit_vs_plain_cv": ("train", "500k_25k", "nps_fit_vs_plain_cv"),
                  "score_rows_per_s_10m": ("score", "10m", "rows_per_s"),
                  "score_rows_per_s_10m_no_drivers": ("score", "10m", "rows_per_s_no_drivers"),
                  "score_peak_rss_mb_1m": ("score", "1m", "peak_rss_mb"),
                  "score_peak_rss_mb_10m": ("score", "10m", "peak_rss_mb"),
                  "learn_s_1m": ("score", "1m", "learn_s")}
QUICK = {"sizes": "2k:400", "score_rows": "2k", "learn_max": "2k"}
# quick mode checks the plumbing, not the speed: tiny models so that the whole run takes seconds
QUICK_OVERRIDES = ["nps.candidates=configured", "nps.cv_folds=2", "nps.params.n_estimators=10",
                   "response.cv_folds=2", "response.params.n_estimators=10", "churn.params.n_estimators=10",
                   "churn.nps_feature_folds=2", "drivers.reason_params.n_estimators=10", "population.segments=[]"]
COMPETITORS = 2
BUSY_LOOP = "while True:\n    pass\n"
PLAIN_CV = """
import json, sys, time
from pathlib import Path
import lightgbm as lgb
import numpy as np
from sklearn.model_selection import StratifiedKFold
from cxpredict.config import load_config
from cxpredict.data.customers import load_customers
from cxpredict.data.features import FeatureManifest
from cxpredict.metrics import score_to_class
cfg = load_config(Path(sys.argv[1]), overrides=sys.argv[2:])
data = load_customers(cfg)
X = FeatureManifest.fit(data.frame, cfg.features).transform(data.frame)[data.is_respondent]
y = score_to_class(data.score.to_numpy()[data.is_respondent], cfg.scale)
try:  # the thread policy of the run (cxpredict.threads, when this version has it), else the NPS section's n_jobs
    from cxpredict import threads
    n_jobs, source = threads.count(None), "cxpredict.threads.count"
except (ImportError, AttributeError):
    n_jobs, source = cfg.nps.params.n_jobs, "nps.params.n_jobs"
start, cpu_start = time.perf_counter(), time.process_time()
for fit, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
    model = lgb.LGBMClassifier(n_jobs=n_jobs, verbose=-1).fit(X.iloc[fit], y[fit])
    model.predict_proba(X.iloc[test])
print(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
                  "rows": len(X), "features": X.shape[1],
                  "n_jobs": n_jobs, "n_jobs_source": source}))
"""
ENV = {**os.environ, "CXPREDICT_PROGRESS": "0"}
SIZE = re.compile(r"^(\d+(?:\.\d+)?)([km]?)$", re.IGNORECASE)


def log(message: str) -> None:
    print(f"[bench_scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def count(text: str) -> int:
    """'500k' -> 500000, '2m' -> 2000000, '1500' -> 1500."""
    match = SIZE.match(text.strip())
    if not match:
        raise SystemExit(f"bench_scale: '{text}' is not a count such as 2000, 500k or 2m")
    return int(float(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()])


def label(n: int) -> str:
    """500000 -> '500k', 2000000 -> '2m' (the spelling of the target keys)."""
    for unit, size in (("m", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


# --------------------------------------------------------------------------------------------- processes
class Competitors:
    """Two busy-loop processes on this process's cores while a block runs; always stopped (also on SIGTERM)."""

    def __init__(self, n: int = COMPETITORS) -> None:
        self.n, self.procs = n, []

    def __enter__(self) -> Competitors:
        self.procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(self.n)]
        atexit.register(self.stop)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.procs = []


def run(cmd: list[str], what: str) -> dict:
    """A child process: wall seconds, exit code, its own peak RSS (PEAK_LAUNCHER) and its stdout / stderr text."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak_kb"
        cpu_before = children_cpu()
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", PEAK_LAUNCHER, str(peak_file), *cmd], stdout=out, stderr=err,
                                env=ENV, text=True)
        try:
            proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
        seconds = time.perf_counter() - start
        cpu_seconds = children_cpu() - cpu_before
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
        peak_kb = int(peak_file.read_text()) if peak_file.is_file() else None
    if proc.returncode != 0 or peak_kb is None:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {stderr[-3000:]}")
    return {"seconds": round(seconds, 2), "cpu_s": round(cpu_seconds, 2), "peak_rss_mb": round(peak_kb / 1024, 1),
            "stdout": stdout, "stderr": stderr}


def children_cpu() -> float:
    """User + system CPU seconds of the waited-for children so far (the launcher waits its child, so a run's
    delta is the child's own): on a shared machine a fairer measure of work than wall seconds."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cxpredict.cli.app", "--log-json", *args]


def stage_seconds(stderr: str, key: str = "duration_s") -> dict[str, float]:
    """Per-stage seconds from a run's --log-json lines (train.stage, train.substage: the NPS stage's steps);
    key "cpu_s": the CPU seconds the NPS stage's steps log."""
    stages: dict[str, float] = {}
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") in ("train.stage", "train.substage") and key in record:
            stages[record["stage"]] = record[key]
    return stages


# --------------------------------------------------------------------------------------------- steps
def generate(n: int, respondents: int, folder: Path, seed: int = 0) -> Path:
    if not (folder / "customers.parquet").exists():
        run(cli("generate", "--out", str(folder), "--customers", str(n), "--seed", str(seed),
                "--response-rate", str(respondents / n), "--format", "parquet"), f"generate {n}")
    return folder


def train(config: Path, bundle: Path, overrides: list[str], contended: bool) -> dict:
    sets = [a for o in overrides for a in ("--set", o)]
    cmd = cli("train", str(config), "--out", str(bundle), "--no-tracking", *sets)
    if contended:
        with Competitors():
            result = run(cmd, "train (contended)")
    else:
        result = run(cmd, "train")
    recorded = {name: json.loads((bundle / name).read_text(encoding="utf-8"))
                for name in ("metrics.json", "bundle.json") if (bundle / name).is_file()}
    threads = next((r["threads"] for r in recorded.values() if isinstance(r, dict) and "threads" in r), None)
    return {"seconds": result["seconds"], "cpu_s": result["cpu_s"], "peak_rss_mb": result["peak_rss_mb"],
            "stages": stage_seconds(result["stderr"]), "stages_cpu_s": stage_seconds(result["stderr"], "cpu_s"),
            "n_respondents": recorded.get("metrics.json", {}).get("n_respondents"), "threads": threads}


def plain_cv(config: Path, overrides: list[str], before: dict | None = None) -> dict:
    """The reference's run; given the run `before` the measured training, their mean seconds, each run's kept."""
    result = run([sys.executable, "-c", PLAIN_CV, str(config), *overrides], "plain LightGBM CV")
    out = {**json.loads(result["stdout"].strip().splitlines()[-1]), "peak_rss_mb": result["peak_rss_mb"]}
    if before is None:
        return out
    runs = {key: [before[key], out[key]] for key in ("seconds", "cpu_seconds")}
    return {**out, **{key: sum(pair) / 2 for key, pair in runs.items()},
            "runs_s": runs["seconds"], "runs_cpu_s": runs["cpu_seconds"]}


def bench_size(n: int, respondents: int, work: Path, overrides: list[str], contention: bool) -> dict:
    name = f"{label(n)}_{label(respondents)}"
    data = generate(n, respondents, work / f"data-{name}")
    config = demo_config(data, work / f"config-{name}", "parquet")
    log(f"{name}: plain LightGBM 5-fold CV, before the idle training")
    before = plain_cv(config, overrides)
    log(f"{name}: train idle")
    idle = train(config, work / f"bundle-{name}", overrides, contended=False)
    log(f"{name}: plain LightGBM 5-fold CV, after the idle training")
    plain = plain_cv(config, overrides, before)
    row: dict = {"customers": n, "respondents": idle["n_respondents"], "idle_s": idle["seconds"], "idle": idle}
    if contention:
        log(f"{name}: train with {COMPETITORS} competitors")
        busy = train(config, work / f"bundle-{name}-contended", overrides, contended=True)
        row.update(contended_s=busy["seconds"], contended=busy,
                   contention_ratio=round(busy["seconds"] / idle["seconds"], 3))
    row["plain_cv"] = plain
    nps_fit = idle["stages"].get("nps.nps_fit")
    row["nps_fit_vs_plain_cv"] = round(nps_fit / plain["seconds"], 3) if nps_fit else None
    nps_fit_cpu = idle["stages_cpu_s"].get("nps.nps_fit")  # the same ratio in CPU seconds: fairer when shared
    row["nps_fit_vs_plain_cv_cpu"] = round(nps_fit_cpu / plain["cpu_seconds"], 3) if nps_fit_cpu else None
    row["bundle"], row["config"] = str(work / f"bundle-{name}"), str(config)
    return row


def score_data(n: int, source: str, work: Path, train_config: Path) -> tuple[Path, list[str]]:
    """(config, extra --set arguments) for scoring n generated customers from `source` (module notes)."""
    name = label(n)
    if source == "tables":
        data = generate(n, max(n // 20, 10), work / f"score-data-{name}", seed=1)
        return demo_config(data, work / f"score-config-{name}", "parquet"), []
    folder = work / f"score-population-{name}"
    if not folder.is_dir():  # the survey stays the training data's: no customer of the population answered it
        log(f"population {name}: generated and joined in chunks")
        make_population(n, folder, work / f"population-work-{name}", train_config)
    return train_config, ["--set", f"data.population={folder}"]


def score_run(config: Path, bundle: Path, out: Path, sets: list[str], what: str) -> dict:
    """One `cxpredict score`: wall seconds, rows/s, peak RSS and the manifest's stage timings."""
    result = run(cli("score", str(config), "--model", str(bundle), "--out", str(out), "--no-tracking", *sets), what)
    manifest = json.loads((out.parent / "manifest.json").read_text(encoding="utf-8"))
    return {"seconds": result["seconds"], "rows_per_s": round(manifest["rows"] / result["seconds"], 1),
            "peak_rss_mb": result["peak_rss_mb"], "stages": manifest.get("timings")}


def bench_score(n: int, bundle: Path, work: Path, overrides: list[str], learn_max: int, source: str,
                train_config: Path, drivers_rows: str = "all") -> dict:
    """Score n generated customers with and without drivers; learn from simulated results."""
    name = label(n)
    config, source_sets = score_data(n, source, work, train_config)
    sets = [a for o in overrides for a in ("--set", o)]
    row: dict = {"customers": n, "source": source, "drivers_rows": drivers_rows}
    for kind, extra in (("", ["--set", f"drivers.rows={drivers_rows}"]),
                        ("_no_drivers", ["--set", "drivers.enabled=false"])):
        log(f"score {name}{kind.replace('_', ' ')}")
        timed = score_run(config, bundle, work / f"scored-{name}{kind}" / "scored.parquet",
                          [*sets, *source_sets, *extra], f"score {name}{kind}")
        row.update({f"{key}{kind}": value for key, value in timed.items()})
    if n <= learn_max:
        row.update(learn(n, bundle, work, sets, source, train_config))
    return row


def learn(n: int, bundle: Path, work: Path, sets: list[str], source: str, train_config: Path) -> dict:
    """Campaign results of scored customers (planted effects), then `cxpredict learn`, timed. Learning reads the
    customers' features from their tables, so a population-table run scores the raw tables once more for it."""
    from cxpredict.io.people import load_scored
    from cxpredict.synthetic.campaign import simulate_results
    from cxpredict.synthetic.customers import generate as make

    config, _ = score_data(n, "tables", work, train_config)
    scored = work / f"scored-{label(n)}"
    if source != "tables":
        scored = work / f"scored-{label(n)}-tables"
        log(f"score {label(n)} from its tables, for learning")
        score_run(config, bundle, scored / "scored.parquet", [*sets, "--set", "drivers.enabled=false"],
                  f"score {label(n)} tables")
    assignments = scored / "assignments.parquet"
    data = make(n_customers=n, seed=1, response_rate=max(n // 20, 10) / n)
    results = simulate_results(data, load_scored(assignments), seed=1).results
    results_path = scored / "campaign_results.parquet"
    results.to_parquet(results_path, index=False)
    del data
    log(f"learn {label(n)}: {len(results)} result rows")
    result = run(cli("learn", str(config), "--results", str(results_path), "--model", str(bundle), "--out",
                     str(scored / "learn"), "--assignments", str(assignments), "--no-tracking", *sets), "learn")
    manifest = json.loads((scored / "learn" / "learn.json").read_text(encoding="utf-8"))
    return {"learn_s": result["seconds"], "learn_rows": len(results), "learn_peak_rss_mb": result["peak_rss_mb"],
            "learn_stages": manifest.get("timings")}


# --------------------------------------------------------------------------------------------- report
def machine() -> dict:
    cpu_max = Path("/sys/fs/cgroup/cpu.max")
    return {"cpu_count": os.cpu_count(), "affinity_cores": len(os.sched_getaffinity(0)),
            "cgroup_cpu_max": cpu_max.read_text().strip() if cpu_max.is_file() else None,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "CXPREDICT_THREADS")}}


def targets(train_rows: dict, score_rows: dict) -> tuple[dict, dict, dict]:
    """(target key -> value or None, key -> why it is None, key -> met / not met / None)."""
    values, missing, met = {}, {}, {}
    for key, (section, size, field) in TARGET_SOURCES.items():
        rows = train_rows if section == "train" else score_rows
        value = rows.get(size, {}).get(field)
        values[key] = value
        if value is None:
            missing[key] = (f"size {size} not run (--sizes)" if section == "train" else
                            f"{size} rows not scored (--score-rows)") if size not in rows else \
                f"{field} not measured at {size} (contention or learning off for it)"
            met[key] = None
        else:
            op, bound = TARGETS[key]
            met[key] = value <= bound if op == "<=" else value >= bound
    return values, missing, met


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="result JSON")
    ap.add_argument("--sizes", default="500k:25k,2m:100k", help="customers:respondents[,...] to train")
    ap.add_argument("--score-rows", default="1m,10m", help="customers to score[,...] ('' for none)")
    ap.add_argument("--score-source", choices=("population", "tables"), default="population",
                    help="score a population table streamed in batches, or the raw tables joined at once")
    ap.add_argument("--drivers-rows", choices=("all", "actioned", "work_orders"), default="all",
                    help="drivers.rows of the with-drivers scoring run (the rows explained)")
    ap.add_argument("--learn-max", default="1m", help="learn from campaign results of scored sizes up to this")
    ap.add_argument("--no-contention", action="store_true", help="train idle only")
    ap.add_argument("--quick", action="store_true", help=f"tiny models and sizes ({QUICK}): checks the plumbing")
    ap.add_argument("--work", type=Path, default=None, help="folder for tables and bundles [a temporary one]")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override for every run")
    args = ap.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == ap.get_default(key):
                setattr(args, key, value)
        args.overrides = QUICK_OVERRIDES + args.overrides
    sizes = [tuple(count(x) for x in s.split(":")) for s in args.sizes.split(",") if s.strip()]
    score_sizes = [count(s) for s in args.score_rows.split(",") if s.strip()]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # competitors are stopped on the way out
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    result: dict = {"benchmark": "bench_scale", "quick": args.quick, "overrides": args.overrides,
                    "score_source": args.score_source, "score_drivers_rows": args.drivers_rows,
                    "machine_start": machine(), "versions": package_versions(), "competitors": COMPETITORS}
    started = time.perf_counter()
    try:
        train_rows = {f"{label(n)}_{label(r)}": bench_size(n, r, work, args.overrides, not args.no_contention)
                      for n, r in sizes}
        score_rows = {}
        if score_sizes and train_rows:
            first = next(iter(train_rows.values()))
            score_rows = {label(n): bench_score(n, Path(first["bundle"]), work, args.overrides, count(args.learn_max),
                                                args.score_source, Path(first["config"]), args.drivers_rows)
                          for n in score_sizes}
        elif score_sizes:
            log("no size trained: nothing to score with")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    values, missing, met = targets(train_rows, score_rows)
    first = next(iter(train_rows.values()), {})
    result.update(values)
    result.update({"not_measured": missing, "met": met, "targets": {k: f"{op} {v}" for k, (op, v) in TARGETS.items()},
                   "thread_policy": first.get("idle", {}).get("threads") or
                   {"plain_cv_n_jobs": first.get("plain_cv", {}).get("n_jobs"),
                    "source": first.get("plain_cv", {}).get("n_jobs_source")},
                   "train": train_rows, "score": score_rows, "machine_end": machine(),
                   "seconds": round(time.perf_counter() - started, 1)})
    write_json(result, args.out)
    log(f"wrote {args.out}")
    print(json.dumps({k: result[k] for k in TARGETS}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
