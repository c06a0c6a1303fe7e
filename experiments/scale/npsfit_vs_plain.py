"""Issue 20's `nps_fit_vs_plain_cv` measured in one process, settings alternated back to back: the NPS model's fit
(NpsClassifier, the config's nps section, the response weights as population_weight, as `train` fits it) against
plain `LGBMClassifier()` 5-fold CV on the same respondents, features and threads, timed just before and just
after each fit (their mean is the reference). On a shared machine the alternation and the in-process reference are
what make settings comparable; wall and CPU seconds (time.process_time) both recorded, with the load average.

    python experiments/scale/npsfit_vs_plain.py CONFIG --out experiments/scale/results/npsfit_vs_plain.json \
        --variants nps.contest.screen_folds=5 nps.contest.screen_folds=3 nps.contest.screen_folds=5 ...
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import cxpredict  # noqa: E402,F401  (the thread policy's waits, before LightGBM loads)
import lightgbm as lgb  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from cxpredict import threads  # noqa: E402
from cxpredict.config import load_config  # noqa: E402
from cxpredict.data.customers import load_customers  # noqa: E402
from cxpredict.data.features import FeatureManifest  # noqa: E402
from cxpredict.io.outputs import write_json  # noqa: E402
from cxpredict.metrics import score_to_class  # noqa: E402
from cxpredict.models.nps import NpsClassifier  # noqa: E402
from cxpredict.workflows.train import fit_response  # noqa: E402


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def plain_cv(X, y) -> None:
    for fit, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        lgb.LGBMClassifier(n_jobs=threads.count(None), verbose=-1).fit(X.iloc[fit], y[fit]).predict_proba(X.iloc[test])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", nargs="+", required=True, help="config override per fit, in order")
    args = ap.parse_args()
    cfg = load_config(args.config)
    threads.use(cfg.n_jobs)
    data = load_customers(cfg)
    X_all = FeatureManifest.fit(data.frame, cfg.features).transform(data.frame)
    resp = data.is_respondent
    weights = fit_response(cfg, X_all, resp).weights_
    X, score = X_all[resp], data.score.to_numpy(dtype=float)[resp]
    y = score_to_class(score, cfg.scale)
    runs = []
    for variant in args.variants:
        nps_cfg = load_config(args.config, overrides=[variant]).nps
        before = timed(lambda: plain_cv(X, y))
        wall, cpu, model = timed(lambda: NpsClassifier.from_config(nps_cfg, cfg.scale, cfg.seed).fit(
            X, score, population_weight=weights))
        after = timed(lambda: plain_cv(X, y))
        plain_wall, plain_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
        runs.append({"variant": variant, "nps_fit_s": round(wall, 2), "nps_fit_cpu_s": round(cpu, 2),
                     "plain_cv_s": [round(before[0], 2), round(after[0], 2)],
                     "plain_cv_cpu_s": [round(before[1], 2), round(after[1], 2)],
                     "ratio": round(wall / plain_wall, 3), "ratio_cpu": round(cpu / plain_cpu, 3),
                     "candidate": model.candidate_["name"], "held_out_choices": model.held_out_choices_,
                     "held_out_detractor_auc": model.cv_metrics_["detractor_auc"],
                     "load_average": [round(x, 2) for x in os.getloadavg()]})
        print(runs[-1], flush=True)
    write_json({"issue": 20, "what": __doc__.split("\n\n")[0], "config": str(args.config),
                "respondents": int(resp.sum()), "features": X.shape[1], "threads": threads.count(None),
                "machine": "2 cores, SHARED with other jobs (see load_average per run)",
                "runs": {f"run{i + 1}": run for i, run in enumerate(runs)}}, args.out)


if __name__ == "__main__":
    main()
