"""How the NPS model's default candidates and selection rule were chosen: on development data no benchmark uses.

The benchmark suite (scripts/bench_suite.py) judges the product on telco and on the synthetic generator, so the
defaults must not be chosen there. This script uses three public data sets with an ordered answer and
behaviour-like columns, none of them in any benchmark:
  - fair (statsmodels): rate_marriage 1-5, 6,366 people; CSAT-like scale, detractor <= 3, promoter = 5;
  - randhie (statsmodels, RAND health insurance experiment): self-rated health poor/fair/good/excellent -> 1-4,
    20,190 people; detractor <= 2, promoter = 4;
  - anes96 (statsmodels): left-right self-placement 1-7, 944 people; detractor <= 3, promoter >= 6 (small data).
For each, respondents are drawn missing-at-random on one column (logit shift 0.8 per standard deviation) at 3%,
10% and 30%; the models train on them and are judged on everyone else: detractor AUC of the plain baseline (a
default LGBMClassifier, unweighted), of every candidate alone, and of NpsClassifier with `candidates="auto"`
(the configured plain model plus cxpredict.models.candidates.CANDIDATES, the paired one-standard-error rule).

    pip install statsmodels   # only for this script
    python scripts/dev_nps_candidates.py --out experiments/nps_candidates/results/dev.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from cxpredict import NpsClassifier, ResponsePropensity
from cxpredict.config import Scale
from cxpredict.metrics import score_to_class
from cxpredict.models.candidates import CANDIDATES

DATASETS = {  # name -> (scale, the column response depends on)
    "fair": (Scale(min=1, max=5, detractor_max=3, promoter_min=5), "yrs_married"),
    "randhie": (Scale(min=1, max=4, detractor_max=2, promoter_min=4), "lpi"),
    "anes96": (Scale(min=1, max=7, detractor_max=3, promoter_min=6), "age"),
}
RATES = (0.03, 0.10, 0.30)
N_JOBS = 2


def load(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and the ordered answer of a development data set (statsmodels ships them; no download)."""
    try:
        import statsmodels.api as sm
    except ImportError:
        sys.exit("this development script needs statsmodels: pip install statsmodels")
    if name == "fair":
        d = sm.datasets.fair.load_pandas().data
        return d.drop(columns=["rate_marriage"]).astype(float), d["rate_marriage"].round().astype(int).to_numpy()
    if name == "randhie":
        d = sm.datasets.randhie.load_pandas().data
        health = np.select([d.hlthp == 1, d.hlthf == 1, d.hlthg == 1], [1, 2, 3], 4)
        return d.drop(columns=["hlthg", "hlthf", "hlthp"]).astype(float), health
    d = sm.datasets.anes96.load_pandas().data
    return (d.drop(columns=["selfLR", "ClinLR", "DoleLR", "vote", "logpopul"]).astype(float),
            d["selfLR"].round().astype(int).to_numpy())


def respondents(X: pd.DataFrame, column: str, rate: float, seed: int) -> np.ndarray:
    z = (X[column] - X[column].mean()) / X[column].std()
    p = 1 / (1 + np.exp(-(np.log(rate / (1 - rate)) + 0.8 * z)))
    return np.random.default_rng(seed).random(len(X)) < p


def one_run(name: str, rate: float, seed: int) -> dict:
    scale, column = DATASETS[name]
    X, y = load(name)
    resp = respondents(X, column, rate, seed)
    cls = score_to_class(y, scale)
    silent_det = cls[~resp] == 0
    row: dict = {"data": name, "rate": rate, "seed": seed, "n_respondents": int(resp.sum())}
    plain = lgb.LGBMClassifier(n_jobs=N_JOBS, verbose=-1, random_state=seed).fit(X[resp], cls[resp])
    row["plain_auc"] = float(roc_auc_score(silent_det, plain.predict_class_proba(X[~resp])[:, 0]))
    weights = ResponsePropensity(random_state=seed).fit(X, resp).weights_
    start = time.perf_counter()
    auto = NpsClassifier(scale=scale, n_jobs=N_JOBS, random_state=seed).fit(X[resp], y[resp],
                                                                            population_weight=weights)
    row["auto_seconds"] = round(time.perf_counter() - start, 1)
    row["auto_auc"] = float(roc_auc_score(silent_det, auto.predict_class_proba(X[~resp])[:, 0]))
    row["auto_candidate"] = auto.candidate_["name"]
    row["candidates"] = {}
    for cand in CANDIDATES:
        params = cand.resolved(int(resp.sum() * 0.8))
        alone = NpsClassifier(scale=scale, formulation=cand.formulation, candidates="configured", n_jobs=N_JOBS,
                              random_state=seed, **params).fit(X[resp], y[resp], population_weight=weights)
        row["candidates"][cand.name] = float(roc_auc_score(silent_det, alone.predict_class_proba(X[~resp])[:, 0]))
    row["auto_minus_plain"] = row["auto_auc"] - row["plain_auc"]
    return row


def summary(rows: list[dict]) -> dict:
    by_case: dict[str, list[float]] = {}
    for r in rows:
        by_case.setdefault(f"{r['data']}_{int(100 * r['rate'])}", []).append(r["auto_minus_plain"])
    case_means = {k: float(np.mean(v)) for k, v in by_case.items()}
    names = [c.name for c in CANDIDATES]
    return {
        "auto_minus_plain_mean": float(np.mean([r["auto_minus_plain"] for r in rows])),
        "auto_minus_plain_worst_case": min(case_means.values()),
        "auto_minus_plain_worst_run": float(min(r["auto_minus_plain"] for r in rows)),
        "per_case": case_means,
        "candidate_alone_minus_plain_mean": {n: float(np.mean([r["candidates"][n] - r["plain_auc"] for r in rows]))
                                             for n in names},
        "oracle_minus_plain_mean": float(np.mean([max(r["candidates"].values()) - r["plain_auc"] for r in rows])),
        "chosen": {n: sum(r["auto_candidate"] == n for r in rows) for n in {r["auto_candidate"] for r in rows}},
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--quick", action="store_true", help="one seed, 10% response only")
    args = ap.parse_args(argv)
    seeds, rates = ((0,), (0.10,)) if args.quick else ((0, 1), RATES)
    rows = []
    for name in DATASETS:
        for rate in rates:
            for seed in seeds:
                rows.append(one_run(name, rate, seed))
                r = rows[-1]
                print(f"{name} {rate:.2f} seed {seed}: plain {r['plain_auc']:.3f} auto {r['auto_auc']:.3f} "
                      f"({r['auto_candidate']}, {r['auto_seconds']}s)", file=sys.stderr, flush=True)
    result = {"protocol": __doc__.split("\n\n")[1], "size": "quick" if args.quick else "full",
              "summary": summary(rows), "runs": rows}
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return result


if __name__ == "__main__":
    main()
