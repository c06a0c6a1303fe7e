"""Alternate `cxpredict learn` runs of two source trees (A, B, A, B, ...) and write one JSON: every run's stage
wall and CPU seconds (learn_stages_ab.py in a fresh process each), the medians per tree, and whether the trees
wrote the same output tables (sha256 per file, learn.json aside).

Usage: python experiments/scale/learn_ab.py --a /work/main --b . --rounds 3 --out RESULT.json \
           CONFIG BUNDLE RESULTS ASSIGNMENTS WORKDIR
Alternating spreads a shared machine's drift over both trees; quote medians, and CPU seconds where the load moved."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(tree: Path, args: argparse.Namespace, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "CXPREDICT_PROGRESS": "0"}
    done = subprocess.run([sys.executable, str(HERE / "learn_stages_ab.py"), args.config, args.bundle, args.results,
                           args.assignments, str(out)], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout[done.stdout.index("{"):])


def medians(runs: list[dict]) -> dict:
    keys = ["process_wall", "process_cpu", "peak_rss_mb"]
    stages = runs[0]["wall"].keys()
    return {**{k: statistics.median(r[k] for r in runs) for k in keys},
            "wall": {s: statistics.median(r["wall"][s] for r in runs) for s in stages},
            "cpu": {s: statistics.median(r["cpu"][s] for r in runs) for s in runs[0]["cpu"]}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", required=True)
    for name in ("config", "bundle", "results", "assignments", "workdir"):
        p.add_argument(name)
    args = p.parse_args()
    trees = {"a": Path(args.a).resolve(), "b": Path(args.b).resolve()}
    commits = {k: subprocess.run(["git", "-C", str(t), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip() for k, t in trees.items()}
    runs: dict[str, list] = {"a": [], "b": []}
    for i in range(args.rounds):
        for k, tree in trees.items():
            got = run(tree, args, Path(args.workdir) / f"{k}{i}")
            got["started"] = time.strftime("%H:%M:%S", time.gmtime())
            runs[k].append(got)
            print(k, i, got["process_wall"], got["process_cpu"], got["load_average"], flush=True)
    same = all(r["outputs"] == runs["a"][0]["outputs"] for r in runs["a"] + runs["b"])
    result = {"what": "cxpredict learn, trees alternated run by run (learn_stages_ab.py per run)",
              "trees": {k: {"path": str(t), "commit": commits[k]} for k, t in trees.items()},
              "inputs": {k: getattr(args, k) for k in ("config", "bundle", "results", "assignments")},
              "outputs_identical": same, "median": {k: medians(v) for k, v in runs.items()}, "runs": runs}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"outputs_identical": same,
                      **{k: {m: result["median"][k][m] for m in ("process_wall", "process_cpu")} for k in runs}}))


if __name__ == "__main__":
    main()
