"""Benchmark of the compiled forest (cxpredict/models/forest.py) against LightGBM's `Booster.predict`, the reference.

    python scripts/bench_predict.py --out bench_predict.json
    python scripts/bench_predict.py --bundle DIR --data FILE.parquet --rows 200000 --out bench_predict.json

The boosters of a trained bundle (default: bench_scale.py's 500k bundle in /tmp/bench-scale) on rows of a
population table (default: the first part of its 1M scoring population), as `cxpredict score` sees them
(bundle.manifest.transform). Three model sets: the NPS boosters, the churn booster (its NPS-probability features
from the NPS model) and the reason boosters. For each set and each thread count (1 and the run's budget,
threads.count()), on the SAME float64 matrix (built once, outside the timing), interleaved repeats (the order
alternates), medians:
  lightgbm   [b.predict(M, raw_score=True, num_threads=n) for b in boosters]
  forest     Forest.of(boosters).raw(M, n): every booster in one pass
rows_per_s, cpu_s_per_100k (process CPU seconds), speedup (lightgbm wall / forest wall), and max_abs_diff of the raw
scores, computed in the same run (0.0: equal to the bit). `frame_*` keys time the scoring path from the model
frame (pandas): LightGBM converting it once per booster, the forest once per set. The machine may be shared:
load averages at start and end are recorded; quote the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_BUNDLE = Path("/tmp/bench-scale/bundle-500k_25k")
DEFAULT_DATA = Path("/tmp/bench-scale/score-population-1m/part-00000.parquet")


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def compare(name: str, boosters: list, frame, n_threads: list[int], repeats: int) -> dict:
    """Both predictors on the same matrix and frame, interleaved; medians; the largest raw-score difference."""
    from cxpredict.models.forest import Forest

    build_s, _, forest = timed(lambda: Forest.of(boosters))
    frame = frame[forest.feature_names]
    matrix = forest.matrix(frame)
    forest.raw(matrix[:10], 1)  # compiled code from numba's cache, outside the timing
    runs = {
        "lightgbm": lambda n: np.column_stack([b.predict(matrix, raw_score=True, num_threads=n) for b in boosters]),
        "forest": lambda n: forest.raw(matrix, n),
        "frame_lightgbm": lambda n: np.column_stack([b.predict(frame, raw_score=True, num_threads=n)
                                                     for b in boosters]),
        "frame_forest": lambda n: forest.raw(frame, n),
    }
    out = {"boosters": len(boosters), "trees": int(len(forest.tree_output)), "rows": len(matrix),
           "forest_build_s": round(build_s, 3), "threads": {}}
    for n in n_threads:
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
        results = {}
        for r in range(repeats):
            for key in (list(runs) if r % 2 == 0 else list(reversed(runs))):
                wall, cpu, results[key] = timed(lambda: runs[key](n))
                times[key].append((wall, cpu))
        entry = {}
        for key, pairs in times.items():
            wall, cpu = float(np.median([p[0] for p in pairs])), float(np.median([p[1] for p in pairs]))
            entry[key] = {"wall_s": round(wall, 4), "rows_per_s": round(len(matrix) / wall),
                          "cpu_s_per_100k": round(cpu * 100_000 / len(matrix), 4)}
        entry["speedup"] = round(entry["lightgbm"]["wall_s"] / entry["forest"]["wall_s"], 2)
        entry["cpu_ratio"] = round(entry["lightgbm"]["cpu_s_per_100k"] / entry["forest"]["cpu_s_per_100k"], 2)
        entry["frame_speedup"] = round(entry["frame_lightgbm"]["wall_s"] / entry["frame_forest"]["wall_s"], 2)
        entry["max_abs_diff"] = float(np.abs(results["forest"] - results["lightgbm"]).max())
        entry["frame_max_abs_diff"] = float(np.abs(results["frame_forest"] - results["frame_lightgbm"]).max())
        out["threads"][str(n)] = entry
        print(name, n, json.dumps(entry), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the JSON here (also printed)")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a Parquet file of the scoring population")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for path in (args.bundle, args.data):
        if not path.exists():
            sys.exit(f"{path} does not exist: run scripts/bench_scale.py first (it writes /tmp/bench-scale), or "
                     f"give --bundle and --data")

    import lightgbm as lgb
    import numba
    import pyarrow.parquet as pq

    from cxpredict import threads
    from cxpredict.io.bundle import load_bundle
    from cxpredict.models.churn import with_nps_features

    plan = threads.use()
    load_start = os.getloadavg()
    bundle = load_bundle(args.bundle)
    frame = pq.read_table(args.data).slice(0, args.rows).to_pandas()
    frame = frame.set_index(frame.columns[0])
    X = bundle.manifest.transform(frame)
    sets = {"nps": [b for b in bundle.nps.boosters_ if b is not None]}
    churn = bundle.get("churn")
    if churn is not None:
        X_churn = with_nps_features(X, bundle.nps.predict_frame(X)) if churn.uses_nps_features_ else X
        sets["churn"] = [churn.booster_]
    if bundle.get("reasons") is not None:
        sets["reasons"] = list(bundle.get("reasons").boosters_)
    n_threads = sorted({1, plan.threads})
    result = {
        "what": "compiled forest (models/forest.py) vs LightGBM Booster.predict, same matrix, same threads",
        "bundle": str(args.bundle), "data": str(args.data), "rows": len(X), "repeats": args.repeats,
        "threads": n_threads,
        "versions": {"lightgbm": lgb.__version__, "numba": numba.__version__, "python": platform.python_version()},
        "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "load_before": [round(v, 2) for v in load_start],
        "sets": {},
    }
    for name, boosters in sets.items():
        result["sets"][name] = compare(name, boosters, X_churn if name == "churn" else X, n_threads, args.repeats)
    all_sets = result["sets"].values()
    for n in map(str, n_threads):
        lgb_wall = sum(s["threads"][n]["lightgbm"]["wall_s"] for s in all_sets)
        ours_wall = sum(s["threads"][n]["forest"]["wall_s"] for s in all_sets)
        result[f"speedup_all_models_{n}_threads"] = round(lgb_wall / ours_wall, 2)
    result["max_abs_diff"] = max(e["max_abs_diff"] for s in all_sets for e in s["threads"].values())
    result["load_after"] = [round(v, 2) for v in os.getloadavg()]
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
