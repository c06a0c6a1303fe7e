"""How LightGBM fits fare beside busy processes: OpenMP's default (spinning waits) against cxpredict's thread
policy (passive waits, threads from the usable cores), in one run on the same data and threads.

Each fit runs in a fresh child process (the wait policy is read when the OpenMP runtime loads): a plain
`lightgbm.LGBMClassifier()` on 25,000 rows x 16 columns, 3 classes. Each condition is timed idle and with
`--competitors` CPU-bound busy loops started by this script on the same cores (stopped at the end, also on error).

    python scripts/bench_threads.py --out experiments/threads/results/bench_threads.json

JSON: `fit_s[condition][idle|busy]` (median of `--repeats` fits), `contention_ratio[condition]` = busy / idle, the
machine's cores and load average. Conditions: `openmp_default` (n_jobs = usable cores, libgomp's own spin),
`passive` (OMP_WAIT_POLICY=PASSIVE: no spin), `cxpredict` (import cxpredict first: its policy, a short spin),
`one_thread` (n_jobs=1, the floor beside busy processes).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

FIT = """
import sys, time
policy = sys.argv[1]
if policy in ("cxpredict", "passive"):
    import cxpredict
    from cxpredict import threads
    n_jobs = threads.count(None)
else:
    n_jobs = 1 if policy == "one_thread" else len(__import__("os").sched_getaffinity(0))
import lightgbm as lgb
import numpy as np
rng = np.random.default_rng(0)
X = rng.normal(size=(25_000, 16))
y = np.digitize(X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=len(X)), [-0.5, 0.8])
start = time.perf_counter()
lgb.LGBMClassifier(n_jobs=n_jobs, random_state=0, verbose=-1).fit(X, y)
print(time.perf_counter() - start)
"""

CONDITIONS = ("openmp_default", "passive", "cxpredict", "one_thread")
RUNTIME_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "CXPREDICT_THREADS")


def _busy_loop() -> None:  # a fixed CPU-bound competitor
    x = 0
    while True:
        x = (x * 1_103_515_245 + 12_345) % 2_147_483_648


def fit_seconds(condition: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in RUNTIME_VARIABLES}
    if condition == "passive":  # fully passive waits (cxpredict's threads, no spinning at all)
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    done = subprocess.run([sys.executable, "-c", FIT, condition], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def measure(repeats: int) -> dict[str, float]:
    return {c: round(statistics.median(fit_seconds(c) for _ in range(repeats)), 3) for c in CONDITIONS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--competitors", type=int, default=2)
    args = parser.parse_args()
    load_before = os.getloadavg()
    idle = measure(args.repeats)
    competitors = [mp.Process(target=_busy_loop, daemon=True) for _ in range(args.competitors)]
    try:
        for p in competitors:
            p.start()
        time.sleep(1.0)
        busy = measure(args.repeats)
    finally:
        for p in competitors:
            p.terminate()
            p.join()
    result = {
        "fit_s": {c: {"idle": idle[c], "busy": busy[c]} for c in CONDITIONS},
        "contention_ratio": {c: round(busy[c] / idle[c], 2) for c in CONDITIONS},
        "busy_vs_one_thread": {c: round(busy[c] / busy["one_thread"], 2) for c in CONDITIONS},
        "repeats": args.repeats, "competitors": args.competitors,
        "machine": {"usable_cores": len(os.sched_getaffinity(0)), "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "note": "idle = no competitors of this script's own; other processes on the machine are not controlled: "
                "read the load averages",
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
