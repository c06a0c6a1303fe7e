"""Issue 20: what `nps.contest.screen_folds` (the screening sample cross-fitted on 3 folds instead of the 5 cv
folds) costs in accuracy where it engages, many answers. Synthetic programmes (the generator's behaviour-driven
answers) with more answers than `screen_rows`; per seed the NPS model is fitted twice on the same respondents,
screen_folds 5 (the sample's own cv folds: the behaviour before) and 3, and judged on the silent customers'
hidden answers (detractor AUC, log loss of the three classes) beside its kept candidate, the held-out choices,
its held-out detractor AUC and its fit's CPU seconds (time.process_time; the machine may be shared).
No response weights (population_weight): the contest alone is compared.

    python experiments/scale/screen_folds_ab.py --out experiments/scale/results/screen_folds_ab.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
from benchkit import synthetic_config  # noqa: E402
from sklearn.metrics import log_loss, roc_auc_score  # noqa: E402

from cxpredict.config import DEMO_CONFIG  # noqa: E402
from cxpredict.data.customers import load_customers  # noqa: E402
from cxpredict.data.features import FeatureManifest  # noqa: E402
from cxpredict.io.outputs import write_json  # noqa: E402
from cxpredict.metrics import score_to_class  # noqa: E402
from cxpredict.models.nps import NpsClassifier  # noqa: E402
from cxpredict.synthetic.customers import generate  # noqa: E402
from cxpredict.synthetic.tables import write_tables  # noqa: E402


def programme(n: int, rate: float, seed: int):
    syn = generate(n_customers=n, seed=seed, response_rate=rate)
    with tempfile.TemporaryDirectory(prefix="cxsf-") as tmp:
        write_tables(syn, tmp, "parquet")
        cfg = synthetic_config(DEMO_CONFIG, Path(tmp), [], scale=syn.scale.model_dump())
        data = load_customers(cfg)
    X = FeatureManifest.fit(data.frame, cfg.features).transform(data.frame, source="synthetic")
    return cfg, X, syn.truth.loc[X.index, "true_score"].to_numpy(dtype=float), data.is_respondent


def fit(cfg, X, score, resp, seed: int, screen_folds: int) -> dict:
    start = time.process_time()
    model = NpsClassifier.from_config(cfg.nps, cfg.scale, seed, screen_folds=screen_folds).fit(X[resp], score[resp])
    cpu = time.process_time() - start
    silent = ~resp
    proba = model.predict_class_proba(X[silent])
    cls = score_to_class(score[silent], cfg.scale)
    return {"screen_folds": screen_folds, "fit_cpu_s": round(cpu, 2), "candidate": model.candidate_["name"],
            "held_out_choices": model.held_out_choices_,
            "held_out_detractor_auc": model.cv_metrics_["detractor_auc"],
            "silent_detractor_auc": float(roc_auc_score(cls == 0, proba[:, 0])),
            "silent_log_loss": float(log_loss(cls, proba, labels=[0, 1, 2])),
            "contest_rows": model.selection_[0]["contest_rows"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=0.06)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        cfg, X, score, resp = programme(args.customers, args.rate, seed)
        for folds in (5, 3):
            rows.append({"seed": seed, "respondents": int(resp.sum()), **fit(cfg, X, score, resp, seed, folds)})
            print(json.dumps(rows[-1]), flush=True)
    pairs = [(a, b) for a, b in zip(rows[::2], rows[1::2])]
    diff = {k: [b[k] - a[k] for a, b in pairs] for k in ("silent_detractor_auc", "silent_log_loss",
                                                         "held_out_detractor_auc", "fit_cpu_s")}
    write_json({"issue": 20, "what": __doc__.split("\n\n")[0], "customers": args.customers,
                          "rate": args.rate, "runs": rows,
                          "after_minus_before": {k: {"per_seed": [round(x, 5) for x in v],
                                                     "mean": round(float(np.mean(v)), 5)} for k, v in diff.items()},
                          "after_minus_before_mean": {k: round(float(np.mean(v)), 5) for k, v in diff.items()},
                          "same_candidate": [a["candidate"] == b["candidate"] for a, b in pairs],
                          "same_held_out_choices": [a["held_out_choices"] == b["held_out_choices"] for a, b in pairs]},
               args.out)


if __name__ == "__main__":
    main()
