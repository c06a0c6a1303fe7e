"""Small-fold cross-fitting: folds in parallel with single-threaded boosters (models/lgbm.py `fold_threads`)
against folds one after another with every thread, measured back to back in one process (a shared machine: the
ratios and medians of alternated repeats are what to read, with the load average recorded).

Two measurements:
- `cross_fit`: one 5-fold cross-fit of a 3-class booster (300 rounds) at growing rows, parallel / sequential;
- `nps_fit`: NpsClassifier.fit on `--respondents` answers (the candidate screening on `screen_rows` of them), and
  the issue-20 reference, plain `LGBMClassifier()` 5-fold CV on the same rows and threads; also whether the two
  modes keep the same candidate and the same selection table.

    python scripts/bench_fold_threads.py --out experiments/threads/results/fold_threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cxpredict  # noqa: E402,F401  (the thread policy's waits, before LightGBM loads)
import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402

from cxpredict import threads  # noqa: E402
from cxpredict.io.outputs import write_text  # noqa: E402
from cxpredict.models import lgbm  # noqa: E402
from cxpredict.models.nps import NpsClassifier  # noqa: E402


def simulate(n: int, n_features: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, n_features)), columns=[f"f{i}" for i in range(n_features)])
    latent = 7.5 - 1.2 * X["f0"] + 0.6 * X["f1"] * X["f2"] + 0.4 * np.abs(X["f3"]) + rng.logistic(0, 1.0, n)
    return X, np.clip(np.floor(latent + 0.5), 0, 10).astype(int).to_numpy()


class Mode:
    """Sequential: no fold counts as small (every booster gets every thread, folds one after another)."""

    def __init__(self, parallel: bool, every_size: bool = False) -> None:
        self.parallel, self.every_size, self.saved = parallel, every_size, lgbm.SMALL_FIT_CELLS

    def __enter__(self):
        lgbm.SMALL_FIT_CELLS = (10**12 if self.every_size else self.saved) if self.parallel else -1

    def __exit__(self, *exc):
        lgbm.SMALL_FIT_CELLS = self.saved


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def cross_fit_once(X, score) -> np.ndarray:
    cls = np.digitize(score, [6.5, 8.5])
    folds = lgbm.fold_ids(cls, 5, 0)
    params = {"objective": "multiclass", "num_class": 3, "learning_rate": 0.05, "num_leaves": 7,
              "num_threads": threads.count(), "seed": 0, "deterministic": True, "force_col_wise": True,
              "verbosity": -1}
    return lgbm.cross_fit(X, cls, None, params, 300, folds, cls, None, 0)[0]


def bench_cross_fit(sizes: list[int], n_features: int, repeats: int) -> dict:
    out = {}
    for n in sizes:
        X, score = simulate(n, n_features)
        secs = {True: [], False: []}
        oof = {}
        for _ in range(repeats):
            for parallel in (False, True):
                with Mode(parallel, every_size=True):
                    s, oof[parallel] = timed(lambda: cross_fit_once(X, score))
                secs[parallel].append(s)
        out[str(n)] = {"fold_cells": n * 4 // 5 * n_features, "sequential_s": statistics.median(secs[False]),
                       "parallel_s": statistics.median(secs[True]),
                       "parallel_vs_sequential": round(statistics.median(
                           [p / q for p, q in zip(secs[True], secs[False])]), 3),
                       "max_abs_oof_difference": float(np.max(np.abs(oof[True] - oof[False])))}
        print(n, out[str(n)], flush=True)
    return out


def plain_cv(X, score) -> float:
    cls = np.digitize(score, [6.5, 8.5])
    splitter = StratifiedKFold(5, shuffle=True, random_state=0)
    return timed(lambda: cross_val_score(lgb.LGBMClassifier(n_jobs=threads.count(), verbose=-1), X, cls,
                                         cv=splitter))[0]


def bench_nps_fit(respondents: int, n_features: int, repeats: int, seeds: list[int]) -> dict:
    X, score = simulate(respondents, n_features)
    secs, tables = {True: [], False: []}, {}
    plain = []
    for _ in range(repeats):
        plain.append(plain_cv(X, score))
        for parallel in (False, True):
            with Mode(parallel):
                s, model = timed(lambda: NpsClassifier(cv=5, random_state=0).fit(X, score))
            secs[parallel].append(s)
            tables[parallel] = model.selection_
    same = {}
    for seed in seeds:  # the kept candidate and the selection table in both modes, other data and seeds
        Xs, ss = simulate(2_000, n_features, seed)
        fitted = {}
        for parallel in (False, True):
            with Mode(parallel):
                fitted[parallel] = NpsClassifier(cv=5, random_state=seed).fit(Xs, ss).selection_
        same[str(seed)] = fitted[True] == fitted[False]
    return {"respondents": respondents, "features": n_features,
            "plain_cv_s": statistics.median(plain), "sequential_s": statistics.median(secs[False]),
            "parallel_s": statistics.median(secs[True]),
            "parallel_vs_sequential": round(statistics.median([p / q for p, q in zip(secs[True], secs[False])]), 3),
            "nps_fit_vs_plain_cv": {"sequential": round(statistics.median(
                [q / c for q, c in zip(secs[False], plain)]), 3), "parallel": round(statistics.median(
                    [p / c for p, c in zip(secs[True], plain)]), 3)},
            "same_selection_table": tables[True] == tables[False], "same_selection_table_2000_by_seed": same,
            "all_seconds": {"plain": plain, "sequential": secs[False], "parallel": secs[True]}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--sizes", default="1000,4000,10000,25000")
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--respondents", type=int, default=25_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-nps", action="store_true")
    args = ap.parse_args(argv)
    plan = threads.use(None)
    result = {"machine": {"threads": plan.threads, "load_before": os.getloadavg(), "shared": True,
                          "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                          "gomp_spincount": os.environ.get("GOMP_SPINCOUNT")},
              "small_fit_cells": lgbm.SMALL_FIT_CELLS,
              "cross_fit": bench_cross_fit([int(s) for s in args.sizes.split(",")], args.features, args.repeats)}
    save(result, args.out)  # the cross-fit rows survive an NPS part cut short
    if not args.skip_nps:
        result["nps_fit"] = bench_nps_fit(args.respondents, args.features, args.repeats, [1, 2, 3])
        save(result, args.out)
    print(json.dumps(result, indent=2, default=str))
    return 0


def save(result: dict, out: Path | None) -> None:
    result["machine"]["load_after"] = os.getloadavg()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text(json.dumps(result, indent=2, default=str) + "\n", out)  # complete or absent


if __name__ == "__main__":
    raise SystemExit(main())
