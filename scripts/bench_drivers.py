"""Benchmark of the drivers: planted-driver recovery, attribution speed and memory, the fair library comparison,
and the stated-reason model.

    python scripts/bench_drivers.py --out bench_drivers.json            # full size (~15-25 min on 2 cores)
    python scripts/bench_drivers.py --out bench_drivers.json --quick    # reduced sizes (~3 min)

(a) Recovery: synthetic data (datasets.generate: 200k customers, 3% response), the NPS model trained on the
    respondents with the packaged demo config, drivers for every customer. Among true detractors whose planted top
    driver is actionable: driver_1 == planted (driver_top1_recovery), planted in driver_1..3 (driver_top3_recovery).
    Headline keys explain every customer (drivers.subset=all) with the configured min_impact; the *_default_subset
    keys use the default subset (predicted detractors and passives), where true detractors that the NPS model
    calls promoters get no driver at all. Also: approx (path) vs exact top-3 agreement and speed.
(b) Speed, in a fresh subprocess so peak RSS is honest: a 3-class LightGBM model of 300 iterations (900 trees:
    300 per class), 31 leaves, 60 features; exact attributions + top-3 of 10 groups for 1,000,000 rows via
    drivers.explain (attrib_rows_per_s, peak_rss_mb = ru_maxrss of that process, everything included).
(c) The kernel against the libraries, honestly: the SAME model's detractor class only, the same rows, the same
    thread count (`threads`; OMP_NUM_THREADS is set for the worker so LightGBM's default equals it), in one
    process, interleaved (the order rotates every repeat), medians of the repeats:
      kernel          treeshap.attribute on the class's trees (DriverExplainer.feature_attributions, matrix included)
      pred_contrib    LightGBM `pred_contrib` on trees.single_class_booster (only that class's trees: a
                      3-class booster's pred_contrib would compute all three)
      shap            shap.TreeExplainer(single_class_booster).shap_values (for LightGBM it calls pred_contrib)
    speedup_vs_best_library = kernel_rows_per_s / max(pred_contrib_rows_per_s, shap_rows_per_s); max_abs_diff is
    the largest |kernel - pred_contrib| attribution. The kernel is kept only while the speed-up is >= 2 at
    max_abs_diff <= 1e-9 (kernel_justified). fresh_process_1k_seconds: a new Python process that imports
    cxpredict, builds the explainer and explains 1,000 rows (compiled code loaded from numba's cache).
(d) Stated reasons: ReasonClassifier trained on 75% of the respondents, micro-F1 on the other 25%
    (reason_micro_f1) against the best constant label set (reason_base_micro_f1); theme agreement between the
    top imputed reason and driver_1 of silent customers.
The machine may be shared: load averages at start and end are recorded; re-time on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
N_FEATURES, N_GROUPS, N_CLASSES = 60, 10, 3


# --------------------------------------------------------------------------------------------- (b) speed model
def speed_groups():
    from cxpredict.config import DriverGroup, DriversConfig

    names = [f"f{j:02d}" for j in range(N_FEATURES)]
    per = N_FEATURES // N_GROUPS
    return DriversConfig(subset="all", groups=[
        DriverGroup(name=f"group_{g}", features=names[g * per:(g + 1) * per], actionable=g < N_GROUPS - 2)
        for g in range(N_GROUPS)])


def speed_rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, N_FEATURES)), columns=[f"f{j:02d}" for j in range(N_FEATURES)])


def train_speed_model(path: Path, seed: int) -> dict:
    """300 iterations x 3 classes, 31 leaves, 60 features, trained on 30k rows with a nonlinear signal."""
    import lightgbm as lgb

    X = speed_rows(30_000, seed)
    v = X.to_numpy()
    rng = np.random.default_rng(seed + 1)
    risk = np.tanh(v[:, :20]).sum(axis=1) + 0.5 * v[:, 20] * v[:, 21] + (v[:, 30] > 1) + rng.logistic(size=len(v))
    y = np.digitize(risk, np.quantile(risk, [0.3, 0.6]))
    params = {"objective": "multiclass", "num_class": N_CLASSES, "num_leaves": 31, "learning_rate": 0.05,
              "min_child_samples": 20, "num_threads": 2, "seed": seed, "deterministic": True, "verbosity": -1}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=300)
    booster.save_model(str(path))
    return {"iterations": booster.current_iteration(), "trees_total": booster.num_trees(), "num_leaves": 31,
            "features": N_FEATURES, "classes": N_CLASSES, "groups": N_GROUPS}


def worker_speed(model: Path, rows: int, seed: int) -> dict:
    """Attributions + top-3 groups for `rows` rows through drivers.explain; peak RSS of this process."""
    import lightgbm as lgb

    from cxpredict.explain.drivers import DriverExplainer, DriverGroups, explain

    booster = lgb.Booster(model_file=str(model))
    cfg = speed_groups()
    explainer = DriverExplainer(booster, 0, DriverGroups.from_config(cfg, booster.feature_name()), "exact",
                                cfg.chunk_size, cfg.n_jobs)
    explainer.group_attributions(speed_rows(64, seed))  # compile (or load the numba cache) before timing
    X = speed_rows(rows, seed + 7)
    start = time.perf_counter()
    proba = booster.predict(X, num_threads=2)
    predict_s = time.perf_counter() - start
    predictions = pd.DataFrame({"p_detractor": proba[:, 0], "predicted_class": "detractor"}, index=X.index)
    start = time.perf_counter()
    drivers = explain(explainer, X, predictions, cfg)
    seconds = time.perf_counter() - start
    return {"rows": rows, "seconds": seconds, "attrib_rows_per_s": rows / seconds, "predict_seconds": predict_s,
            "share_with_driver_1": float(drivers["driver_1"].notna().mean()),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def worker_compare(model: Path, rows: int, repeats: int, threads: int, seed: int) -> dict:
    """Kernel vs pred_contrib vs shap on one class of the same model and rows, interleaved; medians."""
    import lightgbm as lgb
    import shap

    from cxpredict.explain import trees
    from cxpredict.explain.drivers import DriverExplainer, DriverGroups

    booster = lgb.Booster(model_file=str(model))
    cfg = speed_groups()
    groups = DriverGroups.from_config(cfg, booster.feature_name())
    explainer = DriverExplainer(booster, 0, groups, "exact", cfg.chunk_size, threads)
    one = trees.single_class_booster(booster, 0)
    shap_explainer = shap.TreeExplainer(one)
    X = speed_rows(rows, seed + 11)
    explainer.feature_attributions(X.iloc[:64])  # compile (or load the numba cache) before timing
    one.predict(X.iloc[:64], pred_contrib=True, num_threads=threads)
    methods = {
        "kernel": lambda: explainer.feature_attributions(X),
        "pred_contrib": lambda: one.predict(X, pred_contrib=True, num_threads=threads)[:, :N_FEATURES],
        "shap": lambda: np.asarray(shap_explainer.shap_values(X)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    values: dict[str, np.ndarray] = {}
    names = list(methods)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate so no method always runs first
            start = time.perf_counter()
            values[name] = methods[name]()
            seconds[name].append(time.perf_counter() - start)
    rate = {name: rows / float(np.median(s)) for name, s in seconds.items()}
    best = max(rate["pred_contrib"], rate["shap"])
    out = {
        "kernel_rows_per_s": rate["kernel"], "pred_contrib_rows_per_s": rate["pred_contrib"],
        "shap_rows_per_s": rate["shap"], "speedup_vs_best_library": rate["kernel"] / best,
        "ratio_kernel_to_pred_contrib": rate["kernel"] / rate["pred_contrib"],
        "ratio_kernel_to_shap": rate["kernel"] / rate["shap"],
        "max_abs_diff": float(np.abs(values["kernel"] - values["pred_contrib"]).max()),
        "max_abs_diff_vs_shap": float(np.abs(values["kernel"] - values["shap"]).max()),
        "threads": threads, "rows": rows, "repeats": repeats, "seconds": seconds,
        "class_trees": booster.current_iteration(), "features": N_FEATURES,
    }
    out["kernel_justified"] = bool(out["speedup_vs_best_library"] >= 2 and out["max_abs_diff"] <= 1e-9)
    start = time.perf_counter()
    DriverExplainer(booster, 0, groups, "approx", cfg.chunk_size, threads).group_attributions(X)
    out["approx_rows_per_s"] = rows / (time.perf_counter() - start)
    return out


def worker_fresh(model: Path, seed: int) -> dict:
    """A new process: import cxpredict, build the explainer, explain 1,000 rows (the numba cache is warm)."""
    import lightgbm as lgb

    from cxpredict.explain.drivers import DriverExplainer, DriverGroups

    booster = lgb.Booster(model_file=str(model))
    cfg = speed_groups()
    explainer = DriverExplainer(booster, 0, DriverGroups.from_config(cfg, booster.feature_name()), "exact",
                                cfg.chunk_size, cfg.n_jobs)
    explainer.group_attributions(speed_rows(1_000, seed))
    return {}


def fresh_process_seconds(model: Path, seed: int) -> float:
    """Wall seconds of worker_fresh in a new interpreter (its first run fills the cache and is not counted)."""
    run_worker(["--worker", "fresh", "--model", str(model), "--seed", str(seed)])
    start = time.perf_counter()
    run_worker(["--worker", "fresh", "--model", str(model), "--seed", str(seed)])
    return time.perf_counter() - start


def run_worker(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run this script as a fresh subprocess (its own peak RSS) and return its JSON answer."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        answer = Path(tmp.name)
    try:
        subprocess.run([sys.executable, __file__, *args, "--answer", str(answer)], check=True,
                       env={**os.environ, **(env or {})})
        return json.loads(answer.read_text())
    finally:
        answer.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- (a, d) synthetic
def recovery_and_reasons(n_customers: int, response_rate: float, seed: int) -> dict:
    from cxpredict.config import demo_config
    from cxpredict.data.customers import load_customers
    from cxpredict.data.features import FeatureManifest
    from cxpredict.explain.drivers import DriverExplainer, explain
    from cxpredict.models.nps import NpsClassifier
    from cxpredict.models.reasons import (
        ReasonClassifier,
        constant_baseline,
        micro_f1,
        reason_matrix,
        theme_agreement,
    )
    from cxpredict.synthetic.customers import generate
    from cxpredict.synthetic.tables import write_tables

    out: dict = {"n_customers": n_customers, "response_rate": response_rate, "seed": seed}
    t0 = time.perf_counter()
    synthetic = generate(n_customers=n_customers, seed=seed, response_rate=response_rate)
    with tempfile.TemporaryDirectory() as tmp:
        write_tables(synthetic, Path(tmp) / "data")
        cfg = demo_config(Path(tmp) / "data", [f"seed={seed}"])
        data = load_customers(cfg)
    manifest = FeatureManifest.fit(data.frame, cfg.features)
    X = manifest.transform(data.frame)
    resp = data.is_respondent
    out["n_respondents"] = int(resp.sum())
    nps = NpsClassifier.from_config(cfg.nps, cfg.scale, cfg.seed).fit(X[resp], data.score.to_numpy()[resp])
    predictions = nps.predict_frame(X)
    out["nps_formulation"] = nps.formulation_
    out["prepare_seconds"] = time.perf_counter() - t0

    truth = synthetic.truth.reindex(X.index)
    planted = truth["true_top_driver"].to_numpy(dtype=object)
    judged = ((truth["true_class"] == "detractor") & truth["true_top_driver_actionable"]).to_numpy()
    out["n_judged"] = int(judged.sum())

    def recovery(drivers: pd.DataFrame) -> tuple[float, float]:
        hits = [drivers[f"driver_{i}"].to_numpy(dtype=object) == planted for i in (1, 2, 3)]
        return float(hits[0][judged].mean()), float(np.logical_or.reduce(hits)[judged].mean())

    everyone = cfg.drivers.model_copy(update={"subset": "all"})
    exact = DriverExplainer.from_nps(nps, everyone)
    start = time.perf_counter()
    drivers = explain(exact, X, predictions, everyone)
    out["exact_seconds"] = time.perf_counter() - start
    out["driver_top1_recovery"], out["driver_top3_recovery"] = recovery(drivers)
    default = explain(exact, X, predictions, cfg.drivers)
    out["driver_top1_recovery_default_subset"], out["driver_top3_recovery_default_subset"] = recovery(default)
    out["default_subset"] = cfg.drivers.subset
    out["min_impact"] = cfg.drivers.min_impact

    approx = DriverExplainer.from_nps(nps, everyone.model_copy(update={"method": "approx"}))
    start = time.perf_counter()
    approx_drivers = explain(approx, X, predictions, everyone)
    out["approx_seconds"] = time.perf_counter() - start
    out["approx_speedup"] = out["exact_seconds"] / out["approx_seconds"]
    names = [f"driver_{i}" for i in (1, 2, 3)]
    same = drivers[names].fillna("").to_numpy(dtype=object) == approx_drivers[names].fillna("").to_numpy(dtype=object)
    explained = drivers["driver_1"].notna().to_numpy() | approx_drivers["driver_1"].notna().to_numpy()
    out["approx_top1_agreement"] = float(same[explained, 0].mean())
    out["approx_top3_agreement"] = float(same[explained].all(axis=1).mean())
    out["approx_top3_set_agreement"] = float(np.mean([set(a) == set(b) for a, b in zip(
        drivers[names].to_numpy(dtype=object)[explained].tolist(),
        approx_drivers[names].to_numpy(dtype=object)[explained].tolist())]))
    out["approx_driver_top1_recovery"], out["approx_driver_top3_recovery"] = recovery(approx_drivers)

    # (d) stated reasons on held-out respondents
    rows = np.flatnonzero(resp)
    held_out = np.random.default_rng(seed + 5).random(len(rows)) < 0.25
    train_rows, test_rows = rows[~held_out], rows[held_out]
    start = time.perf_counter()
    reasons = ReasonClassifier.from_config(cfg.drivers, cfg.seed).fit(X.iloc[train_rows], data.reasons.iloc[train_rows])
    out["reason_fit_seconds"] = time.perf_counter() - start
    truth_test = reason_matrix(data.reasons.iloc[test_rows], list(reasons.classes_)).to_numpy()
    truth_train = reason_matrix(data.reasons.iloc[train_rows], list(reasons.classes_)).to_numpy()
    out["reason_micro_f1"] = micro_f1(truth_test, reasons.predict(X.iloc[test_rows]))
    out["reason_base_micro_f1"], _ = constant_baseline(truth_train, truth_test)
    out["reason_codes"] = list(reasons.classes_)
    out["reason_test_respondents"] = int(len(test_rows))
    silent = ~resp
    top = reasons.top_reasons(X[silent])
    agree, compared = theme_agreement(top["reason_1"], default.loc[silent, "driver_1"], exact.groups.theme_of(),
                                      cfg.drivers.reason_themes)
    out["theme_agreement"] = agree / max(compared, 1)
    out["theme_agreement_compared"] = compared
    return out


# --------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the JSON here (also printed)")
    parser.add_argument("--quick", action="store_true", help="reduced sizes for a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="threads of every method in the comparison (c)")
    parser.add_argument("--only-compare", action="store_true", help="run only the library comparison (c)")
    parser.add_argument("--worker", choices=["speed", "compare", "fresh"], help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--answer", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        workers = {"speed": lambda: worker_speed(args.model, args.rows, args.seed),
                   "compare": lambda: worker_compare(args.model, args.rows, args.repeats, args.threads, args.seed),
                   "fresh": lambda: worker_fresh(args.model, args.seed)}
        args.answer.write_text(json.dumps(workers[args.worker]()))
        return

    sizes = ({"customers": 30_000, "response": 0.10, "speed_rows": 100_000, "compare_rows": 2_000,
              "compare_repeats": 3} if args.quick else
             {"customers": 200_000, "response": 0.03, "speed_rows": 1_000_000, "compare_rows": 10_000,
              "compare_repeats": 5})
    result: dict = {"quick": args.quick, "sizes": sizes, "load_average_at_start": os.getloadavg()}
    start = time.perf_counter()
    if not args.only_compare:
        result["recovery"] = recovery_and_reasons(sizes["customers"], sizes["response"], args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "speed_model.txt"
        result["speed_model"] = train_speed_model(model, args.seed)
        if not args.only_compare:
            result["speed"] = run_worker(["--worker", "speed", "--model", str(model), "--rows",
                                          str(sizes["speed_rows"]), "--seed", str(args.seed)])
        threads = {"OMP_NUM_THREADS": str(args.threads)}
        result["compare"] = run_worker(["--worker", "compare", "--model", str(model), "--rows",
                                        str(sizes["compare_rows"]), "--repeats", str(sizes["compare_repeats"]),
                                        "--threads", str(args.threads), "--seed", str(args.seed)], env=threads)
        result["compare"]["fresh_process_1k_seconds"] = fresh_process_seconds(model, args.seed)
    compare = result["compare"]
    headline = {key: compare[key] for key in (
        "kernel_rows_per_s", "pred_contrib_rows_per_s", "shap_rows_per_s", "speedup_vs_best_library",
        "ratio_kernel_to_pred_contrib", "ratio_kernel_to_shap", "max_abs_diff", "threads", "kernel_justified",
        "fresh_process_1k_seconds")}
    if not args.only_compare:
        rec, speed = result["recovery"], result["speed"]
        headline.update({
            "driver_top1_recovery": rec["driver_top1_recovery"], "driver_top3_recovery": rec["driver_top3_recovery"],
            "driver_top1_recovery_default_subset": rec["driver_top1_recovery_default_subset"],
            "driver_top3_recovery_default_subset": rec["driver_top3_recovery_default_subset"],
            "attrib_rows_per_s": speed["attrib_rows_per_s"], "attrib_rows": speed["rows"],
            "peak_rss_mb": speed["peak_rss_mb"],
            "reason_micro_f1": rec["reason_micro_f1"], "reason_base_micro_f1": rec["reason_base_micro_f1"],
            "theme_agreement": rec["theme_agreement"], "approx_top3_agreement": rec["approx_top3_agreement"],
            "approx_top1_agreement": rec["approx_top1_agreement"], "approx_speedup": rec["approx_speedup"],
        })
    result = {**headline, **result, "load_average_at_end": os.getloadavg(),
              "total_seconds": time.perf_counter() - start}
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
