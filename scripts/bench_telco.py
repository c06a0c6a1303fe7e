"""Benchmark protocol "telco-mnar15" (../shared/datasets/ibm_telco/README.md) through the public API; prints JSON.

Per seed: respondents are drawn with p = 0.15 * w / mean(w), w = (3 if month-to-month) * (2 if age >= 65), by
`default_rng(seed).random(n) < p` over the customers in the order of the status table. The model trains on the
respondents only (response weights + NPS model + population estimate: `benchkit.fit_product`) and is judged on
the silent customers. The baseline is a default LGBMClassifier on the respondents, unweighted, argmax
(`benchkit.fit_plain`). scripts/bench_suite.py runs this protocol as its case telco_contract_age_15.

    python scripts/bench_telco.py --seeds 0 1 2 3 4 --out telco.json [--quick] [--set nps.formulation=ordinal]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from benchkit import (
    fit_plain,
    fit_product,
    plain_imputation_nps,
    summarise,
    telco_respondents,
)

from cxpredict.config import CLASSES, load_config
from cxpredict.data.customers import load_customers
from cxpredict.data.features import FeatureManifest
from cxpredict.data.tables import read_table
from cxpredict.estimation.segments import segment_frame
from cxpredict.estimation.wording import NOT_CORRECTABLE
from cxpredict.metrics import (
    expected_calibration_error,
    nps_from_scores,
    nps_metrics,
    score_to_class,
)

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["detractor_auc", "qwk", "macro_f1", "detractor_recall", "detractor_precision", "ece_detractor",
        "population_nps_true", "population_nps_est", "population_nps_abs_error", "naive_nps_abs_error",
        "ipw_nps_abs_error", "ci90_covers_truth"]
TARGETS = {"detractor_auc": ">= 0.70", "population_nps_abs_error": "<= 2.0", "ece_detractor": "<= 0.05"}


def silent_metrics(true_score, pred, scale) -> dict[str, float]:
    proba = pred[[f"p_{c}" for c in CLASSES]].to_numpy()
    m = nps_metrics(score_to_class(true_score, scale), proba, pred["predicted_class"].to_numpy())
    return {"detractor_auc": m["detractor_auc"], "qwk": m["qwk"], "macro_f1": m["macro_f1"],
            "detractor_recall": m["detractor_recall"], "detractor_precision": m["detractor_precision"],
            "ece_detractor": m["ece_detractor"]}


def baseline(X, true_score, resp, scale, seed: int, n_jobs: int) -> dict[str, float]:
    """The plain baseline's metrics on the silent customers; population NPS from observed + probabilities."""
    y = score_to_class(true_score, scale)
    proba = fit_plain(X, y, resp, seed, n_jobs)[0]
    m = nps_metrics(y[~resp], proba[~resp], proba[~resp].argmax(axis=1))
    est, truth = plain_imputation_nps(y, resp, proba), nps_from_scores(true_score, scale)
    return {"detractor_auc": m["detractor_auc"], "qwk": m["qwk"], "macro_f1": m["macro_f1"],
            "detractor_recall": m["detractor_recall"], "detractor_precision": m["detractor_precision"],
            "ece_detractor": m["ece_detractor"], "population_nps_true": truth, "population_nps_est": est,
            "population_nps_abs_error": abs(est - truth)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", type=Path, help="write the JSON here as well as to stdout")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "telco.yaml")
    ap.add_argument("--quick", action="store_true", help="seeds 0 1")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. nps.cv_folds=3")
    args = ap.parse_args(argv)
    overrides = list(args.set)
    seeds = args.seeds
    if args.quick:
        seeds, overrides = seeds[:2], list(overrides)
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
        resp = telco_respondents(order_ids, data.frame, seed)
        product = fit_product(X, np.where(resp, true_score, np.nan), cfg.model_copy(update={"seed": seed}), segments)
        pred_silent = product.predictions[~resp]
        row = {"seed": seed, "n_respondents": int(resp.sum()),
               **silent_metrics(true_score[~resp], pred_silent, cfg.scale),
               "population_nps_true": truth, "population_nps_est": product.estimate,
               "population_nps_abs_error": abs(product.estimate - truth),
               "naive_nps_abs_error": abs(product.naive - truth),
               "ipw_nps_abs_error": abs(product.hajek - truth),
               "ci90_covers_truth": bool(product.low is not None and product.low <= truth <= product.high),
               "ci90": [product.low, product.high], "ece_detractor_quantile_bins": expected_calibration_error(
                   score_to_class(true_score[~resp], cfg.scale) == 0, pred_silent["p_detractor"], strategy="quantile"),
               "formulation": product.details["formulation"], "response_auc": product.details["response_auc"],
               "train_seconds": product.train_s}
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
