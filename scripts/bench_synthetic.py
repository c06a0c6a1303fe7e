"""Population-NPS benchmark on the synthetic generator (planted truth) through the public API; prints JSON.

Settings: 200k customers at 3% and 15% response, 5 seeds, with and without answer-dependent response (response
logit + ANSWER_DEPENDENCE * (true score - 7) / 2.5: unhappy customers answer more). Every run writes the generated
tables as Parquet, loads them with `load_customers` (the packaged demo config), builds features with `FeatureManifest`,
trains through `benchkit.fit_product` and judges the silent customers against the truth. A separate timing run
trains with 5-fold CV on 10k respondents and scores 200k customers. scripts/bench_suite.py runs the MAR 3% and
answer-dependent settings among its cases, next to a plain baseline.

    python scripts/bench_synthetic.py --out synthetic.json [--quick] [--set nps.formulation=ordinal]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchkit import fit_product, summarise, synthetic_config

from cxpredict.config import CLASSES, DEMO_CONFIG
from cxpredict.data.customers import load_customers
from cxpredict.data.features import FeatureManifest
from cxpredict.estimation.segments import segment_frame
from cxpredict.estimation.wording import NOT_CORRECTABLE
from cxpredict.metrics import interval_coverage, nps_metrics, score_to_class
from cxpredict.synthetic.customers import generate
from cxpredict.synthetic.tables import write_tables

ROOT = Path(__file__).resolve().parents[1]
ANSWER_DEPENDENCE = -0.5
TARGETS = {"mar_3pct": {"population_nps_abs_error": "<= 1.5", "ci90_coverage": "in [0.8, 1.0]"},
           "timing": {"train_and_score_seconds": "< 120 (5-fold CV on 10k respondents, scoring 200k customers)"}}


def one_run(base: Path, overrides: list[str], n: int, rate: float, dependence: float, seed: int) -> dict:
    synthetic = generate(n_customers=n, seed=seed, response_rate=rate, answer_dependent_response=dependence)
    with tempfile.TemporaryDirectory() as tmp:
        write_tables(synthetic, tmp, "parquet")
        cfg = synthetic_config(base, Path(tmp), overrides).model_copy(update={"seed": seed})
        data = load_customers(cfg)
    start = time.perf_counter()
    X = FeatureManifest.fit(data.frame, cfg.features).transform(data.frame, source="synthetic")
    segments = segment_frame(data.frame, cfg.population.segments)
    product = fit_product(X, data.score.to_numpy(dtype=float), cfg, segments)
    seconds = time.perf_counter() - start - product.score_s
    truth = synthetic.truth.loc[X.index]
    silent = ~data.is_respondent
    true_score = truth["true_score"].to_numpy(dtype=float)[silent]
    pred = product.predictions[silent]
    m = nps_metrics(score_to_class(true_score, cfg.scale), pred[[f"p_{c}" for c in CLASSES]].to_numpy(),
                    pred["predicted_class"].to_numpy(), true_score=true_score,
                    predicted_score=pred["predicted_score"].to_numpy())
    true_nps = synthetic.true_population_nps
    return {
        "seed": seed, "n_respondents": int((~silent).sum()), "formulation": product.details["formulation"],
        **{k: m[k] for k in ("detractor_auc", "qwk", "macro_f1", "detractor_recall", "detractor_precision",
                             "ece_detractor", "score_mae")},
        "population_nps_true": true_nps, "population_nps_est": product.estimate,
        "population_nps_abs_error": abs(product.estimate - true_nps),
        "naive_nps_abs_error": abs(product.naive - true_nps),
        "ipw_nps_abs_error": abs(product.hajek - true_nps),
        "ci90": [product.low, product.high], "ci90_covers_truth": bool(product.low <= true_nps <= product.high),
        "response_auc": product.details["response_auc"], "train_seconds": seconds,
    }


def summarise_runs(rows: list[dict]) -> dict:
    out = summarise(rows)
    out["ci90_coverage"] = interval_coverage([r["ci90"][0] for r in rows], [r["ci90"][1] for r in rows],
                                             [r["population_nps_true"] for r in rows])
    return out


def timing(base: Path, overrides: list[str], n: int, n_respondents: int) -> dict:
    """Train (response model on all, 5-fold CV NPS model on the respondents, bootstrap) and score everyone."""
    synthetic = generate(n_customers=n, seed=123, response_rate=n_respondents / n)
    with tempfile.TemporaryDirectory() as tmp:
        write_tables(synthetic, tmp, "parquet")
        cfg = synthetic_config(base, Path(tmp), [*overrides, "nps.cv_folds=5"])
        data = load_customers(cfg)
    t0 = time.perf_counter()
    X = FeatureManifest.fit(data.frame, cfg.features).transform(data.frame, source="synthetic")
    t1 = time.perf_counter()
    product = fit_product(X, data.score.to_numpy(dtype=float), cfg)  # its score_s: every customer again
    return {"n_customers": n, "n_respondents": int(data.is_respondent.sum()), "cv_folds": 5,
            "formulation": product.details["formulation"], "interval_method": cfg.population.interval_method,
            "features_seconds": t1 - t0, "train_seconds": product.train_s, "score_seconds": product.score_s,
            "train_and_score_seconds": t1 - t0 + product.train_s + product.score_s}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="write the JSON here as well as to stdout")
    ap.add_argument("--config", type=Path, default=DEMO_CONFIG)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true", help="20k customers, seeds 0 1")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    args = ap.parse_args(argv)
    n, seeds, overrides = args.customers, args.seeds, list(args.set)
    timing_size = (200_000, 10_000)
    if args.quick:
        n, seeds, overrides = 20_000, seeds[:2], list(overrides)
        timing_size = (20_000, 1_000)
    settings = {}
    for rate in (0.03, 0.15):
        for dependence in (0.0, ANSWER_DEPENDENCE):
            name = f"{'mar' if dependence == 0 else 'answer_dependent'}_{round(rate * 100)}pct"
            rows = []
            for seed in seeds:
                rows.append(one_run(args.config, overrides, n, rate, dependence, seed))
                print(json.dumps({"setting": name, **{k: rows[-1][k] for k in (
                    "seed", "population_nps_abs_error", "ci90_covers_truth", "detractor_auc", "train_seconds")}}),
                    file=sys.stderr)
            settings[name] = {"response_rate": rate, "answer_dependent_response": dependence,
                              **summarise_runs(rows), "per_seed": rows}
            if dependence:
                settings[name]["note"] = NOT_CORRECTABLE
    result = {
        "benchmark": "synthetic population NPS",
        "size": "quick" if args.quick else "full",
        "n_customers": n, "seeds": seeds, "config": str(args.config), "overrides": overrides,
        "ece_binning": "10 equal-width bins of P(detractor) on [0, 1], weighted by bin size (silent customers)",
        "targets": TARGETS,
        "settings": settings,
        "timing": None if args.no_timing else timing(args.config, overrides, *timing_size),
    }
    text = json.dumps(result, indent=2, default=float)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return result


if __name__ == "__main__":
    main()
