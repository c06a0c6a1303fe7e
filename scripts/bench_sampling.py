#!/usr/bin/env python
"""What the case-control shortcuts cost in accuracy: the churn and response models on all rows against their
weighted subsample (`churn.max_rows`, `response.max_rows`), on one synthetic programme, a few seeds.

Writes one JSON object: per model, seed and max_rows, the hold-out metrics (churn: AUC, Brier, log loss, ECE;
response: cross-fitted AUC), the correlation with the planted truth (truth.parquet: churn_prob, p_respond), the mean
prediction against the observed rate, and the fit's wall seconds (on a shared machine: compare within one run).

Usage: cxpredict generate --customers 500000 --response-rate 0.05 --format parquet --out DATA
       python scripts/bench_sampling.py DATA --out bench_sampling.json [--seeds 0,1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchkit import synthetic_config  # noqa: E402

from cxpredict.config import DEMO_CONFIG  # noqa: E402
from cxpredict.data.customers import load_customers  # noqa: E402
from cxpredict.data.features import FeatureManifest  # noqa: E402
from cxpredict.io.outputs import write_json  # noqa: E402
from cxpredict.models.churn import ChurnClassifier  # noqa: E402
from cxpredict.models.response import ResponsePropensity  # noqa: E402

ALL_ROWS = 10**9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="folder of `cxpredict generate --format parquet` tables")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--churn-max-rows", default="", help="churn.max_rows values to compare ('all' for no sample; "
                    "default: all and the config's)")
    ap.add_argument("--models", default="churn,response", help="which models to fit")
    args = ap.parse_args()
    cfg = synthetic_config(Path(DEMO_CONFIG), args.data, [])
    data = load_customers(cfg)
    X = FeatureManifest.fit(data.frame, cfg.features).transform(data.frame)
    truth = pd.read_parquet(args.data / "truth.parquet").set_index("customer_id").reindex(X.index)
    known = data.outcome.notna().to_numpy()
    y, r = data.outcome.to_numpy()[known], data.is_respondent
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        churn_sizes = [ALL_ROWS if v == "all" else int(v) for v in args.churn_max_rows.split(",") if v] \
            or [ALL_ROWS, cfg.churn.max_rows]
        for max_rows in churn_sizes if "churn" in args.models else []:
            start = time.perf_counter()
            churn = ChurnClassifier.from_config(cfg.churn, seed, max_rows=max_rows).fit(X[known], y)
            seconds = time.perf_counter() - start
            p = churn.predict_proba(X[known])[:, 1]
            rows.append({"model": "churn", "seed": seed, "max_rows": None if max_rows == ALL_ROWS else max_rows,
                         "seconds": round(seconds, 1), "n_train": churn.metrics_["n_train"],
                         **{k: round(churn.metrics_[k], 4) for k in ("auc", "brier", "log_loss", "ece")},
                         "corr_truth": round(float(np.corrcoef(p, truth["churn_prob"].to_numpy()[known])[0, 1]), 4),
                         "mean_p": round(float(p.mean()), 4), "rate": round(float(y.mean()), 4)})
            print(rows[-1], file=sys.stderr, flush=True)
        for max_rows in (ALL_ROWS, cfg.response.max_rows) if "response" in args.models else ():
            start = time.perf_counter()
            response = ResponsePropensity.from_config(cfg.response, seed, max_rows=max_rows).fit(X, r)
            seconds = time.perf_counter() - start
            e = response.propensity_.to_numpy()
            rows.append({"model": "response", "seed": seed, "max_rows": None if max_rows == ALL_ROWS else max_rows,
                         "seconds": round(seconds, 1), "auc": round(response.auc_, 4),
                         "corr_truth": round(float(np.corrcoef(e, truth["p_respond"].to_numpy())[0, 1]), 4),
                         "mean_p": round(float(e.mean()), 5), "rate": round(float(r.mean()), 5)})
            print(rows[-1], file=sys.stderr, flush=True)
    write_json({"data": str(args.data), "customers": len(X), "respondents": int(r.sum()), "runs": rows,
                "note": "wall seconds on a shared machine: compare rows of one run only"}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
