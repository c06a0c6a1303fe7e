#!/usr/bin/env python
"""Benchmark of issue 6 (batch scoring for schedulers): prints one JSON object and writes it to --out.

- Training: the synthetic generator (cxpredict.synthetic.customers) with 10,000 respondents (25% response rate), trained with
  the packaged demo config (NPS, churn, strategy and whatever other stages `cxpredict train` has).
- Population: N synthetic customers (new seeds, so new customers), generated and joined 250,000 at a time and
  written as a folder of Parquet parts: the wide table a warehouse exports for `data.population`.
- Every scoring run is `cxpredict score` in a subprocess; its peak RSS is its own maxrss, read by a small
  launcher that forks it (PEAK_LAUNCHER: a direct child of this process, which trained a model, would inherit
  this process's high-water mark).
  rows_per_s is end to end: process start (imports, bundle check) to exit (MLflow tracking off), reading, features, NPS, churn, drivers
  (when trained), segments, playbook, capacity, writing the scored file, work orders, summary and manifest.
  predict_only_rows_per_s is the same with drivers off (--set drivers.enabled=false).
- peak_rss_mb is measured at N and at --growth-rows (default 3N) rows: memory must not grow with rows.
- rerun_identical: a second run gives byte-identical scored, work-order and summary files.
- kill_leaves_no_partial: a run SIGKILLed while writing leaves the previous outputs byte-identical and no file
  under a final name (only hidden temporary names, removed by the next run).

Usage: python scripts/bench_scoring.py --rows 1000000 --out bench_scoring.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cxpredict.config import DEMO_CONFIG, RESOURCES, config_from_dict, read_yaml
from cxpredict.data.customers import load_customers
from cxpredict.io.outputs import write_json
from cxpredict.provenance import package_versions, sha256_file
from cxpredict.synthetic.customers import generate
from cxpredict.synthetic.tables import write_tables

TARGETS = {"rows_per_s": (">=", 10_000), "peak_rss_mb": ("<=", 1_500), "rss_growth_ratio": ("<=", 1.15),
           "rerun_identical": ("==", True), "kill_leaves_no_partial": ("==", True)}
CHUNK = 250_000
ENV = {**os.environ, "CXPREDICT_PROGRESS": "0"}  # scoring runs use --no-tracking: no MLflow run per measurement
RESPONSE_RATE = 0.25
DATA_FILES = ("scored.parquet", "work_orders.parquet", "segment_summary.parquet")
# Linux carries a process's high-water RSS into a child across fork and exec, so a child of this (large) process
# would report at least this process's own peak. A small launcher forks the command and reads its rusage: the
# command then starts from the launcher's few megabytes and reports its own peak.
PEAK_LAUNCHER = """
import os, signal, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as peak:
    peak.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def log(message: str) -> None:
    print(f"[bench_scoring {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def demo_config(data_dir: Path, config_dir: Path, fmt: str) -> Path:
    """The packaged demo config (and its playbook) pointed at `data_dir`, tables in `fmt`; returns the config path."""
    raw = read_yaml(DEMO_CONFIG)
    raw["data"]["dir"] = str(data_dir)
    for section in (raw["data"]["survey"], raw["data"]["outcomes"], *raw["data"]["behaviour"]):
        section["path"] = str(Path(section["path"]).with_suffix(f".{fmt}"))
    config_dir.mkdir(parents=True, exist_ok=True)
    for extra in ("playbook.yaml",):
        if (RESOURCES / extra).is_file():
            shutil.copy(RESOURCES / extra, config_dir / extra)
    path = config_dir / "bench.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def make_population(rows: int, folder: Path, work: Path, config: Path) -> Path:
    """N customers as a folder of Parquet parts (key + joined behaviour columns), CHUNK customers per part."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = read_yaml(config)
    for k, start in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - start)
        chunk_dir = work / f"chunk-{k}"
        write_tables(generate(n_customers=max(n, 10), seed=1000 + k, response_rate=0.05), chunk_dir, fmt="parquet")
        raw["data"]["dir"] = str(chunk_dir)
        frame = load_customers(config_from_dict(raw, base_dir=config.parent)).frame.iloc[:n].reset_index()
        frame["customer_id"] = f"P{k:03d}-" + frame["customer_id"].astype("str")
        frame.to_parquet(folder / f"part-{k:05d}.parquet", index=False)
        shutil.rmtree(chunk_dir)
    return folder


def run_score(config: Path, bundle: Path, out: Path, population: Path, *extra: str) -> dict:
    """One `cxpredict score` subprocess: wall time, exit code and its own peak RSS."""
    rss_file = out.parent / ".peak_rss"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-c", PEAK_LAUNCHER, str(rss_file), sys.executable, "-m", "cxpredict.cli.app",
           "score", str(config), "--model", str(bundle),
           "--out", str(out), "--set", f"data.population={population}", "--no-tracking", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"scoring failed ({proc.returncode}): {proc.stderr[-3000:]}")
    manifest = json.loads((out.parent / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["rows"]
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds, 1),
            "rows_per_s_in_run": manifest["rows_per_s"], "peak_rss_mb": round(int(rss_file.read_text()) / 1024, 1),
            "timings": manifest["timings"], "drift_status": manifest["drift"]["status"]}


def output_digests(folder: Path) -> dict[str, str]:
    return {name: sha256_file(folder / name) for name in DATA_FILES if (folder / name).exists()}


def kill_mid_write(config: Path, bundle: Path, out: Path, population: Path) -> dict:
    """SIGKILL a run while it writes its scored file; the previous outputs must survive byte for byte."""
    before = {p.name: sha256_file(p) for p in out.parent.iterdir() if p.is_file() and not p.name.startswith(".")}
    cmd = [sys.executable, "-m", "cxpredict.cli.app", "score", str(config), "--model", str(bundle), "--out", str(out),
           "--set", f"data.population={population}", "--no-tracking"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    killed_while_writing = False
    while proc.poll() is None:
        staged = [p for p in out.parent.glob(f".{out.name}.cxpid*.tmp{out.suffix}") if p.is_file()]
        if staged and staged[0].stat().st_size > 0:
            proc.send_signal(signal.SIGKILL)
            killed_while_writing = True
            break
        time.sleep(0.01)
    proc.wait()
    after = {p.name: sha256_file(p) for p in out.parent.iterdir() if p.is_file() and not p.name.startswith(".")}
    leftovers = sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".") and ".cxpid" in p.name)
    return {"killed_while_writing": killed_while_writing, "returncode": proc.returncode,
            "previous_outputs_intact": after == before, "hidden_leftovers": len(leftovers),
            "kill_leaves_no_partial": killed_while_writing and after == before}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="customers to score")
    ap.add_argument("--growth-rows", type=int, default=None, help="second size for the memory check [3 x rows]")
    ap.add_argument("--respondents", type=int, default=10_000, help="respondents the bundle is trained on")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--work", type=Path, default=None,
                    help="working folder, kept and reused by a later run (bundle, populations); default: temporary")
    ap.add_argument("--quick", action="store_true", help="100k rows (300k for memory), 2,000 respondents")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.respondents = min(args.rows, 100_000), min(args.respondents, 2_000)
    growth_rows = args.growth_rows if args.growth_rows is not None else 3 * args.rows
    t_start = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="cxpredict-bench-scoring-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = bench(args, growth_rows, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    write_json(result, args.out)
    print(args.out.read_text(encoding="utf-8"))
    return 0


def bench(args, growth_rows: int, work: Path) -> dict:
    from cxpredict.config import load_config
    from cxpredict.workflows.train import train

    customers = int(round(args.respondents / RESPONSE_RATE))
    config = demo_config(work / "train", work / "configs", "parquet")
    bundle, train_seconds = work / "model", None
    if not (bundle / "bundle.json").is_file():  # a kept --work folder is reused: same data, same bundle
        log(f"training data: {customers} customers, ~{args.respondents} respondents")
        write_tables(generate(n_customers=customers, seed=0, response_rate=RESPONSE_RATE), work / "train",
                     fmt="parquet")
        t0 = time.perf_counter()
        bundle = train(load_config(config), bundle).bundle_path
        train_seconds = round(time.perf_counter() - t0, 1)
        log(f"bundle trained in {train_seconds:.0f}s")

    sizes = sorted({args.rows, growth_rows} - {0})
    populations = {}
    for n in sizes:
        folder = work / f"population-{n}"
        if folder.is_dir() and sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*.parquet")) == n:
            populations[n] = folder
            continue
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        populations[n] = make_population(n, folder, work, config)
        log(f"population of {n} rows written in {time.perf_counter() - t0:.0f}s")

    pop = populations[args.rows]
    out = work / "run" / "scored.parquet"
    log("end-to-end run")
    full = run_score(config, bundle, out, pop)
    first = output_digests(out.parent)
    columns = pq.read_schema(out).names
    log(f"{full['rows_per_s']:.0f} rows/s, peak {full['peak_rss_mb']} MB; predict-only run")
    predict_only = run_score(config, bundle, work / "predict_only" / "scored.parquet", pop,
                             "--set", "drivers.enabled=false")
    log("rerun for identical outputs")
    rerun = run_score(config, bundle, work / "rerun" / "scored.parquet", pop)
    rerun_identical = output_digests(work / "rerun") == first and len(first) >= 1
    log("kill while writing")
    kill = kill_mid_write(config, bundle, out, pop)
    growth = None
    if growth_rows and growth_rows != args.rows:
        log(f"memory at {growth_rows} rows")
        growth = run_score(config, bundle, work / "growth" / "scored.parquet", populations[growth_rows])

    stages = [name for name, col in (("read", "customer_id"), ("features", "predicted_score"), ("nps", "p_detractor"),
                                     ("churn", "churn_prob"), ("drivers", "driver_1"), ("reasons", "reason_1"),
                                     ("segments", "segment"), ("playbook", "action"), ("capacity", "deferred"))
              if col in columns] + ["write"]
    result = {
        "size": "quick" if args.quick else "full",
        "rows": args.rows,
        "rows_per_s": full["rows_per_s"],
        "predict_only_rows_per_s": predict_only["rows_per_s"],
        "end_to_end_vs_predict_only": round(full["rows_per_s"] / predict_only["rows_per_s"], 3),
        "peak_rss_mb": full["peak_rss_mb"],
        "growth_rows": growth_rows if growth else None,
        "peak_rss_mb_growth": growth["peak_rss_mb"] if growth else None,
        "rows_per_s_growth": growth["rows_per_s"] if growth else None,
        "rss_growth_ratio": round(growth["peak_rss_mb"] / full["peak_rss_mb"], 3) if growth else None,
        "rerun_identical": rerun_identical,
        "kill_leaves_no_partial": kill["kill_leaves_no_partial"],
        "stages": stages,
        "drivers_in_output": "driver_1" in columns,
        "output_format": "parquet",
        "runs": {"end_to_end": full, "predict_only": predict_only, "rerun": rerun, "growth": growth, "kill": kill},
        "train": {"customers": customers, "respondents_target": args.respondents, "seconds": train_seconds},
        "machine": {"cpus": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
        "versions": package_versions(),
    }
    result["targets"] = {k: f"{op} {v}" for k, (op, v) in TARGETS.items()}
    result["passed"] = {k: _check(result[k], op, v) for k, (op, v) in TARGETS.items() if result.get(k) is not None}
    return result


def _check(value, op: str, target) -> bool:
    return {"<=": value <= target, ">=": value >= target, "==": value == target}[op]


if __name__ == "__main__":
    sys.exit(main())
