"""Benchmark protocol "telco-mnar15" (../shared/datasets/ibm_telco/README.md) through the public API; prints JSON.

Per seed: respondents are drawn with p = 0.15 * w / mean(w), w = (3 if month-to-month) * (2 if age >= 65), by
`default_rng(seed).random(n) < p` over the customers in the order of the status table. The model trains on the
respondents only (response weights + NPS model + population estimate: `response.fit_nps_stage`) and is judged on
the silent customers. The baseline is a default LGBMClassifier on the respondents, unweighted, argmax.

    python scripts/bench_telco.py --seeds 0 1 2 3 4 --out telco.json [--quick] [--set nps.formulation=ordinal]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np

from cxpredict.config import CLASSES, load_config
from cxpredict.data.customers import load_customers
from cxpredict.data.features import FeatureManifest
from cxpredict.data.tables import read_table
from cxpredict.estimation.population import NOT_CORRECTABLE, segment_frame
from cxpredict.metrics import (
    expected_calibration_error,
    nps_from_scores,
    nps_metrics,
    score_to_class,
)
from cxpredict.workflows.train import fit_nps_stage

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["detractor_auc", "qwk", "macro_f1", "detractor_recall", "detractor_precision", "ece_detractor",
        "population_nps_true", "population_nps_est", "population_nps_abs_error", "naive_nps_abs_error",
        "ipw_nps_abs_error", "ci90_covers_truth"]
TARGETS = {"detractor_auc": ">= 0.70", "population_nps_abs_error": "<= 2.0", "ece_detractor": "<= 0.05"}


def respondents(order_ids, frame, seed: int) -> np.ndarray:
    """Protocol draw, returned aligned with `frame.index`."""
    ordered = frame.loc[order_ids]
    w = np.where(ordered["Contract"].astype("str").to_numpy() == "Month-to-Month", 3.0, 1.0) \
        * np.where(ordered["Age"].to_numpy(dtype=float) >= 65, 2.0, 1.0)
    drawn = np.random.default_rng(seed).random(len(w)) < 0.15 * w / w.mean()
    return np.isin(frame.index.to_numpy(), np.asarray(order_ids)[drawn])


def silent_metrics(true_score, pred, scale) -> dict[str, float]:
    proba = pred[[f"p_{c}" for c in CLASSES]].to_numpy()
    m = nps_metrics(score_to_class(true_score, scale), proba, pred["predicted_class"].to_numpy())
    return {"detractor_auc": m["detractor_auc"], "qwk": m["qwk"], "macro_f1": m["macro_f1"],
            "detractor_recall": m["detractor_recall"], "detractor_precision": m["detractor_precision"],
            "ece_detractor": m["ece_detractor"]}


def baseline(X, true_score, resp, scale, seed: int, n_jobs: int) -> dict[str, float]:
    """Default LGBMClassifier on respondents, unweighted, argmax; population NPS from observed + probabilities."""
    y = score_to_class(true_score, scale)
    clf = lgb.LGBMClassifier(random_state=seed, n_jobs=n_jobs, verbose=-1).fit(X[resp], y[resp])
    proba = clf.predict_proba(X[~resp])
    m = nps_metrics(y[~resp], proba, proba.argmax(axis=1))
    est = 100 * (((y[resp] == 2).sum() - (y[resp] == 0).sum()) + (proba[:, 2] - proba[:, 0]).sum()) / len(y)
    truth = nps_from_scores(true_score, scale)
    return {"detractor_auc": m["detractor_auc"], "qwk": m["qwk"], "macro_f1": m["macro_f1"],
            "detractor_recall": m["detractor_recall"], "detractor_precision": m["detractor_precision"],
            "ece_detractor": m["ece_detractor"], "population_nps_true": truth, "population_nps_est": float(est),
            "population_nps_abs_error": float(abs(est - truth))}


def summarise(rows: list[dict]) -> dict[str, dict[str, float]]:
    keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float, bool)) and k != "seed"]
    return {stat: {k: float(fn([float(r[k]) for r in rows])) for k in keys}
            for stat, fn in (("mean", np.mean), ("std", np.std))}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", type=Path, help="write the JSON here as well as to stdout")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "telco.yaml")
    ap.add_argument("--quick", action="store_true", help="seeds 0 1 and 30 bootstrap replicates")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. nps.cv_folds=3")
    args = ap.parse_args(argv)
    overrides = list(args.set)
    seeds = args.seeds
    if args.quick:
        seeds, overrides = seeds[:2], ["population.bootstrap=30", *overrides]
    cfg = load_config(args.config, overrides)
    data = load_customers(cfg)
    manifest = FeatureManifest.fit(data.frame, cfg.features)
    X = manifest.transform(data.frame, source="telco")
    status = read_table(cfg.data_path(cfg.data.survey.path), cfg.data.read, columns=[cfg.data.key])
    order_ids = status[cfg.data.key].astype("str").to_numpy()
    true_score = data.score.to_numpy(dtype=float)
    truth = nps_from_scores(true_score, cfg.scale)
    segments = segment_frame(data.frame, cfg.population.segments)

    model_rows, base_rows = [], []
    for seed in seeds:
        resp = respondents(order_ids, data.frame, seed)
        cfg_seed = cfg.model_copy(update={"seed": seed})
        start = time.perf_counter()
        stage = fit_nps_stage(X, np.where(resp, true_score, np.nan), cfg_seed, segments)
        seconds = time.perf_counter() - start
        pop = stage.population
        pred_silent = stage.predictions[~resp]
        row = {"seed": seed, "n_respondents": int(resp.sum()),
               **silent_metrics(true_score[~resp], pred_silent, cfg.scale),
               "population_nps_true": truth, "population_nps_est": pop.estimate,
               "population_nps_abs_error": abs(pop.estimate - truth),
               "naive_nps_abs_error": abs(pop.naive_respondent_nps - truth),
               "ipw_nps_abs_error": abs(pop.ipw_respondent_nps - truth),
               "ci90_covers_truth": bool(pop.low is not None and pop.low <= truth <= pop.high),
               "ci90": [pop.low, pop.high], "ece_detractor_quantile_bins": expected_calibration_error(
                   score_to_class(true_score[~resp], cfg.scale) == 0, pred_silent["p_detractor"], strategy="quantile"),
               "formulation": stage.nps.formulation_, "response_auc": stage.response.auc_ if stage.response else None,
               "train_seconds": seconds}
        model_rows.append(row)
        base_rows.append({"seed": seed, **baseline(X, true_score, resp, cfg.scale, seed, cfg.nps.params.n_jobs),
                          "naive_nps_abs_error": row["naive_nps_abs_error"]})
        print(json.dumps({k: row[k] for k in ("seed", "detractor_auc", "population_nps_abs_error",
                                              "ece_detractor", "formulation", "train_seconds")}), file=sys.stderr)
    model_summary, base_summary = summarise(model_rows), summarise(base_rows)
    result = {
        "protocol": "telco-mnar15",
        "size": "quick" if args.quick else "full",
        "seeds": seeds,
        "config": {"path": str(args.config), "overrides": overrides, "nps": cfg.nps.model_dump(mode="json"),
                   "response": cfg.response.model_dump(mode="json"),
                   "population": cfg.population.model_dump(mode="json")},
        "ece_binning": "10 equal-width bins of P(detractor) on [0, 1], weighted by bin size (silent customers)",
        "targets": TARGETS,
        "note": NOT_CORRECTABLE,
        **{k: model_summary["mean"].get(k) for k in KEYS},
        "model": {"per_seed": model_rows, **model_summary},
        "baseline": {"description": "default LGBMClassifier on respondents, unweighted, argmax",
                     "per_seed": base_rows, **base_summary},
    }
    text = json.dumps(result, indent=2, default=float)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return result


if __name__ == "__main__":
    main()
